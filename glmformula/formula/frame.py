"""The formula adapter: formula string + DataFrame → response, design, offset, weights.

This is the only module that talks to formulaic.  It

1. splits the formula (``parse``), lets formulaic parse the right-hand side's
   term algebra (bounded in size first) and checks every Python piece with
   the interpreter (``safe_eval``) before anything is evaluated;
2. finds the rows with missing values in any variable the model uses and drops
   them (``na_action="drop"``, counted) or refuses (``"raise"``);
3. evaluates response and offsets with the interpreter, and the right-hand
   side with formulaic's encoding whose factors the interpreter evaluates
   (``materializer``), translating formulaic's errors into ours;
4. returns a ``ModelFrame`` whose ``FormulaSpec`` replays the same encoding
   (levels, spline knots, polynomial bases, offsets) on new data.

The caller's DataFrame is only read, never modified.
"""

from __future__ import annotations

import copy
import re
import warnings
from collections import Counter
from dataclasses import dataclass
from functools import cached_property, lru_cache, partial
from typing import Any

import numpy as np
import pandas as pd

from glmformula.design.dense import DenseDesign
from glmformula.engine.design_protocol import Design
from glmformula.engine.unit_weights import all_ones, unit_weights
from glmformula.exceptions import DataError, FormulaError, GLMFormulaError, MissingColumnError
from glmformula.formula import functions, operators, safe_eval
from glmformula.formula.categorical import fast_design
from glmformula.formula.columns import FrameColumns
from glmformula.formula.lexer import check_column_name
from glmformula.formula.materializer import InterpretingMaterializer, RContrastsMaterializer, output_into
from glmformula.formula.parse import ParsedFormula, expand_dot, parse_formula, protect_ambiguous_columns, sum_terms
from glmformula.formula.terms import check_term_count
from glmformula.formula.validation import (
    ArrayOrColumn,
    NaAction,
    as_dataframe,
    check_design_finite,
    check_finite,
    complete_rows,
    evaluate_response,
    external_vector,
    first_labels,
    subset_rows,
    sum_offsets,
)


@dataclass(frozen=True)
class FormulaSpec:
    """Everything learned from the training data that prediction must replay.

    ``model_spec`` is formulaic's spec for the right-hand side (levels,
    transform state); ``offsets`` are the ``offset()`` expressions, evaluated
    again on new data.
    """

    parsed: ParsedFormula
    model_spec: Any
    trusted: bool = False
    offset_column: str | None = None
    exposure_column: str | None = None
    offset_array: bool = False
    exposure_array: bool = False

    @property
    def column_names(self) -> list[str]:
        return list(self.model_spec.column_names)

    @cached_property
    def term_slices(self) -> dict[str, slice]:
        """Design columns of each term, keyed by the term's name (``'C(a):x'``; formulaic renders the names
        anew at each call, so they are taken once)."""
        return {str(term): sl for term, sl in self.model_spec.term_slices.items()}

    def design(self, data: pd.DataFrame) -> pd.DataFrame:
        """Encode new data exactly as the training data were encoded.

        Unseen levels and missing values are found and reported by the caller
        (prediction); formulaic's own warnings about them are silenced here.
        """
        data = data.copy()
        for column, categories in categorical_sources(self.model_spec, data.columns).items():
            # formulaic mis-encodes some text dtypes (pyarrow strings) on replay; give it the learned levels
            values = data[column]
            values = values.where(values.isin(categories))  # unseen levels (reported by the caller) become NA
            data[column] = pd.Categorical(values, categories=categories)
        with _formulaic_errors(), np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.filterwarnings("ignore", module=r"formulaic\.")
            # formulaic updates a spec's encoder state in place while encoding (and on failure): work on a
            # copy, so that the fitted model (and fits sharing a cached spec) are never changed by new data
            context = _trusted_context() if self.trusted else None  # the functions a trusted formula was fitted with
            matrix = copy.deepcopy(self.model_spec).get_model_matrix(data, context=context, na_action="ignore")
        return pd.DataFrame(matrix)

    def offset(self, data: pd.DataFrame, offset: ArrayOrColumn = None, exposure: ArrayOrColumn = None) -> np.ndarray:
        """The offset for new data: ``offset()`` terms, plus the offset/exposure columns or given arrays."""
        total = sum_offsets(self.parsed.offsets, FrameColumns(data), len(data), self.trusted)
        for name, given, column, was_array, transform in (
            ("offset", offset, self.offset_column, self.offset_array, lambda v: v),
            ("exposure", exposure, self.exposure_column, self.exposure_array, np.log),
        ):
            if given is None and column is not None:
                given = column
            if given is None:
                if was_array:
                    raise DataError(f"the model was fitted with an {name} array: pass {name}= for the new data")
                continue
            values, _ = external_vector(given, name, data)
            if name == "exposure" and np.any(values <= 0):
                raise DataError(f"exposure must be positive: {int(np.sum(values <= 0))} row(s) are <= 0")
            total = total + transform(values)
        return total


