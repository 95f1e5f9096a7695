"""IRLS solves of a block-eliminated X'WX by conjugate gradients, preconditioned by an earlier iteration's factor.

A block factor (``block_solve.BlockFactor``) of an equilibrated E with a large categorical's levels d and m other
columns r costs O(m^2 k) for the Schur complement S = E_rr - E_rd E_dr (k levels) and O(m^3) for its Cholesky:
with thousands of levels and a thousand other columns (S8), most of an IRLS iteration.  Between iterations
only the working weights change, and X'WX with them, but little once IRLS is under way.  Then

    S_c x_r = c,  c = b_r - E_rd b_d                      (the current Schur system)

is solved by conjugate gradients preconditioned by the factor of an earlier iteration's Schur complement S_p.
With D_c, D_p the equilibrating scales (the columns' weighted norms) of the two X'WX,

    S_c ~ Q S_p Q,  Q = diag(D_p / D_c) on r,            so  M^-1 v = Q^-1 S_p^-1 Q^-1 v,

and each CG step costs two passes over E's rows (S_c v = E_rr v - E_rd (E_dr v), never formed) and two
triangular solves of S_p: O(nnz + m^2) instead of O(m^2 k).  Ten or so steps reach a backward error below
1e-14 on S8 (``RESIDUAL_TOLERANCE``).  Then x_d = b_d - E_dr x_r as in the direct solve.

The solve must take the same route as the direct one, which reads the Cholesky pivots of E (``linalg``: the
normal equations are used only when (max pivot / min pivot)^2 stays below a bound).  The pivots are not
computed here, but bounded: when a M <= S_c <= b M (Loewner order, M = Q S_p Q), every leading principal block
obeys the same inequalities, so each squared pivot of S_c (in the factor's own column order) lies within
[a, b] times the corresponding squared pivot of M, which are S_p's divided by the scale ratio.  [a, b] are
estimated by the extreme Ritz values of CG's Lanczos matrix (from inside the spectrum: the check asks for a
margin of ``CONDITION_MARGIN``).  A CG that does not converge, or a bound that is not clearly met, sends the
solve to a fresh factor (which then preconditions the next iterations).

The factor of the solved system is formed only when something asks for it (the standard errors, the
covariance, another right-hand side): ``DeferredBlockFactor``; for a fit, that is the last iteration's alone.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
from scipy import linalg, sparse

from glmformula.engine.block_solve import BlockFactor
from glmformula.exceptions import FitError

#: Schur complements of fewer columns are factored at every iteration (their factor is cheap) ...
PCG_MIN_COLUMNS = 256
#: ... and so are those whose factor costs less than this many times a CG solve's estimated work
#: (``worth_iterating``): a nested factor's levels eliminated in S (S7) leave a factor of O(levels m).
PCG_WORK_RATIO = 4.0
#: The CG steps a solve is expected to take, for that estimate (9 to 15 on S8).
EXPECTED_STEPS = 15
#: CG stops when its (recursively updated) residual is this small relative to nu = ||b|| + ||x_r|| (b the whole
#: equilibrated system's right-hand side) ...
PCG_TOLERANCE = 2e-15
#: ... and the solution is kept when the residual recomputed from it is at most this small relative to nu: then
#: x solves E x = b with a normwise backward error ||E x - b|| / (||E|| ||x|| + ||b||) below it (||E|| >= 1 for
#: a unit diagonal), as a Cholesky solve does (~2e-15 on S8); else CG restarts from x.
RESIDUAL_TOLERANCE = 1e-14
#: CG steps allowed before a fresh factor is formed instead (a step costs ~1/100 of a factor on S8).
PCG_MAX_ITERATIONS = 50
#: The bounded condition of E must stay this far below the normal equations' limit for a CG solve to be kept.
CONDITION_MARGIN = 100.0


@dataclass
class SchurPreconditioner:
    """An earlier factor of the Schur complement S_p, with the columns it is of and their scales D_p, and the
    coefficients of the design's latest solve (CG's starting point: IRLS's steps shrink as it converges)."""

    rest: np.ndarray
    orthogonal: np.ndarray
    scale: np.ndarray  # D_p on ``rest``
    factor: object  # of S_p: ``solve`` and ``pivots``
    start: np.ndarray | None = None  # the latest coefficients, (p,), not equilibrated

    def fits(self, rest: np.ndarray, orthogonal: np.ndarray) -> bool:
        """Whether it is of the same columns (the same design and block)."""
        return np.array_equal(self.rest, rest) and np.array_equal(self.orthogonal, orthogonal)


