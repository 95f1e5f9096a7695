"""IRLS's passes over data held in memory: the ``IRLSPass`` that ``irls`` hands to the loop.

The loop (``engine.irls.run_irls``) asks for the working response and weights
at the current point, a weighted least squares solve, and the deviance at new
coefficients.  This module does that work for arrays in memory, as cheaply as
the design and family allow:

* **buffers**: eta, mu, z and two working-weight arrays are allocated once and
  overwritten at every iteration (fresh arrays the data's length cost their page
  faults each time); the weights alternate between two buffers, so those of the
  solve that is kept survive one more iteration.  A poisson fit without prior
  weights on the fused step has no mu buffer: its working weights are its means
  (``FusedLogStep.means_are_weights``), which alternate between the two;
* **the fused step** (``FusedLogStep``, log link on a variance mu^p): one
  compiled pass computes eta, mu, the deviance and the next z and w while
  reading X once; when it cannot vouch for a point the generic path takes over;
* **products**: X'WX of the first iteration serves rank detection and the first
  solve, and later iterations write X'WX into its memory; when the working
  weights are the prior weights at every iteration (gamma with the log link),
  the first factor is reused and only X'Wz is formed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg

from glmformula.engine.fused_step import FusedLogStep
from glmformula.engine.linalg import SolveResult, solve_wls
from glmformula.engine.unit_weights import are_unit
from glmformula.exceptions import FitError
from glmformula.families.base import Family, chunks


@dataclass
class _Workspace:
    """Arrays of the data's length that every IRLS iteration writes again: z, eta, mu and a pool of
    working-weight buffers, of which each iteration takes one not in use (``free``): the kept solve's
    weights survive the next step.  Under ``means_are_weights`` the means live in the pool too (they are the
    weights), and ``mu`` is only allocated if a step takes the generic path."""

    z: np.ndarray
    eta: np.ndarray
    weight_buffers: list[np.ndarray]
    _mu: np.ndarray | None = None

    @classmethod
    def like(cls, y: np.ndarray, eta: np.ndarray | None = None) -> _Workspace:
        """Buffers of y's length; ``eta``, when given, is the eta buffer (an array the fit may overwrite)."""
        return cls(np.empty_like(y, dtype=float), np.empty_like(y, dtype=float) if eta is None else eta,
                   [np.empty_like(y, dtype=float), np.empty_like(y, dtype=float)])

    @property
    def mu(self) -> np.ndarray:
        """The buffer of the means when they are not the weights (allocated when first asked for)."""
        if self._mu is None:
            self._mu = np.empty_like(self.z)
        return self._mu

    def free(self, *in_use: np.ndarray | None) -> np.ndarray:
        """A weight buffer that is none of ``in_use`` (a new one when every buffer is: only when a step of
        ``means_are_weights`` takes the generic path, whose means and weights are then two arrays)."""
        for buffer in self.weight_buffers:
            if not any(buffer is array for array in in_use):
                return buffer
        self.weight_buffers.append(np.empty_like(self.z))
        return self.weight_buffers[-1]

    def buffers(self) -> tuple:
        """(eta, mu, z, weight buffers), as the fused step takes them (mu: a function giving its buffer, which
        a step whose means are its weights never calls)."""
        return self.eta, lambda: self.mu, self.z, tuple(self.weight_buffers)


