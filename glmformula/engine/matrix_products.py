"""Products of the block solve's pieces, dense or sparse, each by the cheapest route for its size.

Small products run in numpy's own loops (BLAS's threads would spin and take the cores from the row passes
of the next IRLS step), large dense ones in BLAS, and operands that are mostly zeros in scipy.sparse.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.linalg import blas


def columns_of(rows, columns: np.ndarray):
    """rows[:, columns] (dense or sparse): a slice when the columns are consecutive."""
    columns = np.asarray(columns)
    if len(columns) and columns[-1] - columns[0] + 1 == len(columns) and np.all(np.diff(columns) == 1):
        return rows[:, columns[0]:columns[-1] + 1]
    return rows[:, columns]


def as_dense(matrix) -> np.ndarray:
    """A dense array of ``matrix`` (a new one for a sparse matrix; a dense one as it is)."""
    return matrix.toarray() if sparse.issparse(matrix) else matrix


#: Sparse E_rd with at least this share of non-zero entries are multiplied as dense arrays (by BLAS).
_DENSE_SHARE = 0.1


def dense_enough(matrix):
    """``matrix`` as a dense array when dense or small enough for BLAS to beat a sparse product, else CSR."""
    if not sparse.issparse(matrix):
        return matrix
    rows, columns = matrix.shape
    if matrix.nnz >= _DENSE_SHARE * rows * columns or rows * columns <= 1 << 16:
        return matrix.toarray()
    return sparse.csr_matrix(matrix)


#: Products of more multiply-adds than this go to BLAS (or to scipy.sparse when the operand is mostly zeros);
#: smaller ones by numpy's own loops, since BLAS's threads would spin and take the cores from the row passes.
_BLAS_MIN_WORK = 1 << 24


def coupling_operand(matrix):
    """E_rd as a block factor keeps it: dense when given dense or small (``dense_enough``), else sparse, as CSC
    (its products densify a chunk of columns at a time: ``outer_rows``, ``cholesky.by_column_chunks``)."""
    if not sparse.issparse(matrix) or matrix.shape[0] * matrix.shape[1] <= 1 << 16:
        return dense_enough(matrix)
    return sparse.csc_matrix(matrix)


def outer_route(b) -> str:
    """How ``outer_rows`` forms B B' for an (m, k) B: "blas" (scipy's threaded dsyrk: a large dense B not mostly
    zeros, or a large sparse one filled enough, by chunks of its columns), "sparse" (scipy.sparse: a sparse B,
    or a large dense one mostly zeros) or "small" (numpy's loops)."""
    m, k = b.shape
    large = m * m * k > _BLAS_MIN_WORK
    if sparse.issparse(b):
        return "blas" if large and b.nnz >= _DENSE_SHARE * m * k else "sparse"
    if not large:
        return "small"
    return "sparse" if _mostly_zeros(b) else "blas"


def outer_rows(b, keep_sparse: bool = False, route: str | None = None):
    """B B' for an (m, k) B (the rows of the other columns against an orthogonal block; dense or sparse): a
    dense array, or with ``keep_sparse`` a sparse one when B is sparse (for ``subtract_from``), by the route
    ``outer_route`` gives (``route``: the caller's, already found)."""
    route = outer_route(b) if route is None else route
    if route == "blas":
        if sparse.issparse(b):
            return _outer_by_column_chunks(b)
        # B B', one triangle (half a general product; the other left zero), mirrored in place
        return symmetrize_upper(blas.dsyrk(1.0, np.asfortranarray(b.T), trans=1))
    if route == "sparse":
        if not sparse.issparse(b):
            rows = sparse.csr_matrix(b)
            return (rows @ rows.T).toarray()
        outer = b @ b.T
        return outer if keep_sparse else outer.toarray()
    return product(b, b.T)


#: Entries of the dense chunk of B's columns in ``_outer_by_column_chunks`` (8 MB).
_OUTER_CHUNK_ENTRIES = 1 << 20


def _outer_by_column_chunks(b) -> np.ndarray:
    """B B' of a sparse (m, k) B by BLAS's dsyrk on chunks of its columns made dense in turn (S8's 1,005 x 4,999
    E_rd, 18% filled: no dense copy of B, 40 MB written afresh at every factor), summed into one triangle."""
    m, k = b.shape
    columns = sparse.csc_matrix(b)
    step = max(1, _OUTER_CHUNK_ENTRIES // max(m, 1))
    upper = np.zeros((m, m), order="F")
    for start in range(0, k, step):
        chunk = columns[:, start:start + step].toarray(order="F")
        upper = blas.dsyrk(1.0, chunk, beta=1.0, c=upper, trans=0, lower=0, overwrite_c=1)
    return symmetrize_upper(upper)


#: Rows per block of the in-place mirroring and the chunked row sums (a block of a 1,000-column matrix: 2 MB).
_BLOCK_ROWS = 256


def symmetrize_upper(a: np.ndarray) -> np.ndarray:
    """``a`` with its strict lower triangle overwritten by the upper one's mirror, in place, block by block (no
    temporary of a's size)."""
    n = len(a)
    for start in range(0, n, _BLOCK_ROWS):
        stop = min(start + _BLOCK_ROWS, n)
        a[start:stop, :start] = a[:start, start:stop].T
        block = a[start:stop, start:stop]
        block[np.tril_indices(stop - start, -1)] = block.T[np.tril_indices(stop - start, -1)]
    return a


def subtract_from(target: np.ndarray, matrix) -> None:
    """target -= matrix, in place, for a dense or sparse ``matrix`` (its stored entries only: no dense copy)."""
    if not sparse.issparse(matrix):
        target -= matrix
        return
    entries = sparse.coo_matrix(matrix)
    entries.sum_duplicates()
    target[entries.row, entries.col] -= entries.data


def largest_absolute_row_sum(matrix) -> float:
    """max_i sum_j |matrix_ij| of a dense or sparse matrix (dense by blocks of rows: no |matrix| of its size)."""
    if sparse.issparse(matrix):
        return float(abs(matrix).sum(axis=1).max()) if matrix.shape[0] else 0.0
    largest = 0.0
    for start in range(0, len(matrix), _BLOCK_ROWS):
        largest = max(largest, float(np.abs(matrix[start:start + _BLOCK_ROWS]).sum(axis=1).max()))
    return largest


def product(a: np.ndarray, b) -> np.ndarray:
    """a @ b (b dense or sparse): numpy's loop when small; scipy.sparse when b is mostly zeros; else BLAS."""
    if sparse.issparse(b):
        return np.asarray((b.T @ a.T).T)
    if a.shape[0] * a.shape[1] * b.shape[1] <= _BLAS_MIN_WORK:
        return np.einsum("ij,jk->ik", a, b)
    if _mostly_zeros(b):
        return np.asarray((sparse.csc_matrix(b).T @ a.T).T)
    return a @ b


#: Columns of E_rd per chunk of diag(E_dr M E_rd): the chunk's (m, columns) product stays about 8 MB.
CHUNK_ENTRIES = 1 << 20


def column_quadratic_forms(b, middle: np.ndarray) -> np.ndarray:
    """diag(B' M B) for an (m, k) B (dense or sparse) and a dense (m, m) M, by chunks of B's columns so
    that no (m, k) product is held whole: b_k' M b_k for each column."""
    m, k = b.shape
    if not sparse.issparse(b) and m * m * k <= _BLAS_MIN_WORK:
        return np.einsum("ik,ik->k", b, product(middle, b))
    out = np.empty(k)
    step = max(1, CHUNK_ENTRIES // max(m, 1))
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
