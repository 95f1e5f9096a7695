"""Factors of an equilibrated (unit-diagonal) X'WX: LAPACK's Cholesky, plain or packed, and the R of a QR.

Each exposes what the WLS solve reads: ``pivots`` (the Cholesky pivots, whose spread decides whether the
normal equations are accurate enough), ``solve`` and ``inverse``.  The Cholesky factors S = U'U also give
``inverse_diagonal`` (diag(S^-1): the rows' squared norms of U^-1, from LAPACK's triangular inverse, a third
of the full inverse's work) and ``whiten`` (U^-T B, so that b' S^-1 b = ||U^-T b||^2 for the standard errors
of eliminated levels, by a triangular solve instead of a product with S^-1).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import linalg
from scipy.linalg import lapack


class QRFactor:
    """R of sqrt(W) X = QR, for the covariance (R'R)^{-1} of a solve that took the QR path."""

    def __init__(self, r: np.ndarray):
        self._r = r

    def inverse(self) -> np.ndarray:
        r_inv = linalg.solve_triangular(self._r, np.eye(self._r.shape[0]), check_finite=False)
        return r_inv @ r_inv.T


class _TriangularMethods:
    """``inverse_diagonal`` and ``whiten`` of a Cholesky factor from its dense upper triangle (``upper``)."""

    #: Whether ``upper()`` is zero below the diagonal (else LAPACK's leftovers are there, and are cleared).
    _clean_lower = False

    def upper(self) -> np.ndarray:
        raise NotImplementedError

    def inverse_diagonal(self, upper: np.ndarray | None = None) -> np.ndarray:
        """diag(S^-1) = the squared 2-norms of the rows of U^-1 (S^-1 = U^-1 U^-T); ``upper``: U when the caller
        has it (``upper()``), so that a packed factor is unpacked once."""
        inverse, info = lapack.dtrtri(self.upper() if upper is None else upper, lower=0)
        if info != 0:
            return np.diag(self.inverse()).copy()
        if not self._clean_lower:  # dtrtri inverts the upper triangle in place and leaves the rest as it was
            inverse = np.triu(inverse)
        return np.einsum("ij,ij->i", inverse, inverse)

    def whiten(self, block: np.ndarray, upper: np.ndarray | None = None, overwrite: bool = False) -> np.ndarray:
        """U^-T ``block`` (a dense (m, k) array), by a triangular solve (``upper``: U, as for ``inverse_diagonal``;
        ``overwrite``: the solve may write into ``block``)."""
        return linalg.solve_triangular(self.upper() if upper is None else upper, block, trans="T", lower=False,
                                       overwrite_b=overwrite, check_finite=False)


class CholeskyFactor(_TriangularMethods):
    """Cholesky factor U'U of an equilibrated (unit-diagonal) X'WX, by LAPACK directly (scipy's
    wrappers cost more than the factorisation of a small matrix)."""

    def __init__(self, unit: np.ndarray):
        self._upper, info = lapack.dpotrf(unit, lower=0, clean=0)  # only the upper triangle is read later
        if info != 0:
            raise linalg.LinAlgError("the cross-product is not positive definite")
        self.pivots = np.abs(np.diag(self._upper))

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        return lapack.dpotrs(self._upper, rhs, lower=0)[0]

    def upper(self) -> np.ndarray:
        return self._upper

    def inverse(self) -> np.ndarray:
        upper, info = lapack.dpotri(self._upper, lower=0)  # from the factor: a third of a solve's work
        if info != 0:
            upper = self.solve(np.eye(len(self.pivots)))
        upper = np.triu(upper)
        return upper + np.triu(upper, 1).T


class PackedCholeskyFactor(_TriangularMethods):
    """The same factor by LAPACK's packed routines (dpptrf, dpptrs, dpptri), for mid-sized cross-products.

    OpenBLAS replaces LAPACK's dpotrf by a threaded one from 128 columns on, and right after
    threaded BLAS calls (IRLS's X'WX of a wide dense design) it can wait about 0.1 s for its
    threads: on the benchmark machine, for 200 columns, 60-110 ms in most calls against 0.3 ms
    alone.  The packed routines are LAPACK's own, a few milliseconds up to a thousand columns.
    """

    _clean_lower = True  # ``upper`` unpacks into zeros

    def __init__(self, unit: np.ndarray):
        p = len(unit)
        self._rows, self._columns, diagonal = _packed_upper(p)
        self._packed, info = lapack.dpptrf(p, unit[self._rows, self._columns])  # upper triangle, by columns
        if info != 0:
            raise linalg.LinAlgError("the cross-product is not positive definite")
        self.pivots = np.abs(self._packed[diagonal])

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        return lapack.dpptrs(len(self.pivots), self._packed, rhs)[0]

    def upper(self) -> np.ndarray:
        """U unpacked, a new Fortran-ordered (p, p) array (zeros below the diagonal)."""
        p = len(self.pivots)
        upper = np.zeros((p, p), order="F")
        upper[self._rows, self._columns] = self._packed
        return upper

    def inverse(self) -> np.ndarray:
        """(U'U)^{-1} by LAPACK's blocked dpotri on the factor unpacked (dpptri's level-2 loops take most of a
        second at a thousand columns; this is asked for once a fit)."""
        p = len(self.pivots)
        upper, info = lapack.dpotri(self.upper(), lower=0)
        if info != 0:
            return self.solve(np.eye(p))
        upper = np.triu(upper)
        return upper + np.triu(upper, 1).T


@lru_cache(maxsize=8)
def _packed_upper(p: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, columns) of the upper triangle in LAPACK's packed order (column by column), and the
    positions of the diagonal in it."""
    columns = np.repeat(np.arange(p), np.arange(1, p + 1))
    starts = np.arange(p) * (np.arange(p) + 1) // 2
    rows = np.arange(len(columns)) - np.repeat(starts, np.arange(1, p + 1))
    indices = (rows, columns, starts + np.arange(p))
    for array in indices:
        array.flags.writeable = False  # shared by every factor of this size
    return indices


#: Cross-products with this many columns (inclusive) take the packed Cholesky (see PackedCholeskyFactor); beyond
#: the upper bound its level-2 loops cost more than the threads' wait.
PACKED_CHOLESKY_COLUMNS = (128, 1024)


def cholesky(unit: np.ndarray):
    """The Cholesky factor of a positive definite ``unit``: packed for mid-sized ones (see PACKED_CHOLESKY_COLUMNS)."""
    low, high = PACKED_CHOLESKY_COLUMNS
    return PackedCholeskyFactor(unit) if low <= len(unit) <= high else CholeskyFactor(unit)