@dataclass(frozen=True)
class ModelFrame:
    """Response, design, offset and prior weights for the rows the model uses.

    Attributes
    ----------
    y : (n,) or (n, 2) float array; two columns for ``cbind``.
    design : the (n, p) design (``engine.design_protocol.Design``): a ``DenseDesign``, or a
        ``CategoricalDesign`` that keeps categorical main effects as codes (large data, simple formulas).
    offset : (n,) float array (zeros when there is none).
    weights : (n,) prior weights (when none were given: ones, read-only, shared by the fit as its numbers of
        trials, ``weighting``).
    row_labels : the caller's index labels of the n rows used.
    n_dropped : rows dropped for missing values.
    response_name : the response as written in the formula.
    response_levels : for a two-level categorical response, its levels
        (the second is the "success").
    spec : the ``FormulaSpec`` that replays the encoding.
    """

    y: np.ndarray
    design: Design
    offset: np.ndarray
    weights: np.ndarray
    row_labels: pd.Index
    n_dropped: int
    response_name: str
    spec: FormulaSpec
    response_levels: tuple[Any, ...] | None = None
    has_offset: bool = False

    @property
    def column_names(self) -> list[str]:
        return self.spec.column_names

    @property
    def X(self) -> np.ndarray:
        """The design as a dense matrix."""
        return self.design.to_dense()

    @property
    def has_intercept(self) -> bool:
        """Whether the formula has an intercept term (not merely a column named "Intercept")."""
        return "1" in self.spec.term_slices


def categorical_sources(model_spec, columns) -> dict[str, list]:
    """Data columns behind the spec's categorical factors (``x``, `` `x` `` or ``C(x, ...)``) and their levels."""
    import ast

    sources: dict[str, list] = {}
    for expr, (kind, state) in model_spec.encoder_state.items():
        if getattr(kind, "value", kind) != "categorical" or "categories" not in state:
            continue
        name = expr
        if len(expr) > 1 and expr[0] == expr[-1] == "`":  # a protected column (parse.protect_ambiguous_columns)
            name = expr[1:-1]
        else:
            try:
                node = ast.parse(expr, mode="eval").body
                if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Name):
                    name = node.args[0].id
            except SyntaxError:
                continue
        if name in columns:
            sources.setdefault(name, list(state["categories"]))
    return sources


class _formulaic_errors:
    """Context manager translating whatever formulaic raises on user input into ``FormulaError``.

    formulaic parses and evaluates user input, and on odd input its parser and
    transforms raise anything from ``FormulaicError`` to ``AttributeError``;
    the user must see one clear error instead.
    """

    _TRANSLATED = (ValueError, TypeError, KeyError, AttributeError, IndexError, ArithmeticError, NameError,
                   np.linalg.LinAlgError)

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc is None or isinstance(exc, GLMFormulaError):
            return False
        if isinstance(exc.__cause__, GLMFormulaError):  # our interpreter's error, wrapped by formulaic
            raise exc.__cause__.with_traceback(None) from None
        from formulaic.errors import FormulaicError

        if isinstance(exc, (FormulaicError, *self._TRANSLATED)):
            text = str(exc).strip()
            message = text.splitlines()[0] if text else type(exc).__name__
            raise FormulaError(f"formulaic could not build the design: {type(exc).__name__}: {message}") from None
        return False


