"""Weighted least squares pieces of IRLS: rank detection and the WLS solve.

Rank detection follows R's ``dqrdc2`` (the QR behind ``glm.fit``): columns are
taken in order, and a column whose norm, after removing its projection on the
columns kept before it, falls below ``tol`` times its original norm is
*aliased* — dropped, its coefficient reported as NaN.  Unlike LAPACK's
pivoted QR this keeps the user's column order, so the same columns are aliased
as in R.

The per-iteration solve uses the normal equations X'WX b = X'Wz on the kept
columns, equilibrated to unit diagonal and factored by Cholesky (fast: one
pass over the data).  When the equilibrated matrix is too ill-conditioned for
the normal equations to be accurate, it falls back to a QR solve of
sqrt(W) X b = sqrt(W) z, R's own path.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg
from scipy.linalg import lapack

#: Beyond this condition number of the equilibrated X'WX, solve by QR instead.
NORMAL_EQUATIONS_MAX_CONDITION = 1e7
#: Squared column norms outside [_SAFE_SQUARE, 1 / _SAFE_SQUARE] (columns of ~1e-150 or ~1e150) keep few
#: digits in X'WX: such designs are solved by QR instead.
_SAFE_SQUARE = np.finfo(float).tiny * 1e16


def aliased_columns(weighted_design: np.ndarray, tol: float) -> np.ndarray:
    """Boolean mask of columns R's ``dqrdc2`` would move to the end (aliased).

    ``weighted_design`` is sqrt(w) X.  A column j is aliased when the norm of
    its residual on the kept columns before it is below ``tol * ||x_j||``.
    """
    n_columns = weighted_design.shape[1]
    # the test is relative to each column's norm, so scale columns first: huge values must not overflow
    largest = np.max(np.abs(weighted_design), axis=0) if len(weighted_design) else np.ones(n_columns)
    weighted_design = weighted_design / np.where(largest > 0, largest, 1.0)
    norms = np.linalg.norm(weighted_design, axis=0)
    norms = np.where(norms == 0, 1.0, norms)
    aliased = np.zeros(n_columns, dtype=bool)
    while True:
        kept = np.flatnonzero(~aliased)
        if kept.size == 0:
            return aliased
        r = linalg.qr(weighted_design[:, kept], mode="r", check_finite=False)[0]
        diagonal = np.abs(np.diag(r)) if r.shape[0] >= kept.size else np.concatenate(
            [np.abs(np.diag(r)), np.zeros(kept.size - r.shape[0])]
        )
        deficient = np.flatnonzero(diagonal < tol * norms[kept])
        if deficient.size == 0:
            return aliased
        aliased[kept[deficient[0]]] = True


def aliased_columns_from_gram(gram: np.ndarray, tol: float) -> np.ndarray:
    """The same ordered rule as ``aliased_columns``, on X'WX instead of sqrt(W) X.

    A column is aliased when its squared residual on the kept earlier columns,
    relative to its squared norm, is below tol^2 (the pivots of a Cholesky taken
    in column order on the unit-diagonal cross-product).  One LAPACK Cholesky
    settles the usual full-rank case; only a deficient matrix takes the
    column-by-column route.
    """
    n_columns = len(gram)
    norms = np.sqrt(np.diag(gram))
    empty = norms == 0
    norms = np.where(empty, 1.0, norms)
    unit = gram / np.outer(norms, norms)
    if not empty.any():
        try:
            factor = linalg.cholesky(unit, lower=True, check_finite=False)
            if np.min(np.diag(factor)) ** 2 > tol**2:
                return np.zeros(n_columns, dtype=bool)
        except linalg.LinAlgError:
            pass
    aliased = empty.copy()
    lower = np.zeros_like(unit)
    kept: list[int] = []
    for j in np.flatnonzero(~empty):
        if kept:
            row = linalg.solve_triangular(lower[np.ix_(kept, kept)], unit[kept, j], lower=True, check_finite=False)
            pivot = unit[j, j] - row @ row
        else:
            row, pivot = np.zeros(0), unit[j, j]
        if pivot <= tol**2:
            aliased[j] = True
            continue
        lower[j, kept] = row
        lower[j, j] = np.sqrt(pivot)
        kept.append(j)
    return aliased


class SolveResult:
    """Coefficients of one WLS solve and a way to get (X'WX)^{-1} from it."""

    __slots__ = ("coefficients", "_inverse")

    def __init__(self, coefficients: np.ndarray, inverse):
        self.coefficients = coefficients
        self._inverse = inverse

    def unscaled_covariance(self) -> np.ndarray:
        """(X'WX)^{-1} for the weights of this solve."""
        return self._inverse()


def solve_wls(design, w: np.ndarray, z: np.ndarray) -> SolveResult:
    """Solve min_b sum w (z - X b)^2 for a full-rank design."""
    with np.errstate(over="ignore", invalid="ignore"):  # overflow sends the step to the QR path below
        gram, xtw = design.gram_xtw(w, z)
    diagonal = np.diag(gram)
    scale = np.sqrt(diagonal)
    scale = np.where(scale > 0, scale, 1.0)
    with np.errstate(over="ignore", invalid="ignore"):
        equilibrated = gram / np.outer(scale, scale)
    extreme = np.any((diagonal > 0) & ((diagonal < _SAFE_SQUARE) | (diagonal > 1 / _SAFE_SQUARE)))
    if extreme or not np.all(np.isfinite(equilibrated)):  # squared norms near under/overflow lose digits
        return _solve_qr(design, w, z)
    try:
        factor = linalg.cho_factor(equilibrated, lower=False, check_finite=False)
        diagonal = np.abs(np.diag(factor[0]))
        condition = (diagonal.max() / diagonal.min()) ** 2 if diagonal.min() > 0 else np.inf
        well_conditioned = condition < NORMAL_EQUATIONS_MAX_CONDITION
    except linalg.LinAlgError:
        well_conditioned = False
    if well_conditioned:
        rhs = xtw / scale
        coefficients = linalg.cho_solve(factor, rhs, check_finite=False) / scale

        def inverse() -> np.ndarray:
            upper, info = lapack.dpotri(factor[0], lower=0)  # from the Cholesky factor: a third of a solve's work
            if info != 0:
                upper = linalg.cho_solve(factor, np.eye(len(scale)), check_finite=False)
            unit = np.triu(upper) + np.triu(upper, 1).T
            return unit / np.outer(scale, scale)

        return SolveResult(coefficients, inverse)
    return _solve_qr(design, w, z)


def _solve_qr(design, w: np.ndarray, z: np.ndarray) -> SolveResult:
    weighted = design.weighted(w)
    q, r = linalg.qr(weighted, mode="economic", check_finite=False)
    coefficients = linalg.solve_triangular(r, q.T @ (np.sqrt(w) * z), check_finite=False)

    def inverse() -> np.ndarray:
        r_inv = linalg.solve_triangular(r, np.eye(r.shape[0]), check_finite=False)
        return r_inv @ r_inv.T

    return SolveResult(coefficients, inverse)
