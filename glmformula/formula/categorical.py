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

from glmformula.design import kernels
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


def _term_source(term) -> tuple[str, str] | None:
    """What an eligible term reads, from the formula alone: ("intercept", ""), ("column", name) for a
    plain column (numeric or categorical, by its dtype) or ("categorical", name) for ``C(name)``; else None."""
    factors = list(term.factors)
    if len(factors) != 1:
        return None
    factor = factors[0]
    method = getattr(factor.eval_method, "value", factor.eval_method)
    if method == "literal" and factor.expr == "1":
        return "intercept", ""
    if method == "lookup":
        return "column", factor.expr
    match = _C_CALL.match(factor.expr) if method == "python" else None
    return ("categorical", match.group(1)) if match else None


_TERM_SOURCES: OrderedDict = OrderedDict()


def _term_sources(rhs_formula) -> list[tuple[str, tuple[str, str] | None]]:
    """(name, ``_term_source``) of each term, once per parsed formula (formulaic's terms are slow to walk)."""
    entry = _TERM_SOURCES.get(id(rhs_formula))
    if entry is None or entry[0] is not rhs_formula:
        sources = [(str(term), _term_source(term)) for term in rhs_formula]
        entry = _TERM_SOURCES[id(rhs_formula)] = (rhs_formula, sources)  # the formula kept: its id stays its own
        if len(_TERM_SOURCES) > _SPEC_CACHE_SIZE:
            _TERM_SOURCES.popitem(last=False)
    return entry[1]


def _term_kind(source: tuple[str, str] | None, columns: FrameColumns) -> tuple[str, str] | None:
    """("intercept"|"numeric"|"categorical", column) for an eligible term, else None."""
    if source is None or source[0] == "intercept":
        return source
    kind, name = source
    if name not in columns:
        return None
    if kind == "categorical":
        return source
    dtype = columns.dtype(name)
    if dtype.kind in "iuf":  # first: pandas' dtype tests cost more (categorical and text dtypes are of kind O or U)
        return "numeric", name
    if isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(dtype) or dtype.kind == "O":
        return "categorical", name
    return None


def fast_design(rhs_formula, data: FrameColumns, materialise: Callable):
    """(design, formulaic spec, the data's columns copied into it as numeric terms) for an eligible formula,
    or None to take formulaic's path.

    The spec depends only on the formula and the levels of its categoricals, so it is
    cached: repeated fits of one formula (bootstraps, simulations, many small groups)
    never call formulaic again.
    """
    if not ENABLED:
        return None
    kinds = {name: _term_kind(source, data) for name, source in _term_sources(rhs_formula)}
    if any(kind is None for kind in kinds.values()):
        return None
    categoricals: dict[str, tuple[np.ndarray, list]] = {}
    for kind, column in kinds.values():
        if kind == "categorical" and column not in categoricals:
            categoricals[column] = _codes_and_levels(data[column])
    key = (str(rhs_formula), tuple(sorted(kinds.items())),
           tuple(sorted((c, str(data.dtype(c)), tuple(map(repr, v[1]))) for c, v in categoricals.items())))
    cached = _SPEC_CACHE.get(key)
    if cached is None:
        head = data.frame.iloc[:2].reset_index(drop=True)
        for column, (_, levels) in categoricals.items():
            head[column] = pd.Categorical(head[column], categories=levels)
        _, model_spec, _ = materialise(rhs_formula, head)
        # with the spec, its column names and each term's columns (formulaic's properties rebuild them per call)
        cached = _SPEC_CACHE[key] = (model_spec, list(model_spec.column_names),
                                     [(str(term), columns.start, columns.stop)
                                      for term, columns in model_spec.term_slices.items()])
        if len(_SPEC_CACHE) > _SPEC_CACHE_SIZE:
            _SPEC_CACHE.popitem(last=False)
    model_spec, names, term_columns = cached
    names = list(names)
    if not names:
        return None  # nothing to build (y ~ 0): formulaic's path reports it
    numeric_columns, numeric_positions, intercept_position, blocks = [], [], None, []
    for term, first, stop in term_columns:
        kind, column = kinds[term]
        positions = np.arange(first, stop)
        if kind == "numeric":
            numeric_columns.append(column)
            numeric_positions.append(first)
        elif kind == "intercept":
            intercept_position = first
        else:
            codes, levels = categoricals[column]
            reference = len(positions) == len(levels) - 1
            # the reference level (code 0) becomes -1; missing codes (-1) stay -1
            if reference:
                block_codes = codes - 1
                np.maximum(block_codes, -1, out=block_codes)
            else:
                block_codes = codes
            blocks.append(CategoricalBlock(block_codes, positions))
    n = data.n_rows
    if n * len(names) <= DENSE_CELLS:  # small: the dense matrix itself, written directly
        matrix = np.zeros((n, len(names)))
        if intercept_position is not None:
            matrix[:, intercept_position] = 1.0
        _copy_numeric(data, numeric_columns, matrix, numeric_positions)
        for block in blocks:
            block.write_indicators(matrix)
        return DenseDesign(matrix, names), model_spec, numeric_columns
    if intercept_position is not None:
        numeric_positions = [intercept_position, *numeric_positions]
    dense = np.empty((n, len(numeric_positions)))
    start = 0 if intercept_position is None else 1
    if kernels.AVAILABLE:  # the 1s and the columns in one pass over the rows
        sources = [np.ascontiguousarray(data[column], dtype=float) for column in numeric_columns]  # views if float
        kernels.gather_columns(sources, list(range(start, dense.shape[1])), None if start == 0 else 0, dense)
    else:
        if start:
            dense[:, 0] = 1.0
        _copy_numeric(data, numeric_columns, dense, slice(start, None))
    return CategoricalDesign(dense, np.array(numeric_positions, dtype=int), blocks, names), model_spec, numeric_columns


def _copy_numeric(data: FrameColumns, columns: list[str], out: np.ndarray, positions: list[int] | slice) -> None:
    """Copy the numeric ``columns`` into the columns ``positions`` of ``out``."""
    if not columns:
        return
    if data.n_rows <= _SMALL_COLUMN:  # a few rows: pandas' selection costs more than copying column by column
        indices = range(out.shape[1])[positions] if isinstance(positions, slice) else positions
        for column, position in zip(columns, indices):
            out[:, position] = data[column]
    else:  # one copy of the columns' pandas block: far faster than column-by-column strided writes
        out[:, positions] = data.frame.iloc[:, [data.position(column) for column in columns]].to_numpy(dtype=float)


def _codes_and_levels(values) -> tuple[np.ndarray, list]:
    """int32 codes (-1 for missing) and the sorted levels of a categorical or text column."""
    if isinstance(values, pd.Categorical):
        return values.codes.astype(np.int32), list(values.categories)
    if len(values) <= _SMALL_COLUMN:
        values = np.asarray(values, dtype=object)  # small columns: Python objects factorise fastest
        codes, uniques = pd.factorize(values)
        try:  # sorting the few levels afterwards costs less than pandas' sort of the codes
            order = np.argsort(uniques, kind="stable")
        except TypeError:  # levels of mixed types: pandas' own sort knows how to order them
            order = None
        if order is not None:
            rank = np.full(len(order) + 1, -1, dtype=np.int32)  # a missing value's code -1 takes the last: -1
            rank[order] = np.arange(len(order), dtype=np.int32)
            return rank.take(codes), list(uniques[order])
    codes, uniques = pd.factorize(values, sort=True)
    return codes.astype(np.int32), list(uniques)
