"""The weighted least squares solve of IRLS, X'WX b = X'Wz, and the names of its pieces.

The per-iteration solve uses the normal equations on the kept columns, equilibrated to unit
diagonal and factored by Cholesky (fast: one pass over the data); a large categorical's diagonal
block is eliminated first (``block_solve``), the cross-products between blocks kept sparse; when
its Schur complement is large and dense (two crossed factors of thousands of levels), the later
iterations solve it by conjugate gradients preconditioned by the previous factor (``schur_pcg``),
and the factor of the system solved is formed only when asked for.  Standard errors come from the
factor's inverse diagonal, the (p, p) covariance only when asked for.  When the equilibrated
matrix is too ill-conditioned for the normal equations to be accurate, it falls back to a QR
solve of sqrt(W) X b = sqrt(W) z, R's own path (or, where that would write a block design's
dummies out, to corrected semi-normal equations).

The pieces live in modules of their own: R's ordered rank rule (``rank_qr`` on sqrt(W) X,
``rank`` on X'WX), the factors (``cholesky``, ``block_solve``), the iterative solve
(``schur_pcg``) and the products they need (``matrix_products``); their names stay importable
from here.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg, sparse

from glmformula import settings
from glmformula.engine import schur_pcg
from glmformula.engine.block_gram import BlockGram
from glmformula.engine.block_solve import BLOCK_ELIMINATION_MIN_COLUMNS, BlockFactor, ScaledFactor
from glmformula.engine.cholesky import PACKED_CHOLESKY_COLUMNS, QRFactor, cholesky
from glmformula.engine.rank import (
    ORDERED_RULE_MAX_COLUMNS,
    aliased_columns_from_gram,
    certainly_full_rank,
    certainly_full_rank_by_gram,
    other_rows,
)
from glmformula.engine.rank_qr import aliased_columns
from glmformula.exceptions import FitError

__all__ = [
    "BLOCK_ELIMINATION_MIN_COLUMNS", "NORMAL_EQUATIONS_MAX_CONDITION", "ORDERED_RULE_MAX_COLUMNS",
    "PACKED_CHOLESKY_COLUMNS", "SolveResult", "aliased_columns", "aliased_columns_from_gram",
    "certainly_full_rank", "certainly_full_rank_by_gram", "other_rows", "solve_normal_equations", "solve_wls",
]
#: The factors' former private names (tests read them).
_ScaledFactor = ScaledFactor

#: Beyond this condition number of the equilibrated X'WX, solve by QR instead.
NORMAL_EQUATIONS_MAX_CONDITION = 1e7
#: Squared column norms outside [_SAFE_SQUARE, 1 / _SAFE_SQUARE] (columns of ~1e-150 or ~1e150) keep few
#: digits in X'WX: such designs are solved by QR instead.
_SAFE_SQUARE = np.finfo(float).tiny * 1e16


class SolveResult:
    """Coefficients of one WLS solve, and (X'WX)^{-1} or its diagonal from the solve's factor.

    The factor F is of the equilibrated E = D^-1 X'WX D^-1 (D = ``scale``, the columns' weighted
    norms), so (X'WX)^{-1} = D^-1 E^{-1} D^-1.  It is kept (plain arrays: results pickle) so that the
    covariance is formed only when asked for: a large categorical's block of it is levels x levels,
    while the standard errors need only its diagonal, which the block factor gives in O(levels).
    """

    __slots__ = ("coefficients", "_factor", "_scale", "_inverse")

    def __init__(self, coefficients: np.ndarray, factor, scale: np.ndarray):
        self.coefficients = coefficients
        self._factor, self._scale = factor, scale
        self._inverse: np.ndarray | None = None

    def unscaled_covariance(self) -> np.ndarray:
        """(X'WX)^{-1} for the weights of this solve (formed once, then the same array)."""
        if self._inverse is None:
            with np.errstate(over="ignore", invalid="ignore"):  # columns of extreme scale: see irls
                inverse = self._factor.inverse()
                inverse /= self._scale[:, None]
                inverse /= self._scale
            self._inverse = inverse
        return self._inverse

    def unscaled_variances(self) -> np.ndarray:
        """diag((X'WX)^{-1}), without the full inverse where the factor can."""
        if self._inverse is None and hasattr(self._factor, "inverse_diagonal"):
            with np.errstate(over="ignore", invalid="ignore"):
                return self._factor.inverse_diagonal() / self._scale**2
        return np.diag(self.unscaled_covariance()).copy()

    def with_rhs(self, xtw: np.ndarray) -> SolveResult | None:
        """The solve of X'WX b = ``xtw`` for the same X'WX (the same weights), reusing its factor; None when
        this solve kept none (it took the QR path) or ``xtw`` is not finite: ``solve_wls`` must decide."""
        if isinstance(self._factor, QRFactor) or not np.isfinite(xtw).all():
            return None
        return SolveResult(self._factor.solve(xtw / self._scale) / self._scale, self._factor, self._scale)

    def solve_columns(self, rhs: np.ndarray) -> np.ndarray:
        """(X'WX)^{-1} ``rhs`` for a (p, m) matrix of right-hand sides, in one solve with this solve's factor
        (the caller has checked ``with_rhs`` gives a solve: this one kept a Cholesky or block factor)."""
        scale = self._scale[:, None]
        return self._factor.solve(rhs / scale) / scale


def _factor(unit: np.ndarray, rest: np.ndarray | None, orthogonal: np.ndarray | None, groups: tuple = ()):
    """Factor the unit-diagonal X'WX (given by the rows of the columns ``rest`` outside ``orthogonal`` when
    these are set; ``groups``: other orthogonal sets, see ``BlockFactor``), or None when it is not
    numerically positive definite."""
    try:
        if orthogonal is not None:
            return BlockFactor(rest, unit, orthogonal, groups)
        return cholesky(unit)
    except linalg.LinAlgError:
        return None


def solve_wls(design, w: np.ndarray, z: np.ndarray, products: tuple[np.ndarray, np.ndarray] | None = None
              ) -> SolveResult:
    """Solve min_b sum w (z - X b)^2 for a full-rank design.

    ``products`` are X'WX and X'Wz when the caller has them (IRLS computes them); X'WX is then
    overwritten, and no reference to it is kept (IRLS reuses its memory).  Designs that know a
    set of mutually orthogonal columns (``orthogonal_columns``: a categorical's levels) are
    factored by block elimination around it.
    """
    if products is None:
        with np.errstate(over="ignore", invalid="ignore"):  # overflow sends the step to the QR path below
            products = design.gram_xtw(w, z)
    gram, xtw = products
    diagonal = gram.diagonal().copy()
    # the usual case in two reductions: every squared norm positive and far from under/overflow (NaN fails too)
    ordinary = diagonal.min() > _SAFE_SQUARE and diagonal.max() < 1 / _SAFE_SQUARE
    if not ordinary and np.any((diagonal > 0) & ((diagonal < _SAFE_SQUARE) | (diagonal > 1 / _SAFE_SQUARE))):
        return _solve_qr(design, w, z)  # squared norms near under/overflow lose digits
    if ordinary:
        scale = np.sqrt(diagonal)
    else:
        with np.errstate(invalid="ignore"):
            scale = np.sqrt(diagonal)
        scale = np.where(scale > 0, scale, 1.0)
    orthogonal = gram.orthogonal if isinstance(gram, BlockGram) else design.orthogonal_columns()
    if orthogonal is not None and (len(orthogonal) < BLOCK_ELIMINATION_MIN_COLUMNS
                                   or np.any(diagonal[orthogonal] == 0)):
        orthogonal = None  # too few to gain from, or an empty level (its unit diagonal is 0, not 1)
    if orthogonal is None and isinstance(gram, BlockGram):
        gram = gram.to_dense()
    kept = gram.take_factor(scale) if orthogonal is not None and isinstance(gram, BlockGram) else None
    if kept is not None and np.isfinite(xtw).all():  # the rank certificate's factor of this very X'WX
        schur_pcg.remember(design, kept, scale)
        return _remembered(design, _checked_solve(design, w, z, kept, scale, xtw))
    rest = None
    if orthogonal is not None:
        rest, equilibrated = other_rows(gram, scale, orthogonal)  # all that block elimination reads
    else:
        equilibrated = gram  # the design hands over its own copy: equilibrate in place
        equilibrated /= scale[:, None]
        equilibrated /= scale
    # |entries| of a unit-diagonal cross-product are at most 1 (Cauchy-Schwarz): with finite norms only the
    # right-hand side or a NaN norm can be non-finite
    if not (np.isfinite(xtw).all() and (ordinary or _all_finite(equilibrated))):
        return _solve_qr(design, w, z)
    groups = gram.groups if isinstance(gram, BlockGram) else ()
    if orthogonal is not None and ordinary and settings.current().schur_pcg:
        iterative = _iterative_solve(design, rest, equilibrated, orthogonal, groups, scale, xtw)
        if iterative is not None:
            return _remembered(design, iterative)
    factor = _factor(equilibrated, rest, orthogonal, groups)
    if factor is None:
        return _solve_qr(design, w, z)
    schur_pcg.remember(design, factor, scale)
    return _remembered(design, _checked_solve(design, w, z, factor, scale, xtw))


def _iterative_solve(design, rest: np.ndarray, rows, orthogonal: np.ndarray, groups: tuple, scale: np.ndarray,
                     xtw: np.ndarray) -> SolveResult | None:
    """The solve by conjugate gradients preconditioned by the factor of the design's previous X'WX
    (``schur_pcg``), when the design has one kept and CG settles the solve; else None (form a factor)."""
    preconditioner = schur_pcg.preconditioner_for(design, rest, orthogonal)
    if preconditioner is None:
        return None
    solved = schur_pcg.iterative_block_solve(rest, rows, orthogonal, groups, xtw / scale, scale, preconditioner,
                                             NORMAL_EQUATIONS_MAX_CONDITION)
    if solved is None:
        return None
    coefficients, factor = solved
    return SolveResult(coefficients / scale, factor, scale)


def _remembered(design, result: SolveResult) -> SolveResult:
    """``result``, its coefficients kept as the next iterative solve's starting point (``schur_pcg``)."""
    schur_pcg.remember_solution(design, result.coefficients)
    return result


def _checked_solve(design, w: np.ndarray, z: np.ndarray, factor, scale: np.ndarray, xtw: np.ndarray
                   ) -> SolveResult:
    """The solve by ``factor`` of the equilibrated X'WX when its pivots say the normal equations are accurate,
    else by corrected semi-normal equations (block designs that QR would write out) or QR."""
    pivots = factor.pivots.tolist()  # finite (a factor of a finite matrix): Python's min and max cost less
    low, high = min(pivots), max(pivots)
    if low == 0 or (high / low) ** 2 >= NORMAL_EQUATIONS_MAX_CONDITION:
        if low > 0 and _qr_would_densify(design):
            return _corrected_solve(design, w, z, factor, scale, xtw)
        return _solve_qr(design, w, z)
    return SolveResult(factor.solve(xtw / scale) / scale, factor, scale)


_REFINEMENTS = 2


def _qr_would_densify(design) -> bool:
    """Whether the QR fallback would write out a block design's dummies (more than ``dense_cells`` cells)."""
    n_rows, n_columns = design.shape
    return design.orthogonal_columns() is not None and n_rows * n_columns > settings.current().dense_cells


def _corrected_solve(design, w: np.ndarray, z: np.ndarray, factor, scale: np.ndarray, xtw: np.ndarray
                     ) -> SolveResult:
    """Corrected semi-normal equations: the Cholesky solution b of X'WX b = X'Wz, then two refinement steps
    b += (X'WX)^{-1} X'W (z - X b) with the residual taken from the data, not from X'WX.

    For an ill-conditioned block design (a cell of a crossed factor whose counts are all 0, its coefficient
    running off as R's glm.fit lets it) this recovers the accuracy the QR fallback would give without
    writing the dummies out (Bjorck: each step multiplies the error by about cond(X) eps).
    """
    coefficients = factor.solve(xtw / scale) / scale
    for _ in range(_REFINEMENTS):
        residual = z - design.dot(coefficients)
        coefficients = coefficients + factor.solve(design.xtw(w, residual) / scale) / scale
    return SolveResult(coefficients, factor, scale)


def _all_finite(matrix) -> bool:
    """Whether every entry of a dense or sparse ``matrix`` is finite."""
    return bool(np.isfinite(matrix.data if sparse.issparse(matrix) else matrix).all())


def _solve_qr(design, w: np.ndarray, z: np.ndarray) -> SolveResult:
    weighted = design.weighted(w)
    q, r = linalg.qr(weighted, mode="economic", check_finite=False)
    coefficients = linalg.solve_triangular(r, q.T @ (np.sqrt(w) * z), check_finite=False)
    return SolveResult(coefficients, QRFactor(r), np.ones(r.shape[1]))


def solve_normal_equations(gram: np.ndarray, xtw: np.ndarray) -> SolveResult:
    """Solve X'WX b = X'Wz from the products alone, for data with no design at hand (Dask partitions).

    As ``solve_wls`` on the equilibrated E = D^-1 X'WX D^-1: a Cholesky factor when E is
    well conditioned; otherwise (nearly collinear columns, where ``solve_wls`` would take
    a QR of sqrt(W) X) the eigendecomposition E = V diag(l) V', whose symmetric square
    root S = V diag(sqrt l) V' has E = S'S, so the R of S = QR stands in for the R of
    sqrt(W) X D^-1 in the covariance.  ``gram`` is not modified.
    """
    diagonal = gram.diagonal().copy()
    scale = np.sqrt(np.where(diagonal > 0, diagonal, 1.0))
    unit = gram / scale[:, None]
    unit /= scale
    rhs = xtw / scale
    factor = _factor(unit.copy(), None, None) if np.isfinite(unit).all() and np.isfinite(rhs).all() else None
    if factor is not None:
        pivots = factor.pivots.tolist()
        low, high = min(pivots), max(pivots)
        if low > 0 and (high / low) ** 2 < NORMAL_EQUATIONS_MAX_CONDITION:
            return SolveResult(factor.solve(rhs) / scale, factor, scale)
    try:
        values, vectors = linalg.eigh(unit, check_finite=True)
    except (ValueError, linalg.LinAlgError):
        raise FitError("X'WX is not finite: the working weights or the response overflowed") from None
    values = np.maximum(values, np.finfo(float).eps * max(values.max(), 1.0))
    root = (vectors * np.sqrt(values)) @ vectors.T
    r = linalg.qr(root, mode="r", check_finite=False)[0]
    coefficients = vectors @ ((vectors.T @ rhs) / values)
    return SolveResult(coefficients / scale, QRFactor(r), scale)
