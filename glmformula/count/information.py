"""Solving with the observed information J = -H of a two-part model, and inverting it, around a large factor.

The indicator columns of a categorical never share a row, so their block of X'AX is diagonal
whatever the weights A; in the information of a two-part model that block (the largest one, of
either part's design: ``orthogonal``) is diagonal too.  On the equilibrated E = D^-1 J D^-1
(D = sqrt(diag J)), with d that block (E_dd = c I, c = 1 + damping) and r every other parameter,
block elimination through the Schur complement S = E_rr + damping I - E_rd E_dr / c (m x m) gives

    solve:    x_r = S^-1 (b_r - E_rd b_d / c),   x_d = (b_d - E_dr x_r) / c
    inverse:  E^-1 = [[S^-1, -S^-1 E_rd / c], [-E_dr S^-1 / c, I / c + E_dr S^-1 E_rd / c^2]]

so a 1,000-level factor costs O(1000 m^2) rather than a Cholesky of all p x p (whose threaded LAPACK
call also waits for its threads).  E is positive definite exactly when S is.  Without such a block
(or with fewer than 64 columns in it) E is factored whole by Cholesky.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg

from glmformula.engine.block_solve import is_diagonal_block

#: Orthogonal blocks with fewer columns than this are factored with the rest.
MIN_ORTHOGONAL = 64


class InformationFactor:
    """A Cholesky factorisation of the equilibrated J (+ damping), by blocks when ``orthogonal`` is set."""

    def __init__(self, information: np.ndarray, orthogonal: np.ndarray | None, damping: float = 0.0):
        diagonal = np.diag(information)
        if not (np.all(np.isfinite(information)) and np.all(diagonal > 0)):
            raise linalg.LinAlgError("the information is not positive definite")
        self.scale = np.sqrt(diagonal)
        self.c = 1.0 + damping
        n = len(diagonal)
        if orthogonal is None or len(orthogonal) < MIN_ORTHOGONAL or not is_diagonal_block(information, orthogonal):
            self.d = np.zeros(0, dtype=int)
        else:
            self.d = np.asarray(orthogonal, dtype=int)
        rest = np.ones(n, dtype=bool)
        rest[self.d] = False
        self.r = np.flatnonzero(rest)
        scale_r, scale_d = self.scale[self.r], self.scale[self.d]
        self.e_rd = information[np.ix_(self.r, self.d)] / scale_r[:, None] / scale_d[None, :]
        schur = information[np.ix_(self.r, self.r)] / scale_r[:, None] / scale_r[None, :]
        schur[np.diag_indices_from(schur)] += damping
        schur -= np.einsum("ik,jk->ij", self.e_rd, self.e_rd) / self.c
        self.factor = linalg.cho_factor(schur, check_finite=False) if len(self.r) else None

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """J^{-1} rhs (with the damping)."""
        b = rhs / self.scale
        x = np.empty_like(b)
        b_d = b[self.d]
        x_r = b[self.r] - np.einsum("ik,k->i", self.e_rd, b_d) / self.c
        if self.factor is not None:
            x_r = linalg.cho_solve(self.factor, x_r, check_finite=False)
        x[self.r] = x_r
        x[self.d] = (b_d - np.einsum("ik,i->k", self.e_rd, x_r)) / self.c
        return x / self.scale

    def inverse(self) -> np.ndarray:
        """J^{-1} (see the module docstring)."""
        n = len(self.scale)
        inverse = np.zeros((n, n))
        if self.factor is not None:
            schur_inverse = linalg.cho_solve(self.factor, np.eye(len(self.r)), check_finite=False)
            cross = -(schur_inverse @ self.e_rd) / self.c
            inverse[np.ix_(self.r, self.r)] = schur_inverse
            inverse[np.ix_(self.r, self.d)] = cross
            inverse[np.ix_(self.d, self.r)] = cross.T
            inverse[np.ix_(self.d, self.d)] = -(self.e_rd.T @ cross) / self.c
        inverse[self.d, self.d] += 1.0 / self.c
        return inverse / self.scale[:, None] / self.scale[None, :]


def factor_information(information: np.ndarray, orthogonal: np.ndarray | None, damping: float = 0.0
                       ) -> InformationFactor | None:
    """The factor of J (+ damping on the equilibrated diagonal), or None when it is not positive definite."""
    try:
        return InformationFactor(information, orthogonal, damping)
    except (linalg.LinAlgError, ValueError):
        return None
