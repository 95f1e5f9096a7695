"""Checks and evaluation of the data a formula reads: the frame, the response, offsets, weights.

Every failure here is the user's input, so each raises a ``DataError`` (or
``ResponseError``) that names the column or the rows and says what to do.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd

from glmformula.exceptions import DataError, FormulaError, ResponseError
from glmformula.formula import safe_eval
from glmformula.formula.columns import FrameColumns
from glmformula.formula.parse import ParsedFormula

ArrayOrColumn = str | np.ndarray | pd.Series | list | None
NaAction = Literal["drop", "raise"]


def as_dataframe(data: Any) -> pd.DataFrame:
    """The data as a DataFrame with rows (its column names are checked by ``FrameColumns``)."""
    if isinstance(data, pd.DataFrame):
        frame = data
    elif isinstance(data, dict):
        try:
            frame = pd.DataFrame(data)
        except ValueError as exc:
            raise DataError(f"cannot build a DataFrame from the dict given as data: {exc}") from None
    elif hasattr(data, "to_pandas"):
        frame = data.to_pandas()
    else:
        raise DataError(f"data must be a pandas DataFrame (or a dict of columns), got {type(data).__name__}")
    if len(frame) == 0:
        raise DataError("data has no rows")
    return frame


def external_vector(value: ArrayOrColumn, name: str, data: pd.DataFrame) -> tuple[np.ndarray | None, str | None]:
    """Resolve a ``weights=``/``offset=``/``exposure=`` argument to a float array."""
    if value is None:
        return None, None
    if isinstance(value, str):
        if value not in data.columns:
            raise safe_eval.missing_name(value, [str(c) for c in data.columns])
        column = value
        raw = data[value]
    else:
        column = None
        raw = value
    try:
        array = np.asarray(raw, dtype=float)
    except (TypeError, ValueError):
        raise DataError(f"{name} must be numeric") from None
    if array.ndim != 1 or len(array) != len(data):
        raise DataError(f"{name} has {array.size} values but data has {len(data)} rows; they must match")
    return array, column


def subset_rows(subset: Any, data: pd.DataFrame, trusted: bool = False) -> np.ndarray:
    """R's ``subset``: the (n,) mask of the rows to use, from a boolean mask (an array, or a Series on the
    data's index) or an expression on the columns (``"service > 0"``, ``"Sex == 'F' & Age != 'F3'"``),
    evaluated by the formula interpreter.  Rows where it is missing are left out, as R leaves them."""
    n = len(data)
    if isinstance(subset, str):
        values = safe_eval.evaluate(subset, data, trusted=trusted)
        what = f"subset {subset!r}"
    else:
        if isinstance(subset, pd.Series) and not subset.index.equals(data.index):
            raise DataError("subset is a Series on another index than the data's; pass its values "
                            "(subset.to_numpy()) or align it to the data first")
        values, what = subset, "subset"
    values = np.broadcast_to(np.asarray(values), (n,)) if np.ndim(values) == 0 else np.asarray(values)
    if values.ndim != 1 or len(values) != n:
        raise DataError(f"{what} gives {values.size} values for the data's {n} rows; they must match")
    if values.dtype == object:
        missing = pd.isna(values)
        if not all(isinstance(v, (bool, np.bool_)) for v in values[~missing]):
            raise DataError(f"{what} must be true or false in each row (a boolean mask or a comparison)")
        values = np.where(missing, False, values).astype(bool)
    elif values.dtype.kind != "b":
        raise DataError(f"{what} must be true or false in each row (a boolean mask or a comparison), "
                        f"got values of type {values.dtype}")
    if not values.any():
        raise DataError(f"{what} selects none of the data's {n} rows")
    return values


def _column_missing(values) -> np.ndarray | None:
    """The rows where a column's array is missing, or None when none is (found without a mask when possible)."""
    if isinstance(values, pd.Categorical):
        codes = values.codes
        return codes < 0 if len(codes) and codes.min() < 0 else None
    if isinstance(values, np.ndarray) and values.dtype.kind in "iub":
        return None
    if isinstance(values, np.ndarray) and values.dtype.kind == "f":  # its sum is not finite (complete_rows)
        missing = np.isnan(values)
        return missing if missing.any() else None
    if isinstance(values, pd.api.extensions.ExtensionArray):
        missing = np.asarray(values.isna(), dtype=bool)
    else:
        missing = np.asarray(pd.isna(values), dtype=bool)
    return missing if missing.any() else None


