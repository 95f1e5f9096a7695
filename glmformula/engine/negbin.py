"""Negative binomial regression with theta estimated by maximum likelihood (MASS's ``glm.nb``).

Var(Y) = mu + mu^2 / theta.  The algorithm alternates, exactly as ``glm.nb``:

1. a Poisson IRLS fit gives mu;
2. theta = ``theta_ml(y, mu)`` (Newton-Raphson on the profile score of theta);
3. repeat: IRLS for the negative binomial with theta fixed (started from eta =
   g(mu)), then theta again from the *previous* mu, until
   |L_old - L| / d1 + |theta_old - theta| < tol, with d1 = sqrt(2 max(1, df_resid))
   and L the log-likelihood.

Each inner IRLS is warm-started from the last fit's means (eta = g(mu), glm.nb's ``etastart``), and
the first alternation's theta, estimated from the same means as the one before the loop, is not
estimated twice.  The costly parts are passes over the rows: the IRLS steps under the log link take the
compiled negative binomial step (``engine.fused_step``), and the sums in mu of ``theta_ml`` (one per
Newton step) and of the log-likelihood one compiled pass each (``log_link.nb_sums``); the sums over
digamma, trigamma and log-gamma of y go by distinct value of y (``ResponseValues``).

When the data show no overdispersion theta runs off to infinity (``glm.nb``
then fails).  That is detected by the score of alpha = 1/theta at alpha = 0,
(1/2) sum w ((y - mu)^2 - y) / mu^2, being <= 0 (the likelihood rises towards the
Poisson), or by theta passing 1e8; the fit then stops, warns, and reports the
Poisson limit with theta = inf.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import special

from glmformula.engine.irls import FitState, IRLSControl, irls
from glmformula.exceptions import ConvergenceWarning, NonIntegerResponseWarning, OverdispersionWarning
from glmformula.families import log_link
from glmformula.families.standard import NegativeBinomial, Poisson

#: Beyond this theta the negative binomial is the Poisson distribution to working precision.
THETA_INFINITE = 1e8
#: Responses of whole numbers below this are grouped by value with a table of this size at most.
_TALLIED = 1 << 20


@dataclass(frozen=True)
class ThetaEstimate:
    """theta with its standard error (from the observed information), as ``theta.ml`` returns."""

    theta: float
    se: float
    warning: str | None = None


@dataclass(frozen=True)
class ResponseValues:
    """The distinct values u of y and the summed prior weights W_u of their rows, so that a sum
    sum_i w_i f(y_i) of a costly function (digamma, trigamma, log-gamma) is sum_u W_u f(u): counts take
    few distinct values, and a million rows cost a few hundred evaluations.  None of the terms that
    involve mu can be grouped so; they are cheap."""

    values: np.ndarray
    weights: np.ndarray
    unit_weights: bool = False  # whether every row's weight is 1 (the compiled sums then read no weights)

    @classmethod
    def of(cls, y: np.ndarray, weights: np.ndarray) -> ResponseValues:
        """Counts (whole numbers below 2^20) are tallied by value directly; other responses are sorted."""
        unit = bool(np.all(weights == 1))
        if len(y) and 0 <= y.min() and y.max() < _TALLIED:
            counts = y.astype(np.int64)
            if np.array_equal(counts, y):
                present = np.flatnonzero(np.bincount(counts))
                return cls(present.astype(float), np.bincount(counts, weights=weights)[present], unit)
        values, inverse = np.unique(y, return_inverse=True)
        return cls(values, np.bincount(inverse.ravel(), weights=weights, minlength=len(values)), unit)

    def weighted_sum(self, function, shift: float = 0.0) -> float:
        """sum_i w_i function(y_i + shift)."""
        return float(np.dot(self.weights, function(self.values + shift)))


def theta_ml(y: np.ndarray, mu: np.ndarray, weights: np.ndarray, limit: int = 25,
             response: ResponseValues | None = None) -> ThetaEstimate:
    """MASS's ``theta.ml``: Newton-Raphson for theta given the means, from the moment estimate.

    score(theta) = sum w (digamma(theta + y) - digamma(theta) + log(theta) + 1
                         - log(theta + mu) - (y + theta) / (mu + theta))

    The sums over digamma and trigamma of theta + y are taken by distinct value of y (``response``), those
    in mu in one pass over the rows per step (``_sums_in_mu``).
    """
    response = ResponseValues.of(y, weights) if response is None else response
    with np.errstate(all="ignore"):
        alpha_score, moment = _sums_in_mu(log_link.NB_START, np.nan, y, mu, weights, response.unit_weights)
    if alpha_score <= 0:
        # the score of alpha = 1/theta at alpha = 0 is not positive: the likelihood rises towards the Poisson
        return ThetaEstimate(np.inf, np.nan, "theta runs to infinity")
    return newton_theta(float(np.sum(weights)), moment, response, limit, lambda theta: _sums_in_mu(
        log_link.NB_NEWTON, theta, y, mu, weights, response.unit_weights))


def newton_theta(n: float, moment: float, response: ResponseValues, limit: int,
                 sums_in_mu: Callable[[float], tuple[float, float]]) -> ThetaEstimate:
    """theta.ml's Newton iteration from the moment estimate n / moment, until |step| <= eps^(1/4) or ``limit``
    iterations; ``sums_in_mu(theta)`` gives the rows' sums in mu, sum w (log(theta + mu) + (y + theta) /
    (mu + theta)) and its part of the information, however the rows are held (in memory or on Dask)."""
    theta = n / moment
    delta, information, iteration = 1.0, np.nan, 0
    eps = np.finfo(float).eps ** 0.25
    with np.errstate(all="ignore"):
        while (iteration := iteration + 1) < limit and abs(delta) > eps:
            theta = abs(theta)
            in_mu, information_in_mu = sums_in_mu(theta)
            score = (response.weighted_sum(special.digamma, theta)
                     + n * (np.log(theta) + 1 - special.digamma(theta)) - in_mu)
            information = (-response.weighted_sum(lambda v: special.polygamma(1, v), theta)
                           + n * (special.polygamma(1, theta) - 1 / theta) + information_in_mu)
            delta = score / information
            theta = theta + delta
            if not np.isfinite(theta) or theta > THETA_INFINITE:
                return ThetaEstimate(np.inf, np.nan, "theta runs to infinity")
    message = None
    if theta < 0:
        theta, message = 0.0, "estimate truncated at zero"
    if iteration == limit:
        message = "iteration limit reached"
    return ThetaEstimate(float(theta), float(np.sqrt(1 / information)), message)


def _sums_in_mu(kind: int, theta: float, y: np.ndarray, mu: np.ndarray, weights: np.ndarray,
                unit_weights: bool = False) -> tuple[float, float]:
    """The sums over rows that involve mu, in one compiled pass (``log_link.nb_sums``; with ``unit_weights``
    the weights, all 1, are not read) or by numpy:

    NB_START    sum w ((y - mu)^2 - y) / mu^2,  sum w (y / mu - 1)^2
    NB_NEWTON   sum w (log(theta + mu) + r),    sum w (2 - r) / (theta + mu),   r = (y + theta) / (mu + theta)
    NB_LOGLIK   sum w (y log mu - (theta + y) log(theta + mu)),  0   (y log mu = 0 where y = 0)
    """
    compiled = log_link.nb_sums(kind, theta, y, mu, None if unit_weights else weights)
    if compiled is not None:
        return compiled
    if kind == log_link.NB_START:
        return float(np.sum(weights * ((y - mu) ** 2 - y) / mu**2)), float(np.sum(weights * (y / mu - 1) ** 2))
    if kind == log_link.NB_NEWTON:
        theta_mu = theta + mu
        ratio = (y + theta) / theta_mu
        return float(np.dot(weights, np.log(theta_mu) + ratio)), float(np.dot(weights, (2 - ratio) / theta_mu))
    return float(np.dot(weights, special.xlogy(y, mu + (y == 0)) - (theta + y) * np.log(theta + mu))), 0.0


def nb_loglik(y, mu, weights, theta: float, response: ResponseValues | None = None) -> float:
    """glm.nb's log-likelihood (the Poisson one when theta is infinite); the log-gamma sums by distinct
    value of y (``ResponseValues``), those in mu in one pass (``_sums_in_mu``)."""
    if np.isinf(theta):
        return Poisson().loglik(y, mu, weights, None, 0.0)
    response = ResponseValues.of(y, weights) if response is None else response
    by_value = response.weighted_sum(special.gammaln, theta) - response.weighted_sum(special.gammaln, 1.0)
    n = float(np.sum(weights))
    in_mu = _sums_in_mu(log_link.NB_LOGLIK, theta, y, mu, weights, response.unit_weights)[0]
    return float(by_value + n * (theta * np.log(theta) - special.gammaln(theta)) + in_mu)


@dataclass(frozen=True)
class NegBinFit:
    fit: FitState
    family: NegativeBinomial  # with theta of the final IRLS fit's family (as R's deviance)
    theta: ThetaEstimate
    loglik: float
    alternations: int


def fit_negative_binomial(design, y, *, link, prior_weights, offset, control: IRLSControl,
                          init_theta: float | None = None) -> NegBinFit:
    """Alternate IRLS and ``theta_ml`` as ``glm.nb`` (see the module docstring)."""
    first_family = Poisson(link) if init_theta is None else NegativeBinomial(link, theta=init_theta)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NonIntegerResponseWarning)  # already said by the caller's initialize
        first_mustart = first_family.initialize(y, prior_weights).mustart
    fit = irls(design, y, first_family, prior_weights=prior_weights, offset=offset, mustart=first_mustart,
               control=control)
    mu = fit.mu
    response = ResponseValues.of(y, prior_weights)
    estimate = theta_ml(y, mu, prior_weights, limit=control.maxiter, response=response)
    theta_mu = mu  # the means theta was estimated from
    if np.isinf(estimate.theta):
        return _poisson_limit(fit, link, y, prior_weights, mu)
    family = NegativeBinomial(link, theta=estimate.theta)
    d1 = np.sqrt(2 * max(1, len(y) - np.count_nonzero(prior_weights == 0) - fit.rank))  # R's df.residual
    d2 = delta = 1.0
    loglik = nb_loglik(y, mu, prior_weights, estimate.theta, response)
    loglik_old = loglik + 2 * d1
    alternations = 0
    fit_family = family
    while (alternations := alternations + 1) <= control.maxiter and (
        abs(loglik_old - loglik) / d1 + abs(delta) / d2 > control.tol
    ):
        fit_family = family
        # glm.nb's etastart = g(mu), taken by IRLS from mustart = mu (the same eta, written into its own buffer)
        fit = irls(design, y, fit_family, prior_weights=prior_weights, offset=offset, mustart=mu, control=control)
        previous = estimate.theta
        if mu is not theta_mu:  # glm.nb's first alternation takes theta again from the first fit's means
            estimate = theta_ml(y, mu, prior_weights, limit=control.maxiter, response=response)
        if np.isinf(estimate.theta):
            return _poisson_limit(fit, link, y, prior_weights, fit.mu)
        family = NegativeBinomial(link, theta=estimate.theta)
        mu = fit.mu
        delta = previous - estimate.theta
        theta_mu = None
        loglik_old, loglik = loglik, nb_loglik(y, mu, prior_weights, estimate.theta, response)
    if alternations > control.maxiter:
        warnings.warn("negative binomial: alternation limit reached", ConvergenceWarning, stacklevel=3)
    if estimate.warning:
        warnings.warn(f"negative binomial theta: {estimate.warning}", ConvergenceWarning, stacklevel=3)
    return NegBinFit(fit, fit_family, estimate, loglik, alternations)


def _poisson_limit(fit: FitState, link, y, weights, mu) -> NegBinFit:
    warnings.warn(
        "negative binomial: the data are not overdispersed (theta runs to infinity); "
        "reporting the Poisson limit (theta = inf)",
        OverdispersionWarning,
        stacklevel=4,
    )
    estimate = ThetaEstimate(np.inf, np.nan, "theta runs to infinity")
    return NegBinFit(fit, NegativeBinomial(link, theta=np.inf), estimate, nb_loglik(y, mu, weights, np.inf), 0)
