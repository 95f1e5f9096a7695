"""A design that keeps categorical main effects as integer codes instead of dummy columns.

For n rows, a dense block D of numeric columns and categorical blocks with codes
c (one column per non-reference level), the products the IRLS engine needs are
computed without materialising the dummies:

    X'WX  dense-dense:          D' diag(w) D
          categorical diagonal:  bincount(c, w)                  (a diagonal block)
          categorical-dense:     bincount(c, w * D[:, j])       for each dense column j
          categorical-categ.:    bincount(c1 * k2 + c2, w)       (a k1 x k2 block)
                                 (large pairs: by their observed cells, ``design.pairs``)
    X'Wz  bincount(c, w * z) and D' (w * z)
    X b   D b_D + b_c[c]

so memory is O(n (p_dense + number of categoricals)) and a 1,000-level factor
costs one group sum per pass instead of 1,000 dense columns.  The intercept's
column of 1s may be implicit (``intercept``): the compiled passes add its terms
themselves, and the design holds only the other dense columns (``stored``).  All of it is
computed in one pass over the rows by the compiled kernels (``kernels``) when
they are built, else by the numpy path written above (``_accumulate``).  Code
-1 marks the reference level (or a column removed as aliased): it contributes
nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from glmformula import settings
from glmformula.design import kernels
from glmformula.design.pairs import (
    CELL_TABLE_MIN_ENTRIES,
    PairCells,
    accumulate_cells,
    entry_levels,
    pair_cells,
    present_entries,
    table_entries,
)
from glmformula.design.rows_pattern import RowsPattern
from glmformula.engine.block_gram import BlockGram


@dataclass(frozen=True, eq=False)
class CategoricalBlock:
    """Columns of which each row touches at most one: a categorical's indicators, or an interaction's.

    codes : (n,) int array, the block column of each row, -1 for none (the reference level).
    positions : the design column of each block column.
    values : (n,) floats the row has in its column (``g:x``: x), or None for indicators (1s).
    """

    codes: np.ndarray  # int32: half the memory and bandwidth of int64 in the gathers of X beta
    positions: np.ndarray
    values: np.ndarray | None = None

    def __post_init__(self):
        object.__setattr__(self, "codes", np.ascontiguousarray(self.codes, dtype=np.int32))  # as the kernels read
        object.__setattr__(self, "positions", np.asarray(self.positions, dtype=int))
        if self.values is not None:
            object.__setattr__(self, "values", np.ascontiguousarray(self.values, dtype=float))

    def weighted(self, w: np.ndarray) -> np.ndarray:
        """w times the block's values (w itself for indicators)."""
        return w if self.values is None else w * self.values

    @property
    def size(self) -> int:
        return len(self.positions)

    def write_indicators(self, matrix: np.ndarray) -> None:
        """Set the block's columns of the (n, p) ``matrix``, zeros there, to its 0/1 indicators."""
        present = self.codes >= 0
        matrix[np.flatnonzero(present), self.positions[self.codes[present]]] = (
            1.0 if self.values is None else self.values[present])

    def indicator(self, start: int, stop: int) -> sparse.csc_matrix:
        """The block's indicator for rows start:stop, transposed: (levels + 1) x rows with row 0 for
        the reference level, one entry per column (CSC), so that ``indicator @ M`` reads M row by row
        in one sequential pass.  Its values are set to the weights of each product."""
        rows = stop - start
        levels = (self.codes[start:stop] + 1).astype(np.int32)
        values = np.ones(rows) if self.values is None else self.values[start:stop].copy()
        return sparse.csc_matrix((values, levels, np.arange(rows + 1, dtype=np.int32)),
                                 shape=(self.size + 1, rows))