#: The last factor formed for each design (only its Schur complement's factor: a few MB), while the design lives.
_PRECONDITIONERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def remember(design, factor, scale: np.ndarray) -> None:
    """Keep ``factor`` (of the design's X'WX equilibrated by ``scale``) to precondition the next solves, when it
    is a block factor whose Schur complement is large enough to gain from it."""
    try:
        if worth_iterating(factor):
            _PRECONDITIONERS[design] = SchurPreconditioner(factor.rest, factor.orthogonal, scale[factor.rest],
                                                           factor.schur)
        else:
            _PRECONDITIONERS.pop(design, None)
    except TypeError:  # a design that cannot be weakly referenced: no preconditioner kept
        pass


def worth_iterating(factor) -> bool:
    """Whether solves like the one of ``factor`` are cheaper by CG preconditioned by it than by a new factor: a
    block factor whose Schur complement S (m columns) has a dense Cholesky factor, costing m^2 k (B B' of its k
    levels' block B) + m^3 / 3, against ``EXPECTED_STEPS`` x (two passes over E's rows, at most nnz(B) + m^2
    entries, and two triangular solves of m^2 / 2; plus a step's fixed cost)."""
    if not isinstance(factor, BlockFactor) or not hasattr(factor.schur, "whiten"):
        return False
    m, k = len(factor.rest), len(factor.orthogonal)
    if m < PCG_MIN_COLUMNS:
        return False
    factor_work = m * m * k + m**3 / 3
    step_work = 2 * (factor.coupling_entries + m * m) + m * m + 50_000
    return factor_work >= PCG_WORK_RATIO * EXPECTED_STEPS * step_work


def remember_solution(design, coefficients: np.ndarray) -> None:
    """Keep the coefficients of the design's latest solve as the next CG's starting point (when it has a
    preconditioner kept)."""
    kept = preconditioner_for(design)
    if kept is not None and len(coefficients) == len(kept.rest) + len(kept.orthogonal):
        kept.start = coefficients


def preconditioner_for(design, rest: np.ndarray | None = None, orthogonal: np.ndarray | None = None
                       ) -> SchurPreconditioner | None:
    """The design's kept preconditioner when it is of these columns (when given), else None."""
    try:
        kept = _PRECONDITIONERS.get(design)
    except TypeError:
        return None
    if kept is None or (rest is not None and not kept.fits(rest, orthogonal)):
        return None
    return kept


class DeferredBlockFactor:
    """The block factor of an equilibrated X'WX (``BlockFactor``'s arguments), formed when first asked for.

    A solve done by CG keeps this instead of a factor: the standard errors, the covariance and other
    right-hand sides read the factor of exactly the system that was solved.  It holds E's rows r (sparse,
    O(nnz)) until then.
    """

    def __init__(self, rest: np.ndarray, rows, orthogonal: np.ndarray, groups: tuple = ()):
        self._arguments = (rest, rows, orthogonal, groups)
        self._factor: BlockFactor | None = None

    def formed(self) -> BlockFactor:
        """The factor (formed on the first call; then E's rows are released)."""
        if self._factor is None:
            try:
                self._factor = BlockFactor(*self._arguments)
            except linalg.LinAlgError as error:  # excluded by the pivot bound; kept as a clear error all the same
                raise FitError(
                    "the final X'WX, solved by conjugate gradients, could not be factored for the standard "
                    "errors (it is not numerically positive definite); refit with "
                    "glmformula.settings.override(schur_pcg=False) and report the data") from error
            self._arguments = None
        return self._factor

    @property
    def pivots(self) -> np.ndarray:
        return self.formed().pivots

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        return self.formed().solve(rhs)

    def inverse_diagonal(self) -> np.ndarray:
        return self.formed().inverse_diagonal()

    def inverse(self) -> np.ndarray:
        return self.formed().inverse()


