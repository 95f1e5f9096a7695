"""X'WX of a design with one large block of mutually orthogonal columns, kept without that block.

A categorical's indicator columns (or an interaction's cells, or a slope per
level) never share a row, so their block of X'WX is diagonal.  For k such
columns beside m others, the full p x p cross-product (p = k + m) holds k^2
entries of which k are not zero: 3.2 GB for 20,000 cells.  ``BlockGram``
keeps what the solve and the rank certificate read, O(k + m p):

    the diagonal of the orthogonal block,  d = diag(X_d' W X_d)        (k,)
    the rows of the other columns,         X_r' W X                     (m, p)

Block elimination (``linalg._BlockFactor``) factors X'WX from exactly these.
"""

from __future__ import annotations

import numpy as np


class BlockGram:
    """X'WX as (the orthogonal block's diagonal, the other columns' rows); see the module doc."""

    def __init__(self, orthogonal: np.ndarray, orthogonal_diagonal: np.ndarray, rest: np.ndarray,
                 rest_rows: np.ndarray):
        self.orthogonal = np.asarray(orthogonal, dtype=int)
        self.orthogonal_diagonal = orthogonal_diagonal
        self.rest = np.asarray(rest, dtype=int)
        self.rest_rows = rest_rows
        self.shape = (rest_rows.shape[1], rest_rows.shape[1])

    def __len__(self) -> int:
        return self.shape[0]

    def diagonal(self) -> np.ndarray:
        """diag(X'WX), a new (p,) array."""
        diagonal = np.empty(self.shape[0])
        diagonal[self.orthogonal] = self.orthogonal_diagonal
        diagonal[self.rest] = self.rest_rows[np.arange(len(self.rest)), self.rest]
        return diagonal

    def to_dense(self) -> np.ndarray:
        """The full (p, p) X'WX (only for the rare paths that need it: its size is what this class avoids)."""
        gram = np.zeros(self.shape)
        gram[self.rest] = self.rest_rows
        gram[:, self.rest] = self.rest_rows.T
        gram[self.orthogonal, self.orthogonal] = self.orthogonal_diagonal
        return gram

    def rows(self, scale: np.ndarray) -> np.ndarray:
        """The other columns' rows of the equilibrated D^-1 X'WX D^-1 (D = diag(``scale``)), a new array."""
        rows = self.rest_rows / scale[self.rest, None]
        rows /= scale
        return rows
