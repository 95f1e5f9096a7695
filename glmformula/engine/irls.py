"""Iteratively reweighted least squares with R's ``glm.fit`` semantics.

One iteration, for the rows with positive weight::

    z   = (eta - offset) + (y - mu) / mu_eta(eta)            working response
    w   = prior_weights * mu_eta(eta)^2 / V(mu)              working weights
    b   = argmin sum w (z - X b)^2                           weighted least squares
    eta = X b + offset;  mu = g^{-1}(eta);  dev = sum d(y, mu)

If the deviance is not finite, or eta/mu leave the family's valid range, the
step is halved towards the previous coefficients (and a warning says so).
Convergence: |dev - dev_old| / (|dev| + 0.1) < tol.  Aliased columns are found
once, by R's ordered pivoting rule, on the first working weights.

As in R, the reported working weights and the covariance belong to the last
weighted least squares step (the weights at the start of the final iteration).
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Protocol

import numpy as np

from glmformula.engine.linalg import SolveResult
from glmformula.exceptions import (
    BoundaryWarning,
    ConvergenceWarning,
    FitError,
    PerfectSeparationWarning,
)
from glmformula.families.base import Family
from glmformula.families.links import Link

logger = logging.getLogger("glmformula")


@dataclass(frozen=True)
class IRLSControl:
    """Settings of the IRLS loop (R's ``glm.control``).

    tol : convergence tolerance on the relative deviance change (R's epsilon).
    maxiter : maximum number of iterations.
    rank_tol : tolerance of the rank detection; default min(1e-7, tol / 1000) as R.
    callback : called after each iteration with (iteration, deviance, elapsed seconds).
    """

    tol: float = 1e-8
    maxiter: int = 25
    rank_tol: float | None = None
    callback: Callable[[int, float, float], None] | None = None

    def __post_init__(self):
        if isinstance(self.tol, bool) or not isinstance(self.tol, (int, float)) or not (
                np.isfinite(self.tol) and self.tol > 0):
            raise FitError(f"tol must be a positive number, got {self.tol!r}")
        if isinstance(self.maxiter, bool) or not isinstance(self.maxiter, (int, np.integer)) or self.maxiter < 1:
            raise FitError(f"maxiter must be a positive integer, got {self.maxiter!r}")

    @property
    def effective_rank_tol(self) -> float:
        return self.rank_tol if self.rank_tol is not None else min(1e-7, self.tol / 1000)


@dataclass(frozen=True)
class FitState:
    """Result of ``irls``.  All arrays have length n (rows) or p (design columns).

    params : (p,) coefficients, NaN where aliased.
    aliased : (p,) bool mask of aliased columns.
    rank : number of estimable coefficients.
    eta, mu : (n,) linear predictor (including offset) and fitted mean.
    working_weights : (n,) weights of the last WLS step (zero where unused).
    working_residuals : a function giving (n,) (y - mu) / mu_eta(eta) at the final fit, computed from y, eta,
        mu and the link each time it is called (``WorkingResiduals``): a fit that never reads them spends
        neither a pass over the rows nor an array of the data's length on them.
    covariance : forms cov_unscaled, (p, p) (X'WX)^{-1} with NaN rows/columns where aliased, from the
        last solve's factor when it is first read.
    se_unscaled : (p,) sqrt(diag((X'WX)^{-1})), NaN where aliased, computed so that it
        survives columns of extreme scale (whose variances underflow in ``cov_unscaled``); by
        ``standard_errors`` when first read (of glm.nb's alternating fits only the last one's is).
    deviance : sum of weighted unit deviances at the final fit.
    n_iter, converged, boundary : loop diagnostics as R reports them.
    log_y : log of the response (0 where y = 0) when the fit took it, for the null deviance; else None.
    boundary_message : the family's warning text when fitted values sit on the boundary of the mean space
        (``Family.boundary_message`` at mu, computed once at the end of every fit, warnings on or not), else
        None; ``glmformula.model`` reads it to name the separating terms.
    """

    params: np.ndarray
    aliased: np.ndarray
    rank: int
    eta: np.ndarray
    mu: np.ndarray
    working_weights: np.ndarray
    working_residuals: WorkingResiduals
    covariance: UnscaledCovariance
    standard_errors: Callable[[], np.ndarray]
    deviance: float
    n_iter: int
    converged: bool
    boundary: bool
    log_y: np.ndarray | None = None
    boundary_message: str | None = None

    @cached_property
    def cov_unscaled(self) -> np.ndarray:
        return self.covariance()

    @cached_property
    def se_unscaled(self) -> np.ndarray:
        return self.standard_errors()


class UnscaledCovariance:
    """(X'WX)^{-1} of a fit's last solve with NaN rows and columns where aliased, formed when first asked
    for (``FitState.cov_unscaled``): the standard errors need only its diagonal."""

    def __init__(self, solve: SolveResult, aliased: np.ndarray):
        self._solve, self._aliased = solve, aliased

    def __call__(self) -> np.ndarray:
        kept_cov = self._solve.unscaled_covariance()
        if not self._aliased.any():
            return kept_cov
        kept, n_columns = ~self._aliased, len(self._aliased)
        cov = np.full((n_columns, n_columns), np.nan)
        cov[np.ix_(kept, kept)] = kept_cov
        return cov


@dataclass(frozen=True)
class WorkingResiduals:
    """R's working residuals of a fit, (y - mu) / mu_eta(eta), computed when called: a new (n,) array each
    time, which the caller may keep or drop (``FitState.working_residuals``).  It holds references to the
    fit's arrays, not copies, and pickles with the fit."""

    y: np.ndarray
    eta: np.ndarray
    mu: np.ndarray
    link: Link

    def __call__(self) -> np.ndarray:
        residuals = np.subtract(self.y, self.mu)
        with np.errstate(divide="ignore", invalid="ignore"):  # mu_eta = 0: inf or NaN, as R gives
            residuals /= self.link.mu_eta_at(self.eta, self.mu)
        return residuals


class IRLSPass(Protocol):
    """What the IRLS loop asks of the data: each method is (at most) one pass over the rows.

    The pass holds the current point (eta, mu) and its working response and weights; the
    loop holds only coefficients and deviances.  ``InMemoryPass`` (``engine.memory_pass``)
    serves arrays in memory, ``DaskPass`` (``distributed.dask_glm``) partitions of a Dask
    DataFrame, so halving, warnings, rank detection and the solve are written once, here.
    """

    def working(self, n_iter: int) -> bool:
        """Working response and weights at the current point; False when no row is informative."""

    def aliased(self, tol: float) -> np.ndarray:
        """The aliased columns at the first working weights (R's ordered rule); later solves drop them."""

    def solve(self) -> SolveResult:
        """The weighted least squares step at the current working response and weights."""

    def reject(self) -> None:
        """The last solve is not kept: the fit reports the weights of the one before."""

    def move(self, coefficients: np.ndarray, *, generic: bool = False) -> tuple[float, bool]:
        """Make ``coefficients`` the current point; its deviance and whether eta and mu are valid.
        ``generic``: without shortcuts that could refuse the point (step-halving)."""

    def largest_response(self) -> float:
        """max |y|, for the message when the first step overflows."""


@dataclass(frozen=True)
class LoopOutcome:
    """What the loop found: the kept coefficients, the aliased mask, the last kept solve and diagnostics.
    ``previous`` are the coefficients at which the last solve's weights were computed (None: the start)."""

    coefficients: np.ndarray
    aliased: np.ndarray
    solve: SolveResult
    deviance: float
    n_iter: int
    converged: bool
    boundary: bool
    previous: np.ndarray | None


def run_irls(data: IRLSPass, deviance: float, control: IRLSControl, *, start: np.ndarray | None = None,
             warn: bool = True) -> LoopOutcome:
    """R's ``glm.fit`` loop from a starting point whose deviance is ``deviance`` (see the module doc)."""
    began = time.perf_counter()
    deviance_old, coefficients_old = deviance, None
    aliased = solve = None
    coefficients = previous = None
    boundary = converged = False
    n_iter = 0
    for n_iter in range(1, control.maxiter + 1):
        if not data.working(n_iter):
            _warn(warn, f"no observations informative at iteration {n_iter}", ConvergenceWarning)
            break
        if aliased is None:
            aliased = data.aliased(control.effective_rank_tol)
            if start is not None:  # as R: step-halving may fall back to the given start
                coefficients_old = start[~aliased]
        step = data.solve()
        if not np.isfinite(step.coefficients).all():
            if solve is None:  # as R: nothing to fall back on at the first step
                raise FitError(
                    "the first weighted least squares step gave non-finite coefficients (overflow); "
                    "check the response and the columns for extreme values, or pass start= coefficients")
            _warn(warn, f"non-finite coefficients at iteration {n_iter}; the previous iterate is returned",
                  ConvergenceWarning)
            data.reject()
            break
        solve, previous, coefficients = step, coefficients, step.coefficients
        deviance, valid = data.move(coefficients)
        boundary = False  # as R: only a halving in the final iteration leaves the fit on the boundary
        if not math.isfinite(deviance):
            if coefficients_old is None:
                raise FitError(
                    "no valid set of coefficients has been found: the deviance after the first step is not "
                    "finite (an overflow, or fitted means outside the family's range; largest |y| = "
                    f"{data.largest_response():.6g}); check the response for extreme values, pass start= "
                    "coefficients or try another link")
            coefficients, deviance, valid = _halve(data, "step size truncated due to divergence", True,
                                                   coefficients, coefficients_old, control, warn)
            boundary = True
        if not valid:
            coefficients, deviance, valid = _halve(data, "step size truncated: out of bounds", False,
                                                   coefficients, coefficients_old, control, warn)
            boundary = True
        if control.callback is not None:
            control.callback(n_iter, deviance, time.perf_counter() - began)
        logger.debug("IRLS iteration %d: deviance %.10g", n_iter, deviance)
        if abs(deviance - deviance_old) / (abs(deviance) + 0.1) < control.tol:
            converged = True
            break
        deviance_old, coefficients_old = deviance, coefficients
    if solve is None:
        raise FitError("IRLS could not take a single step: no row has positive weight")
    _report(warn, converged, boundary, n_iter, control)
    return LoopOutcome(coefficients, aliased, solve, deviance, n_iter, converged, boundary, previous)


def _report(warn: bool, converged: bool, boundary: bool, n_iter: int, control: IRLSControl) -> None:
    if not converged:
        _warn(warn, f"IRLS did not converge in {n_iter} iterations (tol={control.tol:g}); "
              "increase maxiter or check the model", ConvergenceWarning)
    if boundary:
        _warn(warn, "IRLS stopped at a boundary value (step-halving was needed)", BoundaryWarning)


def _halve(data: IRLSPass, message: str, finite_only: bool, coefficients, coefficients_old, control, warn):
    """Halve the step towards the previous coefficients until the deviance is finite (``finite_only``) or
    eta and mu are valid; returns (coefficients, deviance, valid)."""
    if coefficients_old is None:
        raise FitError(f"no valid set of coefficients has been found ({message} at the first step): "
                       "pass start= coefficients or try another link")
    _warn(warn, message, BoundaryWarning)
    for _ in range(control.maxiter):
        coefficients = (coefficients + coefficients_old) / 2
        deviance, valid = data.move(coefficients, generic=True)
        if (math.isfinite(deviance) if finite_only else valid):
            return coefficients, deviance, valid
    raise FitError(f"{message}: halving the step {control.maxiter} times did not help; pass start= coefficients")


def irls(
    design,
    y: np.ndarray,
    family: Family,
    *,
    prior_weights: np.ndarray,
    offset: np.ndarray,
    mustart: np.ndarray,
    control: IRLSControl = IRLSControl(),
    start: np.ndarray | None = None,
    etastart: np.ndarray | None = None,
    warn: bool = True,
    overwrite_mustart: bool = False,
) -> FitState:
    """Fit a GLM on data in memory by IRLS (``run_irls`` over an ``InMemoryPass``).

    ``overwrite_mustart``: the caller no longer needs ``mustart``, whose memory may then serve as a work
    buffer (as scipy's ``overwrite_a``): a fit of n rows allocates one array of n fewer."""
    from glmformula.engine.memory_pass import InMemoryPass

    n_columns = design.shape[1]
    if start is not None:
        try:
            start = np.asarray(start, dtype=float)
        except (TypeError, ValueError):
            raise FitError(f"start must be numbers, one per design column; got {start!r}") from None
        if start.shape != (n_columns,):
            raise FitError(f"start has {start.size} values but the design has {n_columns} columns")
    data = InMemoryPass(design, y, family, prior_weights, offset, spare=mustart if overwrite_mustart else None)
    outcome = run_irls(data, data.start(mustart, start, etastart), control, start=start, warn=warn)
    boundary_message = family.boundary_message(data.mu)
    if warn and boundary_message:
        warnings.warn(boundary_message, PerfectSeparationWarning, stacklevel=2)
    aliased, kept = outcome.aliased, ~outcome.aliased
    params = outcome.coefficients
    if aliased.any():  # NaN for the aliased coefficients
        params = np.full(n_columns, np.nan)
        params[kept] = outcome.coefficients
    return FitState(
        params=params, aliased=aliased, rank=int(kept.sum()), eta=data.eta, mu=data.mu,
        working_weights=data.working_weights,
        working_residuals=WorkingResiduals(data.y, data.eta, data.mu, family.link),
        covariance=UnscaledCovariance(outcome.solve, aliased),
        standard_errors=data.standard_errors(outcome.solve, aliased),
        deviance=float(outcome.deviance), n_iter=outcome.n_iter, converged=outcome.converged,
        boundary=outcome.boundary, log_y=data.log_y, boundary_message=boundary_message,
    )


def _warn(enabled: bool, message: str, category: type[Warning]) -> None:
    if enabled:
        warnings.warn(message, category, stacklevel=4)
