"""Factors of an equilibrated (unit-diagonal) X'WX: LAPACK's Cholesky, plain or packed, and the R of a QR.

Each exposes what the WLS solve reads: ``pivots`` (the Cholesky pivots, whose spread decides whether the
normal equations are accurate enough), ``solve`` and ``inverse``.  The Cholesky factors S = U'U also give
``inverse_diagonal`` (diag(S^-1): the rows' squared norms of U^-1, from LAPACK's triangular inverse, a third
of the full inverse's work, made in place), ``whiten`` (U^-T B) and ``quadratic_forms`` (b' S^-1 b =
||U^-T b||^2 for each column b of B, by triangular solves of chunks of B's columns instead of a product with
S^-1: the standard errors of eliminated levels).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import numpy as np
from scipy import linalg, sparse
from scipy.linalg import lapack

#: The dense temporaries of ``quadratic_forms`` (here and in the block factors) hold about this many entries
#: (2 MiB; smaller chunks slow the triangular solves of S8's 1,005 x 4,999 E_rd): the columns of B are taken by
#: chunks of FORM_CHUNK_ENTRIES // (rows made dense).
FORM_CHUNK_ENTRIES = 1 << 18


def by_column_chunks(b, rows: int, forms: Callable[[object], np.ndarray]) -> np.ndarray:
    """``forms(part)`` (one value per column) for chunks ``part`` of the columns of ``b`` (dense or sparse),
    each of at most FORM_CHUNK_ENTRIES // ``rows`` columns, ``rows`` being the rows that ``forms`` makes dense;
    ``b`` itself when it fits in one chunk (else a sparse one is sliced as CSC)."""
    k = b.shape[1]
    step = max(1, FORM_CHUNK_ENTRIES // max(rows, 1))
    if k <= step:
        return forms(b)
    if sparse.issparse(b):
        b = sparse.csc_matrix(b)  # the same arrays when it is CSC already
    out = np.empty(k)
    for start in range(0, k, step):
        out[start:start + step] = forms(b[:, start:start + step])
    return out


def column_squared_norms(b) -> np.ndarray:
    """||b_k||^2 for each column b_k of ``b`` (dense or sparse)."""
    if sparse.issparse(b):
        return np.asarray(b.multiply(b).sum(axis=0)).ravel()
    return np.einsum("ik,ik->k", b, b)


class QRFactor:
    """R of sqrt(W) X = QR, for the covariance (R'R)^{-1} of a solve that took the QR path."""

    def __init__(self, r: np.ndarray):
        self._r = r

    def inverse(self) -> np.ndarray:
        r_inv = linalg.solve_triangular(self._r, np.eye(self._r.shape[0]), check_finite=False)
        return r_inv @ r_inv.T


class _TriangularMethods:
    """``inverse_diagonal``, ``whiten`` and ``quadratic_forms`` of a Cholesky factor S = U'U from its dense upper
    triangle (``upper``; what lies below the diagonal is never read)."""

    pivots: np.ndarray

    def upper(self) -> np.ndarray:
        """U, (p, p), Fortran-ordered; not to be written to."""
        raise NotImplementedError

    def working_upper(self) -> np.ndarray:
        """U in a new Fortran-ordered (p, p) array, which the caller may overwrite (``inverse_diagonal``)."""
        raise NotImplementedError

    def inverse(self) -> np.ndarray:
        raise NotImplementedError

    def inverse_diagonal(self, upper: np.ndarray | None = None) -> np.ndarray:
        """diag(S^-1) = the squared 2-norms of the rows of U^-1 (S^-1 = U^-1 U^-T), U^-1 by LAPACK's dtrtri in
        place of ``upper`` (from ``working_upper()``, which is overwritten; a new one when None): no (p, p)
        array but that one, and S^-1 never formed."""
        upper = self.working_upper() if upper is None else upper
        inverse, info = lapack.dtrtri(upper, lower=0, overwrite_c=1)
        if info != 0:
            return np.diag(self.inverse()).copy()
        return _upper_row_squared_norms(inverse)

    def whiten(self, block: np.ndarray, upper: np.ndarray | None = None, overwrite: bool = False) -> np.ndarray:
        """U^-T ``block`` (a dense (m, k) array), by a triangular solve (``upper``: U, as for ``inverse_diagonal``;
        ``overwrite``: the solve may write into ``block``)."""
        return linalg.solve_triangular(self.upper() if upper is None else upper, block, trans="T", lower=False,
                                       overwrite_b=overwrite, check_finite=False)

    def quadratic_forms(self, b, upper: np.ndarray | None = None) -> np.ndarray:
        """b_k' S^-1 b_k = ||U^-T b_k||^2 for each column b_k of an (m, k) ``b`` (dense or sparse), by chunks of
        columns made dense and whitened in place (``by_column_chunks``: no (m, k) array beyond ``b``;
        ``upper``: U, as for ``whiten``)."""
        upper = self.upper() if upper is None else upper

        def forms(part) -> np.ndarray:
            dense = part.toarray(order="F") if sparse.issparse(part) else np.array(part, order="F")
            return column_squared_norms(self.whiten(dense, upper, overwrite=True))

        return by_column_chunks(b, len(self.pivots), forms)


def _upper_row_squared_norms(upper: np.ndarray) -> np.ndarray:
    """The squared 2-norms of the rows of the upper triangle of ``upper`` (what lies below its diagonal is not
    read), by chunks of rows: row i's from column i on."""
    p = len(upper)
    out = np.empty(p)
    step = max(1, FORM_CHUNK_ENTRIES // max(p, 1))
    for start in range(0, p, step):
        block = np.triu(upper[start:start + step, start:])  # the chunk's rows, from its first diagonal column
        out[start:start + step] = np.einsum("ij,ij->i", block, block)
    return out


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

    def working_upper(self) -> np.ndarray:
        return np.array(self._upper, order="F")

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

    def __init__(self, unit: np.ndarray, blocked: bool = False):
        """``blocked``: factor by scipy's threaded dpotrf, then pack U for the solves, when scipy's BLAS has just
        run on its threads (a Schur complement's B B' by its dsyrk): they are awake and dpotrf takes 11 ms at
        1,000 columns against dpptrf's 50 (the wait above is for threads of numpy's BLAS, a library of its own)."""
        p = len(unit)
        self._rows, self._columns, diagonal = _packed_upper(p)
        if blocked:
            upper, info = lapack.dpotrf(unit, lower=0, clean=0)
            self._packed = upper[self._rows, self._columns] if info == 0 else None
        else:
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

    def working_upper(self) -> np.ndarray:
        return self.upper()

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


def cholesky(unit: np.ndarray, after_scipy_blas: bool = False):
    """The Cholesky factor of a positive definite ``unit``: packed for mid-sized ones (see PACKED_CHOLESKY_COLUMNS),
    factored by the blocked dpotrf when ``after_scipy_blas`` (``PackedCholeskyFactor``)."""
    low, high = PACKED_CHOLESKY_COLUMNS
    return PackedCholeskyFactor(unit, after_scipy_blas) if low <= len(unit) <= high else CholeskyFactor(unit)
