"""The optimum of a two-part count model, its covariance, and pscl's route there (BFGS) for comparison.

The fitters (``count.fitting``) reach the optimum by IRLS, EM and Newton with the analytic
gradient and observed information; this module turns where they stopped into an ``Optimum``:

* converged when max |score| < 1e-5 max(1, |log-likelihood|), else a ``ConvergenceWarning``;
* the covariance is the inverse of the information J = -H at the optimum.  By default J is the
  analytic observed information (``BlockLikelihood.derivatives``): exact up to rounding.  With
  ``hessian_step`` (pscl: 1e-3) it is taken as pscl takes it (R's ``optimhess``): symmetrised
  central differences of the analytic score with that step in every parameter, whose truncation
  error is O(step^2) times third derivatives -- up to ~3e-4 relative for a coefficient of a
  covariate with a large range -- which is why the analytic Hessian is the default and the
  finite differences an option, for bit-parity with pscl's standard errors;
* a condition number of J (1-norm) above 1e12 warns that some parameters are not identified (a zero
  part driven to probability 0); a singular J gives NaN standard errors and a warning.

``maximize`` is pscl's own route (BFGS with the analytic gradient, then Newton polish on finite
differences): slower, kept as an independent check of the optimum.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import linalg, optimize

from glmformula.count.information import factor_information
from glmformula.exceptions import ConvergenceWarning, FitError


@dataclass(frozen=True)
class Optimum:
    """Estimates (beta, gamma[, log theta]), their covariance, log-likelihood, convergence, iterations."""

    params: np.ndarray
    covariance: np.ndarray
    loglik: float
    converged: bool
    n_iter: int


def numerical_hessian(gradient, params: np.ndarray, step: float | None = None) -> np.ndarray:
    """Symmetrised central differences of an analytic gradient (a fixed step, or 1e-5 max(1, |b|))."""
    steps = np.full(len(params), step) if step is not None else 1e-5 * np.maximum(1.0, np.abs(params))
    columns = []
    for j, step in enumerate(steps):
        shift = np.zeros_like(params)
        shift[j] = step
        columns.append((gradient(params + shift) - gradient(params - shift)) / (2 * step))
    hessian = np.column_stack(columns)
    return (hessian + hessian.T) / 2


def covariance_from_information(information: np.ndarray, orthogonal: np.ndarray | None = None,
                                 stacklevel: int = 4) -> np.ndarray:
    """J^{-1} (by blocks around ``orthogonal``: ``count.information``), with the warnings of the module
    docstring; the condition number is the 1-norm one, ||J||_1 ||J^{-1}||_1."""
    inverse = _inverse(information, orthogonal)
    with np.errstate(all="ignore"):
        condition = np.inf if inverse is None else (
            np.abs(information).sum(axis=0).max() * np.abs(inverse).sum(axis=0).max())
    if not condition <= 1e12:
        warnings.warn(
            "the Hessian is nearly singular: some parameters are not identified (for a zero-inflated model, "
            "often a zero part driven to probability 0); their standard errors are not reliable",
            ConvergenceWarning, stacklevel=stacklevel,
        )
    if inverse is None:
        warnings.warn("the Hessian is singular: standard errors are not available", ConvergenceWarning,
                      stacklevel=stacklevel)
        return np.full_like(information, np.nan)
    return inverse


def _inverse(information: np.ndarray, orthogonal: np.ndarray | None) -> np.ndarray | None:
    """J^{-1} from its Cholesky factor, or by LU when J is not positive definite; None when singular."""
    factor = factor_information(information, orthogonal)
    if factor is not None:
        return factor.inverse()
    if not np.all(np.isfinite(information)):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", linalg.LinAlgWarning)
            return linalg.inv(information)
    except (linalg.LinAlgError, ValueError):
        return None


def finish(likelihood, params: np.ndarray, loglik: float, gradient: np.ndarray, information: np.ndarray,
           n_iter: int, hessian_step: float | None) -> Optimum:
    """The ``Optimum`` at ``params`` (see the module docstring; ``information`` is the analytic -H there)."""
    largest = float(np.max(np.abs(gradient), initial=0.0))
    converged = bool(largest < 1e-5 * max(1.0, abs(loglik)))
    if not converged:
        warnings.warn(f"maximum likelihood did not converge (largest score {largest:.3g})",
                      ConvergenceWarning, stacklevel=4)
    if hessian_step is not None:
        with np.errstate(all="ignore"):
            information = -numerical_hessian(likelihood.gradient, params, hessian_step)
    covariance = covariance_from_information(information, likelihood.orthogonal_parameters(), stacklevel=5)
    return Optimum(params, covariance, loglik, converged, n_iter)


def maximize(likelihood, start: np.ndarray, maxiter: int = 10000, hessian_step: float | None = 1e-3) -> Optimum:
    """pscl's route: BFGS with the analytic gradient, Newton polish on finite differences of it."""
    def objective(params):
        with np.errstate(all="ignore"):
            value = likelihood.loglik(params)
        return -value if np.isfinite(value) else np.inf

    def negative_gradient(params):
        with np.errstate(all="ignore"):
            return -likelihood.gradient(params)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        result = optimize.minimize(objective, start, jac=negative_gradient, method="BFGS",
                                   options={"gtol": 1e-8, "maxiter": maxiter})
        if not np.isfinite(result.fun):
            raise FitError("the likelihood is not finite at the starting values; check the data and model")
        params = _polish(likelihood, result.x)
    with np.errstate(all="ignore"):
        information = -numerical_hessian(likelihood.gradient, params)
    return finish(likelihood, params, likelihood.loglik(params), likelihood.gradient(params), information,
                  result.nit, hessian_step)


def _polish(likelihood, params: np.ndarray) -> np.ndarray:
    """Newton steps on a finite-difference Hessian until the score is ~1e-9 relative."""
    for _ in range(20):
        gradient = likelihood.gradient(params)
        if np.max(np.abs(gradient)) < 1e-9 * max(1.0, abs(likelihood.loglik(params))):
            break
        try:
            step = linalg.solve(-numerical_hessian(likelihood.gradient, params), gradient, assume_a="sym")
        except linalg.LinAlgError:
            break
        if not likelihood.loglik(params + step) >= likelihood.loglik(params) - 1e-9:
            break
        params = params + step
    return params
