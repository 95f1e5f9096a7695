"""Var(x_i' beta) for the rows of a block design, without the (p, p) covariance.

A row x of a ``CategoricalDesign`` has non-zeros in the dense block's columns (values d) and in at
most one column of each categorical block k (its position c_k, its value v_k: 1, or x of ``g:x``).
With V the covariance of the coefficients,

    x' V x = d' V_DD d + sum_k [ 2 v_k d' V_{D,c_k} + v_k^2 V_{c_k c_k} ] + sum_{k<l} 2 v_k v_l V_{c_k c_l}.

So a row needs V's columns at the dense positions, V's diagonal, and the entries between the
columns of two blocks that the rows use.  These are read from V's columns at the dense positions
and at the used columns of every block but the one with most used columns (``ColumnCovariance``):
p x (dense + used levels) numbers, where V itself is p x p.  For the model-based covariance
V = phi (X'WX)^{-1}, the columns are solves with the factor the fit kept (``SolvedCovariance``:
block-elimination solves, no dense inverse), and the diagonal is the squared standard errors.
The rows are taken in chunks, so temporaries stay the size of a chunk.

The same forms serve R's ``predict(type = "terms")`` (``results.terms_prediction``): a term's rows are
the rows restricted to its columns (``RowParts``: some dense columns, the blocks in the term) and
shifted by a constant a (minus the column means over the fit).  A shifted row r = x + a, with a's
dense part added to d as the chunk is read and its block part a_B taken apart,

    r' V r = (x + a_D)' V (x + a_D) + 2 (x + a_D)' (V a_B) + a_B' V a_B,

needs one more product V a_B per term; the products of all the terms are asked for at once
(``parts_variances``), so that the model-based V costs one batched solve for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from glmformula.design.categorical import CategoricalBlock, CategoricalDesign
from glmformula.engine.linalg import SolveResult

#: Rows per chunk of the row-wise quadratic forms.
_CHUNK_ROWS = 65_536
#: Right-hand sides per batched solve (a (p, columns) block of them at a time).
_SOLVE_COLUMNS = 256


class ColumnCovariance(Protocol):
    """The parts of the (p, p) covariance V that the row variances read."""

    def columns(self, positions: np.ndarray) -> np.ndarray:
        """V[:, positions], a (p, len(positions)) array (0 for aliased coefficients)."""
        ...

    def times(self, matrix: np.ndarray) -> np.ndarray:
        """V @ ``matrix`` for a (p, m) array, (p, m) (aliased coefficients count 0)."""
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

    def times(self, matrix: np.ndarray) -> np.ndarray:
        return self._matrix @ matrix

    def diagonal(self) -> np.ndarray:
        return np.diag(self._matrix).copy()


class SolvedCovariance:
    """V = scale (X'WX)^{-1} by solves with the fit's last solve (its factor, on the kept columns).

    ``variances`` are diag(V) (the squared standard errors, NaN where aliased).  Columns of V (and
    products V M) are solves for a matrix of right-hand sides, batched where the solve takes them
    (``SolveResult.solve_columns``), else one solve per column (levels, not rows)."""

    def __init__(self, solve: SolveResult, aliased: np.ndarray, scale: float, variances: np.ndarray):
        self._solve, self._aliased, self._scale = solve, np.asarray(aliased, dtype=bool), float(scale)
        self._variances = np.nan_to_num(variances)

    @classmethod
    def of(cls, solve: object, aliased: np.ndarray, scale: float, variances: np.ndarray) -> SolvedCovariance | None:
        """The covariance from ``solve`` when it is a solve with a factor to reuse, else None."""
        if not isinstance(solve, SolveResult):
            return None
        probe = solve.with_rhs(np.zeros(int((~np.asarray(aliased, dtype=bool)).sum())))
        return None if probe is None else cls(solve, aliased, scale, variances)

    def columns(self, positions: np.ndarray) -> np.ndarray:
        positions = np.asarray(positions, dtype=int)
        units = np.zeros((len(self._aliased), len(positions)))
        units[positions, np.arange(len(positions))] = 1.0
        return self.times(units)

    def times(self, matrix: np.ndarray) -> np.ndarray:
        kept = ~self._aliased
        out = np.zeros((len(self._aliased), matrix.shape[1]))
        for start in range(0, matrix.shape[1], _SOLVE_COLUMNS):
            block = slice(start, start + _SOLVE_COLUMNS)
            out[kept, block] = self._solved(np.ascontiguousarray(matrix[kept, block])) * self._scale
        return out

    def _solved(self, rhs: np.ndarray) -> np.ndarray:
        """(X'WX)^{-1} ``rhs`` on the kept columns, ``rhs`` (kept, m): one solve for all m where the engine's
        solve takes a matrix, else column by column."""
        solve_columns = getattr(self._solve, "solve_columns", None)
        if solve_columns is not None:
            return solve_columns(rhs)
        out = np.zeros_like(rhs)
        for j in np.flatnonzero(np.any(rhs != 0, axis=0)):  # a zero column (an aliased position) solves to 0
            out[:, j] = self._solve.with_rhs(rhs[:, j]).coefficients
        return out

    def diagonal(self) -> np.ndarray:
        return self._variances


@dataclass(frozen=True)
class RowParts:
    """Rows of a block design restricted to some of its columns and shifted by a constant: x_i[S] + a.

    ``dense_columns`` index the design's dense block (its columns in S), ``blocks`` are the categorical
    blocks with their columns outside S coded -1, ``shift`` the (p,) constant a (zero outside S), or None."""

    design: CategoricalDesign
    dense_columns: np.ndarray
    blocks: tuple[CategoricalBlock, ...]
    shift: np.ndarray | None = None

    @classmethod
    def whole(cls, design: CategoricalDesign) -> RowParts:
        """Every column of ``design``, unshifted."""
        return cls(design, np.arange(len(design.dense_positions)), tuple(design.blocks))

    @classmethod
    def select(cls, design: CategoricalDesign, selected: np.ndarray, shift: np.ndarray | None = None) -> RowParts:
        """The columns where the (p,) boolean mask ``selected`` is true (a block partly outside them is
        recoded, the rows in its other columns -1), shifted by ``shift``."""
        dense_columns = np.flatnonzero(selected[design.dense_positions])
        blocks = []
        for block in design.blocks:
            inside = selected[block.positions]
            if inside.all():
                blocks.append(block)
            elif inside.any():
                level_map = np.append(np.where(inside, np.arange(block.size), -1), -1)  # code -1 stays -1
                blocks.append(CategoricalBlock(level_map[block.codes], block.positions, block.values))
        return cls(design, dense_columns, tuple(blocks), shift)

    @property
    def dense_positions(self) -> np.ndarray:
        return self.design.dense_positions[self.dense_columns]

    def block_shift(self) -> np.ndarray | None:
        """a_B: the shift at the blocks' columns (zero elsewhere), or None when there is none."""
        if self.shift is None or not self.blocks:
            return None
        out = np.zeros_like(self.shift)
        for block in self.blocks:
            out[block.positions] = self.shift[block.positions]
        return out if out.any() else None


class _Plan:
    """The columns of V one ``RowParts`` reads (see the module doc), and its quadratic forms from them."""

    def __init__(self, parts: RowParts):
        self.parts = parts
        self.block_positions = [_row_positions(block) for block in parts.blocks]
        used = [np.unique(positions[positions >= 0]) for positions in self.block_positions]
        self.unsolved = int(np.argmax([len(u) for u in used])) if used else -1
        self.solved = np.concatenate([parts.dense_positions, *[u for k, u in enumerate(used) if k != self.unsolved]]
                                     ).astype(int)
        self.block_shift = parts.block_shift()

    def variances(self, columns: np.ndarray, diagonal: np.ndarray, shifted: np.ndarray | None) -> np.ndarray:
        """(x_i + a)' V (x_i + a) for every row, from ``columns`` = V[:, solved] and ``shifted`` = V a_B."""
        parts, design = self.parts, self.parts.design
        dense_positions = parts.dense_positions
        n, p = design.shape
        column_of = np.full(p, -1)
        column_of[self.solved] = np.arange(len(self.solved))
        with_dense = np.ascontiguousarray(columns[:, :len(dense_positions)])  # V[:, D]: read by rows below
        dense_dense = with_dense[dense_positions]
        dense_shift = None if parts.shift is None else parts.shift[dense_positions]
        whole_dense = len(parts.dense_columns) == len(design.dense_positions)
        out = np.empty(n)
        for start in range(0, n, _CHUNK_ROWS):
            rows = slice(start, min(n, start + _CHUNK_ROWS))
            d = design.dense_rows(rows) if whole_dense else design.dense_rows(rows)[:, parts.dense_columns]
            if dense_shift is not None:
                d = d + dense_shift
            q = np.einsum("ij,ij->i", d @ dense_dense, d)
            if shifted is not None:
                q += 2 * (d @ shifted[dense_positions])
            slots = []
            for block, positions in zip(parts.blocks, self.block_positions):
                chunk_positions = positions[rows]
                present = chunk_positions >= 0
                value = present.astype(float) if block.values is None else np.where(present, block.values[rows], 0.0)
                chunk_positions = np.where(present, chunk_positions, 0)
                slots.append((chunk_positions, value))
                if len(dense_positions):
                    q += 2 * value * np.einsum("ij,ij->i", d, with_dense[chunk_positions])
                q += value * value * diagonal[chunk_positions]
                if shifted is not None:
                    q += 2 * value * shifted[chunk_positions]
            for k in range(len(slots)):
                for m in range(k + 1, len(slots)):
                    q += 2 * slots[k][1] * slots[m][1] * _cross(columns, column_of, slots, k, m, self.unsolved)
            if shifted is not None:
                q += self.block_shift @ shifted
            out[rows] = q
        return out


def row_variances(design: CategoricalDesign, covariance: ColumnCovariance) -> np.ndarray:
    """x_i' V x_i for every row i of ``design`` (see the module doc), an (n,) array."""
    return parts_variances([RowParts.whole(design)], covariance)[0]


def parts_variances(parts: list[RowParts], covariance: ColumnCovariance) -> list[np.ndarray]:
    """(x_i[S] + a)' V (x_i[S] + a) for every row of each ``RowParts``: the columns of V they read and their
    products V a_B asked for in one call each, so that a solved V batches its solves."""
    plans = [_Plan(part) for part in parts]
    wanted = np.unique(np.concatenate([plan.solved for plan in plans])) if plans else np.zeros(0, dtype=int)
    columns = covariance.columns(wanted)  # (p, s): V[:, wanted]
    shifts = [plan.block_shift for plan in plans if plan.block_shift is not None]
    products = iter(covariance.times(np.column_stack(shifts)).T if shifts else ())
    diagonal = covariance.diagonal()
    out = []
    for plan in plans:
        own = columns[:, np.searchsorted(wanted, plan.solved)]
        shifted = None if plan.block_shift is None else next(products)
        out.append(plan.variances(own, diagonal, shifted))
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
