"""R's ordered rank rule on sqrt(W) X: which columns ``dqrdc2`` (the QR behind ``glm.fit``) aliases.

Columns are taken in order, and a column whose norm, after removing its projection on the columns kept
before it, falls below ``tol`` times its original norm is *aliased*: dropped, its coefficient reported as
NaN.  Unlike LAPACK's pivoted QR this keeps the user's column order, so the same columns are aliased as in R.
"""

from __future__ import annotations

import numpy as np


def aliased_columns(weighted_design: np.ndarray, tol: float) -> np.ndarray:
    """Boolean mask of the columns R's ``dqrdc2`` moves to the end as aliased (``qr(x * w, tol)`` in glm.fit).

    ``weighted_design`` is sqrt(w) X.  The rule, as in dqrdc2 (LINPACK's dqrdc with limited pivoting):
    Householder QR column by column, in the columns' order.  Each column has a *remaining norm*,
    at first its 2-norm.  At step l (l columns kept so far) the next column is aliased when its
    remaining norm is below ``tol`` times its original norm (times 1 for a zero column: zero
    columns are aliased; so is a NaN norm, which fails the test).  Otherwise it is kept and,
    unless row l is the last row, its reflector is applied to the columns after it, whose
    remaining norms are downdated as dqrdc2 does: with r a column's new entry in row l,

        t = max(1 - (|r| / norm)^2, 0);   norm *= sqrt(t)   if t >= 1e-6,
        else norm = the 2-norm of the column below row l  (recomputed: the downdate lost digits).

    Once n columns are kept (the rank reached the number of rows), every later column is aliased.

    One factorisation, blocked (``_reduce``): a block's kept reflectors update the columns after it
    at once, by matrix products, and those columns' norms are then downdated step by step from
    the rows the steps left (the norm below a step's row is unchanged by the block's later
    reflectors, which only rotate those rows).  Each column is first scaled by its largest
    absolute value, so that huge values cannot overflow; the test is relative to each column's
    norm, so this does not change it.

    The downdate is dqrdc2's, not the exact residual norm: a norm that shrinks by a factor near
    1e-3 in several steps carries rounding errors amplified by 1 / t, so on columns whose
    residual is only slightly larger than tol times their norm R's own answer depends on rounding.
    """
    n_rows, n_columns = weighted_design.shape
    if n_rows == 0 or n_columns == 0:
        return np.ones(n_columns, dtype=bool)  # dqrdc2 reduces no row: rank 0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        scaled = _scaled_columns(weighted_design)
        original = np.sqrt(np.einsum("ij,ij->j", scaled, scaled))
        threshold = tol * np.where(original == 0, 1.0, original)
        kept = _reduce(scaled, original.copy(), threshold, _BLOCK_WIDTHS, with_reflectors=False).kept
    return ~kept


#: Columns per block at each level of ``_reduce``; the blocks of the last level are reduced one column at a time.
_BLOCK_WIDTHS = (64, 8)
#: dqrdc2 recomputes a remaining norm when a step leaves less than this fraction of its square.
_RECOMPUTE_BELOW = 1e-6


class _Reduction:
    """dqrdc2's steps on a block of columns: which were kept, and the kept columns' reflectors
    I - tau v v' (v: a column of ``vectors``, 1 in its step's row, zeros above; tau = 0 where dqrdc2
    formed none: a zero column, or the last row)."""

    __slots__ = ("kept", "vectors", "taus")

    def __init__(self, kept: np.ndarray, vectors: np.ndarray | None, taus: np.ndarray):
        self.kept, self.vectors, self.taus = kept, vectors, taus


def _scaled_columns(matrix: np.ndarray) -> np.ndarray:
    """A Fortran-ordered copy of ``matrix`` with each column divided by its largest absolute value."""
    largest = np.max(np.abs(matrix), axis=0)
    return np.asfortranarray(matrix / np.where(largest > 0, largest, 1.0))


def _reduce(block: np.ndarray, remaining: np.ndarray, threshold: np.ndarray, widths: tuple[int, ...],
            with_reflectors: bool = True) -> _Reduction:
    """dqrdc2's steps on the columns of ``block`` (the rows not yet reduced), in place, as are their
    ``remaining`` norms; stops once every row is reduced.

    By blocks of ``widths[0]`` columns, each reduced by ``_reduce`` with ``widths[1:]`` (one column at a
    time when ``widths`` is empty), then applied to the columns after it.
    """
    if not widths:
        return _reduce_one_by_one(block, remaining, threshold)
    n_rows, n_columns = block.shape
    kept = np.zeros(n_columns, dtype=bool)
    vectors = np.zeros((n_rows, min(n_rows, n_columns)), order="F") if with_reflectors else None
    taus: list[float] = []
    start = 0
    while start < n_columns and len(taus) < n_rows:
        row, stop = len(taus), min(start + widths[0], n_columns)
        part = _reduce(block[row:, start:stop], remaining[start:stop], threshold[start:stop], widths[1:])
        kept[start:stop] = part.kept
        if len(part.taus) and stop < n_columns:
            _update_later_columns(part, block[row:, stop:], remaining[stop:])
        if vectors is not None:
            vectors[row:, row:row + len(part.taus)] = part.vectors
        taus.extend(part.taus)
        start = stop
    return _Reduction(kept, None if vectors is None else vectors[:, :len(taus)], np.array(taus))