def _trusted_context() -> dict[str, Any]:
    """What Python in a trusted formula may call, besides formulaic's transforms (formulaic evaluates it):
    the math functions, and glmformula's ``C``, ``ns``, ``bs`` and ``poly`` (R's meanings and column names) in
    place of formulaic's."""
    context = {name: function.call for name, function in functions.MATH_FUNCTIONS.items() if name != "I"}
    context.update({name: functions.lookup(name, transforms=True).call for name in ("C", "ns", "bs", "poly")})
    context.update(TRUE=True, FALSE=False)  # R's logicals, as in the interpreter of untrusted formulas
    return context


def _referenced_columns(parsed: ParsedFormula, rhs_variables: frozenset[str], columns: list[str]) -> list[str]:
    names: set[str] = set(rhs_variables)
    for expr in (*parsed.response, *parsed.offsets):
        names |= safe_eval.names_in(expr)
    return [c for c in columns if c in names]


def build_model_frame(
    formula: str,
    data: Any,
    *,
    weights: ArrayOrColumn = None,
    offset: ArrayOrColumn = None,
    exposure: ArrayOrColumn = None,
    na_action: NaAction = "drop",
    categorical_response: bool = False,
    trusted: bool = False,
    drop_unused_levels: bool = True,
    subset: Any = None,
    transform_state: dict | None = None,
) -> ModelFrame:
    """Evaluate ``formula`` on ``data`` and return the model frame (see module doc).

    In steps: the rows of ``subset`` (R's ``subset``: a boolean mask or an expression on the columns,
    ``validation.subset_rows``; the weights, offset and exposure given as arrays are for all the data's
    rows, as in R), the formula resolved against the data's columns and checked, the complete rows, the
    response, offset and prior weights on them, the design, and the checks of what came out.

    ``transform_state``: the stateful transforms' state (a formulaic spec's ``transform_state``) learned on
    other rows, replayed here instead of learned from ``data``: a Dask partition is encoded with the whole
    data's ``bs``/``poly``/``scale`` state, on the same design blocks as any other partition.
    """
    if na_action not in ("drop", "raise"):
        raise DataError(f"na_action must be 'drop' or 'raise', got {na_action!r}")
    parsed = parse_formula(formula)
    data = as_dataframe(data)
    external = _External.of(data, weights, offset, exposure)
    if subset is not None:
        keep = subset_rows(subset, data, trusted)
        if not keep.all():
            data, external = data.iloc[np.flatnonzero(keep)], external.rows(keep)
    source = FrameColumns(data)
    parsed, rhs_formula, rhs_variables = _resolve_formula(parsed, source.names, external, trusted)
    used = _referenced_columns(parsed, rhs_variables, source.names)
    complete, labels, subset = _used_rows(data, source, used, na_action, external, drop_unused_levels)

    y, levels = evaluate_response(parsed, subset.columns, categorical_response, trusted)
    offset_total, prior_weights = _offset_and_weights(parsed, subset, external, complete, labels, trusted)
    design, model_spec, numeric_sources, kept = _build_design(rhs_formula, subset, trusted, transform_state)
    if not kept.all():
        _check_rows_kept(kept, parsed.rhs, labels)
        y, offset_total, prior_weights, labels = y[kept], offset_total[kept], prior_weights[kept], labels[kept]
    _check_values(parsed, y, labels, design, model_spec, subset, numeric_sources)

    return ModelFrame(
        y=y,
        design=design,
        offset=offset_total,
        weights=prior_weights,
        row_labels=labels,
        n_dropped=len(data) - len(labels),
        response_name=_response_label(parsed),
        spec=FormulaSpec(
            parsed, model_spec, trusted, offset_column=external.offset_column,
            exposure_column=external.exposure_column,
            offset_array=external.offset is not None and external.offset_column is None,
            exposure_array=external.exposure is not None and external.exposure_column is None,
        ),
        response_levels=levels,
        has_offset=bool(parsed.offsets) or external.offset is not None or external.exposure is not None,
    )


