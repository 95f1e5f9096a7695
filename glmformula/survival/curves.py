"""Hazard, cumulative hazard and survival curves of a piecewise-exponential fit, with bands.

For a subject with covariates x the model's log hazard in interval k is the
linear predictor eta_k = x_k' beta, x_k the design row of (x, interval k) with
exposure 1 (offset 0), so lambda_k = exp(eta_k).  With E[t, k] the exposure a
subject at risk from the start has in interval k by time t
(``Intervals.exposure_until``):

    H(t) = sum_k E[t, k] lambda_k,        S(t) = exp(-H(t)),
    dH(t)/dbeta = sum_k E[t, k] lambda_k x_k = g(t),
    Var(H(t)) = g(t)' V g(t)              (delta method, V = Cov(beta)).

The bands are built on the log scale, where the estimates are closer to normal:

    lambda_k:  exp(eta_k -/+ q se(eta_k)),      se(eta_k) = sqrt(x_k' V x_k)
    H(t):      H(t) exp(-/+ q se(H(t)) / H(t))
    S(t):      exp(-H_upper(t)), exp(-H_lower(t))   (R's conf.type = "log-log")

with q the normal quantile at (1 + level) / 2.  For the risk-set expansion
(``cuts="events"``) this is exactly the Breslow estimate of a Cox model and
Tsiatis' variance, which R's ``survfit.coxph`` gives: profiling the interval
rates out of the Poisson information leaves Cox's information for beta.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

from glmformula.exceptions import DataError
from glmformula.survival.episodes import Intervals

#: Columns of the frame ``curve_frame`` returns, after ``row`` and ``time``.
CURVE_COLUMNS = ("interval", "hazard", "hazard_lower", "hazard_upper", "cumhaz", "cumhaz_se", "cumhaz_lower",
                 "cumhaz_upper", "survival", "survival_lower", "survival_upper")


@dataclass(frozen=True)
class Curves:
    """Curves of n subjects at T times: every array is (n, T); ``interval`` (T,) is the
    position of the interval that holds each time."""

    times: np.ndarray
    interval: np.ndarray
    hazard: np.ndarray
    hazard_lower: np.ndarray
    hazard_upper: np.ndarray
    cumhaz: np.ndarray
    cumhaz_se: np.ndarray
    cumhaz_lower: np.ndarray
    cumhaz_upper: np.ndarray

    @property
    def survival(self) -> np.ndarray:
        return np.exp(-self.cumhaz)

    @property
    def survival_lower(self) -> np.ndarray:
        return np.exp(-self.cumhaz_upper)

    @property
    def survival_upper(self) -> np.ndarray:
        return np.exp(-self.cumhaz_lower)


def default_times(intervals: Intervals) -> np.ndarray:
    """The start of follow-up and every interval's end: the cuts and the last follow-up time, or
    the event times for the risk-set expansion (where the cumulative hazard jumps)."""
    if intervals.kind == "events":
        return np.concatenate([[intervals.lower[0]], intervals.upper])
    return np.concatenate([[intervals.lower[0]], intervals.cuts, [intervals.follow_up_end]])


def checked_times(times, intervals: Intervals) -> np.ndarray:
    """``times`` as a sorted float array, refused when not finite or before the start of follow-up."""
    if times is None:
        return default_times(intervals)
    try:
        values = np.atleast_1d(np.asarray(times, dtype=float))
    except (TypeError, ValueError):
        raise DataError(f"times must be numbers, got {times!r}") from None
    if values.ndim != 1 or not len(values) or not np.isfinite(values).all():
        raise DataError(f"times must be a non-empty flat sequence of finite numbers, got {times!r}")
    start = intervals.lower[0]
    if values.min() < start:
        raise DataError(f"times must be >= {start:g}, the start of follow-up; got {values.min():g}")
    return np.unique(values)


def curves(design: np.ndarray, beta: np.ndarray, cov: np.ndarray, intervals: Intervals, times: np.ndarray,
           level: float) -> Curves:
    """The curves of n subjects from their (n, K, p) design rows, one per interval (module docstring)."""
    q = special.ndtri((1 + level) / 2)
    eta = design @ beta  # (n, K)
    hazard_k = np.exp(eta)
    se_eta = np.sqrt(np.einsum("nkp,pq,nkq->nk", design, cov, design))
    exposure = intervals.exposure_until(times)  # (T, K)
    cumhaz = hazard_k @ exposure.T  # (n, T)
    gradient = np.einsum("tk,nk,nkp->ntp", exposure, hazard_k, design)
    cumhaz_se = np.sqrt(np.einsum("ntp,pq,ntq->nt", gradient, cov, gradient))
    with np.errstate(divide="ignore", invalid="ignore"):
        spread = np.where(cumhaz > 0, np.exp(q * cumhaz_se / cumhaz), 1.0)
    holding = _interval_of(times, intervals)
    hazard, hazard_lower, hazard_upper = (np.exp(values[:, holding]) for values in
                                          (eta, eta - q * se_eta, eta + q * se_eta))
    if intervals.kind == "events":  # the increment dH(t): nonzero only at the event times
        jump = (times == intervals.upper[holding])[None, :]
        hazard, hazard_lower, hazard_upper = (np.where(jump, values, 0.0)
                                              for values in (hazard, hazard_lower, hazard_upper))
    return Curves(times, holding, hazard, hazard_lower, hazard_upper, cumhaz, cumhaz_se, cumhaz / spread,
                  cumhaz * spread)


def curve_frame(result: Curves, rows: pd.Index, labels: tuple[str, ...]) -> pd.DataFrame:
    """The curves as one long frame: a row per (subject, time), subjects in ``rows`` order."""
    n, n_times = result.cumhaz.shape
    frame = pd.DataFrame({
        "row": np.repeat(np.asarray(rows, dtype=object), n_times),
        "time": np.tile(result.times, n),
        "interval": pd.Categorical.from_codes(np.tile(result.interval, n), categories=list(labels)),
    })
    for column in CURVE_COLUMNS[1:]:
        frame[column] = getattr(result, column).reshape(-1)
    return frame


def _interval_of(times: np.ndarray, intervals: Intervals) -> np.ndarray:
    """Position of the interval (lower, upper] holding each time; the start of follow-up belongs to the
    first interval, and times past the last event time to the last one."""
    return np.minimum(np.searchsorted(intervals.upper, times, side="left"), len(intervals) - 1)