@dataclass(frozen=True)
class SchurSystem:
    """S = E_rr - E_rd E_dr of an equilibrated E, given by E's rows r (an (m, p) dense or sparse ``rows``),
    applied to vectors without being formed: two passes over the rows per product."""

    rows: object
    rest: np.ndarray
    orthogonal: np.ndarray

    def times(self, v: np.ndarray) -> np.ndarray:
        """S v: y = E_{.r} v (whose r entries are E_rr v and d entries E_dr v), then E_rr v - E_rd y_d."""
        y = self.rows.T @ v
        on_levels = np.zeros_like(y)
        on_levels[self.orthogonal] = y[self.orthogonal]
        return y[self.rest] - self.rows @ on_levels

    def reduced_rhs(self, b: np.ndarray) -> np.ndarray:
        """c = b_r - E_rd b_d."""
        on_levels = np.zeros_like(b)
        on_levels[self.orthogonal] = b[self.orthogonal]
        return b[self.rest] - self.rows @ on_levels

    def levels(self, b: np.ndarray, x_r: np.ndarray) -> np.ndarray:
        """The whole solution: x_r, and x_d = b_d - E_dr x_r."""
        x = np.empty_like(b)
        x[self.rest] = x_r
        x[self.orthogonal] = b[self.orthogonal] - (self.rows.T @ x_r)[self.orthogonal]
        return x


@dataclass(frozen=True)
class CGOutcome:
    """A converged CG solve: x_r, its steps, and the extreme Ritz values (estimates of the spectrum of M^-1 S)."""

    solution: np.ndarray
    steps: int
    ritz: tuple[float, float]


def preconditioned_cg(times, precondition, c: np.ndarray, reference: float, start: np.ndarray | None = None,
                      tolerance: float = PCG_TOLERANCE, accept: float = RESIDUAL_TOLERANCE,
                      max_steps: int | None = None) -> CGOutcome | None:
    """Solve S x = c (S symmetric positive definite, applied by ``times``; M^-1 by ``precondition``) by CG
    from x = ``start`` (0 when None).

    With nu = ``reference`` + ||x|| (``reference`` >= ||c||: the norm of the whole system's right-hand side),
    stops when ||r|| <= ``tolerance`` nu for the recursive residual r, then keeps x when the residual recomputed
    from it, ||c - S x||, is at most ``accept`` nu (else restarts from x).  None when that takes more than
    ``max_steps`` (``PCG_MAX_ITERATIONS``) products with S, or a step breaks down (a curvature p'Sp or r'M^-1 r
    that is not positive and finite: S or M not positive definite in floating point).  The Ritz values are the
    extremes over the runs of their Lanczos matrices T = tridiag(sqrt(beta_j) / alpha_j; 1 / alpha_j +
    beta_{j-1} / alpha_{j-1}) (1, 1 when no step was taken).
    """
    if float(np.linalg.norm(c)) == 0.0:
        return CGOutcome(np.zeros_like(c), 0, (1.0, 1.0))
    max_steps = PCG_MAX_ITERATIONS if max_steps is None else max_steps
    if start is None or not np.all(np.isfinite(start)):
        x, residual = np.zeros_like(c), c.copy()
    else:
        x = start.copy()
        residual = c - times(x)
    steps, ritz = 0, (np.inf, -np.inf)
    while steps <= max_steps:
        run = _cg_run(times, precondition, x, residual, lambda: tolerance * (reference + np.linalg.norm(x)),
                      max_steps - steps)
        if run is None:
            return None
        steps += len(run[0])
        ritz = _merge(ritz, _ritz_values(*run))
        residual = c - times(x)
        if np.linalg.norm(residual) <= accept * (reference + np.linalg.norm(x)):
            return CGOutcome(x, steps, ritz if ritz[0] <= ritz[1] else (1.0, 1.0))
        if not len(run[0]):
            return None  # the recursive residual was small but the true one is not: no progress to make
    return None


