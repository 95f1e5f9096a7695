"""Negative binomial regression with theta estimated by maximum likelihood (MASS's ``glm.nb``).

Var(Y) = mu + mu^2 / theta.  The algorithm alternates, exactly as ``glm.nb``:

1. a Poisson IRLS fit gives mu;
2. theta = ``theta_ml(y, mu)`` (Newton-Raphson on the profile score of theta);
3. repeat: IRLS for the negative binomial with theta fixed (started from eta =
   g(mu)), then theta again from the *previous* mu, until
   |L_old - L| / d1 + |theta_old - theta| < tol, with d1 = sqrt(2 max(1, df_resid))
   and L the log-likelihood.

When the data show no overdispersion theta runs off to infinity (``glm.nb``
then fails).  That is detected by the score of alpha = 1/theta at alpha = 0,
(1/2) sum w ((y - mu)^2 - y) / mu^2, being <= 0 (the likelihood rises towards the
Poisson), or by theta passing 1e8; the fit then stops, warns, and reports the
Poisson limit with theta = inf.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import special

from glmformula.engine.irls import FitState, IRLSControl, irls
from glmformula.exceptions import ConvergenceWarning, NonIntegerResponseWarning, OverdispersionWarning
from glmformula.families.standard import NegativeBinomial, Poisson

#: Beyond this theta the negative binomial is the Poisson distribution to working precision.
THETA_INFINITE = 1e8


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

    @classmethod
    def of(cls, y: np.ndarray, weights: np.ndarray) -> ResponseValues:
        values, inverse = np.unique(y, return_inverse=True)
        return cls(values, np.bincount(inverse.ravel(), weights=weights, minlength=len(values)))

    def weighted_sum(self, function, shift: float = 0.0) -> float:
        """sum_i w_i function(y_i + shift)."""
        return float(np.dot(self.weights, function(self.values + shift)))


def theta_ml(y: np.ndarray, mu: np.ndarray, weights: np.ndarray, limit: int = 25,
             response: ResponseValues | None = None) -> ThetaEstimate:
    """MASS's ``theta.ml``: Newton-Raphson for theta given the means, from the moment estimate.

    score(theta) = sum w (digamma(theta + y) - digamma(theta) + log(theta) + 1
                         - log(theta + mu) - (y + theta) / (mu + theta))

    The sums over digamma and trigamma of theta + y are taken by distinct value of y (``response``).
    """
    response = ResponseValues.of(y, weights) if response is None else response
    if np.sum(weights * ((y - mu) ** 2 - y) / mu**2) <= 0:
        # the score of alpha = 1/theta at alpha = 0 is not positive: the likelihood rises towards the Poisson
        return ThetaEstimate(np.inf, np.nan, "theta runs to infinity")
    n = np.sum(weights)
    theta = n / np.sum(weights * (y / mu - 1) ** 2)
    delta, information, iteration = 1.0, np.nan, 0
    eps = np.finfo(float).eps ** 0.25
    with np.errstate(all="ignore"):
        while (iteration := iteration + 1) < limit and abs(delta) > eps:
            theta = abs(theta)
            theta_mu = theta + mu
            ratio = (y + theta) / theta_mu
            score = (response.weighted_sum(special.digamma, theta)
                     + n * (np.log(theta) + 1 - special.digamma(theta))
                     - np.dot(weights, np.log(theta_mu) + ratio))
            information = (-response.weighted_sum(lambda v: special.polygamma(1, v), theta)
                           + n * (special.polygamma(1, theta) - 1 / theta)
                           + np.dot(weights, (2 - ratio) / theta_mu))
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


def nb_loglik(y, mu, weights, theta: float, response: ResponseValues | None = None) -> float:
    """glm.nb's log-likelihood (the Poisson one when theta is infinite); the log-gamma sums by distinct
    value of y (``ResponseValues``)."""
    if np.isinf(theta):
        return Poisson().loglik(y, mu, weights, None, 0.0)
    response = ResponseValues.of(y, weights) if response is None else response
    by_value = response.weighted_sum(special.gammaln, theta) - response.weighted_sum(special.gammaln, 1.0)
    n = float(np.sum(weights))
    return float(by_value + n * (theta * np.log(theta) - special.gammaln(theta))
                 + np.dot(weights, special.xlogy(y, mu + (y == 0)) - (theta + y) * np.log(theta + mu)))


@dataclass(frozen=True)
class NegBinFit:
    fit: FitState
    family: NegativeBinomial  # with theta of the final IRLS fit's family (as R's deviance)
    theta: ThetaEstimate
    loglik: float
    alternations: int


def fit_negative_binomial(design, y, *, link, prior_weights, offset, mustart, control: IRLSControl,
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
    if np.isinf(estimate.theta):
        return _poisson_limit(fit, link, y, prior_weights, mu)
    family = NegativeBinomial(link, theta=estimate.theta)
    d1 = np.sqrt(2 * max(1, len(y) - fit.rank))
    d2 = delta = 1.0
    loglik = nb_loglik(y, mu, prior_weights, estimate.theta, response)
    loglik_old = loglik + 2 * d1
    alternations = 0
    fit_family = family
    while (alternations := alternations + 1) <= control.maxiter and (
        abs(loglik_old - loglik) / d1 + abs(delta) / d2 > control.tol
    ):
        fit_family = family
        fit = irls(design, y, fit_family, prior_weights=prior_weights, offset=offset, mustart=mustart,
                   etastart=link.link(mu), control=control)
        previous = estimate.theta
        estimate = theta_ml(y, mu, prior_weights, limit=control.maxiter, response=response)
        if np.isinf(estimate.theta):
            return _poisson_limit(fit, link, y, prior_weights, fit.mu)
        family = NegativeBinomial(link, theta=estimate.theta)
        mu = fit.mu
        delta = previous - estimate.theta
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
