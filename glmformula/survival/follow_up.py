"""Follow-up times and event status, checked and coded as R's ``Surv`` codes them.

A subject is observed on the interval (start, stop]: ``start`` is 0 unless the
data give an entry time (left truncation, ``Surv(start, stop, status)``), and
``status`` says whether the follow-up ended with the event (1) or was censored (0).
R's ``Surv`` accepts three codings of the status, and so does this module:

* 0/1 (censored / event), also when every value is 0 or every value is 1;
* FALSE/TRUE;
* 1/2 (censored / event, as in ``survival::lung``): a numeric status whose
  largest value is 2 has 1 subtracted first.

Anything else (0/1/2 together, 3, text, categories) is a ``DataError``, as are
missing or non-finite times, times <= 0, entry times < 0 and start >= stop: R
would silently turn some of these into ``NA`` or stop with a terse message.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from glmformula.exceptions import DataError, MissingColumnError

#: Index labels shown in an error message about bad rows.
_SHOWN_ROWS = 5


@dataclass(frozen=True)
class FollowUp:
    """Checked follow-up of n subjects (rows).

    start, stop : (n,) float arrays with 0 <= start < stop;
    event : (n,) int array of 0 (censored) and 1 (event);
    lower, upper : the follow-up range min(start) and max(stop).
    """

    start: np.ndarray
    stop: np.ndarray
    event: np.ndarray

    @property
    def lower(self) -> float:
        return float(self.start.min())

    @property
    def upper(self) -> float:
        return float(self.stop.max())

    @property
    def event_times(self) -> np.ndarray:
        """The distinct times at which events happened, sorted."""
        return np.unique(self.stop[self.event == 1])


def follow_up(data: pd.DataFrame, time: str, event: str, start: str | None = None) -> FollowUp:
    """Read and check the follow-up columns of ``data`` (see the module docstring for the rules)."""
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"the data must be a pandas DataFrame, got {type(data).__name__}")
    if len(data) == 0:
        raise DataError("the data have no rows")
    for role, name in (("time", time), ("event", event), ("start", start)):
        if name is not None and name not in data.columns:
            raise MissingColumnError(f"{role} column {name!r} is not in the data (columns: "
                                     f"{', '.join(map(str, data.columns[:12]))})")
    stop = _times(data, time, "time")
    status = encode_status(data[event], event)
    if start is None:
        _refuse_rows(data, stop <= 0, f"column {time!r} has {{count}} time(s) <= 0",
                     "survival times must be positive (give entry times with start= for left truncation)")
        entry = np.zeros_like(stop)
    else:
        entry = _times(data, start, "start")
        _refuse_rows(data, entry < 0, f"column {start!r} has {{count}} negative entry time(s)",
                     "entry times must be >= 0")
        _refuse_rows(data, entry >= stop, f"{{count}} row(s) with start {start!r} >= time {time!r}",
                     "each subject must enter before its follow-up ends")
    return FollowUp(start=entry, stop=stop, event=status)


def encode_status(values: pd.Series, column: str) -> np.ndarray:
    """The status as 0/1 integers, from the codings R's ``Surv`` accepts: 0/1, FALSE/TRUE, 1/2."""
    _refuse_missing(values, column)
    if pd.api.types.is_bool_dtype(values) or (values.dtype == object and values.map(type).eq(bool).all()):
        return values.astype(bool).to_numpy(dtype=np.int64)
    if not pd.api.types.is_numeric_dtype(values) or isinstance(values.dtype, pd.CategoricalDtype):
        raise DataError(f"status column {column!r} has type {values.dtype}: code it 0/1 (censored/event), "
                        "FALSE/TRUE or 1/2 as R's Surv does")
    numbers = values.to_numpy(dtype=float)
    coded = numbers - 1 if numbers.max() == 2 else numbers
    invalid = (coded != 0) & (coded != 1)
    if invalid.any():
        found = ", ".join(f"{v:g}" for v in np.unique(numbers)[:10])
        raise DataError(f"status column {column!r} has the values {found}: code it 0/1 (censored/event), "
                        f"FALSE/TRUE or 1/2 (as R's Surv); {int(invalid.sum())} row(s) fit none of these "
                        f"(rows {_labels(values.index[invalid])})")
    return coded.astype(np.int64)


def _times(data: pd.DataFrame, column: str, role: str) -> np.ndarray:
    values = data[column]
    _refuse_missing(values, column)
    if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
        raise DataError(f"{role} column {column!r} must be numeric, got {values.dtype}")
    numbers = values.to_numpy(dtype=float)
    _refuse_rows(data, ~np.isfinite(numbers), f"column {column!r} has {{count}} infinite value(s)",
                 "follow-up times must be finite")
    return numbers


def _refuse_missing(values: pd.Series, column: str) -> None:
    missing = values.isna().to_numpy()
    if missing.any():
        raise DataError(f"column {column!r} has {int(missing.sum())} missing value(s) (rows "
                        f"{_labels(values.index[missing])}): survival times and status must be complete; "
                        "drop those rows first")


def _refuse_rows(data: pd.DataFrame, bad: np.ndarray, what: str, rule: str) -> None:
    if bad.any():
        raise DataError(f"{what.format(count=int(bad.sum()))} (rows {_labels(data.index[bad])}): {rule}")


def _labels(index: pd.Index) -> str:
    shown = ", ".join(map(str, index[:_SHOWN_ROWS]))
    return shown + (", ..." if len(index) > _SHOWN_ROWS else "")
