"""Block elimination of an equilibrated X'WX around a categorical's levels (mutually orthogonal columns).

The indicator columns of one categorical never share a row, so their block of the unit-diagonal
cross-product is the identity; the other columns' Schur complement is factored instead of the whole
matrix, and the other categorical blocks that stay diagonal in it are eliminated in turn.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from glmformula.engine.cholesky import (
    _TriangularMethods,
    by_column_chunks,
    cholesky,
    column_squared_norms,
)
from glmformula.engine.matrix_products import (
    CHUNK_ENTRIES,
    as_dense,
    columns_of,
    coupling_operand,
    largest_absolute_row_sum,
    outer_route,
    outer_rows,
    product,
    subtract_from,
)


class BlockFactor:
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

    def __init__(self, rest: np.ndarray, rows, orthogonal: np.ndarray, groups: tuple = (),
                 keep_schur_matrix: bool = False):
        """``rest`` and ``rows``: the other columns r and their rows E[r, :] (``other_rows``; dense or sparse);
        ``groups``: other sets of mutually orthogonal columns (inside r), eliminated from S in turn where they
        stay orthogonal there (``schur_factor``).  ``coupling`` is an upper bound of ||E_rd||_2^2
        (``coupling_bound``), which the rank certificate reads; with ``keep_schur_matrix`` the dense S is kept
        too where the factor leaves it intact, for the certificate's exact eigenvalue (``release_schur_matrix``)."""
        p = rows.shape[1]
        self._d, self._r = orthogonal, rest
        self._e_rd = coupling_operand(columns_of(rows, orthogonal))
        # small products with E_rd (m x k, k the levels) by numpy's loops: BLAS would run them on threads that
        # then spin, taking the cores from the row-pass kernels of the next step
        # S = E_rr - B B' is formed in a copy of E_rr; B B' stays sparse when B is (a nested factor's levels)
        e_rr = columns_of(rows, rest)
        schur = e_rr.toarray() if sparse.issparse(e_rr) else np.array(e_rr)
        route = outer_route(self._e_rd)
        b_bt = outer_rows(self._e_rd, keep_sparse=True, route=route)
        self.coupling = coupling_bound(b_bt, schur)
        subtract_from(schur, b_bt)
        del b_bt
        self._schur = schur_factor(schur, local_groups(groups, rest, p), overwrite=True,
                                   after_scipy_blas=route == "blas") if len(self._r) else None
        # S is intact unless a nested block's elimination equilibrated it in place
        self._schur_matrix = schur if keep_schur_matrix and not isinstance(self._schur, ScaledFactor) else None
        del schur
        self.pivots = np.ones(p)
        if self._schur is not None:
            self.pivots[self._r] = self._schur.pivots

    @property
    def rest(self) -> np.ndarray:
        """The other columns r."""
        return self._r

    @property
    def orthogonal(self) -> np.ndarray:
        """The eliminated, mutually orthogonal columns d."""
        return self._d

    @property
    def schur(self):
        """The factor of the Schur complement S (``solve``, ``pivots``), None without other columns."""
        return self._schur

    @property
    def coupling_entries(self) -> int:
        """The stored entries of E_rd (all of them when it is held dense)."""
        return int(self._e_rd.nnz) if sparse.issparse(self._e_rd) else int(self._e_rd.size)

    def release_schur_matrix(self) -> np.ndarray | None:
        """The dense S kept at construction (``keep_schur_matrix``; None when S was overwritten by the
        elimination of a nested block in it), then no longer held."""
        schur, self._schur_matrix = self._schur_matrix, None
        return schur

    def schur_inverse_trace(self) -> float:
        """trace(S^-1) (inf without other columns: no bound from S is needed then)."""
        return float(np.sum(self._schur.inverse_diagonal())) if self._schur is not None else 0.0

    def _times(self, vector: np.ndarray) -> np.ndarray:
        """E_rd vector (or E_rd matrix)."""
        if sparse.issparse(self._e_rd):
            return self._e_rd @ vector
        return self._e_rd @ vector if vector.ndim == 2 else np.einsum("ik,k->i", self._e_rd, vector)

    def _transposed_times(self, vector: np.ndarray) -> np.ndarray:
        """E_dr vector (or E_dr matrix)."""
        if sparse.issparse(self._e_rd):
            return self._e_rd.T @ vector
        return self._e_rd.T @ vector if vector.ndim == 2 else np.einsum("ik,i->k", self._e_rd, vector)

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
        """diag(E^{-1}): diag(S^{-1}) for r and 1 + e_k' E_dr S^{-1} E_rd e_k for d (see ``inverse``), the
        quadratic forms of S^{-1} on the columns of E_rd (``quadratic_forms``): by whitening chunks of them,
        O(non-zeros) for a sparse E_rd, never S^{-1}, an (m, k) array or the (p, p) inverse."""
        diagonal = np.ones(len(self.pivots))
        if self._schur is None:
            return diagonal
        if isinstance(self._schur, _TriangularMethods):  # U unpacked once for both, then inverted in place
            upper = self._schur.working_upper()
            diagonal[self._d] += self._schur.quadratic_forms(self._e_rd, upper)
            diagonal[self._r] = self._schur.inverse_diagonal(upper)
            return diagonal
        diagonal[self._d] += self._schur.quadratic_forms(self._e_rd)
        diagonal[self._r] = self._schur.inverse_diagonal()
        return diagonal

    def quadratic_forms(self, b) -> np.ndarray:
        """b' E^{-1} b for each column b of an (p, k) ``b`` (dense or sparse), through the factor of E taken
        with the columns d first, E = L L' with L = [[I, 0], [E_rd, U']] (S = U'U):

            b' E^{-1} b = ||L^{-1} b||^2 = ||b_d||^2 + (b_r - E_rd b_d)' S^{-1} (b_r - E_rd b_d),

        the latter by S's own ``quadratic_forms``.  Sparse columns stay sparse where E_rd is (O(non-zeros));
        dense temporaries are bounded by chunks of columns (``by_column_chunks``)."""

        def forms(part) -> np.ndarray:
            part_d = part[self._d]
            out = column_squared_norms(part_d)
            if self._schur is None:
                return out
            reduced = self._times(part_d)  # E_rd b_d: sparse when both E_rd and the part are, else a new array
            del part_d
            if sparse.issparse(reduced):
                reduced = part[self._r] - reduced
            else:  # b_r - E_rd b_d in place
                np.negative(reduced, out=reduced)
                reduced += as_dense(part[self._r])
            return out + self._schur.quadratic_forms(reduced)

        # a sparse b is made dense in the rows r at most (E_rd b_d, m x columns); a dense one is copied whole
        return by_column_chunks(b, len(self._r) if sparse.issparse(b) else len(self.pivots), forms)

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
            cross = -product(schur_inverse, self._e_rd)  # (m, k): the r-d block
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


