"""``Design``: everything the engine (and the results built on a fit) asks of a design matrix.

The engine owns this protocol so that it can type against a design without
importing ``glmformula.design``, whose classes (``DenseDesign``,
``CategoricalDesign``) implement it.  X is the (n, p) design, W = diag(w) a
diagonal matrix of weights (working or prior weights, all >= 0), z a vector of
length n and beta one of length p.  Every product is over all n rows; a design
may compute it however it likes (dense BLAS, group sums over categorical
codes, compiled row passes) as long as the numbers are those of the dense X.

Optional capabilities are declared, never probed: every design implements
``orthogonal_columns()`` and ``kernel_parts(beta)``, returning None when it has
no such structure or no compiled form.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

#: X beta's pieces for the compiled row passes: (D, beta_D, codes, beta per block, implicit intercept).
KernelParts = tuple[np.ndarray, np.ndarray, list[np.ndarray], list[np.ndarray], bool]


@runtime_checkable
class Design(Protocol):
    """The design matrix X of a fit, behind the products IRLS and its results need (see the module doc)."""

    @property
    def shape(self) -> tuple[int, int]:
        """(n, p): rows and columns of X."""
        ...

    @property
    def n_columns(self) -> int:
        """p, the number of columns of X (``shape[1]``)."""
        ...

    def dot(self, beta: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """X beta, an (n,) array; written into ``out`` (an (n,) float buffer) when given."""
        ...

    def gram(self, w: np.ndarray) -> np.ndarray:
        """X'WX, a new (p, p) symmetric array (the caller may overwrite it)."""
        ...

    def xtw(self, w: np.ndarray, z: np.ndarray) -> np.ndarray:
        """X'Wz = X' (w * z), a (p,) array."""
        ...

    def gram_xtw(self, w: np.ndarray, z: np.ndarray, out: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(X'WX, X'Wz) in one pass over the rows; X'WX written into ``out`` ((p, p)) when given."""
        ...

    def aliased_columns(self, w: np.ndarray, tol: float, gram: np.ndarray | None = None) -> np.ndarray:
        """A (p,) boolean mask of the columns linearly dependent on earlier ones in sqrt(W) X (R's ordered
        pivoting rule at tolerance ``tol``); ``gram`` is X'WX when the caller has it (it is not modified)."""
        ...

    def select(self, keep: np.ndarray) -> Design:
        """The design of the columns where the (p,) boolean mask ``keep`` is true, in their order."""
        ...

    def weighted(self, w: np.ndarray) -> np.ndarray:
        """sqrt(W) X as a dense (n, p) array (for the QR fallback and accurate standard errors)."""
        ...

    def to_dense(self) -> np.ndarray:
        """X as a dense (n, p) array (diagnostics, refits; possibly a read-only view: do not write to it)."""
        ...

    def orthogonal_columns(self) -> np.ndarray | None:
        """Positions of columns that never share a nonzero row (a categorical's indicators), so that their
        block of X'WX is diagonal and the solve can eliminate it first; None when the design knows of none."""
        ...

    def kernel_parts(self, beta: np.ndarray) -> KernelParts | None:
        """X beta's pieces as the compiled row passes take them, (D, beta_D, codes, beta per block, intercept)
        with X beta = D beta_D + sum_k beta_k[codes_k] (code -1 adds nothing), D's first column being a column
        of 1s that the array D does not hold when ``intercept`` (beta_D then starts with its coefficient);
        None when the design has no such form or the compiled kernels are not in use."""
        ...
