"""Dense design matrix behind the narrow interface the IRLS engine uses (``engine.design_protocol.Design``).

The engine only ever asks a design for

* ``gram(w)``          X' diag(w) X           (p, p)
* ``xtw(w, z)``        X' (w * z)             (p,)
* ``gram_xtw(w, z, out)``  both, in one pass over the rows (X'WX into ``out`` when given)
* ``dot(beta, out)``   X beta                 (n,), into ``out`` when given
* ``aliased_columns(w, tol)``  which columns are linearly dependent on earlier ones
* ``select(columns)``  the design restricted to some columns
* ``weighted(w)``, ``to_dense()``  dense forms, for the QR fallback and diagnostics
* ``orthogonal_columns()``, ``kernel_parts(beta)``  optional structure (None when absent)

so that a categorical-aware, sparse or chunked design can replace this one
without touching the solver.
"""

from __future__ import annotations

import numpy as np

from glmformula import settings
from glmformula.design import kernels


class DenseDesign:
    """An (n, p) float design held as one contiguous numpy array."""

    def __init__(self, matrix: np.ndarray, column_names: list[str] | None = None):
        self.matrix = np.ascontiguousarray(matrix, dtype=float)
        if self.matrix.ndim != 2:
            raise ValueError("a design matrix must be two-dimensional")
        self.column_names = list(column_names) if column_names is not None else [
            f"x{j}" for j in range(self.matrix.shape[1])
        ]

    @property
    def shape(self) -> tuple[int, int]:
        """(n, p): rows and columns of X."""
        return self.matrix.shape

    @property
    def n_columns(self) -> int:
        """p, the number of columns of X."""
        return self.matrix.shape[1]

    def gram(self, w: np.ndarray) -> np.ndarray:
        """X'WX = (sqrt(W) X)'(sqrt(W) X), a new (p, p) array."""
        weighted = self.matrix * np.sqrt(w)[:, None]  # (sqrt(W) X)'(sqrt(W) X): numpy takes the symmetric kernel
        return weighted.T @ weighted

    def gram_xtw(self, w: np.ndarray, z: np.ndarray, out: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """X'WX and X'Wz as symmetric products of sqrt(W) X and sqrt(W) z (X'WX copied into ``out`` when
        given, as the categorical design writes it there).

        A design that fits in cache takes (sqrt(W) X)'(sqrt(W) X) and (sqrt(W) X)'(sqrt(W) z):
        numpy scales the rows into a matrix of their own width without buffering them, and the
        second product reads that matrix from cache.  A larger one is taken in blocks of rows that
        fit in cache, each block's sqrt(W) [X z] multiplied by itself and summed: X is read once,
        and no scaled copy of the whole design is written (or paged in) at every iteration.
        """
        gram, xtw = self._gram_xtw(w, z)
        if out is None:
            return gram, xtw
        out[...] = gram
        return out, xtw

    def _gram_xtw(self, w: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # designs of at most ``settings.dense_cached_cells`` cells (2 MiB by default) are small enough for a
        # second pass over them to be cheap; larger ones are multiplied in blocks of rows of about that size
        root_w, (n, p), cached_cells = np.sqrt(w), self.matrix.shape, settings.current().dense_cached_cells
        if self.matrix.size <= cached_cells:
            weighted = self.matrix * root_w[:, None]
            return weighted.T @ weighted, weighted.T @ (root_w * z)
        rows = max(1, cached_cells // (p + 1))
        block = np.empty((min(n, rows), p + 1))
        product = np.zeros((p + 1, p + 1))
        for start in range(0, n, rows):  # a few blocks of thousands of rows
            stop = min(start + rows, n)
            scaled = block[: stop - start]
            np.multiply(self.matrix[start:stop], root_w[start:stop, None], out=scaled[:, :p])
            np.multiply(z[start:stop], root_w[start:stop], out=scaled[:, p])
            product += scaled.T @ scaled
        return product[:p, :p].copy(), product[:p, p].copy()

    def xtw(self, w: np.ndarray, z: np.ndarray) -> np.ndarray:
        """X'Wz = X' (w * z), a (p,) array."""
        return self.matrix.T @ (w * z)

    def dot(self, beta: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """X beta, an (n,) array; into ``out`` when given (IRLS reuses one buffer across iterations)."""
        return np.matmul(self.matrix, beta, out=out)

    def kernel_parts(self, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray, list, list, bool] | None:
        """(X, beta, [], [], False): the design as the compiled row passes take it (a dense block, no categorical
        codes, no implicit intercept), or None when the compiled kernels are not in use."""
        return (self.matrix, beta, [], [], False) if kernels.in_use() else None

    def aliased_columns(self, w: np.ndarray, tol: float, gram: np.ndarray | None = None) -> np.ndarray:
        """A (p,) boolean mask of the columns linearly dependent on earlier ones: R's ordered rule on the QR
        of sqrt(W) X (see ``engine.linalg.aliased_columns``); ``gram`` is X'WX when the caller has it.

        The QR is skipped when X'WX proves that no column can be aliased (the usual case;
        ``engine.linalg.certainly_full_rank_by_gram``): the cross-product costs half a QR,
        and far less on small data, where numpy's call overheads dominate.
        """
        from glmformula.engine.linalg import aliased_columns, certainly_full_rank_by_gram

        with np.errstate(over="ignore", invalid="ignore"):
            if certainly_full_rank_by_gram(self.gram(w) if gram is None else gram, len(w), tol):
                return np.zeros(self.matrix.shape[1], dtype=bool)
        return aliased_columns(self.weighted(w), tol)

    def orthogonal_columns(self) -> None:
        """None: a dense design knows of no columns that never share a row (its X'WX is solved whole)."""
        return None

    def weighted(self, w: np.ndarray) -> np.ndarray:
        """sqrt(W) X, a new (n, p) array."""
        return self.matrix * np.sqrt(w)[:, None]

    def select(self, keep: np.ndarray) -> DenseDesign:
        """The design restricted to the columns where the (p,) boolean mask ``keep`` is true (a copy)."""
        keep = np.asarray(keep, dtype=bool)
        names = [name for name, kept in zip(self.column_names, keep) if kept]
        return DenseDesign(self.matrix[:, keep], names)

    def to_dense(self) -> np.ndarray:
        """X itself, the (n, p) array the design holds (not a copy: do not write to it)."""
        return self.matrix
