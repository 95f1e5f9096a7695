"""The cross-products of two categorical blocks: a table of their levels, or a list of their observed cells.

For blocks a and b (codes c_a, c_b; values v_a, v_b or 1), X'WX holds the k_a x k_b table

    T[l, m] = sum_{i: c_ai = l, c_bi = m} w_i v_ai v_bi.

For small blocks it is accumulated as a table.  For large ones the table is mostly zeros (S7's
c1000 and c20:c1000: 999 x 19,000 entries of which 19,000 can be non-zero, the cells being nested
in c1000's levels), so it is accumulated by *observed cells*: each row's cell index (-1 when either
code is -1) and, per cell, its pair of levels.  Nested blocks (every level of b within one level
of a) need no sort and no array of their own: b's own code is the cell, where a's code is not -1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Pairs of blocks whose k_a x k_b table has more entries than this are accumulated by observed cells.
CELL_TABLE_MIN_ENTRIES = 1 << 16


@dataclass(frozen=True, eq=False)
class PairCells:
    """The observed cells of a pair of blocks.

    stored : (n,) int32, each row's cell, -1 where either block's code is -1; with ``gate``, a row's cell
        only where the gate is >= 0 (the compiled pass reads both as they are).
    rows, columns : (cells,) each cell's level in the first and in the second block (rows = -1: a cell
        that no row with both codes reaches; its sum stays 0 and is dropped).
    gate : None, or for a nested pair the first block's codes, ``stored`` being the second's (not copies:
        S7's pair would otherwise hold a third array of codes the data's length).
    """

    stored: np.ndarray
    rows: np.ndarray
    columns: np.ndarray
    gate: np.ndarray | None = None

    @property
    def count(self) -> int:
        return len(self.rows)

    @property
    def index(self) -> np.ndarray:
        """(n,) int32, each row's cell, -1 where either block's code is -1 (a new array for a nested pair)."""
        return self.cells_of(0, len(self.stored))

    def cells_of(self, start: int, stop: int) -> np.ndarray:
        """The cell of each of rows start:stop (-1 for none), for numpy's path."""
        if self.gate is None:
            return self.stored[start:stop]
        return np.where(self.gate[start:stop] >= 0, self.stored[start:stop], -1).astype(np.int32)


def pair_cells(first: np.ndarray, second: np.ndarray, second_size: int) -> PairCells:
    """The observed cells of codes ``first`` and ``second`` (int32, -1 for none; ``second`` has
    ``second_size`` levels): O(n) when ``second`` nests in ``first``, else one sort of the joint codes."""
    owner = _nesting_owner(first, second, second_size)
    if owner is not None:  # nested: each level of the second block within one level of the first
        return PairCells(second, owner, np.arange(second_size), gate=first)
    both = (first >= 0) & (second >= 0)
    joint = first[both].astype(np.int64) * second_size + second[both]
    table_size = (int(first.max()) + 1) * second_size
    if table_size <= min(MARKED_TABLE_MAX_ENTRIES, 16 * len(first)):
        cells, inverse = _marked_cells(joint, table_size)
    else:
        cells, inverse = np.unique(joint, return_inverse=True)
    index = np.full(len(first), -1, dtype=np.int32)
    index[both] = inverse
    return PairCells(index, cells // second_size, cells % second_size)


#: Rows per chunk of the nesting check: its temporaries stay this size, not the data's length.
NESTING_CHUNK_ROWS = 1 << 16


def _nesting_owner(first: np.ndarray, second: np.ndarray, second_size: int) -> np.ndarray | None:
    """The level of ``first`` each level of ``second`` lies in (-1: never observed with one) when every level of
    ``second`` is observed within a single level of ``first``, else None.  Two passes over row chunks: the
    owners written, then read back (a level seen with two owners keeps one, and the other's rows differ)."""
    owner = np.full(second_size, -1, dtype=np.int64)
    bounds = [(start, min(start + NESTING_CHUNK_ROWS, len(first))) for start in range(0, len(first),
                                                                                      NESTING_CHUNK_ROWS)]
    for start, stop in bounds:
        a, b = first[start:stop], second[start:stop]
        both = (a >= 0) & (b >= 0)
        owner[b[both]] = a[both]
    for start, stop in bounds:
        a, b = first[start:stop], second[start:stop]
        both = (a >= 0) & (b >= 0)
        if not np.array_equal(owner[b[both]], a[both]):
            return None
    return owner


#: Pairs whose table of levels has at most this many entries (and 16 per row) find their observed cells by marking
#: them in the table (O(n + entries), 5 bytes an entry) rather than by sorting the rows' joint codes (O(n log n)).
MARKED_TABLE_MAX_ENTRIES = 1 << 23


def _marked_cells(joint: np.ndarray, table_size: int) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(joint, return_inverse=True)`` for codes below ``table_size``: the observed entries of a
    table, in order, and each code's position among them."""
    marked = np.zeros(table_size, dtype=bool)
    marked[joint] = True
    cells = np.flatnonzero(marked)
    position = np.zeros(table_size, dtype=np.int32)
    position[cells] = np.arange(len(cells), dtype=np.int32)
    return cells, position[joint]


def present_entries(table: np.ndarray, cells: PairCells | None) -> np.ndarray:
    """Which entries of a pair's accumulator are kept: the flat indices of a table's non-zero entries, or the
    mask of ``cells`` reached by a row and of non-zero sum."""
    if cells is None:
        return np.flatnonzero(table)
    return (cells.rows >= 0) & (table != 0)


def entry_levels(present: np.ndarray, second_size: int, cells: PairCells | None) -> tuple[np.ndarray, np.ndarray]:
    """(levels of the first block, levels of the second) of the ``present`` entries (``present_entries``)."""
    if cells is None:
        return present // second_size, present % second_size
    return cells.rows[present], cells.columns[present]


def table_entries(table: np.ndarray, first_size: int, second_size: int, cells: PairCells | None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(levels of the first block, levels of the second, sums) of the non-zero entries of a pair's
    accumulator: a flattened first_size x second_size table, or the sums of ``cells``."""
    present = present_entries(table, cells)
    return (*entry_levels(present, second_size, cells), table[present])


def accumulate_cells(index: np.ndarray, weights: np.ndarray, count: int) -> np.ndarray:
    """sum of ``weights`` by cell (``index``; -1 adds nothing): numpy's path of the kernels' cell sums."""
    return np.bincount(index + 1, weights=weights, minlength=count + 1)[1:]
