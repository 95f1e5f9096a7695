"""The null deviance: the deviance of the intercept-only model with the fit's offset and weights (as R).

This is its one home: the in-memory fitter (``glmformula.model``) calls
``null_deviance`` after the fit, and the Dask fit follows the same rule
(``null_model``) with distributed passes.  The engine does not import ``glmformula.design``: the
intercept-only design, needed when the null model takes its own IRLS, comes
from the caller (``intercept_design``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, Protocol

import numpy as np

from glmformula import settings
from glmformula.engine.design_protocol import Design
from glmformula.engine.irls import IRLSControl, irls
from glmformula.families.base import Family, chunks
from glmformula.families.ranges import weighted_sum


class NullModelData(Protocol):
    """What the null deviance reads of a fit's data (``results.glm_results.ModelData`` has it)."""

    y: np.ndarray
    prior_weights: np.ndarray
    offset: np.ndarray
    has_intercept: bool
    has_offset: bool


NullModel = Literal["offset", "mean", "intercept fit"]


def null_model(has_intercept: bool, has_offset: bool) -> NullModel:
    """Which null model R's ``glm`` fits, for in-memory and Dask fits alike.

    "offset": no intercept, so mu = linkinv(offset); "mean": an intercept and no offset, so
    mu = the weighted mean of y; "intercept fit": an intercept beside an offset, which
    needs the intercept-only fit (IRLS, or a closed form under a log link).
    """
    if not has_intercept:
        return "offset"
    return "intercept fit" if has_offset else "mean"


def null_deviance(data: NullModelData, family: Family, control: IRLSControl, mustart: np.ndarray | None,
                  log_y: np.ndarray | None = None, *, intercept_design: Callable[[int], Design]) -> float:
    """Deviance of the intercept-only model with the same offset and weights (as R).

    Without an offset the intercept-only fit is the weighted mean of y.  With an
    offset and a log link on a variance mu^p it has a closed form: the score
    equation sum w (y - mu) mu^(1-p) = 0 with mu = exp(b + offset) gives

        exp(b) = sum w y exp((1 - p) offset) / sum w exp((2 - p) offset),

    the optimum R's IRLS converges to.  Otherwise it needs its own IRLS, started
    (as R's ``glm``) from the full model's fitted values, or from the family's
    starting values (as ``glm.nb``), on ``intercept_design(n)``: a design of one
    column of ones for the n rows.  ``log_y`` is log(y) when the full fit took it.
    """
    y, weights = data.y, data.prior_weights
    kind = null_model(data.has_intercept, data.has_offset)
    if kind == "offset":
        with np.errstate(divide="ignore", over="ignore"):
            mu = family.link.inverse(data.offset)
        if not family.valid_mu(mu):  # e.g. gamma's inverse link at eta = 0: R's deviance residuals are NaN
            return float("nan")
        return family.deviance(y, mu, weights)
    if kind == "mean":
        return _deviance_at_constant_mean(family, y, weights, weighted_sum(weights, y) / np.sum(weights), log_y)
    power = family.variance_power
    if family.link.name == "log" and power is not None:
        deviance = _log_link_intercept_deviance(family, y, weights, data.offset, power, log_y)
        if deviance is not None:
            return deviance
    intercept = intercept_design(len(y))
    exposure = np.exp(data.offset)
    rate = np.sum(weights * y) / np.sum(weights * exposure)
    if family.link.name == "log" and np.isfinite(rate) and rate > 0:
        # the intercept-only log-linear fit with an offset has mu = exp(offset) * rate: start at the
        # weighted-mean rate (exact for poisson), which saves most of R's iterations from the full fit
        mustart = exposure * rate
    elif mustart is None:
        mustart = family.initialize(y, weights).mustart
    fit = irls(intercept, y, family, prior_weights=weights, offset=data.offset, mustart=mustart, control=control)
    return fit.deviance


def _log_link_intercept_deviance(family: Family, y: np.ndarray, weights: np.ndarray, offset: np.ndarray,
                                 power: float, log_y: np.ndarray | None) -> float | None:
    """The deviance of the intercept-only log-link fit with an offset, by its closed form (``null_deviance``),
    or None when that is not finite or gives invalid means (then IRLS decides).  Computed by row chunks
    (``settings.null_deviance_chunk_rows``): no temporary the data's length, after the full fit's arrays."""
    size = settings.current().null_deviance_chunk_rows
    shift = np.max(offset)  # exp((k - p) (offset - max)) cannot overflow for k - p >= 0
    numerator = denominator = 0.0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for rows in chunks(len(y), size):
            shifted = offset[rows] - shift
            numerator += _sum_over_exposure(weights[rows], y[rows], shifted, 1 - power)
            denominator += _sum_over_exposure(weights[rows], None, shifted, 2 - power)
        log_rate = np.log(numerator) - np.log(denominator) - shift
    if not np.isfinite(log_rate):
        return None
    total = 0.0
    for rows in chunks(len(y), size):
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            eta = log_rate + offset[rows]
            mu = family.link.inverse(eta)
        if not family.valid_mu(mu):
            return None
        chunk_log_y = None if log_y is None else log_y[rows]
        total += family.deviance_function(y[rows], weights[rows], log_y=chunk_log_y)(eta, mu)
    return total


def _sum_over_exposure(weights: np.ndarray, values: np.ndarray | None, shifted_offset: np.ndarray,
                       exponent: float) -> float:
    """sum w values exp(exponent (offset - shift)) over some rows (values None: 1), without the exponential
    when exponent = 0."""
    scaled = weights if values is None else weights * values
    if exponent == 0:
        return float(np.sum(scaled))
    return weighted_sum(scaled, np.exp(exponent * shifted_offset))


#: Rows per chunk of ``_deviance_at_constant_mean``.


def _deviance_at_constant_mean(family: Family, y: np.ndarray, weights: np.ndarray, mean: float,
                               log_y: np.ndarray | None) -> float:
    """The deviance at mu = ``mean`` for every row, by row chunks: no constant array the data's length is
    written.  With ``log_y`` (a log-link fit took it) the one-pass log-link deviance, with eta = log(mean)."""
    chunk = settings.current().null_deviance_chunk_rows
    size = min(len(y), chunk)
    mu = np.full(size, mean)
    one_pass = log_y is not None and mean > 0
    eta = np.full(size, np.log(mean)) if one_pass else None
    total = 0.0
    for start in range(0, len(y), chunk):
        rows = slice(start, start + chunk)
        count = len(y[rows])
        if one_pass:
            deviance_at = family.deviance_function(y[rows], weights[rows], log_y=log_y[rows])
            total += deviance_at(eta[:count], mu[:count])
        else:
            total += family.deviance(y[rows], mu[:count], weights[rows])
    return total
