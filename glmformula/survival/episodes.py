"""Episode splitting: R's ``survival::survSplit`` and the risk-set expansion.

Cut points c_1 < ... < c_K inside the follow-up range divide time into K + 1
intervals I_0 = (L, c_1], I_1 = (c_1, c_2], ..., I_K = (c_K, Inf), with L the
start of follow-up (0, or the earliest entry time).  A subject followed on
(s, t] gets one row for each interval it passes through,

    (s, c_a], (c_a, c_a+1], ..., (c_b, t]      c_a the first cut > s, c_b the last cut < t,

with the event indicator on the last row only (0 on the others) and the time
at risk ``exposure = tstop - tstart``.  Cuts at s or t themselves do not split
(the intervals are closed on the right, as in ``survSplit``).

With the event times t_1 < ... < t_J as the cuts and only the rows that reach
their interval's end kept, each subject has one row for each risk set it is in
(at risk at t_j when s < t_j <= t): the partial row of a subject censored
between two event times is dropped, and the exposure is 1.  A Poisson GLM on
these rows with the event time as a factor has, after profiling out the J
interval rates, exactly Cox's partial likelihood with Breslow's handling of
ties (Whitehead 1980): same coefficients and same standard errors.

Everything is array arithmetic (``searchsorted``, ``repeat``); there is no
Python loop over rows.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from glmformula.exceptions import DataError
from glmformula.survival.follow_up import FollowUp, follow_up

Cuts = Sequence[float] | np.ndarray | int | Literal["events"]

#: Columns added by ``split`` (besides the interval column named by ``episode=``).
ADDED_COLUMNS = ("tstart", "tstop", "event", "exposure")


@dataclass(frozen=True)
class Intervals:
    """The K intervals (lower_k, upper_k] of a split, in time order.

    kind : ``"cuts"`` (time at risk as exposure; the last interval is open,
        upper = inf) or ``"events"`` (the risk-set expansion: interval k ends at
        the k-th event time and every row has exposure 1).
    lower, upper : (K,) bounds; labels : (K,) names such as ``"(30,90]"``;
    follow_up_end : the largest follow-up time, where curves stop.
    """

    kind: Literal["cuts", "events"]
    lower: np.ndarray
    upper: np.ndarray
    labels: tuple[str, ...]
    follow_up_end: float

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def cuts(self) -> np.ndarray:
        """The cut points: the inner interval bounds (the event times for ``kind="events"``)."""
        return self.upper[:-1] if self.kind == "cuts" else self.upper

    def exposure_until(self, times: np.ndarray) -> np.ndarray:
        """(T, K) exposure E[t, k] that a subject at risk from the start has in interval k by time t.

        The cumulative hazard is then H(t) = sum_k E[t, k] lambda_k: time at risk in the
        interval, min(max(t - lower_k, 0), upper_k - lower_k), for ``"cuts"``; 1 once the
        interval's event time is reached (t >= upper_k), else 0, for ``"events"``.
        """
        times = np.asarray(times, dtype=float)[:, None]
        if self.kind == "events":
            return (times >= self.upper[None, :]).astype(float)
        return np.clip(times - self.lower[None, :], 0.0, (self.upper - self.lower)[None, :])


@dataclass(frozen=True)
class SplitResult:
    """The split data, their intervals and, for each row, the position of its subject in the input."""

    frame: pd.DataFrame
    intervals: Intervals
    subject: np.ndarray


def split(
    data: pd.DataFrame,
    time: str = "time",
    event: str = "status",
    *,
    cuts: Cuts,
    start: str | None = None,
    id: str | None = None,  # noqa: A002 - R's argument name
    episode: str = "interval",
) -> pd.DataFrame:
    """Split each subject's follow-up at ``cuts``: R's ``survival::survSplit``.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per subject (or per follow-up record), never modified.
    time : str, default "time"
        The column with the end of follow-up.
    event : str, default "status"
        The column with the status (0/1, FALSE/TRUE or 1/2 as R's ``Surv`` accepts).
    cuts : sequence of float, int or "events"
        The cut points (numbers strictly inside the follow-up range), an int k (k
        intervals at the quantiles 1/k, ..., (k-1)/k of the event times, R's
        ``quantile`` type 7) or ``"events"`` (one row per subject and risk set,
        exposure 1: the Poisson form of Cox's model).
    start : str, optional
        A column of entry times (left truncation); follow-up starts at 0 without it.
    id : str, optional
        A subject identifier: an existing column is kept, a new name gets the
        numbers 1..n of the input rows (as R's ``id=``).
    episode : str, default "interval"
        The name of the interval column.

    Returns
    -------
    pandas.DataFrame
        The input columns repeated for each row of a subject, and ``tstart``,
        ``tstop`` (the row's interval of time at risk), ``event`` (1 on the row where
        the subject's event happened), ``exposure`` (tstop - tstart, or 1 for
        ``cuts="events"``) and the interval as a categorical named by its bounds
        (``"(30,90]"``), its levels in time order; unordered, as R's ``factor(episode)``,
        so a model codes it by treatment contrasts (an ordered one would get ``contr.poly``).
        The input's own time and status columns keep the subject's values.
    """
    return split_follow_up(data, time, event, cuts, start=start, id=id, episode=episode).frame


def split_follow_up(data: pd.DataFrame, time: str, event: str, cuts: Cuts, *, start: str | None = None,
                    id: str | None = None, episode: str = "interval") -> SplitResult:  # noqa: A002
    """``split`` with what the model needs besides the frame: the intervals and each row's subject."""
    _check_names(data, time, event, start, id, episode)
    times = follow_up(data, time, event, start)
    events = isinstance(cuts, str) and cuts == "events"
    cut_points = resolve_cuts(cuts, times, time)
    subject, tstart, tstop, interval, status = _expand(times, cut_points)
    lower = np.concatenate([[times.lower], cut_points])
    upper = np.concatenate([cut_points, [np.inf]])
    exposure = tstop - tstart
    if events:
        reached = tstop == upper[interval]  # a row ending before its interval's event time is dropped
        subject, tstart, tstop, interval, status = (a[reached] for a in (subject, tstart, tstop, interval, status))
        lower, upper, exposure = lower[:-1], upper[:-1], np.ones(len(subject))
    labels = interval_labels(lower, upper)
    intervals = Intervals("events" if events else "cuts", lower, upper, labels, times.upper)
    frame = data.iloc[subject].reset_index(drop=True)
    if id is not None and id not in data.columns:
        frame[id] = subject + 1
    added = {"tstart": tstart, "tstop": tstop, "event": status, "exposure": exposure,
             episode: pd.Categorical.from_codes(interval, categories=list(labels))}
    for name, values in added.items():
        frame[name] = values
    return SplitResult(frame, intervals, subject)


def resolve_cuts(cuts: Cuts, times: FollowUp, time: str = "time") -> np.ndarray:
    """The sorted, distinct cut points that ``cuts`` stands for (see ``split``), checked to lie
    strictly inside the follow-up range (L, max time)."""
    if isinstance(cuts, str):
        if cuts != "events":
            raise DataError(f"cuts must be a sequence of cut points, a number of intervals or 'events'; got {cuts!r}")
        return _event_times(times)
    if isinstance(cuts, numbers.Integral) and not isinstance(cuts, (bool, np.bool_)):
        if cuts < 1:
            raise DataError(f"cuts={cuts} intervals: give at least 1")
        event_times = times.stop[times.event == 1]
        if not len(event_times):
            raise DataError("cuts at quantiles of the event times need events, and there are none")
        points = np.unique(np.quantile(event_times, np.arange(1, cuts) / cuts))  # R's quantile type 7
        return points[(points > times.lower) & (points < times.upper)]
    points = _numeric_cuts(cuts)
    outside = points[(points <= times.lower) | (points >= times.upper)]
    if len(outside):
        shown = ", ".join(f"{p:g}" for p in outside[:10])
        raise DataError(f"cuts {shown} lie outside the follow-up range ({times.lower:g}, {times.upper:g}) of "
                        f"column {time!r}: each cut must be above the start of follow-up and below the "
                        "largest time")
    return points


def interval_labels(lower: np.ndarray, upper: np.ndarray) -> tuple[str, ...]:
    """Names such as ``"(0,30]"`` and ``"(365,Inf)"``; numbers in their shortest exact form."""
    labels = tuple(f"({_number(a)},{_number(b)}]" if np.isfinite(b) else f"({_number(a)},Inf)"
                   for a, b in zip(lower, upper))
    return labels


def _expand(times: FollowUp, cuts: np.ndarray):
    """One row per subject and interval: (subject, tstart, tstop, interval, event) arrays.

    A subject on (s, t] spans the intervals first = #cuts <= s to last = #cuts < t.
    """
    first = np.searchsorted(cuts, times.start, side="right")
    last = np.searchsorted(cuts, times.stop, side="left")
    pieces = last - first + 1
    subject = np.repeat(np.arange(len(pieces)), pieces)
    row_start = np.cumsum(pieces) - pieces
    piece = np.arange(len(subject)) - row_start[subject]
    interval = first[subject] + piece
    lower = np.concatenate([[-np.inf], cuts])  # lower[k], upper[k]: the bounds of interval k
    upper = np.concatenate([cuts, [np.inf]])
    tstart = np.maximum(times.start[subject], lower[interval])
    tstop = np.minimum(times.stop[subject], upper[interval])
    is_last = piece == pieces[subject] - 1
    event = np.where(is_last, times.event[subject], 0)
    return subject, tstart, tstop, interval, event


def _event_times(times: FollowUp) -> np.ndarray:
    event_times = times.event_times
    if not len(event_times):
        raise DataError("cuts='events' needs events, and the status column has none")
    return event_times


def _numeric_cuts(cuts) -> np.ndarray:
    try:
        points = np.asarray(cuts, dtype=float)
    except (TypeError, ValueError):
        raise DataError(f"cuts must be numbers, got {cuts!r}") from None
    if points.ndim != 1 or (len(points) and not np.isfinite(points).all()):
        raise DataError(f"cuts must be a flat sequence of finite numbers, got {cuts!r}")
    return np.unique(points)


def _check_names(data: pd.DataFrame, time: str, event: str, start: str | None, id: str | None,  # noqa: A002
                 episode: str) -> None:
    if not isinstance(episode, str) or not episode:
        raise DataError(f"episode must be a column name, got {episode!r}")
    if id is not None and (not isinstance(id, str) or id in (*ADDED_COLUMNS, episode)):
        raise DataError(f"id {id!r} is the name of a column split adds ({', '.join(ADDED_COLUMNS)}, {episode!r}) "
                        "or not a name: choose another")
    inputs = {time, event, start}
    clashes = [name for name in (*ADDED_COLUMNS, episode)
               if name not in inputs and isinstance(data, pd.DataFrame) and name in data.columns]
    if clashes:
        raise DataError(f"split adds the columns {', '.join(ADDED_COLUMNS)} and {episode!r}, but the data already "
                        f"have {', '.join(map(repr, clashes))}: rename or drop them first")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else np.format_float_positional(value, trim="-")