@dataclass(frozen=True)
class _External:
    """The weights, offset and exposure given beside the formula: their values for every row of the data
    (None when not given) and the columns they name (None when given as arrays)."""

    weights: np.ndarray | None
    offset: np.ndarray | None
    exposure: np.ndarray | None
    weight_column: str | None
    offset_column: str | None
    exposure_column: str | None

    @classmethod
    def of(cls, data: pd.DataFrame, weights: ArrayOrColumn, offset: ArrayOrColumn,
           exposure: ArrayOrColumn) -> _External:
        weight_values, weight_column = external_vector(weights, "weights", data)
        offset_values, offset_column = external_vector(offset, "offset", data)
        exposure_values, exposure_column = external_vector(exposure, "exposure", data)
        return cls(weight_values, offset_values, exposure_values, weight_column, offset_column, exposure_column)

    @property
    def columns(self) -> set[str]:
        return {c for c in (self.weight_column, self.offset_column, self.exposure_column) if c}

    def by_name(self) -> dict[str, np.ndarray | None]:
        return {"weights": self.weights, "offset": self.offset, "exposure": self.exposure}

    def rows(self, keep: np.ndarray) -> _External:
        """The values of the rows ``keep`` (a mask over the data's rows)."""
        def take(values: np.ndarray | None) -> np.ndarray | None:
            return None if values is None else values[keep]

        return _External(take(self.weights), take(self.offset), take(self.exposure), self.weight_column,
                         self.offset_column, self.exposure_column)


def _resolve_formula(parsed: ParsedFormula, columns: list[str], external: _External, trusted: bool):
    """The formula with ``.`` expanded (to the columns the response, offsets and external vectors do not use)
    and ambiguous column names protected, formulaic's parse of its right-hand side, and the variables that
    reads; every Python piece of it checked by the interpreter (unless ``trusted``)."""
    response_names = set().union(*(safe_eval.names_in(e) for e in parsed.response))
    used_elsewhere = response_names | external.columns
    for expr in parsed.offsets:
        used_elsewhere |= safe_eval.names_in(expr)
    rhs = protect_ambiguous_columns(expand_dot(parsed.rhs, columns, used_elsewhere), columns)
    parsed = ParsedFormula(parsed.response, rhs, parsed.offsets, parsed.text)

    rhs_formula, rhs_variables = _checked_rhs(rhs, frozenset(columns), trusted)
    for expr in (*parsed.response, *parsed.offsets):
        if not trusted:
            safe_eval.parse_checked(expr, set(columns), allow_transforms=False)
    return parsed, rhs_formula, rhs_variables


def _used_rows(data: pd.DataFrame, source: FrameColumns, used: list[str], na_action: NaAction,
               external: _External, drop_unused_levels: bool) -> tuple[np.ndarray, pd.Index, _UsedRows]:
    """The rows without missing values in the columns used (a mask over the data's rows), their labels, and
    those rows (categorical levels absent from them dropped, when asked)."""
    complete = complete_rows(source, used, na_action, external.by_name())
    all_complete = bool(complete.all())
    if not complete.any():
        raise DataError(
            f"no rows left after dropping {len(data)} rows with missing values in {', '.join(used) or 'the data'}"
        )
    labels = data.index if all_complete else data.index[complete]
    subset = _UsedRows(source if all_complete else FrameColumns(data.loc[complete].reset_index(drop=True)))
    if drop_unused_levels:
        _drop_unused_levels(subset, used)
    return complete, labels, subset


