"""Fitting zero-inflated and hurdle models on the designs ``glm()`` uses (dense or categorical).

Starting values are pscl's: a Poisson GLM for the count part, a binomial GLM for the zero part
(of 1{y = 0} for zero-inflated models, of 1{y > 0} for hurdles), theta = 1; the Poisson GLM by the
IRLS engine, the binomial GLM by Newton from 0 for the logit link (the same fit in less memory:
``binomial_start``), else by the IRLS engine.

Hurdle: the likelihood separates.  The zero part is the binomial GLM of 1{y > 0} on Z (Newton from 0
for the logit link; for other links the IRLS fit is the start), polished by Newton with the observed
information, so that its covariance is pscl's (for non-canonical links the observed and Fisher
informations differ).  The count part is a zero-truncated count model on the rows y > 0, fitted by
Newton in (beta[, log theta]) from a Poisson GLM on those rows.  The information is block diagonal.

Zero-inflated: EM (``count.em``) from the starting values, then Newton on the full likelihood with
the analytic score and information (an EM step where the information is not positive definite).  On
at least ``settings.zeroinfl_subsample_min_rows`` rows all of that is first done on a systematic
subsample of about ``settings.zeroinfl_subsample_rows`` rows (every k-th row), and its optimum is
Newton's start on all the rows: close to the full optimum, where Newton converges quickly (about five
evaluations on all the rows instead of EM, its check and six; the optimum is the same, to the same
tolerance).  The subsample is not used when a design column is all zero on its rows of positive
weight (a level that it misses) or its fit does not converge.

Either way the covariance is the inverse of the analytic observed information at the optimum, or
of pscl's finite-difference Hessian with ``hessian_step`` (``count.optimize``).
"""

from __future__ import annotations

import warnings

import numpy as np

from glmformula import settings
from glmformula.count.design_products import take_rows
from glmformula.count.em import em_step, run_em
from glmformula.count.information import factor_information
from glmformula.count.likelihoods import BlockLikelihood, Hurdle, TwoPartData, ZeroInflated
from glmformula.count.newton import newton_maximize, small_gradient
from glmformula.count.optimize import Optimum, finish
from glmformula.count.row_models import BinaryRows, TruncatedRows
from glmformula.engine.irls import IRLSControl, irls
from glmformula.exceptions import FitError
from glmformula.families.links import Link
from glmformula.families.standard import Binomial, Poisson

#: The starting GLMs stop at a relative deviance change of 1e-6: EM and Newton take it from there.
START_CONTROL = IRLSControl(tol=1e-6)