def _reduce_one_by_one(block: np.ndarray, remaining: np.ndarray, threshold: np.ndarray) -> _Reduction:
    """dqrdc2's steps on the columns of ``block``, one column at a time (see ``_reduce``)."""
    n_rows, n_columns = block.shape
    kept = np.zeros(n_columns, dtype=bool)
    vectors = np.zeros((n_rows, min(n_rows, n_columns)), order="F")
    taus: list[float] = []
    for j in range(n_columns):
        step = len(taus)
        if step == n_rows:
            break
        if not remaining[j] >= threshold[j]:  # dqrdc2's test, under which NaN norms are aliased too
            continue
        kept[j] = True
        tau = _householder(block[step:, j], vectors[step:, step]) if step < n_rows - 1 else 0.0  # none in the last row
        taus.append(tau)
        if tau and j + 1 < n_columns:
            later = block[step:, j + 1:]
            v = vectors[step:, step]
            later -= np.outer(tau * v, v @ later)
            recompute = _downdate(remaining[j + 1:], later[0])
            if recompute.any():
                remaining[j + 1:][recompute] = np.linalg.norm(later[1:, recompute], axis=0)
    return _Reduction(kept, vectors[:, :len(taus)], np.array(taus))


def _householder(column: np.ndarray, v: np.ndarray) -> float:
    """LINPACK's reflector for ``column``: dqrdc2's u = x / (+-||x||) + e1, applied as I - u u' / u1, written
    as v = u / u1 into ``v``; returns tau = u1, or 0 (no reflector) for a zero column, as dqrdc2."""
    norm = float(np.linalg.norm(column))
    if norm == 0:
        v[0] = 1.0
        return 0.0
    if column[0] != 0:
        norm = float(np.copysign(norm, column[0]))
    u_first = 1.0 + column[0] / norm
    np.divide(column, norm * u_first, out=v)
    v[0] = 1.0
    return float(u_first)


def _downdate(remaining: np.ndarray, row: np.ndarray) -> np.ndarray:
    """dqrdc2's update of the remaining norms (in place) after a step that left ``row`` in these columns'
    step row; returns the mask of those whose norm must instead be recomputed below that row."""
    nonzero = remaining != 0
    ratio = np.divide(np.abs(row), remaining, out=np.zeros_like(remaining), where=nonzero)
    t = np.maximum(1.0 - ratio**2, 0.0)
    remaining *= np.sqrt(t)  # t = 1 where the norm is 0
    return nonzero & (t < _RECOMPUTE_BELOW)


def _update_later_columns(part: _Reduction, later: np.ndarray, remaining: np.ndarray) -> None:
    """Apply a block's reflectors to the columns ``later`` after it (rows from the block's first step on),
    then replay dqrdc2's downdates of their ``remaining`` norms over the block's steps."""
    _apply_reflectors(part.vectors, part.taus, later)
    below_squares = None
    for step, tau in enumerate(part.taus):
        if not tau:
            continue  # dqrdc2 applied no reflector: the norms stay
        recompute = _downdate(remaining, later[step])
        if recompute.any():
            if below_squares is None:
                below_squares = _squared_norms_below(later, len(part.taus))
            remaining[recompute] = np.sqrt(below_squares[step, recompute])


def _apply_reflectors(vectors: np.ndarray, taus: np.ndarray, block: np.ndarray) -> None:
    """``block`` <- H_k ... H_1 ``block`` in place (H_i = I - tau_i v_i v_i'), that is Q' ``block`` for
    Q = H_1 ... H_k = I - V T V', T upper triangular built as LAPACK's dlarft (forward, by columns)."""
    k = len(taus)
    cross = vectors.T @ vectors
    t = np.zeros((k, k))
    for i in range(k):
        t[i, i] = taus[i]
        if i:
            t[:i, i] = -taus[i] * (t[:i, :i] @ cross[:i, i])
    block -= vectors @ (t.T @ (vectors.T @ block))


def _squared_norms_below(block: np.ndarray, k: int) -> np.ndarray:
    """Row i (i < k): the squared 2-norms of ``block``'s columns below its row i, by suffix sums of
    squares (all terms positive: no cancellation, however small the norm)."""
    squares = block[:k] ** 2
    below = np.empty_like(squares)
    below[-1] = np.einsum("ij,ij->j", block[k:], block[k:])
    for i in range(k - 2, -1, -1):
        below[i] = below[i + 1] + squares[i + 1]
    return below
