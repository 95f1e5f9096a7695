"""Fast path: build a ``CategoricalDesign`` for formulas of plain columns and categorical main effects.

formulaic materialises a categorical as dense (or sparse) dummy columns, which
for a million rows and a 1,000-level factor costs more than the whole fit.
When every term of the right-hand side is the intercept, a numeric column, or
a categorical main effect (a categorical/text column, or ``C(column)`` with the
default contrasts), the design is built here instead from the columns and the
categorical codes (and, when it is small, handed on as a dense matrix).
formulaic still defines the encoding: it materialises the first rows only,
with each categorical given its full set of levels, and that ``ModelSpec``
(names, levels, term order) is what prediction replays.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable

import numpy as np
import pandas as pd

from glmformula.design.categorical import CategoricalBlock, CategoricalDesign
from glmformula.design.dense import DenseDesign
from glmformula.formula.columns import FrameColumns

#: Set to False to always let formulaic materialise the design (tests compare the two paths).
ENABLED = True
#: Designs with at most this many cells are handed to the engine as dense matrices (exact R rank detection).
DENSE_CELLS = 2_000_000
#: Columns of at most this many rows are read one by one, and text ones factorised as Python objects
#: (pandas' per-call costs dominate there; beyond it, the work on the values does).
_SMALL_COLUMN = 20_000
_SPEC_CACHE: OrderedDict = OrderedDict()
_SPEC_CACHE_SIZE = 64
_C_CALL = re.compile(r"^C\(\s*`?([^`,()]+?)`?\s*\)$")


def _term_kind(term, columns: FrameColumns) -> tuple[str, str] | None:
    """("intercept"|"numeric"|"categorical", column) for an eligible term, else None."""
    factors = list(term.factors)
    if len(factors) != 1:
        return None
    factor = factors[0]
    method = getattr(factor.eval_method, "value", factor.eval_method)
    if method == "literal" and factor.expr == "1":
        return "intercept", ""
    if method == "lookup" and factor.expr in columns:
        dtype = columns.dtype(factor.expr)
        if isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(dtype) or dtype.kind == "O":
            return "categorical", factor.expr
        if dtype.kind in "iuf":
            return "numeric", factor.expr
        return None
    match = _C_CALL.match(factor.expr) if method == "python" else None
    if match and match.group(1) in columns:
        return "categorical", match.group(1)
    return None


def fast_design(rhs_formula, data: FrameColumns, materialise: Callable):
    """The design and formulaic spec for an eligible formula, or None to take formulaic's path.

    The spec depends only on the formula and the levels of its categoricals, so it is
    cached: repeated fits of one formula (bootstraps, simulations, many small groups)
    never call formulaic again.
    """
    if not ENABLED:
        return None
    kinds = {str(term): _term_kind(term, data) for term in rhs_formula}
    if any(kind is None for kind in kinds.values()):
        return None
    categoricals: dict[str, tuple[np.ndarray, list]] = {}
    for kind, column in kinds.values():
        if kind == "categorical" and column not in categoricals:
            categoricals[column] = _codes_and_levels(data[column])
    key = (str(rhs_formula), tuple(sorted(kinds.items())),
           tuple(sorted((c, str(data.dtype(c)), tuple(map(repr, v[1]))) for c, v in categoricals.items())))
    model_spec = _SPEC_CACHE.get(key)
    if model_spec is None:
        head = data.frame.iloc[:2].reset_index(drop=True)
        for column, (_, levels) in categoricals.items():
            head[column] = pd.Categorical(head[column], categories=levels)
        _, model_spec, _ = materialise(rhs_formula, head)
        _SPEC_CACHE[key] = model_spec
        if len(_SPEC_CACHE) > _SPEC_CACHE_SIZE:
            _SPEC_CACHE.popitem(last=False)
    names = list(model_spec.column_names)
    if not names:
        return None  # nothing to build (y ~ 0): formulaic's path reports it
    numeric_columns, numeric_positions, intercept_position, blocks = [], [], None, []
    for term, columns in model_spec.term_slices.items():
        kind, column = kinds[str(term)]
        positions = np.arange(columns.start, columns.stop)
        if kind == "numeric":
            numeric_columns.append(column)
            numeric_positions.append(columns.start)
        elif kind == "intercept":
            intercept_position = columns.start
        else:
            codes, levels = categoricals[column]
            reference = len(positions) == len(levels) - 1
            # the reference level (code 0) becomes -1; missing codes (-1) stay -1
            block_codes = np.maximum(codes - 1, -1) if reference else codes
            blocks.append(CategoricalBlock(block_codes, positions))
    if intercept_position is not None:
        numeric_positions = [intercept_position, *numeric_positions]
    n = data.n_rows
    dense = np.empty((n, len(numeric_positions)))
    start = 0
    if intercept_position is not None:
        dense[:, 0] = 1.0
        start = 1
    if numeric_columns and n <= _SMALL_COLUMN:  # a few columns: pandas' selection costs more than copying
        for offset, column in enumerate(numeric_columns, start=start):
            dense[:, offset] = data[column]
    elif numeric_columns:  # one copy of the columns' pandas block: far faster than column-by-column strided writes
        positions = [data.position(column) for column in numeric_columns]
        dense[:, start:] = data.frame.iloc[:, positions].to_numpy(dtype=float)
    design = CategoricalDesign(dense, np.array(numeric_positions, dtype=int), blocks, names)
    if n * len(names) <= DENSE_CELLS:
        return DenseDesign(design.to_dense(), names), model_spec
    return design, model_spec


def _codes_and_levels(values) -> tuple[np.ndarray, list]:
    """int32 codes (-1 for missing) and the sorted levels of a categorical or text column."""
    if isinstance(values, pd.Categorical):
        return values.codes.astype(np.int32), list(values.categories)
    if len(values) <= _SMALL_COLUMN:
        values = np.asarray(values, dtype=object)  # small columns: Python objects factorise fastest
    codes, uniques = pd.factorize(values, sort=True)
    return codes.astype(np.int32), list(uniques)
