"""Fast path: build a ``CategoricalDesign`` for formulas of plain columns and categorical main effects.

formulaic materialises a categorical as dense (or sparse) dummy columns, which
for a million rows and a 1,000-level factor costs more than the whole fit.
When every term of the right-hand side is the intercept, a numeric column, or
a categorical main effect (a categorical/text column, or ``C(column)`` with the
default contrasts), the design is built here instead from the columns and the
categorical codes.  formulaic still defines the encoding: it materialises the
first rows only, with each categorical given its full set of levels, and that
``ModelSpec`` (names, levels, term order) is what prediction replays.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pandas as pd

from glmformula.design.categorical import CategoricalBlock, CategoricalDesign

#: Below this many rows formulaic's own dense materialisation is fast enough.
MIN_ROWS = 20_000
_C_CALL = re.compile(r"^C\(\s*`?([^`,()]+?)`?\s*\)$")


def _term_kind(term, data: pd.DataFrame) -> tuple[str, str] | None:
    """("intercept"|"numeric"|"categorical", column) for an eligible term, else None."""
    factors = list(term.factors)
    if len(factors) != 1:
        return None
    factor = factors[0]
    method = getattr(factor.eval_method, "value", factor.eval_method)
    if method == "literal" and factor.expr == "1":
        return "intercept", ""
    if method == "lookup" and factor.expr in data.columns:
        column = data[factor.expr]
        if isinstance(column.dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(column) or (
                column.dtype == object):
            return "categorical", factor.expr
        if column.dtype.kind in "iuf":
            return "numeric", factor.expr
        return None
    match = _C_CALL.match(factor.expr) if method == "python" else None
    if match and match.group(1) in data.columns:
        return "categorical", match.group(1)
    return None


def fast_design(rhs_formula, data: pd.DataFrame, materialise: Callable) -> tuple[CategoricalDesign, object] | None:
    """The design and formulaic spec for an eligible formula, or None to take formulaic's path."""
    if len(data) < MIN_ROWS:
        return None
    kinds = {str(term): _term_kind(term, data) for term in rhs_formula}
    if any(kind is None for kind in kinds.values()) or not any(k[0] == "categorical" for k in kinds.values()):
        return None
    categoricals: dict[str, tuple[np.ndarray, list]] = {}
    head = data.iloc[:2].copy()
    for kind, column in kinds.values():
        if kind == "categorical" and column not in categoricals:
            series = data[column]
            if isinstance(series.dtype, pd.CategoricalDtype):
                levels = list(series.cat.categories)
                codes = series.cat.codes.to_numpy()
            else:
                levels = sorted(pd.unique(series.dropna()))
                codes = pd.Categorical(series, categories=levels).codes
            categoricals[column] = (codes.astype(np.int64), levels)
            head[column] = pd.Categorical(head[column], categories=levels)
    _, model_spec, _ = materialise(rhs_formula, head)
    names = list(model_spec.column_names)
    dense_columns, dense_positions, blocks = [], [], []
    for term, columns in model_spec.term_slices.items():
        kind, column = kinds[str(term)]
        positions = np.arange(columns.start, columns.stop)
        if kind == "numeric":
            dense_columns.append(data[column].to_numpy(dtype=float))
            dense_positions.append(columns.start)
        elif kind == "intercept":
            dense_columns.append(np.ones(len(data)))
            dense_positions.append(columns.start)
        else:
            codes, levels = categoricals[column]
            reference = len(positions) == len(levels) - 1
            block_codes = codes - 1 if reference else codes  # the reference level becomes -1
            blocks.append(CategoricalBlock(np.where(codes < 0, -1, block_codes), positions))
    dense = np.column_stack(dense_columns) if dense_columns else np.zeros((len(data), 0))
    return CategoricalDesign(dense, np.array(dense_positions, dtype=int), blocks, names), model_spec
