"""A design that keeps categorical main effects as integer codes instead of dummy columns.

For n rows, a dense block D of numeric columns and categorical blocks with codes
c (one column per non-reference level), the products the IRLS engine needs are
computed without materialising the dummies:

    X'WX  dense-dense:          D' diag(w) D
          categorical diagonal:  bincount(c, w)                  (a diagonal block)
          categorical-dense:     bincount(c, w * D[:, j])       for each dense column j
          categorical-categ.:    bincount(c1 * k2 + c2, w)       (a k1 x k2 block)
    X'Wz  bincount(c, w * z) and D' (w * z)
    X b   D b_D + b_c[c]

so memory is O(n (p_dense + number of categoricals)) and a 1,000-level factor
costs one bincount per pass instead of 1,000 dense columns.  Code -1 marks the
reference level (or a column removed as aliased): it contributes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy import sparse


@dataclass(frozen=True, eq=False)
class CategoricalBlock:
    """codes : (n,) int array, -1 for the reference level; positions : design column of each code."""

    codes: np.ndarray
    positions: np.ndarray

    @property
    def size(self) -> int:
        return len(self.positions)

    @cached_property
    def shifted(self) -> np.ndarray:
        """codes + 1, so that bincount's bin 0 collects the reference rows."""
        return self.codes + 1

    @cached_property
    def indicator(self) -> sparse.csc_matrix:
        """The block's dummy columns, transposed: (levels x n), one entry per non-reference row.

        Stored by column (CSC) so that ``indicator @ M`` reads M row by row, in one sequential pass.
        """
        rows = self.rows
        return sparse.csc_matrix((np.ones(len(rows)), (self.codes[rows], rows)), shape=(self.size, len(self.codes)))

    @cached_property
    def rows(self) -> np.ndarray:
        """The rows not at the reference level, in order (the order of ``indicator``'s entries)."""
        return np.flatnonzero(self.codes >= 0)

    def scaled_indicator(self, scale: np.ndarray) -> sparse.csc_matrix:
        """``indicator`` with column i multiplied by scale[i]: indicator @ diag(scale)."""
        base = self.indicator
        return sparse.csc_matrix((scale[self.rows], base.indices, base.indptr), shape=base.shape)


class CategoricalDesign:
    """Dense numeric columns plus categorical blocks (see the module docstring)."""

    def __init__(self, dense: np.ndarray, dense_positions: np.ndarray, blocks: list[CategoricalBlock],
                 column_names: list[str]):
        self.dense = np.ascontiguousarray(dense, dtype=float)  # row-major, as the sparse products read it
        self.dense_positions = np.asarray(dense_positions, dtype=int)
        self.blocks = blocks
        self.column_names = list(column_names)
        self._n = self.dense.shape[0] if self.dense.ndim == 2 and self.dense.shape[1] else len(blocks[0].codes)
        self._last_gram: tuple[np.ndarray, np.ndarray] | None = None
        self._pairs: dict[tuple[int, int], np.ndarray] = {}

    @property
    def shape(self) -> tuple[int, int]:
        return self._n, len(self.column_names)

    # -- the engine's interface ---------------------------------------------------
    def gram(self, w: np.ndarray) -> np.ndarray:
        if self._last_gram is not None and self._last_gram[0] is w:
            return self._last_gram[1].copy()  # rank detection and the first solve share the weights
        gram = self._gram(w)
        self._last_gram = (w, gram)
        return gram.copy()

    def _gram(self, w: np.ndarray) -> np.ndarray:
        p = self.shape[1]
        gram = np.zeros((p, p))
        dp = self.dense_positions
        root_w = np.sqrt(w)
        weighted_dense = self.dense * root_w[:, None]  # sqrt(W) D, so that D'WD = (sqrt(W) D)'(sqrt(W) D)
        if len(dp):
            gram[np.ix_(dp, dp)] = weighted_dense.T @ weighted_dense
        for i, block in enumerate(self.blocks):
            bins = block.size + 1
            weighted_indicator = block.scaled_indicator(root_w)
            gram[block.positions, block.positions] = weighted_indicator @ root_w
            if len(dp):
                cross = weighted_indicator @ weighted_dense  # group sums of w x_j by level, one pass
                gram[np.ix_(block.positions, dp)] = cross
                gram[np.ix_(dp, block.positions)] = cross.T
            for other in self.blocks[i + 1 :]:
                pair = self._pair_codes(block, other)
                table = np.bincount(pair, weights=w, minlength=bins * (other.size + 1)).reshape(bins, -1)[1:, 1:]
                gram[np.ix_(block.positions, other.positions)] = table
                gram[np.ix_(other.positions, block.positions)] = table.T
        return gram

    def _pair_codes(self, block: CategoricalBlock, other: CategoricalBlock) -> np.ndarray:
        """Joint codes of two blocks (computed once): the bins of their cross-tabulation."""
        key = (id(block), id(other))
        if key not in self._pairs:
            self._pairs[key] = block.shifted * (other.size + 1) + other.shifted
        return self._pairs[key]

    def xtw(self, w: np.ndarray, z: np.ndarray) -> np.ndarray:
        out = np.zeros(self.shape[1])
        wz = w * z
        if len(self.dense_positions):
            out[self.dense_positions] = self.dense.T @ wz
        for block in self.blocks:
            out[block.positions] = block.indicator @ wz
        return out

    def dot(self, beta: np.ndarray) -> np.ndarray:
        eta = self.dense @ beta[self.dense_positions] if len(self.dense_positions) else np.zeros(self._n)
        for block in self.blocks:
            eta += np.concatenate([beta[block.positions], [0.0]])[block.codes]  # code -1 takes the trailing 0
        return eta

    def aliased_columns(self, w: np.ndarray, tol: float) -> np.ndarray:
        """Columns dependent on earlier ones, by a column-ordered Cholesky of X'WX.

        On the cross-product the detectable residual is ~sqrt(eps) of a column's norm,
        so the tolerance is at least 1e-7 (R's lm default) rather than glm.fit's 1e-11.
        """
        from glmformula.engine.linalg import aliased_columns_from_gram

        return aliased_columns_from_gram(self.gram(w), max(tol, 1e-7))

    def select(self, keep: np.ndarray) -> CategoricalDesign:
        keep = np.asarray(keep, dtype=bool)
        new_position = np.cumsum(keep) - 1
        dense_kept = keep[self.dense_positions]
        blocks = []
        for block in self.blocks:
            kept_levels = keep[block.positions]
            level_map = np.where(kept_levels, np.cumsum(kept_levels) - 1, -1)
            codes = np.where(block.codes >= 0, np.concatenate([level_map, [-1]])[block.codes], -1)
            blocks.append(CategoricalBlock(codes.astype(np.int64), new_position[block.positions[kept_levels]]))
        names = [name for name, kept in zip(self.column_names, keep) if kept]
        return CategoricalDesign(self.dense[:, dense_kept], new_position[self.dense_positions[dense_kept]], blocks,
                                 names)

    def weighted(self, w: np.ndarray) -> np.ndarray:
        return self.to_dense() * np.sqrt(w)[:, None]

    def to_dense(self) -> np.ndarray:
        """The full (n, p) matrix; for diagnostics on data that fit in memory as dense."""
        matrix = np.zeros(self.shape)
        if len(self.dense_positions):
            matrix[:, self.dense_positions] = self.dense
        rows = np.arange(self._n)
        for block in self.blocks:
            present = block.codes >= 0
            matrix[rows[present], block.positions[block.codes[present]]] = 1.0
        return matrix

    @property
    def matrix(self) -> np.ndarray:
        return self.to_dense()
