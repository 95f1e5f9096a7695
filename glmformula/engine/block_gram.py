"""X'WX of a design with one large block of mutually orthogonal columns, kept without that block.

A categorical's indicator columns (or an interaction's cells, or a slope per
level) never share a row, so their block of X'WX is diagonal.  For k such
columns beside m others, the full p x p cross-product (p = k + m) holds k^2
entries of which k are not zero: 3.2 GB for 20,000 cells.  ``BlockGram``
keeps what the solve and the rank certificate read, O(k + m p):

    the diagonal of the orthogonal block,  d = diag(X_d' W X_d)        (k,)
    the rows of the other columns,         X_r' W X                     (m, p)

The rows may be a dense array or a scipy.sparse matrix: beside several blocks, most of their
entries are zeros (the table of two crossed factors' levels holds only the observed cells), and a
dense (m, p) array would again be the size this class avoids (1,001 x 20,001 for S7).  Block
elimination (``block_solve.BlockFactor``) factors X'WX from exactly these.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse


class BlockGram:
    """X'WX as (the orthogonal block's diagonal, the other columns' rows); see the module doc."""

    def __init__(self, orthogonal: np.ndarray, orthogonal_diagonal: np.ndarray, rest: np.ndarray,
                 rest_rows, groups: tuple = ()):
        """``groups``: other sets of mutually orthogonal columns among ``rest`` (the other categorical blocks),
        which the solve eliminates after the first where they stay orthogonal."""
        self.orthogonal = np.asarray(orthogonal, dtype=int)
        self.groups = tuple(np.asarray(group, dtype=int) for group in groups)
        self.orthogonal_diagonal = orthogonal_diagonal
        self.rest = np.asarray(rest, dtype=int)
        self.rest_rows = rest_rows
        self.shape = (rest_rows.shape[1], rest_rows.shape[1])
        self._kept_factor = None

    def keep_factor(self, scale: np.ndarray, factor) -> None:
        """Keep the block factor of this X'WX equilibrated by ``scale`` (the rank certificate's), for the solve."""
        self._kept_factor = (scale, factor)

    def take_factor(self, scale: np.ndarray):
        """The kept factor when it was equilibrated by ``scale`` (then forgotten: a factor holds the levels'
        rows of X'WX, and IRLS keeps the first X'WX through the fit), else None."""
        kept, self._kept_factor = self._kept_factor, None
        return kept[1] if kept is not None and np.array_equal(kept[0], scale) else None

    def __len__(self) -> int:
        return self.shape[0]

    def diagonal(self) -> np.ndarray:
        """diag(X'WX), a new (p,) array."""
        diagonal = np.empty(self.shape[0])
        diagonal[self.orthogonal] = self.orthogonal_diagonal
        if sparse.issparse(self.rest_rows):
            diagonal[self.rest] = _entries(self.rest_rows, self.rest)
        else:
            diagonal[self.rest] = self.rest_rows[np.arange(len(self.rest)), self.rest]
        return diagonal

    def to_dense(self) -> np.ndarray:
        """The full (p, p) X'WX (only for the rare paths that need it: its size is what this class avoids)."""
        gram = np.zeros(self.shape)
        rest_rows = self.rest_rows.toarray() if sparse.issparse(self.rest_rows) else self.rest_rows
        gram[self.rest] = rest_rows
        gram[:, self.rest] = rest_rows.T
        gram[self.orthogonal, self.orthogonal] = self.orthogonal_diagonal
        return gram

    def rows(self, scale: np.ndarray) -> np.ndarray:
        """The other columns' rows of the equilibrated D^-1 X'WX D^-1 (D = diag(``scale``)), a new array
        (sparse CSR when the rows are sparse)."""
        if sparse.issparse(self.rest_rows):
            rows = sparse.csr_matrix(self.rest_rows, copy=True)
            rows.sum_duplicates()
            rows.data /= np.repeat(scale[self.rest], np.diff(rows.indptr))
            rows.data /= scale[rows.indices]
            return rows
        rows = self.rest_rows / scale[self.rest, None]
        rows /= scale
        return rows


def _entries(matrix, columns: np.ndarray) -> np.ndarray:
    """matrix[i, columns[i]] for each row i of a sparse ``matrix``, as a (m,) array."""
    return np.asarray(sparse.csr_matrix(matrix)[np.arange(len(columns)), columns]).ravel()
