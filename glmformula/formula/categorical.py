"""Fast path: build a ``CategoricalDesign`` from the columns and the categorical codes, no dummies.

formulaic materialises a categorical as dense (or sparse) dummy columns, which
for a million rows and a 1,000-level factor costs more than the whole fit.
When every term of the right-hand side is the intercept, a numeric column, a
categorical main effect (a categorical/text column, or ``C(column)`` with the
default contrasts) or an interaction of such columns (``g:x``, ``a:b``,
``a*b``, ``a/b``, ``x:z``), the design is built here instead (and, when it is
small, handed on as a dense matrix):

* a numeric column, or a product of numeric columns, is a column of the dense block;
* a categorical main effect is a ``CategoricalBlock`` of codes;
* an interaction is encoded by formulaic as one or more *scoped terms*, each a
  product of factors, a categorical one full-rank or reduced (its first level
  dropped).  A row falls in at most one column of a scoped term: the one of its
  combination of levels (the first factor varying fastest, as formulaic orders
  them), unless a reduced factor is at its first level.  So each scoped term is
  one block: the combined codes of its categorical factors, times the product of
  its numeric factors as the block's values (``g:x``: a column per level, x in
  place of the 1).  Empty cells are columns without rows, aliased as R aliases
  them.

formulaic still defines the encoding: it materialises the first rows only,
with each categorical given its full set of levels, and that ``ModelSpec``
(names, levels, term order) is what prediction replays.  A design with
interaction blocks is checked against formulaic's own (sparse) design on a
sample of rows once per formula and levels; any difference sends the formula
to formulaic's path.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable

import numpy as np
import pandas as pd

from glmformula import settings
from glmformula.design import kernels
from glmformula.design.categorical import CategoricalBlock, CategoricalDesign
from glmformula.design.dense import DenseDesign
from glmformula.formula.columns import FrameColumns

#: Columns of at most this many rows are read one by one, and text ones factorised as Python objects
#: (pandas' per-call costs dominate there; beyond it, the work on the values does).
_SMALL_COLUMN = 20_000
_SPEC_CACHE: OrderedDict = OrderedDict()
_SPEC_CACHE_SIZE = 64
_C_CALL = re.compile(r"^C\(\s*`?([^`,()]+?)`?\s*\)$")


def _term_source(term) -> tuple | None:
    """What an eligible term reads, from the formula alone: ("intercept", ""), ("column", name) for a
    plain column (numeric or categorical, by its dtype), ("categorical", name) for ``C(name)``, or
    ("interaction", ((kind, name, factor expression), ...)) for a product of those; else None."""
    factors = list(term.factors)
    if len(factors) == 1:
        source = _factor_source(factors[0])
        if source is not None or getattr(factors[0].eval_method, "value", None) != "literal":
            return None if source is None else source[:2]
        return ("intercept", "") if factors[0].expr == "1" else None
    parts = tuple(_factor_source(factor) for factor in factors)
    return None if any(part is None for part in parts) else ("interaction", parts)


def _factor_source(factor) -> tuple[str, str, str] | None:
    """("column"|"categorical", column name, factor expression) of a plain column or ``C(column)``."""
    method = getattr(factor.eval_method, "value", factor.eval_method)
    if method == "lookup":
        return "column", factor.expr, factor.expr
    match = _C_CALL.match(factor.expr) if method == "python" else None
    return ("categorical", match.group(1), factor.expr) if match else None


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


def _term_kind(source: tuple | None, columns: FrameColumns) -> tuple | None:
    """("intercept"|"numeric"|"categorical", column) for an eligible term, ("interaction", ((kind, column,
    factor expression), ...)) for an interaction of eligible columns, else None."""
    if source is None or source[0] == "intercept":
        return source
    if source[0] == "interaction":
        parts = []
        for kind, name, expr in source[1]:
            part = _term_kind((kind, name), columns)
            if part is None:
                return None
            parts.append((part[0], name, expr))
        return "interaction", tuple(parts)
    kind, name = source
    if name not in columns:
        return None
    if kind == "categorical":
        return source
    dtype = columns.dtype(name)
    if dtype.kind in "iuf":  # first: pandas' dtype tests cost more (categorical and text dtypes are of kind O or U)
        return "numeric", name
    if isinstance(dtype, pd.CategoricalDtype) and dtype.ordered:
        return None  # R codes an ordered factor by polynomial contrasts: formulaic's path encodes it
    if isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(dtype) or dtype.kind == "O":
        return "categorical", name
    return None


def fast_design(rhs_formula, data: FrameColumns, materialise: Callable):
    """(design, formulaic spec, the data's columns copied into it as numeric terms) for an eligible formula,
    or None to take formulaic's path.

    The spec depends only on the formula and the levels of its categoricals, so it is
    cached: repeated fits of one formula (bootstraps, simulations, many small groups)
    never call formulaic again.  ``settings.fast_categorical_design`` False always takes formulaic's path;
    designs of at most ``settings.dense_cells`` cells are handed on as dense matrices (exact R rank detection).
    """
    if not settings.current().fast_categorical_design:
        return None
    kinds = {name: _term_kind(source, data) for name, source in _term_sources(rhs_formula)}
    if any(kind is None for kind in kinds.values()):
        return None
    categoricals: dict[str, tuple[np.ndarray, list]] = {}
    for column in _categorical_columns(kinds):
        if column not in categoricals:
            categoricals[column] = _codes_and_levels(data[column])
    key = (str(rhs_formula), tuple(sorted(kinds.items())),
           tuple(sorted((c, str(data.dtype(c)), tuple(map(repr, v[1]))) for c, v in categoricals.items())))
    cached = _SPEC_CACHE.get(key)
    if cached is None:
        head = _with_levels(data.frame.iloc[:2].reset_index(drop=True), categoricals)
        _, model_spec, _ = materialise(rhs_formula, head)
        # with the spec, its column names and each term's columns (formulaic's properties rebuild them per call)
        cached = _SPEC_CACHE[key] = [model_spec, list(model_spec.column_names),
                                     [(str(term), columns.start, columns.stop)
                                      for term, columns in model_spec.term_slices.items()], None]
        if len(_SPEC_CACHE) > _SPEC_CACHE_SIZE:
            _SPEC_CACHE.popitem(last=False)
    model_spec, names, term_columns, verified = cached
    names = list(names)
    if not names:
        return None  # nothing to build (y ~ 0): formulaic's path reports it
    plan = _plan(model_spec, term_columns, kinds, {c: len(v[1]) for c, v in categoricals.items()})
    if plan is None:
        return None
    if verified is None and any(step[0] == "block" and step[1] for step in plan):
        verified = cached[3] = _matches_formulaic(plan, model_spec, data, categoricals, names)
    if verified is False:
        return None
    built = _assemble(plan, data, {c: v[0] for c, v in categoricals.items()}, names)
    if built is None:
        return None
    design, copied = built
    return design, model_spec, copied


def _categorical_columns(kinds: dict) -> list[str]:
    columns = []
    for kind in kinds.values():
        if kind[0] == "categorical":
            columns.append(kind[1])
        elif kind[0] == "interaction":
            columns += [name for part_kind, name, _ in kind[1] if part_kind == "categorical"]
    return columns


def _with_levels(frame: pd.DataFrame, categoricals: dict) -> pd.DataFrame:
    """``frame`` with each categorical column given the full data's levels (formulaic learns them from it)."""
    for column, (_, levels) in categoricals.items():
        frame[column] = pd.Categorical(frame[column], categories=levels)
    return frame


def _plan(model_spec, term_columns, kinds: dict, n_levels: dict) -> list[tuple] | None:
    """The design as steps: ("intercept", position), ("numeric", position, (columns...)) for a column
    or a product of columns, ("block", interaction?, positions, ((column, reduced, levels), ...), (numeric
    columns...))
    for a categorical main effect or one scoped term of an interaction.  None when formulaic's encoding
    is not what the blocks express (then formulaic's path takes the formula)."""
    structure = {str(entry.term): entry for entry in (model_spec.structure or [])}
    plan: list[tuple] = []
    for term, first, stop in term_columns:
        kind = kinds[term]
        if kind[0] == "intercept":
            plan.append(("intercept", first))
        elif kind[0] == "numeric":
            plan.append(("numeric", first, (kind[1],)))
        elif kind[0] == "categorical":
            reduced = stop - first == n_levels[kind[1]] - 1
            plan.append(("block", False, np.arange(first, stop), ((kind[1], reduced, n_levels[kind[1]]),), ()))
        else:
            steps = _interaction_plan(structure.get(term), kind[1], first, stop, n_levels)
            if steps is None:
                return None
            plan += steps
    return plan


def _interaction_plan(entry, parts: tuple, first: int, stop: int, n_levels: dict) -> list[tuple] | None:
    """The steps of one interaction term, from formulaic's scoped terms (see the module doc)."""
    if entry is None:
        return None
    column_of = {expr: (kind, name) for kind, name, expr in parts}
    steps, position = [], first
    for scoped in entry.scoped_terms:
        categorical, numeric, width = [], [], 1
        for scoped_factor in scoped.factors:
            found = column_of.get(scoped_factor.factor.expr)
            if found is None:
                return None
            kind, name = found
            if kind == "numeric":
                numeric.append(name)
            else:
                reduced = bool(scoped_factor.reduced)
                categorical.append((name, reduced, n_levels[name]))
                width *= n_levels[name] - reduced
        if categorical:
            steps.append(("block", True, np.arange(position, position + width), tuple(categorical), tuple(numeric)))
        elif numeric:
            steps.append(("numeric", position, tuple(numeric)))
        else:
            return None
        position += width
    return steps if position == stop else None


def _assemble(plan: list[tuple], data: FrameColumns, codes: dict, names: list[str]):
    """(design, numeric columns copied) from the plan; None when a product of columns is not finite."""
    n = data.n_rows
    intercept_position = None
    numeric_columns, numeric_positions, products, blocks = [], [], [], []
    for step in plan:
        if step[0] == "intercept":
            intercept_position = step[1]
        elif step[0] == "numeric" and len(step[2]) == 1:
            numeric_columns.append(step[2][0])
            numeric_positions.append(step[1])
        elif step[0] == "numeric":
            product = _product(data, step[2])
            if product is None:
                return None
            products.append((step[1], product))
        else:
            _, _, positions, factors, numeric = step
            values = _product(data, numeric) if numeric else None
            if numeric and values is None:
                return None
            block_codes = _block_codes(codes, factors, positions)
            blocks.append(CategoricalBlock(block_codes, positions, values))
    copied = numeric_columns + [name for step in plan if step[0] == "block" for name in step[4]]
    if n * len(names) <= settings.current().dense_cells:  # small: the dense matrix itself, written directly
        matrix = np.zeros((n, len(names)))
        if intercept_position is not None:
            matrix[:, intercept_position] = 1.0
        _copy_numeric(data, numeric_columns, matrix, numeric_positions)
        for position, product in products:
            matrix[:, position] = product
        for block in blocks:
            block.write_indicators(matrix)
        return DenseDesign(matrix, names), copied
    positions = ([] if intercept_position is None else [intercept_position]) + numeric_positions
    dense = np.empty((n, len(positions) + len(products)))
    start = 0 if intercept_position is None else 1
    if kernels.in_use():  # the 1s and the columns in one pass over the rows
        sources = [np.ascontiguousarray(data[column], dtype=float) for column in numeric_columns]  # views if float
        kernels.gather_columns(sources, list(range(start, len(positions))), None if start == 0 else 0, dense)
    else:
        if start:
            dense[:, 0] = 1.0
        _copy_numeric(data, numeric_columns, dense, slice(start, len(positions)))
    for offset, (position, product) in enumerate(products):
        dense[:, len(positions) + offset] = product
        positions.append(position)
    return CategoricalDesign(dense, np.array(positions, dtype=int), blocks, names), copied


def _block_codes(codes: dict, factors: tuple, positions: np.ndarray) -> np.ndarray:
    """int32 codes of a block's rows: the column within the block, -1 for none (see the module doc)."""
    if len(factors) == 1:  # a main effect: the reference level (code 0) becomes -1; missing codes (-1) stay -1
        name, reduced, _ = factors[0]
        if not reduced:
            return codes[name]
        block_codes = codes[name] - 1
        np.maximum(block_codes, -1, out=block_codes)
        return block_codes
    combined = np.zeros(len(codes[factors[0][0]]), dtype=np.int64)
    valid = np.ones(len(combined), dtype=bool)
    stride = 1
    for name, reduced, levels in factors:
        index = codes[name].astype(np.int64) - int(reduced)
        valid &= index >= 0
        combined += index * stride
        stride *= levels - int(reduced)
    return np.where(valid, combined, -1).astype(np.int32)


def _product(data: FrameColumns, columns: tuple) -> np.ndarray | None:
    """The product of numeric columns as a new float array; None when it is not finite (an overflow, or a
    missing value: formulaic's path then reports it)."""
    product = np.array(data[columns[0]], dtype=float)
    for column in columns[1:]:
        product *= data[column]
    with np.errstate(over="ignore", invalid="ignore"):
        return product if np.isfinite(product.sum()) else None


#: Rows of the sample on which an interaction design is checked against formulaic's.
_CHECK_ROWS = 64


def _matches_formulaic(plan: list[tuple], model_spec, data: FrameColumns, categoricals: dict,
                       names: list[str]) -> bool:
    """Whether the blocks give formulaic's design on a sample of rows (its first rows and rows spread
    over the data), compared with formulaic's sparse output of the same spec."""
    n = data.n_rows
    rows = np.unique(np.concatenate([np.arange(min(n, _CHECK_ROWS // 2)),
                                     np.linspace(0, n - 1, _CHECK_ROWS // 2).astype(int)]))
    sample = _with_levels(data.frame.iloc[rows].reset_index(drop=True), categoricals)
    sample_columns = FrameColumns(sample)
    sample_codes = {c: _codes_and_levels(sample_columns[c])[0] for c in categoricals}
    with settings.override(dense_cells=max(settings.current().dense_cells, len(rows) * len(names))):
        built = _assemble(plan, sample_columns, sample_codes, names)
    if built is None:
        return False
    try:
        expected = model_spec.update(output="sparse").get_model_matrix(sample, na_action="ignore")
    except Exception:  # noqa: BLE001 - formulaic could not replay it: its own path will say why
        return False
    expected = expected.toarray() if hasattr(expected, "toarray") else np.asarray(expected)
    return expected.shape == built[0].shape and bool(np.allclose(built[0].to_dense(), expected, rtol=1e-12,
                                                                 atol=0.0, equal_nan=False))


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