class InMemoryPass:
    """The data of one in-memory fit and the point IRLS is at (see the module doc).

    After the loop, ``eta``, ``mu``, ``working_weights`` (those of the kept solve) and
    ``kept_design`` describe the fit.
    """

    def __init__(self, design, y: np.ndarray, family: Family, prior_weights: np.ndarray, offset: np.ndarray,
                 spare: np.ndarray | None = None):
        """``spare``: an array of y's length the fit may overwrite (the starting means, read once by ``start``),
        used as the eta buffer when it suits one, so that no fresh buffer is allocated for it."""
        self.design = self.kept_design = design
        self.y, self.family, self.prior_weights, self.offset = y, family, prior_weights, offset
        self.workspace = _Workspace.like(y, _usable_buffer(spare, y, prior_weights, offset))
        self.fused = FusedLogStep.for_fit(family, y, prior_weights, offset, self.workspace.buffers())
        self.log_y = None if self.fused is None else self.fused.log_y
        self.deviance_at = family.deviance_function(y, prior_weights, log_y=self.log_y)
        self.working_at = family.working_function(y, prior_weights, offset)  # compiled one-pass z and w, or None
        # unit weights (``unit_weights``): a broadcast True, not a mask the data's length
        self.positive_weight = np.broadcast_to(True, y.shape) if are_unit(prior_weights) else prior_weights > 0
        self.all_positive = bool(self.positive_weight.all())
        self.eta = self.mu = self.z = self.working_weights = None
        self.precomputed = False  # whether a fused pass left the current point's z and w in the workspace
        self._fused_weights = None  # the buffer where it wrote w (under ``means_are_weights``, the means too)
        self.n_iter = 0
        self._products = self._gram_buffer = None
        self._solve: SolveResult | None = None  # the kept solve, its weights, and whether they came fused
        self._solve_weights = None
        self._solve_fused = False
        self._candidate = None

    # -- the starting point --------------------------------------------------------------------

    def start(self, mustart: np.ndarray, start: np.ndarray | None, etastart: np.ndarray | None) -> float:
        """The deviance at the starting values (R's order: ``start``, ``etastart``, then ``mustart``)."""
        link, workspace = self.family.link, self.workspace
        if start is not None:
            eta = self.design.dot(start) + self.offset
        elif etastart is not None:
            eta = np.asarray(etastart, dtype=float)
        elif self.fused is not None and self.fused.starts_at_y(mustart):  # log(mustart) is the log y it took
            eta = self.fused.log_y
        else:
            with np.errstate(divide="ignore", invalid="ignore"):  # invalid starting means are reported below
                # the fused step's log link writes straight into the buffer its start pass reads
                eta = link.link(mustart) if self.fused is None else np.log(mustart, out=workspace.eta)
        deviance = None
        if self.fused is not None:  # mu, the deviance and the first working response in one pass
            if eta is not workspace.eta:
                np.copyto(workspace.eta, eta)
            weights = workspace.free()
            deviance = self.fused.start(weights)
        if deviance is not None:  # then eta is finite and mu positive: both valid
            self._took_fused_step(weights)
            return deviance
        self.precomputed = False
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            self.eta, self.mu = eta, link.inverse(eta)
        if not (link.valid_eta(self.eta) and self.family.valid_mu(self.mu)):
            raise FitError(_invalid_start_message(self.family, start, etastart))
        return _deviance(self.deviance_at, self.eta, self.mu)

    # -- the IRLSPass protocol -------------------------------------------------------------------

    def working(self, n_iter: int) -> bool:
        self.n_iter = n_iter
        if self.precomputed:
            self.z, self.working_weights = self.workspace.z, self._fused_weights
            return True
        weights_out = self.workspace.free(self._solve_weights, self.mu)  # the kept solve's weights stay
        self.z, self.working_weights = _working_response(
            self.family, self.y, self.eta, self.mu, self.offset, self.prior_weights, self.positive_weight,
            self.all_positive, n_iter, self.workspace.z, weights_out, self.working_at)
        return self.z is not None

    def aliased(self, tol: float) -> np.ndarray:
        with np.errstate(over="ignore", invalid="ignore"):  # overflow: solve_wls takes its QR path
            products = self.design.gram_xtw(self.working_weights, self.z)  # rank detection and the first step
        aliased = self.design.aliased_columns(self.working_weights, tol, gram=products[0])
        if aliased.any():
            self.kept_design = self.design.select(~aliased)
        else:  # later iterations write X'WX into this first one (solve_wls keeps no reference to it)
            self._products, self._gram_buffer = products, products[0]
        return aliased

    def solve(self) -> SolveResult:
        w, z = self.working_weights, self.z
        step = None
        if self.precomputed and self._solve_fused and self.fused.weights_are_prior:  # X'WX as at the kept solve
            step = self._solve.with_rhs(self.kept_design.xtw(w, z))
        if step is None:
            if self._products is None and self._gram_buffer is not None:
                with np.errstate(over="ignore", invalid="ignore"):  # overflow: solve_wls takes its QR path
                    self._products = self.kept_design.gram_xtw(w, z, out=self._gram_buffer)
            step = solve_wls(self.kept_design, w, z, self._products)
        self._products = None
        self._candidate = (step, w, self.precomputed)
        return step

    def reject(self) -> None:
        self._candidate = None
        self.working_weights = self._solve_weights

    def move(self, coefficients: np.ndarray, *, generic: bool = False) -> tuple[float, bool]:
        if self._candidate is not None:  # the loop moves only after a solve it keeps
            self._solve, self._solve_weights, self._solve_fused = self._candidate
            self._candidate = None
        workspace = self.workspace
        deviance = None
        if self.fused is not None and not generic:  # the next weights go to another buffer: the kept stay
            weights = workspace.free(self._solve_weights)
            deviance = self.fused(self.kept_design, coefficients, weights)
        if deviance is not None:  # then eta is finite and mu positive: both valid
            self._took_fused_step(weights)
            return deviance, True
        self.precomputed = False
        self.eta = self.kept_design.dot(coefficients, out=workspace.eta)
        self.eta += self.offset
        self.mu = self.family.link.inverse_into(self.eta, workspace.mu)
        valid = self.family.link.valid_eta(self.eta) and self.family.valid_mu(self.mu)
        return _deviance(self.deviance_at, self.eta, self.mu), valid

    def _took_fused_step(self, weights: np.ndarray) -> None:
        """The fused step wrote the current point's eta, mu, z and, into ``weights``, w (with its means as
        weights, mu there too: no buffer of its own)."""
        self.precomputed, self._fused_weights = True, weights
        self.eta = self.workspace.eta
        self.mu = weights if self.fused.means_are_weights else self.workspace.mu

    def largest_response(self) -> float:
        return float(np.max(np.abs(self.y)))

    # -- after the loop ------------------------------------------------------------------------------

    def standard_errors(self, solve: SolveResult, aliased: np.ndarray) -> StandardErrors:
        """The kept solve's standard errors, computed when first asked for (``FitState.se_unscaled``)."""
        return StandardErrors(self.kept_design, self._solve_weights, solve, aliased)