class ScaledFactor:
    """The factor of S = D S' D (D = diag(``scale``)) from one of the unit-diagonal S'."""

    def __init__(self, unit_factor, scale: np.ndarray):
        self._unit, self._scale = unit_factor, scale
        self.pivots = unit_factor.pivots * scale

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        scale = self._scale if rhs.ndim == 1 else self._scale[:, None]
        return self._unit.solve(rhs / scale) / scale

    def inverse_diagonal(self) -> np.ndarray:
        return self._unit.inverse_diagonal() / self._scale**2

    def quadratic_forms(self, b) -> np.ndarray:
        """b' S^{-1} b = (D^{-1} b)' S'^{-1} (D^{-1} b) for each column b of ``b`` (dense or sparse; a sparse one
        scaled in a copy of its non-zeros, a dense one by chunks of columns)."""
        if sparse.issparse(b):
            if b.format == "csc":
                scaled = b.copy()
                scaled.data /= self._scale[scaled.indices]  # the row of each stored entry
            else:
                scaled = sparse.csr_matrix(b, copy=True)
                scaled.data /= np.repeat(self._scale, np.diff(scaled.indptr))  # each row's scale, per entry
            return self._unit.quadratic_forms(scaled)
        return by_column_chunks(b, len(self._scale),
                                lambda part: self._unit.quadratic_forms(part / self._scale[:, None]))

    def inverse(self) -> np.ndarray:
        inverse = self._unit.inverse()
        inverse /= self._scale[:, None]
        inverse /= self._scale
        return inverse