def poisson_start(design, y: np.ndarray, weights: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """Coefficients of a Poisson GLM (0 where aliased)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = irls(design, y, Poisson(), prior_weights=weights, offset=offset, mustart=y + 0.1,
                   control=START_CONTROL, warn=False)
    return np.nan_to_num(fit.params)


def binomial_start(design, indicator: np.ndarray, weights: np.ndarray, offset: np.ndarray, link: Link
                   ) -> np.ndarray:
    """Coefficients of a binomial GLM of a 0/1 ``indicator`` with link ``link`` (0 where aliased).

    For the logit link, Newton on the binary likelihood (``BinaryRows``) from gamma = 0 (pi = 1/2): for the
    canonical link that is IRLS itself (observed = expected information), on a log-likelihood that is
    concave, and it holds three arrays the data's length where the IRLS engine's workspace holds about a
    dozen (the peak memory of a zero-inflated or hurdle fit).  Otherwise, or when Newton does not converge
    (separation, aliased columns), the IRLS engine as pscl."""
    if link.name == "logit":
        fit = _logistic_newton(design, indicator, weights, offset, link, tol=1e-6)  # a start: EM, Newton follow
        if fit is not None:
            return fit.params
    return _binomial_irls(design, indicator, weights, offset, link)


def _logistic_newton(design, indicator: np.ndarray, weights: np.ndarray, offset: np.ndarray, link: Link,
                     tol: float = 1e-9):
    """Newton's fit (``NewtonResult``, max |score| <= ``tol`` max(1, |l|)) of the binary likelihood from 0, or
    None when it does not converge to a point with a positive definite information."""
    part = BlockLikelihood([design], [offset], weights, BinaryRows(np.asarray(indicator, dtype=bool), link))
    try:
        fit = newton_maximize(part, np.zeros(design.n_columns), maxiter=START_CONTROL.maxiter, tol=tol)
    except FitError:
        return None
    converged = np.max(np.abs(fit.gradient), initial=0.0) <= tol * max(1.0, abs(fit.loglik))
    if not converged or factor_information(fit.information, part.orthogonal_parameters()) is None:
        return None
    return fit


def _binomial_irls(design, indicator: np.ndarray, weights: np.ndarray, offset: np.ndarray, link: Link
                   ) -> np.ndarray:
    """The binomial GLM by the IRLS engine, R's starting values."""
    y = np.where(weights > 0, indicator, 0.0)
    mustart = (weights * y + 0.5) / (weights + 1)  # R's binomial()$initialize for a 0/1 response
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        etastart = link.link(mustart)  # given as eta: one array the data's length fewer during the fit
        del mustart
        fit = irls(design, y, Binomial(link), prior_weights=weights, offset=offset, mustart=etastart,
                   etastart=etastart, control=START_CONTROL, warn=False)
    return np.nan_to_num(fit.params)


def fit_zeroinfl(data: TwoPartData, dist, link: Link, hessian_step: float | None) -> tuple[ZeroInflated, Optimum]:
    """EM, then Newton on the full likelihood, from a subsample's optimum on many rows (see the module
    docstring)."""
    likelihood = ZeroInflated(data, dist, link)
    minimum = settings.current().zeroinfl_subsample_min_rows
    params = _subsample_optimum(data, dist, link) if 0 < minimum <= len(data.y) else None
    if params is not None:
        n_em, derivatives = 0, None
    else:
        params, n_em, derivatives = run_em(likelihood, _zeroinfl_start(data, dist, link))
    result = newton_maximize(likelihood, params, fallback=lambda point: em_step(likelihood, point),
                             initial=derivatives)
    optimum = finish(likelihood, result.params, result.loglik, result.gradient, result.information,
                     n_em + result.n_iter, hessian_step)
    return likelihood, optimum


def _zeroinfl_start(data: TwoPartData, dist, link: Link) -> np.ndarray:
    """pscl's starting values: a Poisson GLM, a binomial GLM of 1{y = 0}, theta = 1."""
    start = [poisson_start(data.X, data.y, data.weights, data.offset_x),
             binomial_start(data.Z, data.y == 0, data.weights, data.offset_z, link)]
    if dist.has_theta:
        start.append(np.zeros(1))  # theta = 1
    return np.concatenate(start)


def _subsample_optimum(data: TwoPartData, dist, link: Link) -> np.ndarray | None:
    """The zero-inflated fit of every k-th row (about ``settings.zeroinfl_subsample_rows``), or None when a
    design column is all zero there or that fit does not converge (the full fit then starts from pscl's)."""
    rows = np.arange(0, len(data.y), max(1, len(data.y) // settings.current().zeroinfl_subsample_rows))
    part = TwoPartData(data.y[rows], take_rows(data.X, rows), take_rows(data.Z, rows), data.offset_x[rows],
                       data.offset_z[rows], data.weights[rows])
    if not all(np.all(np.diag(design.gram(part.weights)) > 0) for design in (part.X, part.Z)):
        return None  # a column without (weighted) rows in the subsample
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            likelihood = ZeroInflated(part, dist, link)
            params, _, derivatives = run_em(likelihood, _zeroinfl_start(part, dist, link))
            result = newton_maximize(likelihood, params, fallback=lambda point: em_step(likelihood, point),
                                     initial=derivatives, tol=1e-6)
        except (FitError, ValueError, np.linalg.LinAlgError):
            return None
    converged = small_gradient(result.gradient, result.loglik, 1e-6)
    return result.params if converged and np.all(np.isfinite(result.params)) else None


def fit_hurdle(data: TwoPartData, dist, link: Link, hessian_step: float | None) -> tuple[Hurdle, Optimum]:
    """The binary and the zero-truncated parts apart (see the module docstring)."""
    positive = data.y > 0
    zero_part = BlockLikelihood([data.Z], [data.offset_z], data.weights, BinaryRows(positive, link))
    zero = _logistic_newton(data.Z, positive, data.weights, data.offset_z, link) if link.name == "logit" else None
    if zero is None:
        zero = newton_maximize(zero_part, _binomial_irls(data.Z, positive, data.weights, data.offset_z, link))

    rows = np.flatnonzero(positive)
    design, y, weights, offset = take_rows(data.X, rows), data.y[rows], data.weights[rows], data.offset_x[rows]
    count_part = BlockLikelihood([design], [offset], weights, TruncatedRows(y, dist), dist)
    start = [poisson_start(design, y, weights, offset)] + ([np.zeros(1)] if dist.has_theta else [])
    count = newton_maximize(count_part, np.concatenate(start))

    likelihood = Hurdle(data, dist, link)
    p, q = data.n_count, data.n_zero
    params = np.concatenate([count.params[:p], zero.params, count.params[p:]])
    gradient = np.concatenate([count.gradient[:p], zero.gradient, count.gradient[p:]])
    information = np.zeros((likelihood.n_params, likelihood.n_params))
    count_index = np.r_[0:p, p + q:likelihood.n_params]
    information[np.ix_(count_index, count_index)] = count.information
    information[p:p + q, p:p + q] = zero.information
    optimum = finish(likelihood, params, count.loglik + zero.loglik, gradient, information,
                     count.n_iter + zero.n_iter, hessian_step)
    return likelihood, optimum