@dataclass(frozen=True)
class StandardErrors:
    """sqrt(diag((X'WX)^{-1})) of a fit's kept solve, (p,) with NaN where ``aliased``, when called
    (``_unscaled_standard_errors``): it holds the kept design, the solve and its weights, not the pass, and
    pickles with the fit."""

    design: object
    weights: np.ndarray
    solve: SolveResult
    aliased: np.ndarray

    def __call__(self) -> np.ndarray:
        kept = _unscaled_standard_errors(self.design, self.weights, self.solve.unscaled_variances())
        if not self.aliased.any():
            return kept
        full = np.full(len(self.aliased), np.nan)
        full[~self.aliased] = kept
        return full


def _usable_buffer(spare: np.ndarray | None, *held: np.ndarray) -> np.ndarray | None:
    """``spare`` when it can serve as a work buffer of the fit: a writeable, C-contiguous float64 array of the
    data's length sharing no memory with the arrays the fit keeps reading (``held``: y, weights, offset)."""
    y = held[0]
    if (spare is None or not isinstance(spare, np.ndarray) or spare.dtype != np.float64 or spare.shape != (len(y),)
            or y.ndim != 1 or not spare.flags.c_contiguous or not spare.flags.writeable):
        return None
    return None if any(np.may_share_memory(spare, array) for array in held) else spare


def _invalid_start_message(family: Family, start, etastart) -> str:
    if start is not None:
        source = "the linear predictor of start="
    elif etastart is not None:
        source = "the given linear predictor"
    else:
        source = "the response (its starting means are outside the link's domain, e.g. y <= 0 with a log link)"
    return (f"cannot find valid starting values for the {family.name} family with the {family.link.name} link "
            f"from {source}; pass start= coefficients that give valid fitted means, or use another link")


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


def _working_response(family: Family, y, eta, mu, offset, prior_weights, positive_weight, all_positive: bool,
                      n_iter: int, z_out: np.ndarray, weights_out: np.ndarray, working_at=None):
    """z = eta - offset + (y - mu) / mu_eta and w = prior_weights mu_eta^2 / V(mu), zero where unused.

    Rows with zero prior weight or mu_eta = 0 carry no information (R's ``good``);
    when every row is informative the masks are skipped and z and w are written
    into ``z_out`` and ``weights_out``: by the family's compiled ``working_at`` when it
    has one, else chunk by chunk.  Returns (None, zeros) when no row is informative.
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


def _deviance(deviance_at, eta, mu) -> float:
    """The family's deviance; an overflow gives inf silently (IRLS reacts to a non-finite deviance)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return deviance_at(eta, mu)