def _offset_and_weights(parsed: ParsedFormula, subset: _UsedRows, external: _External, complete: np.ndarray,
                        labels: pd.Index, trusted: bool) -> tuple[np.ndarray, np.ndarray]:
    """The total offset (``offset()`` terms, the offset given and log(exposure)) and the prior weights of the
    rows used, each checked: exposure positive, weights non-negative, both finite."""
    offset_total = sum_offsets(parsed.offsets, subset.columns, subset.n_rows, trusted)
    if external.offset is not None:
        offset_total = offset_total + external.offset[complete]
    if external.exposure is not None:
        exposure_used = external.exposure[complete]
        bad = exposure_used <= 0
        if bad.any():
            raise DataError(
                f"exposure must be positive: {int(bad.sum())} row(s) are <= 0 "
                f"(first rows: {first_labels(labels, bad)})"
            )
        offset_total = offset_total + np.log(exposure_used)
    check_finite(offset_total, "offset", labels)
    prior_weights = unit_weights(subset.n_rows) if external.weights is None else external.weights[complete]
    if np.any(prior_weights < 0):
        raise DataError(f"weights must be non-negative: {int((prior_weights < 0).sum())} row(s) are negative")
    check_finite(prior_weights, "weights", labels)
    if external.weights is not None and all_ones(prior_weights):  # the same fit as without, to the last bit
        prior_weights = unit_weights(subset.n_rows)
    return offset_total, prior_weights


def _build_design(rhs_formula, subset: _UsedRows, trusted: bool, transform_state: dict | None = None):
    """(design, formulaic's spec, the numeric columns the design's numbers come from or None, the rows kept):
    from the columns and codes (``formula.categorical``) when the formula allows, else formulaic's dense
    matrix, whose transforms may give missing values in some rows (not kept).  A given ``transform_state``
    is replayed by every materialisation (an explicit state passed by a caller still wins)."""
    materialise = partial(_materialise, trusted=trusted, transform_state=transform_state)
    fast = None if _codes_ordered_factor(rhs_formula, subset.columns) else fast_design(
        rhs_formula, subset.columns, materialise, transforms=not trusted)
    if fast is not None:
        design, model_spec, numeric_sources = fast
        return design, model_spec, numeric_sources, np.ones(subset.n_rows, dtype=bool)
    matrix, model_spec, kept = materialise(rhs_formula, subset.frame)
    return DenseDesign(matrix, list(model_spec.column_names)), model_spec, None, kept


_C_OF_COLUMN = re.compile(r"^C\(\s*`?([^`,()]+?)`?\s*\)$")


def _codes_ordered_factor(rhs_formula, columns: FrameColumns) -> bool:
    """Whether a factor ``C(x)`` of the formula is an ordered categorical column: R codes it by ``contr.poly``
    (``formula.contrasts.C``), which formulaic's path encodes (the fast path codes ``C(x)`` by treatment)."""
    for term in rhs_formula:
        for factor in term.factors:
            match = _C_OF_COLUMN.match(factor.expr)
            if match and match.group(1) in columns:
                dtype = columns.dtype(match.group(1))
                if isinstance(dtype, pd.CategoricalDtype) and dtype.ordered:
                    return True
    return False


def _check_rows_kept(kept: np.ndarray, rhs: str, labels: pd.Index) -> None:
    """Refuse a design whose transforms left no row; warn of the rows they dropped."""
    count = int((~kept).sum())
    if count == len(kept):
        raise DataError(
            f"no rows left: the transforms in {rhs!r} give missing values (e.g. log of a non-positive "
            f"number) in all {count} rows; check the formula's transforms against the data's range"
        )
    warnings.warn(
        f"{count} row(s) dropped because transforms in the formula produced missing values "
        f"(e.g. log of a non-positive number); first rows: {first_labels(labels, ~kept)}",
        UserWarning,
        stacklevel=4,  # build_model_frame's caller's caller, as before the split
    )


def _check_values(parsed: ParsedFormula, y: np.ndarray, labels: pd.Index, design: Design, model_spec,
                  subset: _UsedRows, numeric_sources: list[str] | None) -> None:
    """The response and the design are finite, and no term gives an empty set of columns."""
    check_finite(y, f"response {_response_label(parsed)}", labels)
    if numeric_sources is not None and _all_finite(subset.columns, numeric_sources):
        pass  # the design's numbers are those columns' (and 1s, indicators): their sums proved them finite
    elif isinstance(design, DenseDesign):
        check_design_finite(design.matrix, design.column_names)
    else:  # categorical codes (and the implicit intercept's 1s) are finite by construction
        check_design_finite(design.stored, [design.column_names[j] for j in design.stored_positions])
    _check_empty_terms(model_spec)


