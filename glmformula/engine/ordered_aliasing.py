"""R's ordered aliasing rule on a block X'WX, by block elimination of a categorical's levels: no p x p matrix.

R's rule (``rank.aliased_columns_from_gram``) takes the columns in order and aliases column j when its
squared residual on the kept columns before it, relative to its squared norm, is at most tol^2.  On the
unit-diagonal E = D^-1 X'WX D^-1 that residual is the Schur complement (the pivot)

    p_j = E_jj - E_jK E_KK^-1 E_Kj,        K = the kept columns before j,

which depends on the set K only, not on the order in which its columns are eliminated.  The columns d of one
categorical's levels are mutually orthogonal (E_dd = I), so eliminating the kept ones, K_d, first costs
nothing but a rank update of the m other columns r:

    T = E_rr - sum_{i in K_d} b_i b_i'           (m x m, b_i = E_{r, i}).

With K_r the kept columns of r and T_KK = L L' (``_State``), the pivots are

    d column j:   p_j = 1 - b_j' T_KK^-1 b_j  = 1 - ||L^-1 b_j[K_r]||^2,
    r column j:   p_j = T_jj - T_jK T_KK^-1 T_Kj,

whether the r columns come before the levels (the usual layout: the largest factor last), after them or on
both sides.  The columns are taken in runs of one kind, the levels in chunks J of about m columns: within a
chunk the pivots given its earlier kept columns are the rule on the Schur complement

    Z = I - W'W,   W = L^-1 E_{K_r, J}            (|J| x |J|; for r columns T_JJ - W'W, W = L^-1 T_{K_r, J}),

settled by ``ordered_cholesky`` (LAPACK Cholesky factorisations, restarted after each aliased column); then T
is downdated by the chunk's kept levels at once and refactored.  O(k m^2 + m^3) work for k levels, in BLAS;
O(m^2 + m |J| + |J|^2 + nnz(E_rd)) memory.

Rounding.  X'WX holds each entry to a few ulps, so the pivot of a column that is exactly a combination of
earlier ones, sum_i x_i e_i, comes out as v' dE v = O(eps ||v||^2), v = (-x, 1) in unit scale, not 0
(R's QR on X sees ~1e-25): a covariate constant within a factor's levels, beside the factor, gives pivots of
1e-12 to 1e-9.  So a pivot within ``ROUNDING_FACTOR`` eps ||v||^2 is aliased too (``within_rounding``).
Since ||v||^2 = p_j^2 ||M^-1 e_j||^2 <= p_j^2 / lambda_min(M)^2 (M = E on K and j), this can alias a column
the plain rule keeps only when lambda_min(E) <= sqrt(ROUNDING_FACTOR eps) (``ROUNDING_FLOOR``): a design
that near singular.  ||v|| is found only for the columns whose pivot is at most ``SUSPECT_PIVOT``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import linalg, sparse
from scipy.linalg import blas, lapack

#: A pivot within this many eps ||v||^2 is rounding of X'WX's entries (measured: 0.1-3.5 at 30k-1M rows).
ROUNDING_FACTOR = 64.0
#: lambda_min(E) above this proves that the rounding criterion aliases nothing the plain rule keeps.
ROUNDING_FLOOR = float(np.sqrt(ROUNDING_FACTOR * np.finfo(float).eps))
#: Pivots at most this are checked against their rounding (an exact dependence with a larger pivot would need
#: coefficients of ~1e5 times the columns' norm ratio).
SUSPECT_PIVOT = 1e-5
#: Levels per chunk: at least this many, at most the second (the chunk's |J| x |J| Schur complement: 32 MB).
_CHUNK = (256, 2048)
#: Columns factored at a time once a column was aliased (``ordered_cholesky``): few enough that a factorisation
#: cut short by the next aliased column wastes little, enough that each reduction of the rest is a BLAS-3 update.
_PANEL = 512


def within_rounding(pivot: float, coefficients_squared: float) -> bool:
    """Whether ``pivot`` is indistinguishable from 0 given X'WX's rounding: at most ROUNDING_FACTOR eps ||v||^2,
    ||v||^2 = 1 + ``coefficients_squared`` (the squared norm of the column's projection coefficients)."""
    return bool(pivot <= ROUNDING_FACTOR * np.finfo(float).eps * (1.0 + coefficients_squared))


def block_aliased_columns(rest: np.ndarray, rows, orthogonal: np.ndarray, empty: np.ndarray,
                          tol: float) -> np.ndarray | None:
    """R's ordered rule on the unit-diagonal E, from the rows of its other columns: a (p,) boolean mask.

    ``rest`` and ``rows``: the columns r outside ``orthogonal`` and their rows E[r, :] (dense or sparse; see
    ``rank.other_rows``); ``orthogonal``: the mutually orthogonal columns d; ``empty``: the all-zero columns,
    aliased (R's rule) without changing any other column's pivot.  None when T_KK is not numerically
    positive definite after a downdate (columns dependent at the tolerance's edge): the caller decides.
    """
    aliased = empty.copy()
    filled_rest = ~empty[rest]
    rest, rows = rest[filled_rest], rows[np.flatnonzero(filled_rest)]
    columns = sparse.csc_matrix(rows) if sparse.issparse(rows) else np.asarray(rows)
    state = _State(_dense(columns[:, rest]) if len(rest) else np.zeros((0, 0)), columns, tol)
    for kind, run in _runs(rest, orthogonal[~empty[orthogonal]]):
        step = len(run) if kind == "rest" else _chunk_size(state.n_kept)
        for start in range(0, len(run), step):
            chunk = run[start:start + step]
            kept = state.take_rest(len(chunk)) if kind == "rest" else state.take_levels(chunk)
            if kept is None:
                return None
            aliased[chunk[~kept]] = True
    return aliased


class _State:
    """T over the live other columns (the kept ones of r first, ``n_kept`` of them, then those not reached; its
    lower triangle is kept up to date), the lower Cholesky factor L of its kept block T_KK (refactored lazily
    after a downdate), and the kept levels."""

    def __init__(self, e_rr: np.ndarray, columns, tol: float):
        self.schur = np.array(e_rr, order="F")  # T: E_rr until a level is kept
        self.columns = columns  # E[r, :], CSC or dense
        self.live = np.arange(len(e_rr))  # positions in r of T's rows
        self.n_kept = 0
        self.lower = np.zeros((0, 0))
        self.stale = False
        self.levels: list[np.ndarray] = []  # the kept levels, by chunk
        self.tol = tol

    def take_rest(self, count: int) -> np.ndarray | None:
        """R's rule on the next ``count`` other columns (None when T_KK cannot be factored): Z = T_ss - W'W,
        W = L^-1 T_Ks; the kept ones join K_r and L grows by [W_kept', F] (F: Z_kept's factor)."""
        if not self._refresh():
            return None
        s, e = self.n_kept, self.n_kept + count
        reduced = _reduce(self.lower, self.schur[s:e, :s].T)
        block = _minus_gram(self.schur[s:e, s:e], reduced)
        kept, factor = ordered_cholesky(block, self.tol, self._outer(reduced, slice(s, e)), overwrite=True)
        q = int(kept.sum())
        lower = np.zeros((s + q, s + q))
        lower[:s, :s] = self.lower
        lower[s:, :s] = reduced[:, kept].T
        lower[s:, s:] = factor
        self.lower = lower
        if q < count:  # the aliased columns take no further part
            keep = np.concatenate([np.arange(s), s + np.flatnonzero(kept), np.arange(e, len(self.live))])
            self.schur = np.asfortranarray(self.schur[np.ix_(keep, keep)])
            self.live = self.live[keep]
        self.n_kept = s + q
        return kept

    def take_levels(self, chunk: np.ndarray) -> np.ndarray | None:
        """R's rule on a chunk of levels (None when T_KK cannot be factored): Z = I - W'W, W = L^-1 E_{K_r, J};
        the kept ones downdate T by their b b' at once."""
        if not self._refresh():
            return None
        b = _dense(self.columns[:, chunk])[self.live]
        reduced = _reduce(self.lower, b[:self.n_kept])
        kept, _ = ordered_cholesky(_minus_gram(np.eye(len(chunk)), reduced), self.tol, self._outer(reduced, None),
                                   overwrite=True)
        if kept.any():
            self.levels.append(chunk[kept])
            if len(self.live):
                chosen = np.asfortranarray(b[:, kept])
                self.schur = blas.dsyrk(-1.0, chosen, beta=1.0, c=self.schur, trans=0, lower=1, overwrite_c=1)
                self.stale = self.n_kept > 0
        return kept

    def _outer(self, reduced: np.ndarray, rows: slice | None) -> Callable[[np.ndarray], float]:
        """c -> ||x||^2 for x the coefficients, on K_r and K_d, of the projection of sum_i c_i e_i over the columns
        now taken (other columns at T's ``rows``, or levels): x_r = T_KK^-1 T_{K_r, J} c = L^-T (W c), and
        x_d = E_{K_d, J} c - E_{K_d, K_r} x_r (the first term zero for levels, orthogonal to K_d)."""

        def squared_norm(c: np.ndarray) -> float:
            x_r = (linalg.solve_triangular(self.lower, reduced @ c, lower=True, trans="T", check_finite=False)
                   if self.n_kept else np.zeros(0))
            if not self.levels:
                return float(x_r @ x_r)
            combination = np.zeros(len(self.live))
            combination[:self.n_kept] = -x_r
            if rows is not None:
                combination[rows] += c
            b_kept = self.columns[:, np.concatenate(self.levels)]
            x_d = (b_kept[self.live].T @ combination) if sparse.issparse(b_kept) else combination @ b_kept[self.live]
            return float(x_r @ x_r + x_d @ x_d)

        return squared_norm

    def _refresh(self) -> bool:
        """Factor T_KK again after a downdate; False when it is not numerically positive definite."""
        if not self.stale:
            return True
        factor, info = lapack.dpotrf(self.schur[:self.n_kept, :self.n_kept], lower=1, clean=1)
        if info != 0:
            return False
        self.lower, self.stale = factor, False
        return True


def ordered_cholesky(matrix: np.ndarray, tol: float, outer: Callable[[np.ndarray], float] | None = None,
                     overwrite: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """R's ordered rule on a symmetric positive semi-definite ``matrix`` (its lower triangle is read), with the
    rounding criterion: (the mask of kept columns, the lower Cholesky factor of matrix[kept][:, kept]).

    Column j is aliased when its pivot, matrix_jj less its projection on the kept columns before it, is at
    most tol^2, or at most ``SUSPECT_PIVOT`` and ``within_rounding`` of ||v||^2 = 1 + ||y||^2 + outer(c): y its
    coefficients on those kept columns, c = e_j - sum y_i e_i, ``outer`` the squared coefficients on the
    columns ``matrix`` is a Schur complement on (none by default).  One LAPACK Cholesky gives every pivot up to
    the first such column q; the columns after it are reduced by the kept ones (Z_22 - L_21 L_21',
    L_21 = Z_21 L_11^-T) and factored again, ``_PANEL`` columns at a time (LAPACK does not stop at a small
    positive pivot, so a factorisation of all of them would be redone after each aliased column): O(n^3) in
    all, plus O(n^2) per aliased column and per panel.
    """
    n = len(matrix)
    kept = np.zeros(n, dtype=bool)
    work = matrix if overwrite and matrix.flags.f_contiguous else np.array(matrix, order="F")
    start = count = 0
    factor = panel = None
    while start < n:
        size = len(work) if factor is None else min(len(work), _PANEL)  # after a restart: one panel at a time
        chol, info = lapack.dpotrf(work if size == len(work) else work[:size, :size], lower=1, clean=1)
        valid = info - 1 if info > 0 else size
        pivots = np.diagonal(chol)[:valid] ** 2
        doubtful = np.flatnonzero(~(pivots > max(tol * tol, SUSPECT_PIVOT)))  # NaN-safe
        q = int(doubtful[0]) if len(doubtful) else valid
        if q == n:  # the usual case: nothing aliased, one factorisation
            return np.ones(n, dtype=bool), chol
        if factor is None:
            factor = np.zeros((n, n))  # the kept columns' factor, compacted
            panel = np.zeros((n, n))  # row i: the factor's entries of column i against the kept columns so far
        if q == size:
            settled = after = size  # the whole panel kept
        elif q < valid and pivots[q] > tol * tol and not _rounding(
                chol, q, panel[start + q, :count], factor[:count, :count], panel[start:start + q, :count],
                kept[:start], start, outer):
            settled = after = q + 1  # a small pivot above its rounding: kept with the q before it
        else:
            settled, after = q, q + 1  # the q columns before it kept, column start + q aliased
        kept[start:start + settled] = True
        factor[count:count + settled, :count] = panel[start:start + settled, :count]
        factor[count:count + settled, count:count + settled] = chol[:settled, :settled]
        if after >= len(work):
            count += settled
            break
        if settled:
            l21 = linalg.solve_triangular(chol[:settled, :settled], work[after:, :settled].T, lower=True,
                                          check_finite=False).T
            panel[start + after:, count:count + settled] = l21
            work = _minus_gram(work[after:, after:], l21.T)
        else:
            work = np.asfortranarray(work[after:, after:])
        start, count = start + after, count + settled
    return kept, factor[:count, :count]


def _rounding(chol: np.ndarray, q: int, row_before: np.ndarray, factor_before: np.ndarray, panel: np.ndarray,
              kept_before: np.ndarray, start: int, outer: Callable[[np.ndarray], float] | None) -> bool:
    """Whether column start + q's pivot (chol[q, q]^2) is within rounding: y solves F' y = (row_before,
    chol[q, :q]), F the factor of the kept columns before it ([[factor_before, 0], [panel, chol[:q, :q]]])."""
    count = len(row_before)
    lower = np.zeros((count + q, count + q))
    lower[:count, :count] = factor_before
    lower[count:, :count] = panel
    lower[count:, count:] = chol[:q, :q]
    y = linalg.solve_triangular(lower, np.concatenate([row_before, chol[q, :q]]), lower=True, trans="T",
                                check_finite=False)
    squared = float(y @ y)
    if outer is not None:
        c = np.zeros(start + len(chol))
        c[np.concatenate([np.flatnonzero(kept_before), start + np.arange(q)])] = -y
        c[start + q] = 1.0
        squared += outer(c)
    return within_rounding(float(chol[q, q]) ** 2, squared)


def _reduce(lower: np.ndarray, block: np.ndarray) -> np.ndarray:
    """L^-1 ``block`` (a new array; (0, columns) without kept other columns)."""
    if not len(lower):
        return np.zeros((0, block.shape[1]))
    return linalg.solve_triangular(lower, block, lower=True, check_finite=False)


def _minus_gram(block: np.ndarray, reduced: np.ndarray) -> np.ndarray:
    """The lower triangle of block - reduced' reduced (BLAS's dsyrk), in a new Fortran-ordered array whose
    strict upper triangle is ``block``'s, not updated (``ordered_cholesky`` reads the lower one only)."""
    out = np.array(block, order="F", dtype=float)
    if reduced.shape[0] == 0 or out.size == 0:
        return out
    return blas.dsyrk(-1.0, np.asfortranarray(reduced), beta=1.0, c=out, trans=1, lower=1, overwrite_c=1)


def _runs(rest: np.ndarray, levels: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """The non-empty columns in order, as runs of one kind: ("rest", columns of r) or ("levels", columns of d)."""
    columns = np.concatenate([rest, levels])
    is_level = np.concatenate([np.zeros(len(rest), dtype=bool), np.ones(len(levels), dtype=bool)])
    order = np.argsort(columns, kind="stable")
    columns, is_level = columns[order], is_level[order]
    breaks = np.flatnonzero(np.diff(is_level.astype(np.int8))) + 1
    return [("levels" if part_kind[0] else "rest", part)
            for part, part_kind in zip(np.split(columns, breaks), np.split(is_level, breaks)) if len(part)]


def _chunk_size(n_kept: int) -> int:
    """Levels per chunk: about the kept other columns' number, so that refactoring T_KK (m^3 / 3) costs no
    more than the chunk's triangular solve (m^2 |J|)."""
    return int(min(max(n_kept, _CHUNK[0]), _CHUNK[1]))


def _dense(matrix) -> np.ndarray:
    """A dense copy (sparse) or the array itself."""
    return matrix.toarray() if sparse.issparse(matrix) else np.asarray(matrix)
