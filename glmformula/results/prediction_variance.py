"""Var(x_i' beta) for the rows of a block design, without the (p, p) covariance.

A row x of a ``CategoricalDesign`` has non-zeros in the dense block's columns (values d) and in at
most one column of each categorical block k (its position c_k, its value v_k: 1, or x of ``g:x``).
With V the covariance of the coefficients,

    x' V x = d' V_DD d + sum_k [ 2 v_k d' V_{D,c_k} + v_k^2 V_{c_k c_k} ] + sum_{k<l} 2 v_k v_l V_{c_k c_l}.

So a row needs V's columns at the dense positions, V's diagonal, and the entries between the
columns of two blocks that the rows use.  These are read from V's columns at the dense positions
and at the used columns of every block but the one with most used columns (``ColumnCovariance``):
p x (dense + used levels) numbers, where V itself is p x p.  For the model-based covariance
V = phi (X'WX)^{-1}, each column is one solve with the factor the fit kept (``SolveResult.with_rhs``:
a block-elimination solve, no dense inverse), and the diagonal is the squared standard errors.
The rows are taken in chunks, so temporaries stay the size of a chunk.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from glmformula.design.categorical import CategoricalDesign
from glmformula.engine.linalg import SolveResult

#: Rows per chunk of the row-wise quadratic forms.
_CHUNK_ROWS = 65_536


class ColumnCovariance(Protocol):
    """The parts of the (p, p) covariance V that the row variances read."""

    def columns(self, positions: np.ndarray) -> np.ndarray:
        """V[:, positions], a (p, len(positions)) array (0 for aliased coefficients)."""
        ...

    def diagonal(self) -> np.ndarray:
        """diag(V), (p,) (0 for aliased coefficients)."""
        ...


class DenseCovariance:
    """V given as a (p, p) array (a sandwich covariance, or a fit whose solve kept no factor); NaN of
    aliased coefficients read as 0, as they count 0 in x' beta."""

    def __init__(self, matrix: np.ndarray):
        self._matrix = np.nan_to_num(matrix)

    def columns(self, positions: np.ndarray) -> np.ndarray:
        return self._matrix[:, positions]

    def diagonal(self) -> np.ndarray:
        return np.diag(self._matrix).copy()


class SolvedCovariance:
    """V = scale (X'WX)^{-1} column by column from the fit's last solve (its factor, on the kept columns).

    ``variances`` are diag(V) (the squared standard errors, NaN where aliased)."""

    def __init__(self, solve: SolveResult, aliased: np.ndarray, scale: float, variances: np.ndarray):
        self._solve, self._aliased, self._scale = solve, np.asarray(aliased, dtype=bool), float(scale)
        self._variances = np.nan_to_num(variances)
        self._kept_index = np.cumsum(~self._aliased) - 1

    @classmethod
    def of(cls, solve: object, aliased: np.ndarray, scale: float, variances: np.ndarray) -> SolvedCovariance | None:
        """The covariance from ``solve`` when it is a solve with a factor to reuse, else None."""
        if not isinstance(solve, SolveResult):
            return None
        probe = solve.with_rhs(np.zeros(int((~np.asarray(aliased, dtype=bool)).sum())))
        return None if probe is None else cls(solve, aliased, scale, variances)

    def columns(self, positions: np.ndarray) -> np.ndarray:
        kept = ~self._aliased
        out = np.zeros((len(self._aliased), len(positions)))
        rhs = np.zeros(int(kept.sum()))
        for j, position in enumerate(positions):  # one solve per column asked for (levels, not rows)
            if self._aliased[position]:
                continue
            rhs[self._kept_index[position]] = 1.0
            out[kept, j] = self._solve.with_rhs(rhs).coefficients * self._scale
            rhs[self._kept_index[position]] = 0.0
        return out

    def diagonal(self) -> np.ndarray:
        return self._variances


def row_variances(design: CategoricalDesign, covariance: ColumnCovariance) -> np.ndarray:
    """x_i' V x_i for every row i of ``design`` (see the module doc), an (n,) array."""
    n = design.shape[0]
    dense_positions = design.dense_positions
    block_positions = [_row_positions(block) for block in design.blocks]
    used = [np.unique(positions[positions >= 0]) for positions in block_positions]
    unsolved = int(np.argmax([len(u) for u in used])) if used else -1
    solved = np.concatenate([dense_positions, *[u for k, u in enumerate(used) if k != unsolved]]).astype(int)
    columns = covariance.columns(solved)  # (p, s): V[:, solved]
    column_of = np.full(design.shape[1], -1)
    column_of[solved] = np.arange(len(solved))
    diagonal = covariance.diagonal()
    with_dense = np.ascontiguousarray(columns[:, :len(dense_positions)])  # V[:, D]: read by rows below
    dense_dense = with_dense[dense_positions]
    out = np.empty(n)
    for start in range(0, n, _CHUNK_ROWS):
        rows = slice(start, min(n, start + _CHUNK_ROWS))
        d = design.dense[rows]
        q = np.einsum("ij,ij->i", d @ dense_dense, d)
        slots = []
        for block, positions in zip(design.blocks, block_positions):
            chunk_positions = positions[rows]
            present = chunk_positions >= 0
            value = present.astype(float) if block.values is None else np.where(present, block.values[rows], 0.0)
            chunk_positions = np.where(present, chunk_positions, 0)
            slots.append((chunk_positions, value))
            if len(dense_positions):
                q += 2 * value * np.einsum("ij,ij->i", d, with_dense[chunk_positions])
            q += value * value * diagonal[chunk_positions]
        for k in range(len(slots)):
            for m in range(k + 1, len(slots)):
                q += 2 * slots[k][1] * slots[m][1] * _cross(columns, column_of, slots, k, m, unsolved)
        out[rows] = q
    return out


def _row_positions(block) -> np.ndarray:
    """The design column each row has in ``block``, -1 for none."""
    positions = np.full(len(block.codes), -1)
    present = block.codes >= 0
    positions[present] = block.positions[block.codes[present]]
    return positions


def _cross(columns: np.ndarray, column_of: np.ndarray, slots: list, k: int, m: int, unsolved: int) -> np.ndarray:
    """V[c_k, c_m] per row, read from the solved columns of whichever of the two blocks has them."""
    if k == unsolved:
        k, m = m, k
    solved_positions, other_positions = slots[k][0], slots[m][0]
    return columns[other_positions, column_of[solved_positions]]
