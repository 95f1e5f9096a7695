"""Weighted least squares pieces of IRLS: rank detection and the WLS solve.

Rank detection follows R's ``dqrdc2`` (the QR behind ``glm.fit``): columns are
taken in order, and a column whose norm, after removing its projection on the
columns kept before it, falls below ``tol`` times its original norm is
*aliased* — dropped, its coefficient reported as NaN.  Unlike LAPACK's
pivoted QR this keeps the user's column order, so the same columns are aliased
as in R.

The per-iteration solve uses the normal equations X'WX b = X'Wz on the kept
columns, equilibrated to unit diagonal and factored by Cholesky (fast: one
pass over the data); a large categorical's diagonal block is eliminated
first, then every other categorical block that stays diagonal in the Schur
complement (a factor whose levels each hold whole cells of the first), the
cross-products between blocks kept sparse; standard errors come from the
factor's inverse diagonal, the (p, p) covariance only when asked for.
When the equilibrated matrix is too ill-conditioned for the normal
equations to be accurate, it falls back to a QR solve of sqrt(W) X b =
sqrt(W) z, R's own path.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import linalg, sparse
from scipy.linalg import blas, lapack

from glmformula import settings
from glmformula.engine.block_gram import BlockGram
from glmformula.exceptions import FitError

#: Beyond this condition number of the equilibrated X'WX, solve by QR instead.
NORMAL_EQUATIONS_MAX_CONDITION = 1e7
#: Squared column norms outside [_SAFE_SQUARE, 1 / _SAFE_SQUARE] (columns of ~1e-150 or ~1e150) keep few
#: digits in X'WX: such designs are solved by QR instead.
_SAFE_SQUARE = np.finfo(float).tiny * 1e16


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


def certainly_full_rank_by_gram(gram: np.ndarray, n_rows: int, tol: float) -> bool:
    """Whether R's QR rule (``aliased_columns``) with tolerance ``tol`` surely aliases no column, from X'WX.

    The Cholesky pivots of the unit-diagonal E = D^-1 X'WX D^-1, in column order, are
    exactly the ratios |r_jj| / ||x_j|| that the rule compares with ``tol``, and each is
    at least sqrt(lambda_min(E)).  Every entry of E is a sum of n products whose
    absolute values sum to at most 1 (Cauchy-Schwarz), so in floating point it is off
    by at most about (n + 4) eps, and the 2-norm of the error is below p (n + p + 4) eps
    (with eigvalsh's own error).  Hence

        lambda_min(computed E) - p (n + p + 4) eps > tol^2

    proves that no column is aliased, and the QR is needed only when it fails: nearly
    dependent columns, or a tolerance set high.
    """
    p = len(gram)
    if p > n_rows:  # more columns than rows: some column is aliased, no bound can prove otherwise
        return False
    norms = np.sqrt(np.diag(gram))
    if p == 0 or not np.all(norms > 0) or not np.all(np.isfinite(gram)):
        return False
    unit = gram / norms[:, None]
    unit /= norms
    smallest = np.linalg.eigvalsh(unit)[0]
    return bool(smallest - p * (n_rows + p + 4) * np.finfo(float).eps > tol**2)


def other_rows(gram: np.ndarray, scale: np.ndarray, orthogonal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(r, E[r, :]): the columns r outside the mutually orthogonal ``orthogonal`` and their rows of the
    equilibrated E = D^-1 X'WX D^-1 (D = diag(``scale``), the columns' norms).

    Block elimination and its rank certificate read nothing else: E's block of the orthogonal
    columns is the identity.  Equilibrating these m rows costs O(m p) instead of O(p^2) for the
    whole cross-product of a large categorical (a million entries for a thousand levels).
    """
    if isinstance(gram, BlockGram) and np.array_equal(gram.orthogonal, orthogonal):
        return gram.rest, gram.rows(scale)
    others = np.ones(len(gram), dtype=bool)
    others[orthogonal] = False
    rest = np.flatnonzero(others)
    rows = gram[rest] / scale[rest, None]
    rows /= scale
    return rest, rows


def certainly_full_rank(rest: np.ndarray, rows, orthogonal: np.ndarray, tol: float, groups: tuple = ()) -> bool:
    """Whether no column of the unit-diagonal X'WX can be aliased, proved from its block structure;
    ``rest`` and ``rows`` are the other columns and their rows of it (``other_rows``; dense or sparse).

    With the mutually orthogonal columns d first, E = L diag(I, S) L' where
    L = [[I, 0], [B, I]], B = E_rd and S = E_rr - B B' (the Schur complement), so

        lambda_min(E) >= min(1, lambda_min(S)) / (1 + ||B||_2)^2.

    Every pivot^2 of a Cholesky of E taken in any column order is at least
    lambda_min(E); when the bound exceeds tol^2, R's ordered rule aliases nothing.
    Costs O(k m^2) for k orthogonal and m other columns, instead of the O(p^3)
    Cholesky of all p columns.  ||B||_2^2 = ||B B'||_2 is bounded by row sums
    (``_norm_bound``) and, for large S, lambda_min(S) by 1 / trace(S^-1) from its
    factor (``_smallest_eigenvalue``, which eliminates the ``groups`` of other
    mutually orthogonal columns that stay so in S).  False means "not proved": take
    the ordered route.
    """
    if not len(rest):
        return 1.0 > tol**2
    b_bt = _outer_rows(_dense_enough(_columns_of(rows, orthogonal)))
    schur = _columns_of(rows, rest)
    schur = schur.toarray() if sparse.issparse(schur) else schur.copy()  # E_rr, then S in its memory
    b_norm = np.sqrt(_norm_bound(b_bt, schur))
    schur -= b_bt
    del b_bt
    local = _local_groups(groups, rest, rows.shape[1])
    for exact in (False, True):
        smallest = _smallest_eigenvalue(schur, exact, local)
        if min(1.0, smallest) / (1.0 + b_norm) ** 2 > tol**2:
            return True
    return False


#: Schur complements of at most this many columns get their smallest eigenvalue exactly (cheap at this size);
#: beyond the second bound, not at all (an eigenvalue decomposition of thousands of columns).
_EXACT_EIGENVALUE_COLUMNS = (256, 2000)


def _smallest_eigenvalue(schur: np.ndarray, exact: bool, groups: list[np.ndarray]) -> float:
    """lambda_min(``schur``), or a lower bound of it (not ``exact``, large matrices):
    lambda_min(S) >= 1 / trace(S^-1), the trace from the factor's inverse diagonal (``_schur_factor``);
    -inf when S is not numerically positive definite (or too large for the exact value)."""
    small, large = _EXACT_EIGENVALUE_COLUMNS
    if exact or len(schur) <= small:
        return float(np.linalg.eigvalsh(schur)[0]) if len(schur) <= large else -np.inf
    try:
        factor = _schur_factor(schur, groups)  # which leaves ``schur`` as it is
        trace = float(np.sum(factor.inverse_diagonal() if isinstance(factor, (_BlockFactor, _ScaledFactor))
                             else np.diag(factor.inverse())))
    except linalg.LinAlgError:
        return -np.inf
    return 1.0 / trace if trace > 0 and np.isfinite(trace) else -np.inf


def _local_groups(groups, rest: np.ndarray, p: int) -> list[np.ndarray]:
    """The ``groups`` (design columns, each inside ``rest``) as positions in ``rest``."""
    position = np.full(p, -1)
    position[rest] = np.arange(len(rest))
    local = [position[group] for group in groups]
    return [group for group in local if len(group) and group.min() >= 0]


def _norm_bound(b_bt: np.ndarray, e_rr: np.ndarray) -> float:
    """An upper bound of ||B B'||_2: its largest row sum of absolute values, or E_rr's (B B' <= E_rr, since
    S = E_rr - B B' is a Schur complement of a positive semi-definite matrix), or exactly for small ones."""
    if len(b_bt) <= _EXACT_EIGENVALUE_COLUMNS[0]:
        return max(float(np.linalg.eigvalsh(b_bt)[-1]), 0.0)
    return float(min(np.abs(b_bt).sum(axis=1).max(), np.abs(e_rr).sum(axis=1).max()))


def _columns_of(rows, columns: np.ndarray):
    """rows[:, columns] (dense or sparse): a slice when the columns are consecutive."""
    columns = np.asarray(columns)
    if len(columns) and columns[-1] - columns[0] + 1 == len(columns) and np.all(np.diff(columns) == 1):
        return rows[:, columns[0]:columns[-1] + 1]
    return rows[:, columns]


def _as_dense(matrix) -> np.ndarray:
    """A dense array of ``matrix`` (a new one for a sparse matrix; a dense one as it is)."""
    return matrix.toarray() if sparse.issparse(matrix) else matrix


#: Sparse E_rd with at least this share of non-zero entries are multiplied as dense arrays (by BLAS).
_DENSE_SHARE = 0.1


def _dense_enough(matrix):
    """``matrix`` as a dense array when dense or small enough for BLAS to beat a sparse product, else CSR."""
    if not sparse.issparse(matrix):
        return matrix
    rows, columns = matrix.shape
    if matrix.nnz >= _DENSE_SHARE * rows * columns or rows * columns <= 1 << 16:
        return matrix.toarray()
    return sparse.csr_matrix(matrix)


def aliased_columns_from_gram(gram: np.ndarray, tol: float, overwrite: bool = False,
                              orthogonal: np.ndarray | None = None) -> np.ndarray:
    """The same ordered rule as ``aliased_columns``, on X'WX instead of sqrt(W) X.

    A column is aliased when its squared residual on the kept earlier columns,
    relative to its squared norm, is below tol^2 (the pivots of a Cholesky taken
    in column order on the unit-diagonal cross-product).  One LAPACK Cholesky
    settles the usual full-rank case; only a deficient matrix takes the
    column-by-column route.  With ``overwrite`` the caller's ``gram`` is scaled
    in place (no copy of a large cross-product); with ``orthogonal`` (columns of
    one categorical) a full-rank design is usually proved so without the Cholesky
    (``certainly_full_rank``).
    """
    n_columns = len(gram)
    norms = np.sqrt(gram.diagonal())
    empty = norms == 0
    norms = np.where(empty, 1.0, norms)
    if isinstance(gram, BlockGram):
        orthogonal = gram.orthogonal
    groups = gram.groups if isinstance(gram, BlockGram) else ()
    if (orthogonal is not None and len(orthogonal) >= BLOCK_ELIMINATION_MIN_COLUMNS
            and _certainly_only_empty_aliased(gram, norms, empty, orthogonal, tol, groups)):
        return empty.copy()  # an empty column is aliased (R's rule) and changes no other column's residual
    if n_columns - int(empty.sum()) > ORDERED_RULE_MAX_COLUMNS:
        raise FitError(
            f"the design's {n_columns:,} columns are (nearly) linearly dependent beyond its empty cells, and "
            f"R's ordered rule for which to alias needs a dense {n_columns:,} x {n_columns:,} factorisation; drop "
            "the terms that nest in others (e.g. the main effects beside a:b), or merge sparse levels"
        )
    if isinstance(gram, BlockGram):
        gram, overwrite = gram.to_dense(), True
    unit = gram if overwrite else gram.copy()
    unit /= norms[:, None]
    unit /= norms
    if not empty.any():
        factor, info = lapack.dpotrf(unit, lower=0, clean=0)
        if info == 0 and np.min(np.abs(np.diag(factor))) ** 2 > tol**2:
            return np.zeros(n_columns, dtype=bool)
    return _ordered_rule(unit, empty, tol)


def _ordered_rule(unit: np.ndarray, empty: np.ndarray, tol: float) -> np.ndarray:
    """R's ordered rule on a unit-diagonal X'WX, column by column: column j is aliased when its squared
    residual on the kept columns before it, 1 - ||L^-1 E[kept, j]||^2, is at most tol^2.  The kept
    columns' Cholesky factor L is held compacted (kept columns in order), so that each step is one
    triangular solve on a view of it: O(p^3 / 3) in all."""
    aliased = empty.copy()
    candidates = np.flatnonzero(~empty)
    lower = np.zeros((len(candidates), len(candidates)))
    kept: list[int] = []
    for j in candidates:
        size = len(kept)
        if size:
            row = linalg.solve_triangular(lower[:size, :size], unit[kept, j], lower=True, check_finite=False)
            pivot = unit[j, j] - row @ row
        else:
            row, pivot = np.zeros(0), unit[j, j]
        if pivot <= tol**2:
            aliased[j] = True
            continue
        lower[size, :size] = row
        lower[size, size] = np.sqrt(pivot)
        kept.append(j)
    return aliased


#: Rank-deficient designs wider than this (empty columns aside) are refused: the ordered rule on their
#: cross-product would take a dense p x p factorisation, column by column.
ORDERED_RULE_MAX_COLUMNS = 5000


def _certainly_only_empty_aliased(gram, norms: np.ndarray, empty: np.ndarray, orthogonal: np.ndarray,
                                  tol: float, groups: tuple = ()) -> bool:
    """``certainly_full_rank`` on the columns that are not empty (all zero): when it holds, the empty
    columns are the only aliased ones."""
    rest, rows = other_rows(gram, norms, orthogonal)
    if not empty.any():
        return certainly_full_rank(rest, rows, orthogonal, tol, groups)
    filled = np.flatnonzero(~empty)
    position = np.full(len(empty), -1)
    position[filled] = np.arange(len(filled))
    kept_rest = np.flatnonzero(~empty[rest])
    return certainly_full_rank(position[rest[kept_rest]], rows[kept_rest][:, filled],
                               position[orthogonal[~empty[orthogonal]]], tol,
                               tuple(position[group[~empty[group]]] for group in groups))


#: Products of more multiply-adds than this go to BLAS (or to scipy.sparse when the operand is mostly zeros);
#: smaller ones by numpy's own loops, since BLAS's threads would spin and take the cores from the row passes.
_BLAS_MIN_WORK = 1 << 24


def _outer_rows(b) -> np.ndarray:
    """B B' for an (m, k) B (the rows of the other columns against an orthogonal block; dense or sparse)."""
    if sparse.issparse(b):
        return (b @ b.T).toarray()
    if b.shape[0] * b.shape[0] * b.shape[1] > _BLAS_MIN_WORK:
        if _mostly_zeros(b):
            rows = sparse.csr_matrix(b)
            return (rows @ rows.T).toarray()
        upper = blas.dsyrk(1.0, np.asfortranarray(b.T), trans=1)  # B B', one triangle: half a general product
        return np.triu(upper) + np.triu(upper, 1).T
    return _product(b, b.T)


def _product(a: np.ndarray, b) -> np.ndarray:
    """a @ b (b dense or sparse): numpy's loop when small; scipy.sparse when b is mostly zeros; else BLAS."""
    if sparse.issparse(b):
        return np.asarray((b.T @ a.T).T)
    if a.shape[0] * a.shape[1] * b.shape[1] <= _BLAS_MIN_WORK:
        return np.einsum("ij,jk->ik", a, b)
    if _mostly_zeros(b):
        return np.asarray((sparse.csc_matrix(b).T @ a.T).T)
    return a @ b


#: Columns of E_rd per chunk of diag(E_dr M E_rd): the chunk's (m, columns) product stays about 8 MB.
_CHUNK_ENTRIES = 1 << 20


def _column_quadratic_forms(b, middle: np.ndarray) -> np.ndarray:
    """diag(B' M B) for an (m, k) B (dense or sparse) and a dense (m, m) M, by chunks of B's columns so
    that no (m, k) product is held whole: b_k' M b_k for each column."""
    m, k = b.shape
    if not sparse.issparse(b) and m * m * k <= _BLAS_MIN_WORK:
        return np.einsum("ik,ik->k", b, _product(middle, b))
    out = np.empty(k)
    step = max(1, _CHUNK_ENTRIES // max(m, 1))
    columns = sparse.csc_matrix(b) if sparse.issparse(b) else b
    for start in range(0, k, step):
        part = columns[:, start:start + step]
        if sparse.issparse(part):  # M b_k for the chunk's columns, as (b_k' M)': O(non-zeros x m)
            out[start:start + step] = np.asarray(part.T.multiply(part.T @ middle).sum(axis=1)).ravel()
        else:
            out[start:start + step] = np.einsum("ik,ik->k", part, middle @ part)
    return out


def _mostly_zeros(a: np.ndarray) -> bool:
    return np.count_nonzero(a) < 0.1 * a.size


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
        if isinstance(self._factor, _QRFactor) or not np.isfinite(xtw).all():
            return None
        return SolveResult(self._factor.solve(xtw / self._scale) / self._scale, self._factor, self._scale)


class _QRFactor:
    """R of sqrt(W) X = QR, for the covariance (R'R)^{-1} of a solve that took the QR path."""

    def __init__(self, r: np.ndarray):
        self._r = r

    def inverse(self) -> np.ndarray:
        r_inv = linalg.solve_triangular(self._r, np.eye(self._r.shape[0]), check_finite=False)
        return r_inv @ r_inv.T


class _CholeskyFactor:
    """Cholesky factor U'U of an equilibrated (unit-diagonal) X'WX, by LAPACK directly (scipy's
    wrappers cost more than the factorisation of a small matrix)."""

    def __init__(self, unit: np.ndarray):
        self._upper, info = lapack.dpotrf(unit, lower=0, clean=0)  # only the upper triangle is read later
        if info != 0:
            raise linalg.LinAlgError("the cross-product is not positive definite")
        self.pivots = np.abs(np.diag(self._upper))

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        return lapack.dpotrs(self._upper, rhs, lower=0)[0]

    def inverse(self) -> np.ndarray:
        upper, info = lapack.dpotri(self._upper, lower=0)  # from the factor: a third of a solve's work
        if info != 0:
            upper = self.solve(np.eye(len(self.pivots)))
        upper = np.triu(upper)
        return upper + np.triu(upper, 1).T


class _PackedCholeskyFactor:
    """The same factor by LAPACK's packed routines (dpptrf, dpptrs, dpptri), for mid-sized cross-products.

    OpenBLAS replaces LAPACK's dpotrf by a threaded one from 128 columns on, and right after
    threaded BLAS calls (IRLS's X'WX of a wide dense design) it can wait about 0.1 s for its
    threads: on the benchmark machine, for 200 columns, 60-110 ms in most calls against 0.3 ms
    alone.  The packed routines are LAPACK's own, a few milliseconds up to a thousand columns.
    """

    def __init__(self, unit: np.ndarray):
        p = len(unit)
        self._rows, self._columns, diagonal = _packed_upper(p)
        self._packed, info = lapack.dpptrf(p, unit[self._rows, self._columns])  # upper triangle, by columns
        if info != 0:
            raise linalg.LinAlgError("the cross-product is not positive definite")
        self.pivots = np.abs(self._packed[diagonal])

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        return lapack.dpptrs(len(self.pivots), self._packed, rhs)[0]

    def inverse(self) -> np.ndarray:
        """(U'U)^{-1} by LAPACK's blocked dpotri on the factor unpacked (dpptri's level-2 loops take most of a
        second at a thousand columns; this is asked for once a fit)."""
        p = len(self.pivots)
        upper = np.zeros((p, p), order="F")
        upper[self._rows, self._columns] = self._packed
        upper, info = lapack.dpotri(upper, lower=0)
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


#: Cross-products with this many columns (inclusive) take the packed Cholesky (see _PackedCholeskyFactor); beyond
#: the upper bound its level-2 loops cost more than the threads' wait.
PACKED_CHOLESKY_COLUMNS = (128, 1024)


class _BlockFactor:
    """Block elimination of an equilibrated X'WX whose columns ``d`` are mutually orthogonal.

    The indicator columns of one categorical's levels never share a row, so their
    block of the unit-diagonal cross-product is the identity.  With the other
    columns r, E = [[E_rr, E_rd], [E_dr, I]] is factored through the Schur
    complement S = E_rr - E_rd E_dr (m x m for m other columns) instead of all
    p x p: a 1,000-level factor costs O(1000 m^2), not O(1000^3).  Solving
    E x = b:  x_r = S^{-1} (b_r - E_rd b_d),  x_d = b_d - E_dr x_r.  This is the
    Cholesky factorisation of E with the columns d taken first, whose pivots are
    1 for d and those of S for r.

    E_rd stays sparse when it is mostly zeros (the other blocks' tables against the
    eliminated one: a nested pair has one non-zero per column), so that nothing of
    size m x k is formed; the other blocks' diagonals are then part of S, factored
    with it.
    """

    def __init__(self, rest: np.ndarray, rows, orthogonal: np.ndarray, groups: tuple = ()):
        """``rest`` and ``rows``: the other columns r and their rows E[r, :] (``other_rows``; dense or sparse);
        ``groups``: other sets of mutually orthogonal columns (inside r), eliminated from S in turn where they
        stay orthogonal there (``_schur_factor``)."""
        p = rows.shape[1]
        self._d, self._r = orthogonal, rest
        self._e_rd = _dense_enough(_columns_of(rows, orthogonal))
        # small products with E_rd (m x k, k the levels) by numpy's loops: BLAS would run them on threads that
        # then spin, taking the cores from the row-pass kernels of the next step
        schur = _as_dense(_columns_of(rows, rest)) - _outer_rows(self._e_rd)
        self._schur = _schur_factor(schur, _local_groups(groups, rest, p)) if len(self._r) else None
        self.pivots = np.ones(p)
        if self._schur is not None:
            self.pivots[self._r] = self._schur.pivots

    def _times(self, vector: np.ndarray) -> np.ndarray:
        """E_rd vector."""
        if sparse.issparse(self._e_rd):
            return self._e_rd @ vector
        return np.einsum("ik,k->i", self._e_rd, vector)

    def _transposed_times(self, vector: np.ndarray) -> np.ndarray:
        """E_dr vector."""
        if sparse.issparse(self._e_rd):
            return self._e_rd.T @ vector
        return np.einsum("ik,i->k", self._e_rd, vector)

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        x = np.empty_like(rhs)
        b_d = rhs[self._d]
        if self._schur is None:
            x[self._d] = b_d
            return x
        x_r = self._schur.solve(rhs[self._r] - self._times(b_d))
        x[self._r] = x_r
        x[self._d] = b_d - self._transposed_times(x_r)
        return x

    def inverse_diagonal(self) -> np.ndarray:
        """diag(E^{-1}): diag(S^{-1}) for r and 1 + diag(E_dr S^{-1} E_rd) for d (see ``inverse``), the latter
        column by column of E_rd in chunks: O(k m^2) dense, O(non-zeros x m) sparse, never an (m, k) array
        or the (p, p) inverse."""
        diagonal = np.ones(len(self.pivots))
        if self._schur is not None:
            schur_inverse = self._schur.inverse()
            diagonal[self._r] = np.diag(schur_inverse)
            diagonal[self._d] += _column_quadratic_forms(self._e_rd, schur_inverse)
        return diagonal

    def inverse(self) -> np.ndarray:
        """E^{-1} = [[S^{-1}, -S^{-1} E_rd], [-E_dr S^{-1}, I + E_dr S^{-1} E_rd]].

        Built in the order (r, d) and put back in the columns' order by one indexed copy, none when
        the levels are already the last columns (the usual layout of a formula's terms).  (p, p): only
        for a covariance asked for (``SolveResult.unscaled_covariance``).
        """
        p, m = len(self.pivots), len(self._r)
        blocks = np.zeros((p, p))
        levels = blocks[m:, m:]
        if self._schur is not None:
            schur_inverse = self._schur.inverse()
            cross = -_product(schur_inverse, self._e_rd)  # (m, k): the r-d block
            blocks[:m, :m] = schur_inverse
            blocks[:m, m:] = cross
            blocks[m:, :m] = cross.T
            levels[...] = -(self._e_rd.T @ cross)
        levels.flat[:: p - m + 1] += 1.0
        order = np.concatenate([self._r, self._d])
        if np.array_equal(order, np.arange(p)):
            return blocks
        inverse = np.empty((p, p))
        inverse[np.ix_(order, order)] = blocks
        return inverse


#: Orthogonal blocks with fewer columns than this are left to the plain Cholesky (no gain below it).
BLOCK_ELIMINATION_MIN_COLUMNS = 64


class _ScaledFactor:
    """The factor of S = D S' D (D = diag(``scale``)) from one of the unit-diagonal S'."""

    def __init__(self, unit_factor, scale: np.ndarray):
        self._unit, self._scale = unit_factor, scale
        self.pivots = unit_factor.pivots * scale

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        return self._unit.solve(rhs / self._scale) / self._scale

    def inverse_diagonal(self) -> np.ndarray:
        return self._unit.inverse_diagonal() / self._scale**2

    def inverse(self) -> np.ndarray:
        inverse = self._unit.inverse()
        inverse /= self._scale[:, None]
        inverse /= self._scale
        return inverse


def _schur_factor(schur: np.ndarray, groups: list[np.ndarray]):
    """Factor a Schur complement S, eliminating first the largest of ``groups`` (sets of its columns) whose
    block of S is diagonal: a factor nested in the one eliminated before (S7's c1000 beside c20:c1000, whose
    cells each fall in one level of c1000) leaves S = [[S_rr, S_ra], [S_ar, diag]], and block elimination of
    the diagonal part costs O(levels m) instead of a dense Cholesky of all of S.  Else a Cholesky of S."""
    for group in sorted(groups, key=len, reverse=True):
        if len(group) < BLOCK_ELIMINATION_MIN_COLUMNS or not _is_diagonal(schur, group):
            continue
        scale = np.sqrt(np.diag(schur))
        if not np.all(scale > 0) or not np.all(np.isfinite(scale)):
            break
        unit = schur / scale[:, None]
        unit /= scale
        others = np.ones(len(schur), dtype=bool)
        others[group] = False
        rest = np.flatnonzero(others)
        inner_groups = tuple(g for g in groups if g is not group)
        return _ScaledFactor(_BlockFactor(rest, unit[rest], group, inner_groups), scale)
    return _cholesky(schur)


def _is_diagonal(matrix: np.ndarray, group: np.ndarray) -> bool:
    """Whether matrix[group, group] has no non-zero entry off its diagonal (read by chunks of rows)."""
    step = max(1, _CHUNK_ENTRIES // len(group))
    for start in range(0, len(group), step):
        rows = group[start:start + step]
        block = matrix[np.ix_(rows, group)]
        on_diagonal = block[np.arange(len(rows)), np.arange(start, start + len(rows))]
        if np.count_nonzero(block) != np.count_nonzero(on_diagonal):
            return False
    return True


def _cholesky(unit: np.ndarray):
    """The Cholesky factor of a positive definite ``unit``: packed for mid-sized ones (see PACKED_CHOLESKY_COLUMNS)."""
    low, high = PACKED_CHOLESKY_COLUMNS
    return _PackedCholeskyFactor(unit) if low <= len(unit) <= high else _CholeskyFactor(unit)


def _factor(unit: np.ndarray, rest: np.ndarray | None, orthogonal: np.ndarray | None, groups: tuple = ()):
    """Factor the unit-diagonal X'WX (given by the rows of the columns ``rest`` outside ``orthogonal`` when
    these are set; ``groups``: other orthogonal sets, see ``_BlockFactor``), or None when it is not
    numerically positive definite."""
    try:
        if orthogonal is not None:
            return _BlockFactor(rest, unit, orthogonal, groups)
        return _cholesky(unit)
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
    factor = _factor(equilibrated, rest, orthogonal, gram.groups if isinstance(gram, BlockGram) else ())
    if factor is None:
        return _solve_qr(design, w, z)
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
    return SolveResult(coefficients, _QRFactor(r), np.ones(r.shape[1]))


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
    return SolveResult(coefficients / scale, _QRFactor(r), scale)
