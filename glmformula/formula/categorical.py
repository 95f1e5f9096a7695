"""Fast path: build a ``CategoricalDesign`` from the columns and the categorical codes, no dummies.

formulaic materialises a categorical as dense (or sparse) dummy columns, which
for a million rows and a 1,000-level factor costs more than the whole fit.
When every term of the right-hand side is the intercept, a numeric column, a
categorical main effect (a categorical/text column, or ``C(column)`` with the
default contrasts), a numeric transform (``bs(x, df=8)``, ``poly(x, 2)``,
``log(x)``, ``scale(x)``, ``I(x**2)``, products of them) or an interaction of
such columns (``g:x``, ``a:b``, ``a*b``, ``a/b``, ``x:z``, ``g:log(x)``,
``g:bs(x, 3)``), the design is built here instead (``formula.block_assembly``;
when it is small, as a dense matrix):

* a numeric column, or a product of numeric columns, is a column of the dense block;
* a numeric transform term is materialised by formulaic alone, on the full data,
  so that stateful transforms learn their state from every row as in R
  (``formula.numeric_terms``): its columns join the dense block;
* a categorical main effect is a ``CategoricalBlock`` of codes;
* an interaction is encoded by formulaic as one or more *scoped terms*, each a
  product of factors, a categorical one full-rank or reduced (its first level
  dropped).  A row falls in at most one column of a scoped term: the one of its
  combination of levels (the first factor varying fastest, as formulaic orders
  them), unless a reduced factor is at its first level.  So each scoped term is
  one block: the combined codes of its categorical factors, times the product of
  its numeric factors as the block's values (``g:x``: a column per level, x in
  place of the 1).  A transform factor of several columns (``g:bs(x, 3)``) makes
  one block per column, sharing the codes.  Empty cells are columns without rows,
  aliased as R aliases them.

formulaic still defines the encoding: it materialises the first rows only,
with each categorical given its full set of levels and each transform replaying
the state learned on the full data, and that ``ModelSpec`` (names, levels, term
order, transform state) is what prediction replays.  A design with interaction
blocks or transforms is checked against formulaic's own (sparse) design on a
sample of rows once per formula, levels and transform state; any difference
sends the formula to formulaic's path.
"""

from __future__ import annotations

import itertools
import re
from collections import OrderedDict
from collections.abc import Callable

import numpy as np
import pandas as pd

from glmformula import settings
from glmformula.formula import numeric_terms
from glmformula.formula.block_assembly import Values, assemble
from glmformula.formula.columns import FrameColumns

#: Columns of at most this many rows are factorised as Python objects (pandas' per-call costs dominate
#: there; beyond it, the work on the values does).
_SMALL_COLUMN = 20_000
_SPEC_CACHE: OrderedDict = OrderedDict()
_SPEC_CACHE_SIZE = 64
_C_CALL = re.compile(r"^C\(\s*`?([^`,()]+?)`?\s*\)$")


def _term_source(term) -> tuple | None:
    """What an eligible term reads, from the formula alone: ("intercept", ""), ("column", name) for a
    plain column (numeric or categorical, by its dtype), ("categorical", name) for ``C(name)``, ("python",
    expression) for another Python factor (a numeric transform, if the data say so), or ("interaction",
    ((kind, name, factor expression), ...)) for a product of those; else None."""
    factors = list(term.factors)
    if len(factors) == 1:
        source = _factor_source(factors[0])
        if source is not None or getattr(factors[0].eval_method, "value", None) != "literal":
            return None if source is None else source[:2]
        return ("intercept", "") if factors[0].expr == "1" else None
    parts = tuple(_factor_source(factor) for factor in factors)
    return None if any(part is None for part in parts) else ("interaction", parts)


def _factor_source(factor) -> tuple[str, str, str] | None:
    """("column"|"categorical", column name, factor expression) of a plain column or ``C(column)``, ("python",
    expression, expression) of another Python factor."""
    method = getattr(factor.eval_method, "value", factor.eval_method)
    if method == "lookup":
        return "column", factor.expr, factor.expr
    if method != "python":
        return None
    match = _C_CALL.match(factor.expr)
    return ("categorical", match.group(1), factor.expr) if match else ("python", factor.expr, factor.expr)


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
    """("intercept"|"numeric"|"categorical", column) for an eligible term, ("transform", "") for a term of
    numeric factors at least one of which is a Python expression (``bs(x, df=8)``, ``log(x):z``: formulaic
    materialises it, ``formula.numeric_terms``), ("interaction", ((kind, column or expression, factor
    expression), ...)) for an interaction of those with a categorical or of numeric columns, else None."""
    if source is None or source[0] == "intercept":
        return source
    if source[0] == "interaction":
        parts = tuple((_part_kind(kind, name, columns), name, expr) for kind, name, expr in source[1])
        kinds = {part[0] for part in parts}
        if None in kinds:
            return None
        if "transform" in kinds and "categorical" not in kinds:
            return "transform", ""
        return "interaction", parts
    kind = _part_kind(*source, columns)
    if kind is None:
        return None
    return ("transform", "") if kind == "transform" else (kind, source[1])