class _UsedRows:
    """The rows of the caller's frame that the model uses, as ``FrameColumns`` and as a frame (for formulaic).

    When every row is used, the caller's frame is read as it is (a copy of a small frame
    costs more than its fit); otherwise it is the rows kept, copied with a fresh index.
    The frame is never written to: columns whose levels change are replaced in a copy.
    """

    def __init__(self, columns: FrameColumns):
        self.columns = columns
        self._frame: pd.DataFrame | None = None
        self.n_rows = columns.n_rows

    @property
    def frame(self) -> pd.DataFrame:
        """The rows used as a DataFrame with a 0..n-1 index (as formulaic is given it)."""
        if self._frame is None:
            self._frame = self.columns.frame.reset_index(drop=True)  # a new frame object: the caller's stays apart
        return self._frame

    def replace(self, changed: dict[str, Any]) -> None:
        """Use new values for some columns (in a new frame: the caller's is never modified)."""
        frame = self.frame.copy(deep=False)
        for name, values in changed.items():
            frame.isetitem(self.columns.position(name), values)  # by position: labels need not be strings
        self._frame = frame
        self.columns = FrameColumns(frame)


def _all_finite(columns: FrameColumns, names: list[str]) -> bool:
    with np.errstate(over="ignore", invalid="ignore"):  # an overflowing sum proves nothing (see finite)
        return all(columns.finite(name) for name in names)


def _drop_unused_levels(rows: _UsedRows, used: list[str]) -> None:
    """Categorical levels absent from the rows used are dropped, as R's ``model.frame`` does.

    Otherwise an empty level could become the reference (or an all-zero, aliased column).
    """
    changed = {}
    for column in used:
        if isinstance(rows.columns.dtype(column), pd.CategoricalDtype):
            values = rows.columns[column]
            codes = values.codes
            present = codes if len(codes) and codes.min() >= 0 else codes[codes >= 0]  # no mask without missing
            counts = np.bincount(present, minlength=len(values.categories))
            if not counts.all():
                changed[column] = values.remove_categories(values.categories[counts == 0])
    if changed:
        rows.replace(changed)


def _response_label(parsed: ParsedFormula) -> str:
    return f"cbind({', '.join(parsed.response)})" if parsed.is_cbind else parsed.response[0]


#: Sums of more terms than this are handed to formulaic term by term (``_parse_right_hand_side``).
_LONG_SUM = 64


def _parse_right_hand_side(rhs: str):
    """formulaic's parse of ``rhs``.  A long plain sum (``y ~ .`` on a wide frame) is given as a list of
    its terms plus the intercept, the same formula: formulaic merges a sum's terms one at a time, in time
    quadratic in their number.  The parser reads ``%in%`` as R does (``formula.operators``)."""
    from formulaic import Formula

    parsers = {"_parser": operators.PARSER, "_nested_parser": operators.NESTED_PARSER}
    pieces = sum_terms(rhs)
    if pieces is None or len(pieces) <= _LONG_SUM or any(piece in ("0", "1", "+0", "+1") for piece in pieces):
        return Formula(rhs, **parsers)
    return Formula(["1", *pieces], **parsers)