def _cg_run(times, precondition, x: np.ndarray, residual: np.ndarray, stop, max_steps: int):
    """CG from x (updated in place) with the residual ``residual`` (updated in place) until ||residual|| <=
    ``stop()``; returns the step lengths alpha and ratios beta, or None at a breakdown or after ``max_steps``
    steps."""
    alphas: list[float] = []
    betas: list[float] = []
    if np.linalg.norm(residual) <= stop():
        return alphas, betas
    z = precondition(residual)
    direction = z.copy()
    rz = float(residual @ z)
    for _ in range(max_steps):
        if not (rz > 0 and np.isfinite(rz)):
            return None
        q = times(direction)
        curvature = float(direction @ q)
        if not (curvature > 0 and np.isfinite(curvature)):
            return None
        alpha = rz / curvature
        x += alpha * direction
        residual -= alpha * q
        alphas.append(alpha)
        if np.linalg.norm(residual) <= stop():
            return alphas, betas
        z = precondition(residual)
        rz_next = float(residual @ z)
        beta = rz_next / rz
        betas.append(beta)
        direction *= beta
        direction += z
        rz = rz_next
    return None


def _ritz_values(alphas: list[float], betas: list[float]) -> tuple[float, float]:
    """The extreme eigenvalues of CG's Lanczos matrix (see ``preconditioned_cg``)."""
    if not alphas:
        return np.inf, -np.inf
    alpha, beta = np.asarray(alphas), np.asarray(betas[: len(alphas) - 1])
    diagonal = 1.0 / alpha
    diagonal[1:] += beta / alpha[:-1]
    off = np.sqrt(beta) / alpha[:-1]
    values = linalg.eigvalsh_tridiagonal(diagonal, off) if len(alpha) > 1 else diagonal
    return float(values[0]), float(values[-1])


def _merge(a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float]:
    return min(a[0], b[0]), max(a[1], b[1])


def iterative_block_solve(rest: np.ndarray, rows, orthogonal: np.ndarray, groups: tuple, b: np.ndarray,
                          scale: np.ndarray, preconditioner: SchurPreconditioner, max_condition: float):
    """(x, factor) solving E x = b by CG on the Schur complement (see the module doc), ``factor`` the deferred
    block factor of E; None when CG does not converge or E's pivots are not surely within ``max_condition``
    (then the caller forms the factor).  ``rows`` and ``scale``: E's rows r (``other_rows``) and the scales that
    equilibrated it."""
    if sparse.issparse(rows):
        rows = sparse.csr_matrix(rows)
    system = SchurSystem(rows, rest, orthogonal)
    ratio = scale[rest] / preconditioner.scale  # Q^-1 = D_c / D_p
    if not np.all(np.isfinite(ratio) & (ratio > 0)):
        return None
    schur = preconditioner.factor
    pivots = schur.pivots / ratio  # those of M = Q S_p Q
    if not _surely_conditioned(pivots, (1.0, 1.0), max_condition):
        return None  # not even M's own pivots pass: the factor must decide

    def precondition(v: np.ndarray) -> np.ndarray:
        return schur.solve(v * ratio) * ratio

    start = None if preconditioner.start is None else preconditioner.start[rest] * scale[rest]
    outcome = preconditioned_cg(system.times, precondition, system.reduced_rhs(b), float(np.linalg.norm(b)), start)
    if outcome is None or not np.all(np.isfinite(outcome.solution)):
        return None
    if not _surely_conditioned(pivots, outcome.ritz, max_condition):
        return None
    return system.levels(b, outcome.solution), DeferredBlockFactor(rest, rows, orthogonal, groups)


def _surely_conditioned(pivots: np.ndarray, spectrum: tuple[float, float], max_condition: float) -> bool:
    """Whether E's pivots, bounded by M's ``pivots`` (of its Schur complement) and the ``spectrum`` [a, b] of
    M^-1 S (see the module doc), satisfy (max / min)^2 < ``max_condition`` with ``CONDITION_MARGIN`` to spare
    (E's other pivots are 1: its unit block of levels)."""
    smallest, largest = spectrum
    if not (smallest > 0 and np.isfinite(largest)):
        return False
    low = min(1.0, np.sqrt(smallest) * float(pivots.min()))
    high = max(1.0, np.sqrt(largest) * float(pivots.max()))
    return bool(low > 0 and (high / low) ** 2 * CONDITION_MARGIN < max_condition)
