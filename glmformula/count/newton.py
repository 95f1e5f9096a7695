"""Newton's method on a two-part likelihood with the analytic gradient and observed information.

One iteration at b with log-likelihood l, score g and information J = -H:

    step = J^{-1} g        (J equilibrated to unit diagonal, then Cholesky, by blocks around a large
                            factor's levels: ``count.information``)
    b'   = b + step, halved while l(b') < l(b) (up to 40 times)

When J is not positive definite (far from the optimum of a non-concave likelihood) the step
comes from ``fallback`` when given (an EM step for zero-inflated models), else from the damped
system (J with |diag J| + lambda diag|J| on its diagonal) step = g with the smallest lambda in 1e-4, 1e-3, ... that is
positive definite (Levenberg-Marquardt).  The loop stops when max |g| <= tol max(1, |l|)
(1e-9 by default), when no halving improves l or three steps in a row improve it by less than
1e-15 relative (the optimum to rounding), or after ``maxiter``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from glmformula.count.information import factor_information
from glmformula.exceptions import FitError


@dataclass(frozen=True)
class NewtonResult:
    """Where Newton stopped: parameters, log-likelihood, score, information -H there, iterations."""

    params: np.ndarray
    loglik: float
    gradient: np.ndarray
    information: np.ndarray
    n_iter: int


def small_gradient(gradient: np.ndarray, loglik: float, tol: float) -> bool:
    return bool(np.max(np.abs(gradient), initial=0.0) <= tol * max(1.0, abs(loglik)))


def newton_direction(information: np.ndarray, gradient: np.ndarray, orthogonal: np.ndarray | None = None,
                     damping: float = 0.0) -> np.ndarray | None:
    """J^{-1} g (J equilibrated, + damping on its unit diagonal; by blocks around ``orthogonal``, see
    ``count.information``); None when J is not positive definite."""
    if not np.all(np.isfinite(gradient)):
        return None
    factor = factor_information(information, orthogonal, damping)
    return None if factor is None else factor.solve(gradient)


def damped_direction(information: np.ndarray, gradient: np.ndarray, orthogonal: np.ndarray | None = None
                     ) -> np.ndarray:
    """The Levenberg-Marquardt step with the smallest damping that makes the system positive definite."""
    absolute = np.diag(np.maximum(np.abs(np.diag(information)), 1e-300)) - np.diag(np.diag(information))
    for damping in 10.0 ** np.arange(-4, 9):
        step = newton_direction(information + absolute, gradient, orthogonal, damping)
        if step is not None:
            return step
    scale = np.maximum(np.abs(np.diag(information)), 1e-12)
    return gradient / scale  # a scaled gradient ascent step


def newton_maximize(likelihood, params: np.ndarray, *, fallback: Callable[[np.ndarray], np.ndarray] | None = None,
                    maxiter: int = 100, tol: float = 1e-9, initial: tuple | None = None) -> NewtonResult:
    """Maximise ``likelihood`` (``loglik`` and ``derivatives``) from ``params`` (see the module docstring);
    ``initial``: ``likelihood.derivatives(params)`` when the caller has it already."""
    params = np.asarray(params, dtype=float).copy()
    loglik, gradient, information = likelihood.derivatives(params) if initial is None else initial
    if not np.isfinite(loglik):
        raise FitError("the likelihood is not finite at the starting values; check the data and model")
    orthogonal = likelihood.orthogonal_parameters()
    n_iter = stalled = 0
    for n_iter in range(1, maxiter + 1):
        if small_gradient(gradient, loglik, tol):
            n_iter -= 1
            break
        step = newton_direction(information, gradient, orthogonal)
        candidate = None if step is None else params + step
        if candidate is None and fallback is not None:
            try:
                candidate = fallback(params)
            except (FitError, ValueError, np.linalg.LinAlgError):  # the EM step's solve failed
                candidate = None
        if candidate is None:
            candidate = params + damped_direction(information, gradient, orthogonal)
        previous = loglik
        moved = _move(likelihood, params, candidate, loglik)
        if moved is None:
            break
        params, (loglik, gradient, information) = moved
        stalled = stalled + 1 if loglik - previous <= 1e-15 * max(1.0, abs(loglik)) else 0
        if stalled >= 3:  # the optimum to rounding: the gradient cannot get smaller
            break
    return NewtonResult(params, loglik, gradient, information, n_iter)


def _move(likelihood, params: np.ndarray, candidate: np.ndarray, loglik: float):
    """(new parameters, their derivatives): the full step's when it does not lower the log-likelihood (one
    evaluation, the usual case), else those of the first halving that does not (``_halve``); None if none."""
    if np.all(np.isfinite(candidate)):
        derivatives = likelihood.derivatives(candidate)
        if derivatives[0] >= loglik - 1e-13 * max(1.0, abs(loglik)):
            return candidate, derivatives
    accepted = _halve(likelihood, params, (params + candidate) / 2, loglik)
    return None if accepted is None else (accepted, likelihood.derivatives(accepted))


def _halve(likelihood, params: np.ndarray, candidate: np.ndarray, loglik: float) -> np.ndarray | None:
    """``candidate``, or the first halving towards ``params`` whose log-likelihood is not below ``loglik``
    (rounding allowed); None when 40 halvings do not find one."""
    slack = 1e-13 * max(1.0, abs(loglik))
    for _ in range(40):
        if np.all(np.isfinite(candidate)) and likelihood.loglik(candidate) >= loglik - slack:
            return candidate
        candidate = (params + candidate) / 2
    return None