def _grid(rows: np.ndarray, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row, column) of each entry of a dense table placed at ``rows`` x ``columns``, row by row."""
    return np.repeat(rows, len(columns)), np.tile(columns, len(rows))


class CategoricalDesign:
    """Dense numeric columns plus categorical blocks (see the module docstring).

    ``dense`` holds the dense columns at design positions ``dense_positions``; with ``intercept`` (a design
    position) the dense part also has a column of 1s there, first, which ``dense`` does not hold: the
    array given is kept as ``stored`` (its positions ``stored_positions``) and the 1s cost no memory (an
    array of the data's length: 0.3x the frame of S7).  The attributes ``dense`` and ``dense_positions``
    describe the whole dense part, 1s included (``dense`` is then written out when first read, for code
    outside the compiled passes).
    """

    def __init__(self, dense: np.ndarray, dense_positions: np.ndarray, blocks: list[CategoricalBlock],
                 column_names: list[str], intercept: int | None = None):
        self.stored = np.ascontiguousarray(dense, dtype=float)  # row-major, as the sparse products read it
        self.stored_positions = np.asarray(dense_positions, dtype=int)
        self.intercept = None if intercept is None else int(intercept)
        self.dense_positions = (self.stored_positions if intercept is None else
                                np.concatenate([[self.intercept], self.stored_positions]).astype(int))
        self.blocks = blocks
        self.column_names = list(column_names)
        self._n = (self.stored.shape[0] if self.stored.ndim == 2 and (self.stored.shape[1] or intercept is not None)
                   else len(blocks[0].codes))
        self._chunk_indicators: dict[tuple[int, int], sparse.csc_matrix] = {}
        self._bounds: tuple[int, list[tuple[int, int]]] | None = None
        self._cells: list[PairCells | None] | None = None  # per pair of blocks (``_pair_cells``)
        self._rows_pattern: RowsPattern | None = None  # ``_block_products``' sparse structure, around block
        self._rows_pattern_of: int | None = None  # ... this one

    @property
    def dense(self) -> np.ndarray:
        """The (n, len(dense_positions)) dense part: ``stored`` itself without implicit 1s, else a new array with
        them written out (for readers outside the compiled passes; not kept: the passes and the results read
        ``stored`` by chunks, ``dense_rows``, ``dense_times``, ``dense_means``)."""
        if self.intercept is None:
            return self.stored
        full = np.empty((self._n, self.stored.shape[1] + 1))
        full[:, 0] = 1.0
        full[:, 1:] = self.stored
        return full

    @property
    def _implicit(self) -> bool:
        """Whether the dense part has the implicit column of 1s."""
        return self.intercept is not None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_rows_pattern"] = None  # nor the sparse structure of X'WX (built again at the first pass)
        return state

    @property
    def shape(self) -> tuple[int, int]:
        """(n, p): rows, and columns of X (dense columns plus one per non-reference level)."""
        return self._n, len(self.column_names)

    @property
    def n_columns(self) -> int:
        """p, the number of columns of X."""
        return len(self.column_names)

    @property
    def _use_kernels(self) -> bool:
        """Whether the compiled row-pass kernels serve this design (else numpy's path)."""
        return kernels.in_use() and len(self.dense_positions) <= kernels.MAX_DENSE

    @property
    def _valued(self) -> bool:
        """Whether a block carries values (``g:x``): the fused log-link step reads indicators only."""
        return any(block.values is not None for block in self.blocks)

    @property
    def _codes(self) -> list[np.ndarray]:
        return [block.codes for block in self.blocks]

    @property
    def _values(self) -> list[np.ndarray | None]:
        return [block.values for block in self.blocks]

    def _pair_cells(self) -> list[PairCells | None]:
        """Per pair of blocks (i < j, in order), its observed cells when its table would have more than
        ``pairs.CELL_TABLE_MIN_ENTRIES`` entries, else None (a table); found once per design."""
        if self._cells is None:
            self._cells = [pair_cells(a.codes, b.codes, b.size) if a.size * b.size > CELL_TABLE_MIN_ENTRIES
                           else None for i, a in enumerate(self.blocks) for b in self.blocks[i + 1:]]
        return self._cells

    def _pair_entries(self, pairs: list[np.ndarray]) -> Iterator[tuple]:
        """(i, j, levels in block i, levels in block j, sums) of each pair's non-zero cross-products."""
        for (i, j), table, pair in zip(self._block_pairs(), pairs, self._pair_cells()):
            yield (i, j, *table_entries(table, self.blocks[i].size, self.blocks[j].size, pair))

    @property
    def _sizes(self) -> list[int]:
        return [block.size for block in self.blocks]

    # -- the engine's interface (``engine.design_protocol.Design``) -----------------
    def gram(self, w: np.ndarray) -> np.ndarray:
        """X'WX, a new (p, p) array (callers may overwrite it)."""
        return self._products(w, None)[0]

    def gram_xtw(self, w: np.ndarray, z: np.ndarray, out: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """X'WX and X'Wz in one pass over the rows; X'WX into ``out`` (p, p) when given.  With a block of at
        least ``settings.block_gram_min_columns`` columns, X'WX is a ``BlockGram`` (no k x k block)."""
        if self.blocks and self._largest().size >= settings.current().block_gram_min_columns:
            return self._block_products(w, z)
        return self._products(w, z, out)

    def _largest(self) -> CategoricalBlock:
        return max(self.blocks, key=lambda block: block.size)

    def _accumulators(self, w: np.ndarray, z: np.ndarray | None):
        """(D'WD, D'Wz, each block's diagonal, X'Wz and cross-products with D, the accumulators of block pairs:
        tables or cell sums, see ``_pair_cells``)."""
        cells = self._pair_cells()
        if self._use_kernels:
            upper, dense_xtw, diagonals, block_xtw, crosses, pairs = kernels.products(
                self.stored, self._codes, self._sizes, w, z, self._values,
                [None if c is None else c.stored for c in cells], [None if c is None else c.count for c in cells],
                [None if c is None else c.gate for c in cells], intercept=self._implicit)
            return np.triu(upper) + np.triu(upper, 1).T, dense_xtw, diagonals, block_xtw, crosses, pairs
        return self._accumulate(w, z)

    def _block_products(self, w: np.ndarray, z: np.ndarray) -> tuple[BlockGram, np.ndarray]:
        """X'WX as a ``BlockGram`` around the largest block (its diagonal, and the other columns' rows as a
        sparse matrix: the tables between blocks are mostly zeros) and X'Wz, from the accumulators.  The sparse
        rows' structure is kept between calls (``rows_pattern``): a call gathers its entries into it."""
        dense_gram, dense_xtw, diagonals, block_xtw, crosses, pairs = self._accumulators(w, z)
        p, dp = self.shape[1], self.dense_positions
        largest = self.blocks.index(self._largest())
        others = np.ones(p, dtype=bool)
        others[self.blocks[largest].positions] = False
        rest = np.flatnonzero(others)
        xtw = np.zeros(p)
        xtw[dp] = dense_xtw
        for index, block in enumerate(self.blocks):
            xtw[block.positions] = block_xtw[index]
        cells = self._pair_cells()
        present = [present_entries(table, pair) for table, pair in zip(pairs, cells)]
        entries = [np.ravel(dense_gram)]
        for index in range(len(self.blocks)):
            entries.append(np.ravel(crosses[index].T))
            if index != largest:
                entries += [diagonals[index], np.ravel(crosses[index])]
        for (i, j), table, kept in zip(self._block_pairs(), pairs, present):
            sums = table[kept]
            entries += [sums] * ((i != largest) + (j != largest))

        def positions() -> tuple[np.ndarray, np.ndarray]:
            """The (row, column) of each entry, in the order of ``entries``."""
            row_of = np.full(p, -1)
            row_of[rest] = np.arange(len(rest))
            pieces = [_grid(row_of[dp], dp)]
            for index, block in enumerate(self.blocks):
                pieces.append(_grid(row_of[dp], block.positions))
                if index != largest:
                    pieces.append((row_of[block.positions], block.positions))
                    pieces.append(_grid(row_of[block.positions], dp))
            for (i, j), kept, pair in zip(self._block_pairs(), present, cells):
                a, b = self.blocks[i].positions, self.blocks[j].positions
                first, second = entry_levels(kept, self.blocks[j].size, pair)
                if i != largest:
                    pieces.append((row_of[a[first]], b[second]))
                if j != largest:
                    pieces.append((row_of[b[second]], a[first]))
            rows, columns = (np.concatenate(parts) for parts in zip(*pieces))
            return rows, columns

        if self._rows_pattern is None or self._rows_pattern_of != largest:
            self._rows_pattern, self._rows_pattern_of = RowsPattern(), largest
        rest_rows = self._rows_pattern.matrix(present, positions, np.concatenate(entries), (len(rest), p))
        groups = tuple(block.positions for index, block in enumerate(self.blocks) if index != largest)
        return BlockGram(self.blocks[largest].positions, diagonals[largest], rest, rest_rows, groups), xtw

    def _block_pairs(self) -> list[tuple[int, int]]:
        """(i, j) of each pair of blocks, i < j, in the order of the pair accumulators."""
        return [(i, j) for i in range(len(self.blocks)) for j in range(i + 1, len(self.blocks))]

    def _products(self, w: np.ndarray, z: np.ndarray | None, out: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray | None]:
        """X'WX (and X'Wz when z is given), assembled from the blocks' accumulators (into ``out`` if given)."""
        dense_gram, dense_xtw, diagonals, block_xtw, crosses, pairs = self._accumulators(w, z)
        p, dp = self.shape[1], self.dense_positions
        if out is None:
            gram = np.zeros((p, p))
        else:  # IRLS's buffer, reused: a large categorical's X'WX is mostly zeros, and 8 MB for 1,000 levels
            gram = out
            gram.fill(0.0)
        xtw = np.zeros(p)
        gram[np.ix_(dp, dp)] = dense_gram
        xtw[dp] = dense_xtw
        for index, block in enumerate(self.blocks):
            gram[block.positions, block.positions] = diagonals[index]
            gram[np.ix_(block.positions, dp)] = crosses[index]
            gram[np.ix_(dp, block.positions)] = crosses[index].T
            xtw[block.positions] = block_xtw[index]
        for i, j, first, second, sums in self._pair_entries(pairs):
            a, b = self.blocks[i].positions, self.blocks[j].positions
            gram[a[first], b[second]] = sums
            gram[b[second], a[first]] = sums
        return gram, (xtw if z is not None else None)

    def _accumulate(self, w: np.ndarray, z: np.ndarray | None):
        """numpy's path to the accumulators of ``kernels.products``, by row chunks so that
        temporaries stay the size of a chunk.

        Each block's chunk indicator carries the chunk's weights as its values, so that one
        sparse product S'WD gives the block's cross-products with every dense column.  Row 0
        of each block's tables is the reference level, dropped at the end.
        """
        n_dense, cells = len(self.dense_positions), self._pair_cells()
        dense_gram, dense_xtw = np.zeros((n_dense, n_dense)), np.zeros(n_dense)
        crosses = [np.zeros((block.size + 1, n_dense)) for block in self.blocks]
        diagonals = [np.zeros(block.size + 1) for block in self.blocks]
        block_xtw = [np.zeros(block.size + 1) for block in self.blocks]
        pair_blocks = self._block_pairs()
        pairs = [np.zeros((self.blocks[i].size + 1) * (self.blocks[j].size + 1)) if c is None else np.zeros(c.count)
                 for (i, j), c in zip(pair_blocks, cells)]
        for chunk, (start, stop) in enumerate(self._chunk_bounds()):
            w_chunk, dense_chunk = w[start:stop], self.dense_rows(slice(start, stop))
            root_w = np.sqrt(w_chunk)
            weighted = dense_chunk * root_w[:, None]  # sqrt(W) D for the chunk
            dense_gram += weighted.T @ weighted
            wz_chunk = None if z is None else w_chunk * z[start:stop]
            if wz_chunk is not None:
                dense_xtw += dense_chunk.T @ wz_chunk
            indicators = [self._chunk_indicator(index, chunk) for index in range(len(self.blocks))]
            block_values = [None if b.values is None else b.values[start:stop] for b in self.blocks]
            for index, indicator in enumerate(indicators):
                levels = indicator.indices  # code + 1: the reference level is 0
                size = len(diagonals[index])
                values = block_values[index]
                w_values = w_chunk if values is None else w_chunk * values  # w v: v is the row's value, else 1
                diagonals[index] += np.bincount(levels, weights=w_values if values is None else w_values * values,
                                                minlength=size)
                if wz_chunk is not None:
                    block_xtw[index] += np.bincount(levels, weights=wz_chunk if values is None else wz_chunk * values,
                                                    minlength=size)
                if n_dense:
                    indicator.data = w_values
                    crosses[index] += indicator @ dense_chunk
            for (i, j), table, cell in zip(pair_blocks, pairs, cells):
                weights = w_chunk
                for values in (block_values[i], block_values[j]):
                    weights = weights if values is None else weights * values
                if cell is not None:
                    table += accumulate_cells(cell.cells_of(start, stop), weights, cell.count)
                    continue
                joint = indicators[i].indices.astype(np.int64) * (self.blocks[j].size + 1) + indicators[j].indices
                table += np.bincount(joint, weights=weights, minlength=len(table))
        pair_tables = [table if cell is not None else table.reshape(self.blocks[i].size + 1, -1)[1:, 1:].ravel()
                       for (i, _), table, cell in zip(pair_blocks, pairs, cells)]
        return (dense_gram, dense_xtw, [d[1:] for d in diagonals], [x[1:] for x in block_xtw],
                [c[1:] for c in crosses], pair_tables)

    def _chunk_bounds(self) -> list[tuple[int, int]]:
        """Chunks of ``settings.categorical_chunk_rows`` rows: temporaries stay small and in cache."""
        rows = settings.current().categorical_chunk_rows
        if self._bounds is None or self._bounds[0] != rows:
            self._bounds = (rows, [(start, min(start + rows, self._n)) for start in range(0, self._n, rows)])
            self._chunk_indicators.clear()  # built for the previous chunks
        return self._bounds[1]

    def _chunk_indicator(self, block_index: int, chunk: int) -> sparse.csc_matrix:
        """A block's indicator for one chunk of rows (built once, then reused every iteration)."""
        key = (block_index, chunk)
        if key not in self._chunk_indicators:
            self._chunk_indicators[key] = self.blocks[block_index].indicator(*self._chunk_bounds()[chunk])
        return self._chunk_indicators[key]

    def orthogonal_columns(self) -> np.ndarray | None:
        """Design columns of the largest categorical block: its indicators never share a row, so
        their block of X'WX is diagonal (the solve eliminates it first); None without blocks."""
        if not self.blocks:
            return None
        return max(self.blocks, key=lambda block: block.size).positions

    def xtw(self, w: np.ndarray, z: np.ndarray) -> np.ndarray:
        """X'Wz, a (p,) array: D'(w * z) and, per block, bincount(codes, w * z) (the compiled pass multiplies
        w and z row by row: no product the data's length is written)."""
        out = np.zeros(self.shape[1])
        if self._use_kernels:
            dense_xtw, block_xtw = kernels.xtw(self.stored, self._codes, self._sizes, z, w, self._values,
                                               intercept=self._implicit)
            out[self.dense_positions] = dense_xtw
            for block, values in zip(self.blocks, block_xtw):
                out[block.positions] = values
            return out
        wz = w * z
        if len(self.dense_positions):
            out[self.dense_positions] = self.dense_transposed_times(wz)
        for block in self.blocks:
            out[block.positions] = np.bincount(block.codes + 1, weights=block.weighted(wz),
                                               minlength=block.size + 1)[1:]
        return out

    def dot(self, beta: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """X beta = D beta_D + sum_k beta_k[codes_k], an (n,) array; into ``out`` when given."""
        if self._use_kernels:
            return kernels.dot(self.stored, beta[self.dense_positions], self._codes,
                               [beta[block.positions] for block in self.blocks], out=out, values=self._values,
                               intercept=self._implicit)
        eta = out if out is not None else np.empty(self._n)
        if len(self.dense_positions):
            eta[:] = self.dense_times(beta[self.dense_positions])
        else:
            eta[:] = 0.0
        for block in self.blocks:
            contribution = np.concatenate([beta[block.positions], [0.0]])[block.codes]  # code -1: the trailing 0
            if block.values is not None:
                contribution *= block.values
            eta += contribution
        return eta

    def kernel_parts(self, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray, list, list, bool] | None:
        """(D, beta_D, codes, beta per block, intercept): the stored dense block, the dense part's coefficients
        (the implicit 1s' first when ``intercept``), the code arrays and each block's coefficients, with
        X beta = [1] D beta_D + sum_k beta_k[codes_k], for the compiled row passes
        that take X beta themselves (``engine.log_step_kernel``); None when those kernels do not serve this
        design (not in use, a dense block wider than they take, or a block with values: that pass reads
        indicators only)."""
        if not self._use_kernels or self._valued:
            return None
        return (self.stored, beta[self.dense_positions], self._codes, [beta[block.positions] for block in self.blocks],
                self._implicit)

    def aliased_columns(self, w: np.ndarray, tol: float, gram: np.ndarray | None = None) -> np.ndarray:
        """A (p,) boolean mask of the columns dependent on earlier ones, by a column-ordered Cholesky of X'WX
        (``gram``, when the caller has it; it is left as it is).

        On the cross-product the detectable residual is ~sqrt(eps) of a column's norm,
        so the tolerance is at least 1e-7 (R's lm default) rather than glm.fit's 1e-11.
        """
        from glmformula.engine.linalg import aliased_columns_from_gram

        own = gram is None
        gram = self.gram(w) if own else gram
        return aliased_columns_from_gram(gram, max(tol, 1e-7), overwrite=own, orthogonal=self.orthogonal_columns())

    def select(self, keep: np.ndarray) -> CategoricalDesign:
        """The design of the columns where the (p,) boolean mask ``keep`` is true: a level dropped from a
        block takes code -1 (it adds nothing, as the reference level)."""
        keep = np.asarray(keep, dtype=bool)
        new_position = np.cumsum(keep) - 1
        dense_kept = keep[self.stored_positions]
        intercept = new_position[self.intercept] if self._implicit and keep[self.intercept] else None
        blocks = []
        for block in self.blocks:
            kept_levels = keep[block.positions]
            level_map = np.where(kept_levels, np.cumsum(kept_levels) - 1, -1)
            codes = np.where(block.codes >= 0, np.concatenate([level_map, [-1]])[block.codes], -1)
            blocks.append(CategoricalBlock(codes.astype(np.int32), new_position[block.positions[kept_levels]],
                                           block.values))
        names = [name for name, kept in zip(self.column_names, keep) if kept]
        return CategoricalDesign(self.stored[:, dense_kept], new_position[self.stored_positions[dense_kept]], blocks,
                                 names, intercept)

    def dense_rows(self, rows: slice) -> np.ndarray:
        """The dense part of ``rows`` (a slice), the implicit 1s written out: a chunk's copy, not the block's."""
        if not self._implicit:
            return self.stored[rows]
        part = self.stored[rows]
        out = np.empty((part.shape[0], part.shape[1] + 1))
        out[:, 0] = 1.0
        out[:, 1:] = part
        return out

    def dense_times(self, matrix: np.ndarray) -> np.ndarray:
        """dense @ ``matrix`` ((len(dense_positions), k)), the implicit 1s' row of ``matrix`` added, not stored."""
        if not self._implicit:
            return self.stored @ matrix
        return self.stored @ matrix[1:] + matrix[0]

    def dense_transposed_times(self, vector: np.ndarray) -> np.ndarray:
        """dense' ``vector`` ((len(dense_positions),)): the implicit 1s' entry is the vector's sum."""
        if not self._implicit:
            return self.stored.T @ vector
        return np.concatenate([[vector.sum()], self.stored.T @ vector])

    def dense_means(self) -> np.ndarray:
        """The column means of the dense part (1 for the implicit intercept)."""
        means = self.stored.mean(axis=0)
        return np.concatenate([[1.0], means]) if self._implicit else means

    def with_stored_intercept(self) -> CategoricalDesign:
        """This design with its intercept's 1s written into the dense block (itself when they are stored): for
        readers of ``dense`` outside the GLM's compiled passes (the zero-inflated kernel), so that the block
        is held once, not as ``stored`` beside a written-out copy."""
        if not self._implicit:
            return self
        return CategoricalDesign(self.dense, self.dense_positions, self.blocks, self.column_names)

    def weighted(self, w: np.ndarray) -> np.ndarray:
        """sqrt(W) X as a new dense (n, p) array (the indicators written out)."""
        return self.to_dense() * np.sqrt(w)[:, None]

    def to_dense(self) -> np.ndarray:
        """The full (n, p) matrix; for diagnostics on data that fit in memory as dense.

        Without categorical blocks this is the dense block itself, as a read-only view."""
        if not self.blocks and not self._implicit and np.array_equal(self.dense_positions, np.arange(self.shape[1])):
            view = self.dense.view()
            view.flags.writeable = False
            return view
        matrix = np.zeros(self.shape)
        if len(self.stored_positions):
            matrix[:, self.stored_positions] = self.stored
        if self._implicit:
            matrix[:, self.intercept] = 1.0
        for block in self.blocks:
            block.write_indicators(matrix)
        return matrix