def schur_factor(schur: np.ndarray, groups: list[np.ndarray], overwrite: bool = False,
                 after_scipy_blas: bool = False):
    """Factor a Schur complement S, eliminating first the largest of ``groups`` (sets of its columns) whose
    block of S is diagonal: a factor nested in the one eliminated before (S7's c1000 beside c20:c1000, whose
    cells each fall in one level of c1000) leaves S = [[S_rr, S_ra], [S_ar, diag]], and block elimination of
    the diagonal part costs O(levels m) instead of a dense Cholesky of all of S.  Else a Cholesky of S.
    With ``overwrite`` S may be equilibrated in place (no second (m, m) array); ``after_scipy_blas``: S was just
    formed by scipy's BLAS (see ``cholesky``)."""
    for group in sorted(groups, key=len, reverse=True):
        if len(group) < BLOCK_ELIMINATION_MIN_COLUMNS or not is_diagonal_block(schur, group):
            continue
        scale = np.sqrt(np.diag(schur))
        if not np.all(scale > 0) or not np.all(np.isfinite(scale)):
            break
        unit = schur if overwrite else schur.copy()
        unit /= scale[:, None]
        unit /= scale
        others = np.ones(len(schur), dtype=bool)
        others[group] = False
        rest = np.flatnonzero(others)
        inner_groups = tuple(g for g in groups if g is not group)
        return ScaledFactor(BlockFactor(rest, unit[rest], group, inner_groups), scale)
    return cholesky(schur, after_scipy_blas)


def is_diagonal_block(matrix: np.ndarray, group: np.ndarray) -> bool:
    """Whether matrix[group, group] has no non-zero entry off its diagonal (read by chunks of rows; a run of
    consecutive columns, as a factor's levels usually are, in place, without the copy fancy indexing makes)."""
    group = np.asarray(group)
    first = int(group[0]) if len(group) else 0
    run = np.array_equal(group, np.arange(first, first + len(group)))
    step = max(1, CHUNK_ENTRIES // max(1, len(group)))
    for start in range(0, len(group), step):
        rows = group[start:start + step]
        block = (matrix[first + start:first + start + len(rows), first:first + len(group)] if run
                 else matrix[np.ix_(rows, group)])
        on_diagonal = block[np.arange(len(rows)), np.arange(start, start + len(rows))]
        if np.count_nonzero(block) != np.count_nonzero(on_diagonal):
            return False
    return True


#: Matrices of at most this many columns get the bound of ``coupling_bound`` exactly (cheap at this size).
EXACT_NORM_COLUMNS = 256


def coupling_bound(b_bt, e_rr: np.ndarray) -> float:
    """An upper bound of ||B B'||_2: its largest row sum of absolute values, or E_rr's (B B' <= E_rr, since
    S = E_rr - B B' is a Schur complement of a positive semi-definite matrix), or exactly for small ones
    (``b_bt`` dense or sparse)."""
    if b_bt.shape[0] <= EXACT_NORM_COLUMNS:
        return max(float(np.linalg.eigvalsh(as_dense(b_bt))[-1]), 0.0) if b_bt.shape[0] else 0.0
    return min(largest_absolute_row_sum(b_bt), largest_absolute_row_sum(e_rr))


def local_groups(groups, rest: np.ndarray, p: int) -> list[np.ndarray]:
    """The ``groups`` (design columns, each inside ``rest``) as positions in ``rest``."""
    position = np.full(p, -1)
    position[rest] = np.arange(len(rest))
    local = [position[group] for group in groups]
    return [group for group in local if len(group) and group.min() >= 0]
