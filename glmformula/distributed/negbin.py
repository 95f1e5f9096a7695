"""The negative binomial with theta estimated on Dask data: MASS's ``glm.nb`` alternation, as in memory.

The steps are those of ``engine.negbin.fit_negative_binomial``: a Poisson fit, then theta by
Newton-Raphson given the means, then IRLS with theta fixed restarted from the last means, until
the log-likelihood and theta settle.  Each Newton step of theta is one distributed pass of row sums
at the current means (``theta_sums``); the sums over the response's distinct values (digamma,
trigamma, log-gamma) use the response's value counts, gathered once.  The means are never
gathered: each pass recomputes them from the coefficients on the partitions.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import special

from glmformula.distributed.fitting import DaskFit, final_summaries
from glmformula.distributed.partition import PartitionData
from glmformula.engine.negbin import ResponseValues, ThetaEstimate, newton_theta
from glmformula.exceptions import ConvergenceWarning, OverdispersionWarning
from glmformula.families.links import Link
from glmformula.families.standard import NegativeBinomial, Poisson

# -- the partitions' sums -------------------------------------------------------------------------


def response_values(data: PartitionData) -> dict:
    """The distinct values of y and their summed prior weights (``ResponseValues``)."""
    values = ResponseValues.of(data.y, data.prior_weights)
    return {"response_values": (values.values, values.weights)}


def theta_sums(data: PartitionData, link: Link, beta: np.ndarray, kind: str, theta: float = 0.0) -> dict:
    """Row sums at mu = linkinv(X beta + offset): ``kind`` "start" (the overdispersion score and the moment
    estimate's denominator), "newton" (the score's and information's mu terms at ``theta``), "loglik"
    (the log-likelihood's mu terms at ``theta``), "poisson" (the Poisson log-likelihood)."""
    y, w = data.y, data.prior_weights
    mu = data.mu_at(link, beta)
    with np.errstate(all="ignore"):
        if kind == "start":
            return {"score_at_poisson": float(np.sum(w * ((y - mu) ** 2 - y) / mu**2)),
                    "moment": float(np.sum(w * (y / mu - 1) ** 2)), "n": float(np.sum(w))}
        if kind == "newton":
            theta_mu = theta + mu
            ratio = (y + theta) / theta_mu
            return {"score": float(np.dot(w, np.log(theta_mu) + ratio)),
                    "information": float(np.dot(w, (2 - ratio) / theta_mu))}
        if kind == "loglik":
            return {"loglik": float(np.dot(w, special.xlogy(y, mu + (y == 0)) - (theta + y) * np.log(theta + mu))),
                    "n": float(np.sum(w))}
        return {"loglik": float(Poisson(link).loglik(y, mu, w, None, 0.0))}


# -- the driver ------------------------------------------------------------------------------------


class _Theta:
    """Theta's estimation and log-likelihood by distributed passes at given coefficients."""

    def __init__(self, fitter, link: Link):
        self.fitter, self.link = fitter, link
        values, weights = fitter.run(response_values)["response_values"]
        self.response = ResponseValues(values, weights)

    def sums(self, beta: np.ndarray, kind: str, theta: float = 0.0) -> dict:
        return self.fitter.run(theta_sums, link=self.link, beta=beta, kind=kind, theta=theta)

    def ml(self, beta: np.ndarray, limit: int) -> ThetaEstimate:
        """MASS's ``theta.ml`` at the means of ``beta`` (``engine.negbin.theta_ml``, pass by pass)."""
        start = self.sums(beta, "start")
        if start["score_at_poisson"] <= 0:
            return ThetaEstimate(np.inf, np.nan, "theta runs to infinity")

        def sums_in_mu(theta: float) -> tuple[float, float]:
            rows = self.sums(beta, "newton", theta)
            return rows["score"], rows["information"]

        return newton_theta(start["n"], start["moment"], self.response, limit, sums_in_mu)

    def loglik(self, beta: np.ndarray, theta: float) -> float:
        """``glm.nb``'s log-likelihood (``engine.negbin.nb_loglik``) at the means of ``beta``."""
        if np.isinf(theta):
            return self.sums(beta, "poisson")["loglik"]
        rows = self.sums(beta, "loglik", theta)
        by_value = (self.response.weighted_sum(special.gammaln, theta)
                    - self.response.weighted_sum(special.gammaln, 1.0))
        return float(by_value + rows["n"] * (theta * np.log(theta) - special.gammaln(theta)) + rows["loglik"])


def fit_negative_binomial(fitter):
    """``glm.nb``'s alternation on the partitions (see the module doc); a ``dask_glm.DaskFit``."""
    link, control = fitter.model.family.link, fitter.control
    beta, outcome, data = fitter.irls(Poisson(link), ("initialize",))
    theta = _Theta(fitter, link)
    estimate = theta.ml(beta, control.maxiter)
    if np.isinf(estimate.theta):
        return _poisson_limit(fitter, theta, link, beta, outcome, data)
    family = fit_family = NegativeBinomial(link, theta=estimate.theta)
    d1 = np.sqrt(2 * max(1, data.state["rows"] - int((~outcome.aliased).sum())))
    d2 = delta = 1.0
    loglik = theta.loglik(beta, estimate.theta)
    loglik_old = loglik + 2 * d1
    alternations = 0
    while (alternations := alternations + 1) <= control.maxiter and (
            abs(loglik_old - loglik) / d1 + abs(delta) / d2 > control.tol):
        fit_family = family
        new_beta, outcome, data = fitter.irls(fit_family, ("eta", beta, None))
        previous = estimate.theta
        estimate = theta.ml(beta, control.maxiter)  # at the means before this fit, as glm.nb
        beta = new_beta
        if np.isinf(estimate.theta):
            return _poisson_limit(fitter, theta, link, beta, outcome, data)
        family = NegativeBinomial(link, theta=estimate.theta)
        delta = previous - estimate.theta
        loglik_old, loglik = loglik, theta.loglik(beta, estimate.theta)
    if alternations > control.maxiter:
        warnings.warn("negative binomial: alternation limit reached", ConvergenceWarning, stacklevel=4)
    if estimate.warning:
        warnings.warn(f"negative binomial theta: {estimate.warning}", ConvergenceWarning, stacklevel=4)
    final = final_summaries(fitter, fit_family, beta, outcome, data, loglik=loglik)
    return DaskFit(fit_family, beta, outcome, final, theta=estimate,
                   null_family=NegativeBinomial(link, theta=estimate.theta))


def _poisson_limit(fitter, theta: _Theta, link: Link, beta, outcome, data):
    """No overdispersion: the Poisson fit, reported as theta = inf (``engine.negbin._poisson_limit``)."""
    warnings.warn("negative binomial: the data are not overdispersed (theta runs to infinity); "
                  "reporting the Poisson limit (theta = inf)", OverdispersionWarning, stacklevel=4)
    family = NegativeBinomial(link, theta=np.inf)
    final = final_summaries(fitter, family, beta, outcome, data, loglik=theta.loglik(beta, np.inf))
    return DaskFit(family, beta, outcome, final, theta=ThetaEstimate(np.inf, np.nan, "theta runs to infinity"),
                   null_family=family)
