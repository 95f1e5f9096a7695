"""EM for zero-inflated models: the fast, safe way close to the optimum before Newton takes over.

With z_i the posterior probability that row i is a structural zero,

    E-step:  z_i = pi_i / (pi_i + (1 - pi_i) f(0; mu_i))  for y_i = 0,  z_i = 0 for y_i > 0;

the expected complete-data log-likelihood separates into a count GLM with prior weights
(1 - z) w and a binomial GLM of z on Z with weights w.  The M-step takes one weighted least
squares step of each on its design (``engine.linalg.solve_wls``, which serves dense and
categorical designs alike):

    count:  working weights (1 - z) w (-d^2 log f / d eta^2), response eta - o + score / weight
    zero:   working weights w pi'^2 / (pi (1 - pi)),           response eta - o + (z - pi) / pi'

and for the negative binomial a few one-dimensional Newton steps in log theta on
sum (1 - z) w log f.  The per-row work is numpy's by chunks, or one compiled pass each
(``zero_kernels``: the logit zero link, whole counts) where the likelihood's compiled pass
serves it.  ``run_em`` iterates (once by default: EM's steps shrink linearly, and Newton
converges quadratically from there) while the observed log-likelihood rises by more than
``tol`` relative.
"""

from __future__ import annotations

import numpy as np

from glmformula.count.likelihoods import ZeroInflated
from glmformula.count.link_derivatives import inverse_and_mu_eta
from glmformula.engine.linalg import solve_wls
from glmformula.exceptions import FitError
from glmformula.families.base import chunks


def _posterior(y: np.ndarray, dist, mu: np.ndarray, pi: np.ndarray, theta) -> np.ndarray:
    """z: the posterior probability of a structural zero of each row."""
    p0 = np.exp(dist.log_p0(mu, theta))
    return np.where(y == 0, pi / (pi + (1 - pi) * p0), 0.0)


def _log_theta_step(dist, y: np.ndarray, mu: np.ndarray, weights: np.ndarray, log_theta: float,
                    steps: int = 1, compiled=None) -> float:
    """Newton steps in log theta on sum w log f(y; mu, theta), each at most 1 in size (sums by chunks, or by the
    ``compiled`` pass's ``theta_sums``)."""
    for _ in range(steps):
        theta = np.exp(log_theta)
        sums = None if compiled is None else compiled.theta_sums(mu, weights, float(theta))
        if sums is not None:
            score, curvature = sums
        else:
            score, curvature = 0.0, 0.0
            for rows in chunks(len(y)):
                derivatives = dist.derivatives(y[rows], mu[rows], theta, 2)
                score += np.einsum("i,i->", weights[rows], derivatives["st"])  # not BLAS (see _dot)
                curvature += np.einsum("i,i->", weights[rows], derivatives["htt"])
        step = -score / curvature if curvature < 0 else np.sign(score)
        step = float(np.clip(step, -1.0, 1.0))
        log_theta += step
        if abs(step) < 1e-8:
            break
    return log_theta


def em_step(likelihood: ZeroInflated, params: np.ndarray) -> np.ndarray:
    """One EM iteration from ``params`` (see the module docstring); the working weights and responses are
    written chunk by chunk into two arrays, shared by the two parts' steps."""
    data = likelihood.data
    count_part, zero_part = likelihood.slices
    theta = likelihood.theta(params)
    eta_count, eta_zero = likelihood.etas(params)
    weights, response = np.empty_like(eta_count), np.empty_like(eta_count)
    new = params.copy()
    compiled = likelihood._compiled_pass()  # None: numpy's path (see ``zero_kernels``)
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        for index, part in enumerate(("count", "zero")):
            if compiled is None or not compiled.em_working(index, eta_count, eta_zero, weights, response, theta):
                for rows in chunks(len(eta_count)):
                    _working(likelihood, part, rows, eta_count[rows], eta_zero[rows], theta, weights[rows],
                             response[rows])
            design = data.X if part == "count" else data.Z
            new[count_part if part == "count" else zero_part] = solve_wls(design, weights, response).coefficients
    if likelihood.has_theta:  # the count part's weights (1 - z) w into the first array, the new mu into the second
        if compiled is None or not compiled.em_working(2, eta_count, eta_zero, weights, None, theta):
            for rows in chunks(len(eta_count)):
                mu, pi = np.exp(eta_count[rows]), likelihood.link.inverse(eta_zero[rows])
                weights[rows] = data.weights[rows] * (1 - _posterior(data.y[rows], likelihood.dist, mu, pi, theta))
        mu = np.exp(data.X.dot(new[count_part], out=response) + data.offset_x, out=response)
        new[-1] = _log_theta_step(likelihood.dist, data.y, mu, weights, float(params[-1]), compiled=compiled)
    return new


def _working(likelihood: ZeroInflated, part: str, rows: slice, eta_count, eta_zero, theta, weights_out,
             response_out) -> None:
    """The M-step's working weights and response of ``part`` ("count" or "zero") for the rows ``rows``."""
    data, dist, link = likelihood.data, likelihood.dist, likelihood.link
    y, prior = data.y[rows], data.weights[rows]
    mu, (pi, dpi) = np.exp(eta_count), inverse_and_mu_eta(link, eta_zero)
    posterior = _posterior(y, dist, mu, pi, theta)
    if part == "count":
        curvature = -dist.hess_eta(y, mu, theta)
        weights_out[:] = prior * (1 - posterior) * curvature
        response_out[:] = eta_count - data.offset_x[rows] + dist.score_eta(y, mu, theta) / curvature
    else:
        weights_out[:] = prior * dpi**2 / (pi * (1 - pi))
        response_out[:] = eta_zero - data.offset_z[rows] + (posterior - pi) / dpi


def run_em(likelihood: ZeroInflated, params: np.ndarray, maxiter: int = 1, tol: float = 1e-6
           ) -> tuple[np.ndarray, int, tuple | None]:
    """EM iterations from ``params`` while the log-likelihood rises by more than ``tol`` relative.

    Returns the last parameters that raised it, the number of iterations kept and, when the last iteration
    was kept, ``likelihood.derivatives`` there (the last candidate is evaluated with its derivatives, which
    Newton starts from, so that no evaluation is spent on its log-likelihood alone); else None.  One
    iteration by default: from pscl's starting values it takes the largest part of the way, and Newton's
    steps (quadratic) do the rest faster than more of EM's (linear)."""
    loglik = likelihood.loglik(params)
    kept, derivatives = 0, None
    for iteration in range(maxiter):
        try:
            candidate = em_step(likelihood, params)
        except (FitError, ValueError, np.linalg.LinAlgError):
            break
        if not np.all(np.isfinite(candidate)):
            break
        last = iteration == maxiter - 1
        evaluated = likelihood.derivatives(candidate) if last else None
        candidate_loglik = evaluated[0] if last else likelihood.loglik(candidate)
        if not candidate_loglik >= loglik:
            break
        params, kept, derivatives = candidate, kept + 1, evaluated
        gain, loglik = candidate_loglik - loglik, candidate_loglik
        if gain <= tol * max(1.0, abs(loglik)):
            break
    return params, kept, derivatives