def _part_kind(kind: str, name: str, columns: FrameColumns) -> str | None:
    """"numeric", "categorical" or "transform" (a numeric Python factor) for a factor read from the formula
    as ``kind`` ("column", "categorical" or "python"); None when the fast path cannot express it."""
    if kind == "python":
        return "transform" if numeric_terms.is_numeric_expression(name, columns) else None
    if name not in columns:
        return None
    if kind == "categorical":
        return kind
    dtype = columns.dtype(name)
    if dtype.kind in "iuf":  # first: pandas' dtype tests cost more (categorical and text dtypes are of kind O or U)
        return "numeric"
    if isinstance(dtype, pd.CategoricalDtype) and dtype.ordered:
        return None  # R codes an ordered factor by polynomial contrasts: formulaic's path encodes it
    if isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(dtype) or dtype.kind == "O":
        return "categorical"
    return None


def fast_design(rhs_formula, data: FrameColumns, materialise: Callable, transforms: bool = True):
    """(design, formulaic spec, the data's columns copied into it as numeric terms or None) for an eligible
    formula, or None to take formulaic's path.

    The spec depends only on the formula, the levels of its categoricals and the state its transforms
    learned, so it is cached: repeated fits of one formula (bootstraps, simulations, many small groups)
    never call formulaic again.  ``settings.fast_categorical_design`` False always takes formulaic's path;
    designs of at most ``settings.dense_cells`` cells are handed on as dense matrices (exact R rank detection).
    Numeric transforms (``bs(x, df=8)``, ``log(x)``; only when ``transforms``) are materialised by formulaic
    on the full data (``formula.numeric_terms``): their columns are returned as None (not the data's).
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
    learned = None
    if _has_transforms(kinds):
        if not transforms or _small(data.n_rows, kinds, categoricals):
            return None  # formulaic's dense path is as fast for a small design, and is the reference
        learned = numeric_terms.learn(_transform_terms(rhs_formula, kinds), data.frame, materialise,
                                      reserve=numeric_terms.reserved_columns(kinds))
        if learned is None:
            return None
    cached = _cached_spec(rhs_formula, kinds, data, categoricals, materialise, learned)
    model_spec, names, term_columns, verified = cached
    names = list(names)
    if not names:
        return None  # nothing to build (y ~ 0): formulaic's path reports it
    plan = _plan(model_spec, term_columns, kinds, {c: len(v[1]) for c, v in categoricals.items()}, learned)
    if plan is None:
        return None
    if verified is None and (learned is not None or any(step[0] == "block" and step[1] for step in plan)):
        verified = cached[3] = _matches_formulaic(plan, model_spec, data, categoricals, names, learned)
    if verified is False:
        return None
    values = Values(data, None if learned is None else learned.take_values())  # freed as copied
    built = assemble(plan, values, {c: v[0] for c, v in categoricals.items()}, names)
    if built is None:
        return None
    design, copied = built
    return design, model_spec, (copied if learned is None else None)


def _cached_spec(rhs_formula, kinds: dict, data: FrameColumns, categoricals: dict, materialise: Callable,
                 learned: numeric_terms.LearnedTransforms | None) -> list:
    """[formulaic's spec, its column names, (term, first column, stop) of each term, whether the sample check
    passed (None: not run yet)], from the cache or from formulaic on the data's first two rows (each
    categorical with its full set of levels, the transforms replaying the state learned on the full data)."""
    key = (str(rhs_formula), tuple(sorted(kinds.items())),
           tuple(sorted((c, str(data.dtype(c)), tuple(map(repr, v[1]))) for c, v in categoricals.items())),
           None if learned is None else learned.key)
    cached = _SPEC_CACHE.get(key)
    if cached is None:
        head = _with_levels(data.frame.iloc[:2].reset_index(drop=True), categoricals)
        # formulaic writes the head as an array far faster than as a frame (0.4 s against 3 s for 20,000
        # columns); the spec is then the frame-output spec prediction replays
        _, model_spec, _ = materialise(rhs_formula, head, transform_state=None if learned is None else learned.state,
                                       output="numpy")
        model_spec = model_spec.update(output="pandas")
        # with the spec, its column names and each term's columns (formulaic's properties rebuild them per call)
        cached = _SPEC_CACHE[key] = [model_spec, list(model_spec.column_names),
                                     [(str(term), columns.start, columns.stop)
                                      for term, columns in model_spec.term_slices.items()], None]
        if len(_SPEC_CACHE) > _SPEC_CACHE_SIZE:
            _SPEC_CACHE.popitem(last=False)
    return cached


def _has_transforms(kinds: dict) -> bool:
    """Whether a term is, or interacts with, a numeric transform (``formula.numeric_terms``)."""
    return any(kind[0] == "transform" or (kind[0] == "interaction" and any(part[0] == "transform" for part in kind[1]))
               for kind in kinds.values())


def _small(n_rows: int, kinds: dict, categoricals: dict) -> bool:
    """Whether the design has at most ``settings.dense_cells`` cells, counting a column per term and per
    level of each categorical (a lower bound)."""
    columns = len(kinds) + sum(len(levels) for _, levels in categoricals.values())
    return n_rows * columns <= settings.current().dense_cells


def _transform_terms(rhs_formula, kinds: dict) -> list:
    """formulaic terms to materialise on the full data: the numeric transform terms, then each transform
    factor of an interaction with a categorical, as a term of its own (its columns are the blocks' values)."""
    from formulaic.parser.types import Term

    terms = [term for term in rhs_formula if kinds[str(term)][0] == "transform"]
    taken = {str(term) for term in terms}
    for term in rhs_formula:
        kind = kinds[str(term)]
        if kind[0] != "interaction":
            continue
        transformed = {expr for part_kind, _, expr in kind[1] if part_kind == "transform"}
        for factor in term.factors:
            if factor.expr in transformed and factor.expr not in taken:
                terms.append(Term([factor]))
                taken.add(factor.expr)
    return terms


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


def _plan(model_spec, term_columns, kinds: dict, n_levels: dict,
          learned: numeric_terms.LearnedTransforms | None) -> list[tuple] | None:
    """The design as steps: ("intercept", position), ("numeric", position, (value, ...)) for a column or a
    product of columns, ("learned", positions, term) for a numeric transform term (its columns learned on
    the full data), ("block", interaction?, positions, ((column, reduced, levels), ...), (value, ...)) for a
    categorical main effect or one scoped term of an interaction.  A value is ("column", name) or ("learned",
    (term, column)).  None when formulaic's encoding is not what the blocks express (then formulaic's path
    takes the formula)."""
    structure = {str(entry.term): entry for entry in (model_spec.structure or [])}
    names = list(model_spec.column_names)
    plan: list[tuple] = []
    for term, first, stop in term_columns:
        kind = kinds[term]
        if kind[0] == "intercept":
            plan.append(("intercept", first))
        elif kind[0] == "numeric":
            plan.append(("numeric", first, (("column", kind[1]),)))
        elif kind[0] == "transform":
            if not learned.names_match(term, names[first:stop]):
                return None
            plan.append(("learned", np.arange(first, stop), term))
        elif kind[0] == "categorical":
            reduced = stop - first == n_levels[kind[1]] - 1
            plan.append(("block", False, np.arange(first, stop), ((kind[1], reduced, n_levels[kind[1]]),), ()))
        else:
            steps = _interaction_plan(structure.get(term), kind[1], first, stop, n_levels, learned)
            if steps is None:
                return None
            plan += steps
    return plan


def _interaction_plan(entry, parts: tuple, first: int, stop: int, n_levels: dict,
                      learned: numeric_terms.LearnedTransforms | None) -> list[tuple] | None:
    """The steps of one interaction term, from formulaic's scoped terms (see the module doc).

    A scoped term's columns are the products of its factors' columns, the first factor varying fastest;
    a numeric factor of several columns (``bs(x, 3)`` in ``g:bs(x, 3)``) gives one block per column,
    sharing the categorical codes."""
    if entry is None:
        return None
    part_of = {expr: (kind, name) for kind, name, expr in parts}
    steps, position = [], first
    for scoped in entry.scoped_terms:
        categorical, numeric, stride = [], [], 1  # numeric: (the factor's values, their stride in the term)
        for scoped_factor in scoped.factors:
            found = part_of.get(scoped_factor.factor.expr)
            if found is None:
                return None
            kind, name = found
            if kind == "categorical":
                reduced = bool(scoped_factor.reduced)
                categorical.append((name, reduced, n_levels[name], stride))
                stride *= n_levels[name] - reduced
                continue
            values = [("column", name)] if kind == "numeric" else _learned_values(learned, name)
            if values is None:
                return None
            numeric.append((values, stride))
            stride *= len(values)
        if not categorical and not numeric:
            return None
        steps += _scoped_steps(position, categorical, numeric)
        position += stride
    return steps if position == stop else None


def _learned_values(learned: numeric_terms.LearnedTransforms | None, expr: str) -> list[tuple] | None:
    """The values ("learned", (factor, column)) of a transform factor's columns."""
    found = None if learned is None else learned.names.get(expr)
    return None if found is None else [("learned", (expr, j)) for j in range(len(found))]


def _scoped_steps(position: int, categorical: list[tuple], numeric: list[tuple]) -> list[tuple]:
    """The steps of one scoped term at ``position``: a block per combination of its numeric factors' columns
    (a dense column when it has no categorical factor).  A block's column c (the categorical factors'
    combined code, the first varying fastest) is the term's column of those levels."""
    offsets = np.zeros(1, dtype=int)
    if categorical:
        combined = np.arange(int(np.prod([levels - reduced for _, reduced, levels, _ in categorical])))
        offsets, span = np.zeros(len(combined), dtype=int), 1
        for _, reduced, levels, stride in categorical:
            offsets += (combined // span) % (levels - reduced) * stride
            span *= levels - reduced
    factors = tuple((name, reduced, levels) for name, reduced, levels, _ in categorical)
    steps = []
    for combination in itertools.product(*(range(len(values)) for values, _ in numeric)):
        base = position + sum(index * stride for index, (_, stride) in zip(combination, numeric))
        values = tuple(factor_values[index] for index, (factor_values, _) in zip(combination, numeric))
        steps.append(("block", True, base + offsets, factors, values) if categorical else ("numeric", base, values))
    return steps


#: Rows of the sample on which an interaction design is checked against formulaic's.
_CHECK_ROWS = 64
#: formulaic's sample design is asked for as an array up to this many cells (else sparse).
_CHECK_DENSE_CELLS = 20_000_000


def _matches_formulaic(plan: list[tuple], model_spec, data: FrameColumns, categoricals: dict,
                       names: list[str], learned: numeric_terms.LearnedTransforms | None) -> bool:
    """Whether the blocks give formulaic's design on a sample of rows (its first rows and rows spread
    over the data), compared with formulaic's output of the same spec (which replays on the sample
    the transform state learned on the full data)."""
    n = data.n_rows
    rows = np.unique(np.concatenate([np.arange(min(n, _CHECK_ROWS // 2)),
                                     np.linspace(0, n - 1, _CHECK_ROWS // 2).astype(int)]))
    sample = _with_levels(data.frame.iloc[rows].reset_index(drop=True), categoricals)
    sample_columns = FrameColumns(sample)
    sample_codes = {c: _codes_and_levels(sample_columns[c])[0] for c in categoricals}
    with settings.override(dense_cells=max(settings.current().dense_cells, len(rows) * len(names))):
        built = assemble(plan, Values(sample_columns, None if learned is None else learned.values, rows),
                          sample_codes, names)
    if built is None:
        return False
    try:
        # an array unless it is large: formulaic's sparse columns cost a scipy product each (12 s for 20,000)
        output = "numpy" if len(rows) * len(names) <= _CHECK_DENSE_CELLS else "sparse"
        expected = model_spec.update(output=output).get_model_matrix(sample, na_action="ignore")
    except Exception:  # noqa: BLE001 - formulaic could not replay it: its own path will say why
        return False
    expected = expected.toarray() if hasattr(expected, "toarray") else np.asarray(expected)
    return expected.shape == built[0].shape and bool(np.allclose(built[0].to_dense(), expected, rtol=1e-12,
                                                                 atol=0.0, equal_nan=False))


def _codes_and_levels(values) -> tuple[np.ndarray, list]:
    """int32 codes (-1 for missing) and the sorted levels of a categorical or text column."""
    if isinstance(values, pd.Categorical):
        return values.codes.astype(np.int32), values.categories.tolist()  # list() iterates: 2 us a level
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