def complete_rows(columns: FrameColumns, used: list[str], na_action: NaAction, extra: dict[str, Any]) -> np.ndarray:
    """Rows without a missing value in the columns used and the ``extra`` vectors.

    Each column gets a cheap whole-column test first (a float column's sum is finite
    only without NaN: ``FrameColumns.finite``), so a mask is built only for columns that
    may have missing values.
    """
    missing = np.zeros(columns.n_rows, dtype=bool)
    counts = {}
    with np.errstate(invalid="ignore", over="ignore"):  # a float column's sum may overflow: then it is masked
        for column in used:
            if columns.finite(column):  # no NaN (the design check reads this too)
                continue
            column_missing = _column_missing(columns[column])
            if column_missing is not None:
                counts[column] = int(column_missing.sum())
                missing |= column_missing
    for name, values in extra.items():
        if values is not None:
            extra_missing = np.isnan(values)
            if extra_missing.any():
                counts[name] = int(extra_missing.sum())
                missing |= extra_missing
    if counts and na_action == "raise":
        detail = ", ".join(f"{name} ({count})" for name, count in counts.items())
        raise DataError(
            f"missing values in {detail}; drop those rows or use na_action='drop'"
        )
    return ~missing


def evaluate_response(parsed: ParsedFormula, data: FrameColumns, categorical: bool, trusted: bool):
    """The response as floats, and its two levels when a categorical one was coded 0/1 (else None)."""
    levels = None
    n = data.n_rows
    if parsed.is_cbind:
        parts = [_numeric(safe_eval.evaluate(e, data, trusted=trusted), e, n) for e in parsed.response]
        return np.column_stack(parts), None
    expr = parsed.response[0]
    raw = safe_eval.evaluate(expr, data, trusted=trusted)
    raw = np.broadcast_to(raw, (n,)) if np.ndim(raw) == 0 else raw
    dtype = data.dtype(expr) if expr in data else np.asarray(raw).dtype
    if pd.api.types.is_bool_dtype(dtype):
        return np.asarray(raw, dtype=float), None
    if not pd.api.types.is_numeric_dtype(dtype):
        if not categorical:
            raise ResponseError(
                f"response {expr!r} is not numeric ({dtype}); "
                "a two-level categorical response needs a binomial family"
            )
        series = data.series(expr) if expr in data else pd.Series(raw)
        if isinstance(series.dtype, pd.CategoricalDtype):
            present = [lvl for lvl in series.cat.categories if (series == lvl).any()]
        else:
            present = sorted(pd.unique(series.astype(str)))
            series = series.astype(str)
        if len(present) != 2:
            raise ResponseError(
                f"response {expr!r} has {len(present)} levels ({', '.join(map(str, present[:5]))}); "
                "a categorical response for binomial must have exactly two"
            )
        levels = tuple(present)
        return (series != present[0]).to_numpy(dtype=float), levels
    return _numeric(raw, expr, n), levels


def _numeric(values: Any, expr: str, n: int) -> np.ndarray:
    try:
        # a copy: a column of the caller's frame is read as a view of its values (a pandas nullable column
        # hands over its own buffer, writeable and owning its data, so no flag tells), and the fit must not
        # change when the caller later writes into the frame
        array = np.array(values, dtype=float)
    except (TypeError, ValueError):
        raise ResponseError(f"response {expr!r} must be numeric") from None
    if array.ndim == 0:
        array = np.full(n, float(array))
    return array


def sum_offsets(exprs: tuple[str, ...], data: FrameColumns, n: int, trusted: bool) -> np.ndarray:
    """Sum of the ``offset()`` expressions evaluated on ``data`` (zeros if none)."""
    total = np.zeros(n)
    for expr in exprs:
        value = safe_eval.evaluate(expr, data, trusted=trusted)
        try:
            value = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            raise FormulaError(f"offset({expr}) must be numeric") from None
        if value.shape not in ((), (n,)):
            raise FormulaError(f"offset({expr}) has {value.size} values but the data has {n} rows")
        total = total + value  # a new array: never a view of the caller's frame
    return total


def check_finite(values: np.ndarray, what: str, labels: pd.Index) -> None:
    if np.isfinite(np.sum(values)):  # NaN and infinities propagate into the sum: one pass, no mask
        return
    bad = ~np.isfinite(values)
    if bad.ndim > 1:
        bad = bad.any(axis=1)
    if bad.any():
        raise DataError(
            f"{what} is not finite (NaN or infinite) in {int(bad.sum())} row(s), "
            f"first rows: {first_labels(labels, bad)}; check for log(0) or division by zero"
        )


def check_design_finite(design: np.ndarray, names: list[str]) -> None:
    with np.errstate(invalid="ignore", over="ignore"):
        if np.isfinite(np.sum(design)):  # the usual case: inf and NaN propagate into the sum, no mask needed
            return
    bad_columns = [names[j] for j in np.flatnonzero(~np.isfinite(design).all(axis=0))]
    if bad_columns:
        raise DataError(f"design column(s) {', '.join(bad_columns)} contain infinite values")


def first_labels(labels: pd.Index, mask: np.ndarray, limit: int = 5) -> str:
    chosen = list(labels[np.asarray(mask)][:limit])
    return ", ".join(map(str, chosen))
