"""The CSR structure of a block Gram's other rows, built once per design and reused by every IRLS iteration.

``CategoricalDesign._block_products`` gives the rows of X'WX outside the largest block as (row, column, entry)
triplets: the dense columns' grid, the other blocks' diagonals and cross-products, and the non-zero entries of
the tables between blocks.  Between iterations only the entries change; the positions change only when a table
entry becomes exactly zero or leaves zero (a cell whose rows all have weight 0).  Sorting a million triplets
into CSR costs S8 (factors of 1,000 and 5,000 levels) about 20 ms an iteration; with the structure kept, an
iteration gathers its entries into CSR order instead (``RowsPattern.matrix``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import sparse

#: Structures of fewer entries are sorted again at each call rather than kept (a few ms; S7's 60,000 entries would
#: hold 0.5 MB beside a fit whose memory is tight).
KEEP_MIN_ENTRIES = 1 << 18


class RowsPattern:
    """A CSR structure and the permutation that takes triplets, in the order they are listed, to it; kept
    while the ``key`` it was built for (arrays saying which table entries are present) stays the same."""

    def __init__(self):
        self._key: list[np.ndarray] | None = None
        self._order = self._indices = self._indptr = None

    def matrix(self, key: list[np.ndarray], positions: Callable[[], tuple[np.ndarray, np.ndarray]],
               entries: np.ndarray, shape: tuple[int, int]) -> sparse.csr_matrix:
        """The CSR matrix of ``entries`` at ``positions()`` (rows, columns: called only when ``key`` differs from
        the last call's; each (row, column) at most once), with sorted indices as ``scipy.sparse`` builds it."""
        if self._key is None or len(key) != len(self._key) or not all(
                np.array_equal(new, old) for new, old in zip(key, self._key)):
            rows, columns = positions()
            if len(rows) < KEEP_MIN_ENTRIES:  # cheap to sort again: nothing is kept (S7's memory is tight)
                self._key = self._order = self._indices = self._indptr = None
                return sparse.csr_matrix((entries, (rows, columns)), shape=shape)
            order_type = np.int32 if len(rows) < np.iinfo(np.int32).max else np.int64
            listed = sparse.csr_matrix((np.arange(1, len(rows) + 1, dtype=order_type), (rows, columns)), shape=shape)
            listed.sum_duplicates()  # sorts the indices (there are no duplicates to sum)
            self._order = listed.data - 1
            self._indices, self._indptr = listed.indices, listed.indptr
            self._key = [np.array(array, copy=True) for array in key]
        # the structure's arrays are copied: scipy may sort or prune a matrix's own in place
        matrix = sparse.csr_matrix((entries[self._order], self._indices.copy(), self._indptr.copy()), shape=shape)
        matrix.has_sorted_indices = True
        return matrix
