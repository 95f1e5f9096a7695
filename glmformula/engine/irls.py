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

import numpy as np
from scipy import linalg

from glmformula.engine.fused_step import FusedLogStep
from glmformula.engine.linalg import SolveResult, solve_wls
from glmformula.exceptions import (
    BoundaryWarning,
    ConvergenceWarning,
    FitError,
    PerfectSeparationWarning,
)
from glmformula.families.base import Family, chunks

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
    working_residuals : (n,) (y - mu) / mu_eta(eta) at the final fit.
    covariance : forms cov_unscaled, (p, p) (X'WX)^{-1} with NaN rows/columns where aliased, from the
        last solve's factor when it is first read.
    se_unscaled : (p,) sqrt(diag((X'WX)^{-1})), NaN where aliased, computed so that it
        survives columns of extreme scale (whose variances underflow in ``cov_unscaled``).
    deviance : sum of weighted unit deviances at the final fit.
    n_iter, converged, boundary : loop diagnostics as R reports them.
    log_y : log of the response (0 where y = 0) when the fit took it, for the null deviance; else None.
    """

    params: np.ndarray
    aliased: np.ndarray
    rank: int
    eta: np.ndarray
    mu: np.ndarray
    working_weights: np.ndarray
    working_residuals: np.ndarray
    covariance: UnscaledCovariance
    se_unscaled: np.ndarray
    deviance: float
    n_iter: int
    converged: bool
    boundary: bool
    log_y: np.ndarray | None = None

    @cached_property
    def cov_unscaled(self) -> np.ndarray:
        return self.covariance()


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
) -> FitState:
    """Fit a GLM by IRLS; see the module docstring for the algorithm."""
    link = family.link
    n_columns = design.shape[1]
    began = time.perf_counter()

    # Buffers reused by every iteration (a fresh array the size of the data costs its page faults each time);
    # the working weights alternate between two, so that those of the solve kept survive one more iteration.
    workspace = _Workspace.like(y)
    fused_step = FusedLogStep.for_fit(family, y, prior_weights, offset, workspace.buffers())  # one pass, or None
    if start is not None:
        try:
            start = np.asarray(start, dtype=float)
        except (TypeError, ValueError):
            raise FitError(f"start must be numbers, one per design column; got {start!r}") from None
        if start.shape != (n_columns,):
            raise FitError(f"start has {start.size} values but the design has {n_columns} columns")
        eta = design.dot(start) + offset
    elif etastart is not None:
        eta = np.asarray(etastart, dtype=float)
    elif fused_step is not None and fused_step.starts_at_y(mustart):  # log(mustart) is the log y it took
        eta = fused_step.log_y
    else:
        with np.errstate(divide="ignore", invalid="ignore"):  # invalid starting means are reported below
            # the fused step's log link writes straight into the buffer its start pass reads
            eta = link.link(mustart) if fused_step is None else np.log(mustart, out=workspace.eta)
    deviance = None
    if fused_step is not None:  # mu, the deviance and the first working response from the start in one pass
        if eta is not workspace.eta:
            np.copyto(workspace.eta, eta)
        deviance = fused_step.start(workspace.weights(1))
    precomputed = deviance is not None  # whether a fused pass left this iteration's z and w in the workspace
    if precomputed:  # and then eta is finite and mu positive: both valid
        eta, mu = workspace.eta, workspace.mu
    else:
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            mu = link.inverse(eta)
    if not precomputed and not (link.valid_eta(eta) and family.valid_mu(mu)):
        if start is not None:
            source = "the linear predictor of start="
        elif etastart is not None:
            source = "the given linear predictor"
        else:
            source = "the response (its starting means are outside the link's domain, e.g. y <= 0 with a log link)"
        raise FitError(
            f"cannot find valid starting values for the {family.name} family with the {link.name} link "
            f"from {source}; pass start= coefficients that give valid fitted means, or use another link"
        )
    deviance_at = family.deviance_function(y, prior_weights, log_y=None if fused_step is None else fused_step.log_y)
    working_at = family.working_function(y, prior_weights, offset)  # a compiled one-pass version, or None
    if deviance is None:
        deviance = _deviance(deviance_at, eta, mu)
    deviance_old = deviance
    coefficients_old: np.ndarray | None = None
    aliased: np.ndarray | None = None
    gram_buffer: np.ndarray | None = None
    solve_fused = False  # whether the kept solve's weights came from the fused pass
    kept_design = design
    boundary = converged = False
    coefficients = np.zeros(n_columns)
    solve: SolveResult | None = None
    working_weights = solve_weights = None  # set by the first iteration (a fit without one raises below)
    n_iter = 0

    positive_weight = prior_weights > 0
    all_positive = bool(positive_weight.all())
    for n_iter in range(1, control.maxiter + 1):
        if precomputed:
            z, working_weights = workspace.z, workspace.weights(n_iter)
        else:
            z, working_weights = _working_response(family, y, eta, mu, offset, prior_weights, positive_weight,
                                                   all_positive, n_iter, workspace.z, workspace.weights(n_iter),
                                                   working_at)
        if z is None:
            _warn(warn, f"no observations informative at iteration {n_iter}", ConvergenceWarning)
            break

        products = None
        if aliased is None:
            with np.errstate(over="ignore", invalid="ignore"):  # overflow: solve_wls takes its QR path
                products = design.gram_xtw(working_weights, z)  # one pass for rank detection and the first step
            aliased = design.aliased_columns(working_weights, control.effective_rank_tol, gram=products[0])
            kept_design = design.select(~aliased) if aliased.any() else design
            products = None if aliased.any() else products
            # later iterations write X'WX into this first one (solve_wls keeps no reference to it)
            gram_buffer = None if aliased.any() else products[0]
            if start is not None:  # as R: step-halving may fall back to the given start
                coefficients_old = start[~aliased]
        step = None
        if precomputed and solve_fused and fused_step.weights_are_prior:  # both weights the prior: X'WX as then
            step = solve.with_rhs(kept_design.xtw(working_weights, z))
        if step is None:
            if products is None and gram_buffer is not None:
                with np.errstate(over="ignore", invalid="ignore"):  # overflow: solve_wls takes its QR path
                    products = kept_design.gram_xtw(working_weights, z, out=gram_buffer)
            step = solve_wls(kept_design, working_weights, z, products)
        if not np.isfinite(step.coefficients).all():
            if solve is None:  # as R: nothing to fall back on at the first step
                raise FitError(
                    "the first weighted least squares step gave non-finite coefficients (overflow); "
                    "check the response and the columns for extreme values, or pass start= coefficients"
                )
            _warn(warn, f"non-finite coefficients at iteration {n_iter}; the previous iterate is returned",
                  ConvergenceWarning)
            working_weights = solve_weights  # the weights of the solve that is kept
            break
        solve, solve_weights, solve_fused = step, working_weights, precomputed
        coefficients = solve.coefficients
        # the fused pass writes the next iteration's weights into the other buffer: this solve's stay intact
        deviance = None if fused_step is None else fused_step(kept_design, coefficients, workspace.weights(n_iter + 1))
        precomputed = deviance is not None  # and then eta is finite and mu positive: both valid
        if precomputed:
            eta, mu = workspace.eta, workspace.mu
        else:
            eta = kept_design.dot(coefficients, out=workspace.eta)
            eta += offset
            mu = link.inverse_into(eta, workspace.mu)
            deviance = _deviance(deviance_at, eta, mu)

        boundary = False  # as R: only a halving in the final iteration leaves the fit on the boundary
        if not math.isfinite(deviance):
            if coefficients_old is None:
                raise FitError(
                    "no valid set of coefficients has been found: the deviance after the first step is not "
                    f"finite (an overflow, or fitted means outside the family's range; largest |y| = "
                    f"{np.max(np.abs(y)):.6g}); check the response for extreme values, pass start= coefficients "
                    "or try another link"
                )
            coefficients, eta, mu, deviance = _halve_step(
                "step size truncated due to divergence", lambda e, m, d: np.isfinite(d),
                coefficients, coefficients_old, kept_design, offset, family, deviance_at, control, warn,
            )
            boundary, precomputed = True, False
        if not precomputed and not (link.valid_eta(eta) and family.valid_mu(mu)):
            coefficients, eta, mu, deviance = _halve_step(
                "step size truncated: out of bounds",
                lambda e, m, d: link.valid_eta(e) and family.valid_mu(m),
                coefficients, coefficients_old, kept_design, offset, family, deviance_at, control, warn,
            )
            boundary = True

        if control.callback is not None:
            control.callback(n_iter, deviance, time.perf_counter() - began)
        logger.debug("IRLS iteration %d: deviance %.10g", n_iter, deviance)
        if abs(deviance - deviance_old) / (abs(deviance) + 0.1) < control.tol:
            converged = True
            break
        deviance_old = deviance
        coefficients_old = coefficients

    if solve is None:
        raise FitError("IRLS could not take a single step: no row has positive weight")
    if not converged:
        _warn(
            warn,
            f"IRLS did not converge in {n_iter} iterations (tol={control.tol:g}); "
            "increase maxiter or check the model",
            ConvergenceWarning,
        )
    if boundary:
        _warn(warn, "IRLS stopped at a boundary value (step-halving was needed)", BoundaryWarning)
    if warn:
        message = family.boundary_message(mu)
        if message:
            warnings.warn(message, PerfectSeparationWarning, stacklevel=3)

    assert aliased is not None
    kept_se = _unscaled_standard_errors(kept_design, solve_weights, solve.unscaled_variances())
    params, se_unscaled = coefficients, kept_se
    if aliased.any():  # NaN for the aliased coefficients
        kept = ~aliased
        params, se_unscaled = np.full(n_columns, np.nan), np.full(n_columns, np.nan)
        params[kept], se_unscaled[kept] = coefficients, kept_se
    working_residuals = np.subtract(y, mu, out=workspace.z)  # z's buffer is free once the loop is done
    working_residuals /= link.mu_eta_at(eta, mu)
    return FitState(
        params=params,
        aliased=aliased,
        rank=int((~aliased).sum()),
        eta=eta,
        mu=mu,
        working_weights=working_weights,
        working_residuals=working_residuals,
        covariance=UnscaledCovariance(solve, aliased),
        se_unscaled=se_unscaled,
        deviance=float(deviance),
        n_iter=n_iter,
        converged=converged,
        boundary=boundary,
        log_y=None if fused_step is None else fused_step.log_y,
    )


#: Variances outside [_SAFE_VARIANCE, 1 / _SAFE_VARIANCE] are recomputed on equilibrated columns: near the
#: subnormal range (a column of 1e160 has variance ~1e-320) the inverse keeps only a few digits, or none.
_SAFE_VARIANCE = np.finfo(float).tiny * 1e16


def _unscaled_standard_errors(design, working_weights: np.ndarray, variances: np.ndarray) -> np.ndarray:
    """sqrt(diag((X'WX)^{-1})) for a full-rank design, accurate whatever the columns' scales.

    Usually the solve's ``variances`` (the diagonal of its inverse) are used as they are.  When a
    variance is near the underflow or overflow threshold, the columns of sqrt(W) X
    are divided by their largest absolute values d first: with A = sqrt(W) X D^{-1} = QR,
    (X'WX)^{-1} = D^{-1} R^{-1} R^{-T} D^{-1}, so se_j = ||row j of R^{-1}|| / d_j,
    and no intermediate leaves the normal floating-point range.
    """
    if np.all((variances > _SAFE_VARIANCE) & (variances < 1 / _SAFE_VARIANCE)):
        return np.sqrt(variances)
    weighted = design.weighted(working_weights)
    largest = np.max(np.abs(weighted), axis=0)
    largest = np.where(largest > 0, largest, 1.0)
    r = linalg.qr(weighted / largest, mode="r", check_finite=False)[0][: weighted.shape[1]]
    r_inverse = linalg.solve_triangular(r, np.eye(len(r)), check_finite=False)
    return np.sqrt(np.sum(r_inverse**2, axis=1)) / largest


@dataclass
class _Workspace:
    """Arrays of the data's length that every IRLS iteration writes again."""

    z: np.ndarray
    eta: np.ndarray
    mu: np.ndarray
    weight_buffers: tuple[np.ndarray, np.ndarray]

    @classmethod
    def like(cls, y: np.ndarray) -> _Workspace:
        return cls(*(np.empty_like(y, dtype=float) for _ in range(3)),
                   (np.empty_like(y, dtype=float), np.empty_like(y, dtype=float)))

    def weights(self, n_iter: int) -> np.ndarray:
        return self.weight_buffers[n_iter % 2]

    def buffers(self) -> tuple:
        """(eta, mu, z, weight buffers), as the fused step writes them."""
        return self.eta, self.mu, self.z, self.weight_buffers


def _working_response(family: Family, y, eta, mu, offset, prior_weights, positive_weight, all_positive: bool,
                      n_iter: int, z_out: np.ndarray, weights_out: np.ndarray, working_at=None):
    """z = eta - offset + (y - mu) / mu_eta and w = prior_weights mu_eta^2 / V(mu), zero where unused.

    Rows with zero prior weight or mu_eta = 0 carry no information (R's ``good``);
    when every row is informative the masks are skipped and z and w are written
    into ``z_out`` and ``weights_out``: by the family's compiled ``working_at`` when it
    has one, else chunk by chunk.
    """
    if all_positive and working_at is not None and working_at(eta, mu, z_out, weights_out):
        return z_out, weights_out  # finite: the compiled pass checks it
    if all_positive and _working_response_in_chunks(family, y, eta, mu, offset, prior_weights, z_out, weights_out):
        return _check_finite(z_out, weights_out, y, n_iter)
    mu_eta = family.link.mu_eta_at(eta, mu)
    with np.errstate(over="ignore"):
        variance = family.variance(mu)
    checked = variance if all_positive else variance[positive_weight]
    if not _one_signed(checked) and (not np.all(np.isfinite(checked)) or np.any(checked == 0)):
        raise FitError(
            f"the variance function is 0 or not finite at iteration {n_iter}: the fitted means overflowed or "
            f"reached 0 (largest |y| = {np.max(np.abs(y)):.6g}); check the response for extreme values or "
            "pass start= coefficients"
        )
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported by _check_finite
        good = positive_weight & (mu_eta != 0)
        if not good.any():
            return None, np.zeros_like(y)
        z = np.where(good, eta - offset + (y - mu) / np.where(good, mu_eta, 1.0), 0.0)
        working_weights = np.where(good, prior_weights * mu_eta**2 / np.where(good, variance, 1.0), 0.0)
    return _check_finite(z, working_weights, y, n_iter)


def _working_response_in_chunks(family: Family, y, eta, mu, offset, prior_weights, z_out, weights_out) -> bool:
    """The unmasked working response and weights, written chunk by chunk.

    Returns False (the outputs are then not to be used) at the first chunk where V(mu)
    or mu_eta is zero or not finite, for the whole-array path to mask or report.
    """
    link = family.link
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported by _check_finite
        for rows in chunks(len(y)):  # the temporaries of a chunk stay in cache
            eta_chunk, mu_chunk = eta[rows], mu[rows]
            mu_eta = link.mu_eta_at(eta_chunk, mu_chunk)
            variance = family.variance(mu_chunk)
            # one-signed proves "finite and nonzero" in two reductions; mu_eta is often V(mu) itself
            if not (_one_signed(variance) and (mu_eta is variance or _one_signed(mu_eta))):
                return False
            z = np.subtract(y[rows], mu_chunk, out=z_out[rows])
            z /= mu_eta
            z += eta_chunk
            z -= offset[rows]
            working_weights = np.multiply(mu_eta, mu_eta, out=weights_out[rows])
            working_weights /= variance
            working_weights *= prior_weights[rows]
    return True


def _one_signed(values: np.ndarray) -> bool:
    """Whether every value is finite and nonzero, with one sign: two reductions, no temporaries."""
    if values.size == 0:
        return True
    low, high = values.min(), values.max()
    return bool(np.isfinite(low) and np.isfinite(high) and (low > 0 or high < 0))


def _check_finite(z, working_weights, y, n_iter: int):
    """Return (z, working_weights), or raise a FitError when either overflowed.

    R stops such fits too ("NA/NaN/Inf in 'x'"); typically a response so large
    (1e300 in a Poisson fit) that mu_eta^2 or the deviance overflows.
    """
    if np.isfinite(np.sum(working_weights)) and np.isfinite(np.sum(z)):  # NaN and inf propagate into sums
        return z, working_weights
    if np.all(np.isfinite(working_weights)) and np.all(np.isfinite(z)):  # finite, only the sums overflowed
        return z, working_weights
    bad = int(np.count_nonzero(~(np.isfinite(working_weights) & np.isfinite(z))))
    raise FitError(
        f"the IRLS working weights or response overflowed (not finite in double precision) in {bad} row(s) "
        f"at iteration {n_iter}: the response or the fitted means are too large "
        f"(largest |y| = {np.max(np.abs(y)):.6g}); check the response for data errors or rescale it"
    )


def _halve_step(message, acceptable, coefficients, coefficients_old, design, offset, family, deviance_at, control,
                warn):
    """Halve the step towards the previous coefficients until ``acceptable``."""
    if coefficients_old is None:
        raise FitError(
            f"no valid set of coefficients has been found ({message} at the first step): "
            "pass start= coefficients or try another link"
        )
    _warn(warn, message, BoundaryWarning)
    link = family.link
    for _ in range(control.maxiter):
        coefficients = (coefficients + coefficients_old) / 2
        eta = design.dot(coefficients) + offset
        mu = link.inverse(eta)
        deviance = _deviance(deviance_at, eta, mu)
        if acceptable(eta, mu, deviance):
            return coefficients, eta, mu, deviance
    raise FitError(f"{message}: halving the step {control.maxiter} times did not help; pass start= coefficients")


def _deviance(deviance_at, eta, mu) -> float:
    """The family's deviance; an overflow gives inf silently (IRLS reacts to a non-finite deviance)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return deviance_at(eta, mu)


def _warn(enabled: bool, message: str, category: type[Warning]) -> None:
    if enabled:
        warnings.warn(message, category, stacklevel=4)