@lru_cache(maxsize=256)
def _checked_rhs(rhs: str, columns: frozenset[str], trusted: bool):
    """formulaic's parse of the right-hand side, every factor checked, and the variables it reads
    (cached per formula and columns: formulaic derives ``required_variables`` anew at each call)."""
    from formulaic.formula import SimpleFormula
    from formulaic.parser.types import Factor

    with _formulaic_errors():
        try:
            check_term_count(rhs)
            rhs_formula = _parse_right_hand_side(rhs)
        except (SyntaxError, RecursionError) as exc:
            message = getattr(exc, "msg", None) or "nested too deeply"
            raise FormulaError(f"cannot parse the right-hand side {rhs!r}: {message}") from None
    if not isinstance(rhs_formula, SimpleFormula):
        raise FormulaError(
            f"the right-hand side {rhs!r} has several parts ('|'): two-part formulas are for "
            "gf.zeroinfl and gf.hurdle"
        )
    if trusted:
        return rhs_formula, frozenset(rhs_formula.required_variables)
    variables: set[str] = set()
    for term in rhs_formula:
        for factor in term.factors:
            if factor.eval_method == Factor.EvalMethod.PYTHON:
                variables |= safe_eval.parse_checked(factor.expr, columns, allow_transforms=True).columns
            elif factor.eval_method == Factor.EvalMethod.LOOKUP:
                check_column_name(factor.expr, "the formula")
                if factor.expr not in columns:
                    raise safe_eval.missing_name(factor.expr, columns)
                variables.add(factor.expr)
    return rhs_formula, frozenset(variables)


def _materialise(rhs_formula, data: pd.DataFrame, trusted: bool = False, transform_state: dict | None = None,
                 output: str = "pandas", into: np.ndarray | None = None):
    """(formulaic's dense design of the right-hand side as a C-ordered float array, its spec, the rows kept);
    its factors evaluated by the interpreter unless ``trusted`` (then formulaic's own ``eval`` runs them).

    ``transform_state`` (a spec's learned state, copied here) makes stateful transforms replay it instead of
    learning from ``data``; ``output="numpy"`` asks formulaic for an array (no pandas frame in between);
    ``into`` (with ``output="numpy"``, not ``trusted``): an array, or a view of some columns of one, that a
    design of its shape is written into and returned as (``materializer.output_into``)."""
    from formulaic import model_matrix

    overrides: dict[str, Any] = {"na_action": "drop", "output": output}
    if transform_state is not None:
        overrides["transform_state"] = copy.deepcopy(transform_state)
    dropped: set[int] = set()
    with _formulaic_errors(), np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if trusted:
            matrix = model_matrix(rhs_formula, data, context=_trusted_context(), materializer=RContrastsMaterializer,
                                  drop_rows=dropped, **overrides)
        else:
            with output_into(into if output == "numpy" else None):
                matrix = model_matrix(rhs_formula, data, materializer=InterpretingMaterializer, drop_rows=dropped,
                                      **overrides)
    names = list(matrix.model_spec.column_names)
    duplicated = sorted(name for name, count in Counter(names).items() if count > 1)
    if duplicated:  # formulaic's frame keeps one column of each name: the design would be wrong
        raise FormulaError(
            f"two terms of the formula give design columns named {', '.join(map(repr, duplicated))}; "
            "write each column once (a data column named Intercept as Intercept or `Intercept`, not in {...})"
        )
    kept = np.ones(len(data), dtype=bool)
    kept[np.fromiter(dropped, dtype=np.int64, count=len(dropped))] = False
    try:
        values = matrix.to_numpy(dtype=float) if output == "pandas" else np.asarray(matrix, dtype=float)
        if into is not None and values.shape == into.shape and np.may_share_memory(values, into):
            return into, matrix.model_spec, kept  # written in place
        design = np.ascontiguousarray(values)
    except (TypeError, ValueError) as exc:
        raise DataError(f"the design matrix is not numeric: {exc}") from None
    return design, matrix.model_spec, kept


def _check_empty_terms(model_spec) -> None:
    """A term without design columns is a categorical with one level: refuse it, as R does."""
    for term, columns in model_spec.term_slices.items():
        if columns.stop == columns.start and str(term) != "1":
            levels = []
            for factor in term.factors:
                state = model_spec.encoder_state.get(factor.expr)
                if state and "categories" in state[1]:
                    levels += [f"{factor.expr} has the single level {state[1]['categories'][0]!r}"] if len(
                        state[1]["categories"]) == 1 else []
            detail = f" ({'; '.join(levels)})" if levels else ""
            raise DataError(
                f"term {str(term)!r} gives no design column{detail}: a categorical needs at least two levels "
                "in the rows used; drop the term"
            )


__all__ = ["FormulaSpec", "ModelFrame", "build_model_frame", "MissingColumnError"]
