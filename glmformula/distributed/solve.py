"""The weighted least squares step of a Dask fit, from the summed products X'WX and X'Wz alone.

The solve is the in-memory one (``engine.linalg.solve_wls``: equilibration, block elimination
around a large categorical's diagonal block, the same Cholesky and conditioning test), so a Dask
fit takes the steps an in-memory fit takes.  Where ``solve_wls`` would fall back on a QR of
sqrt(W) X (nearly collinear columns, extreme scales), the rows are on the workers: the step is
then ``solve_normal_equations`` on the products.
"""

from __future__ import annotations

import numpy as np

from glmformula.engine.block_gram import BlockGram
from glmformula.engine.linalg import SolveResult, solve_normal_equations, solve_wls


class _RowsElsewhere(Exception):
    """``solve_wls`` asked for the rows (its QR fallback): they are on the workers."""


class _ProductsOnly:
    """A stand-in design for ``solve_wls`` that has products but no rows."""

    def orthogonal_columns(self) -> None:
        return None

    def weighted(self, w) -> np.ndarray:
        raise _RowsElsewhere


def kept_gram(gram, kept: np.ndarray):
    """X'WX of the columns ``kept`` (a boolean mask): a ``BlockGram`` stays one."""
    if kept.all():
        return gram
    if not isinstance(gram, BlockGram):
        return gram[np.ix_(kept, kept)]
    position = np.cumsum(kept) - 1
    rest_kept = kept[gram.rest]
    orthogonal_kept = kept[gram.orthogonal]
    return BlockGram(position[gram.orthogonal[orthogonal_kept]], gram.orthogonal_diagonal[orthogonal_kept],
                     position[gram.rest[rest_kept]], gram.rest_rows[rest_kept][:, kept])


def dense(gram) -> np.ndarray:
    """X'WX as a dense (p, p) array (a new one)."""
    return gram.to_dense() if isinstance(gram, BlockGram) else np.array(gram)


def solve_from_products(gram, xtw: np.ndarray) -> SolveResult:
    """Solve X'WX b = X'Wz as ``solve_wls`` does (see the module doc); ``gram`` is not modified."""
    products = (gram if isinstance(gram, BlockGram) else np.array(gram), xtw)
    try:
        return solve_wls(_ProductsOnly(), None, None, products)
    except _RowsElsewhere:
        return solve_normal_equations(dense(gram), xtw)
