"""Products of two designs, and of some rows of one, that the ``Design`` protocol does not offer.

The two-part models need, besides what a GLM asks of a design (X beta, X'WX, X'Wz):

* ``cross_gram(X, Z, w)``: X' diag(w) Z, the (p, q) cross block of the Hessian of a zero-inflated
  model, for any signs of w;
* ``signed_gram(X, w)``: X' diag(w) X for weights of either sign (observed information): the
  compiled passes of a ``CategoricalDesign`` take any weights; otherwise the gram of the positive
  part less that of the negative part;
* ``take_rows(X, rows)``: the design of some rows (the positive counts of a hurdle's count part).

Each works on ``DenseDesign`` and ``CategoricalDesign`` without writing out dummy columns: a design is
read as its parts, a dense block D (columns at ``positions``) and categorical blocks (codes c with
-1 for none, optional values v), and for a pair of parts

    dense-dense          D_x' W D_z
    block-dense          bincount(c_x, w v_x D_z[:, j]) for each column j
    block-block          bincount(c_x (k_z + 1) + c_z, w v_x v_z)          (a k_x x k_z table)

summed over chunks of rows, so that temporaries stay the size of a chunk.  Any other design is read
through ``to_dense()``.  (These belong in the ``Design`` protocol as a method; they live here until
the design package takes them.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from glmformula.design.categorical import CategoricalBlock, CategoricalDesign
from glmformula.design.dense import DenseDesign
from glmformula.engine.design_protocol import Design

#: Rows per chunk of the cross products.
CHUNK_ROWS = 1 << 16


@dataclass(frozen=True)
class _Part:
    """A dense block (``codes`` None) or a categorical block of a design, and its design columns."""

    positions: np.ndarray
    dense: np.ndarray | None = None
    codes: np.ndarray | None = None
    values: np.ndarray | None = None

    @property
    def size(self) -> int:
        return len(self.positions)


def _parts(design: Design) -> list[_Part]:
    if isinstance(design, CategoricalDesign):
        parts = [_Part(design.dense_positions, dense=design.dense)] if len(design.dense_positions) else []
        return parts + [_Part(block.positions, codes=block.codes, values=block.values) for block in design.blocks]
    if isinstance(design, DenseDesign):
        return [_Part(np.arange(design.n_columns), dense=design.matrix)]
    return [_Part(np.arange(design.n_columns), dense=np.asarray(design.to_dense()))]


def _pair_product(a: _Part, b: _Part, w: np.ndarray, rows: slice) -> np.ndarray:
    """The (a.size, b.size) block of X' W Z of two parts, over the rows ``rows``."""
    if a.codes is None and b.codes is None:
        return a.dense[rows].T @ (b.dense[rows] * w[rows, None])
    if a.codes is None:
        return _block_dense(b, a, w, rows).T
    if b.codes is None:
        return _block_dense(a, b, w, rows)
    weights = w[rows] if a.values is None else w[rows] * a.values[rows]
    weights = weights if b.values is None else weights * b.values[rows]
    joint = (a.codes[rows].astype(np.int64) + 1) * (b.size + 1) + (b.codes[rows] + 1)
    table = np.bincount(joint, weights=weights, minlength=(a.size + 1) * (b.size + 1))
    return table.reshape(a.size + 1, b.size + 1)[1:, 1:]


def _block_dense(block: _Part, dense: _Part, w: np.ndarray, rows: slice) -> np.ndarray:
    """bincount(c, w v D[:, j]) for every dense column j: a (block.size, dense.size) array."""
    weights = w[rows] if block.values is None else w[rows] * block.values[rows]
    levels = block.codes[rows] + 1
    columns = dense.dense[rows]
    out = np.empty((block.size, dense.size))
    for j in range(dense.size):  # a few dense columns
        out[:, j] = np.bincount(levels, weights=weights * columns[:, j], minlength=block.size + 1)[1:]
    return out


def cross_gram(x: Design, z: Design, w: np.ndarray) -> np.ndarray:
    """X' diag(w) Z, a new (p, q) array, for weights of any sign (see the module docstring)."""
    n, p = x.shape
    q = z.shape[1]
    out = np.zeros((p, q))
    x_parts, z_parts = _parts(x), _parts(z)
    for start in range(0, n, CHUNK_ROWS):
        rows = slice(start, min(start + CHUNK_ROWS, n))
        for a in x_parts:
            for b in z_parts:
                out[np.ix_(a.positions, b.positions)] += _pair_product(a, b, w, rows)
    return out


def signed_gram(design: Design, w: np.ndarray) -> np.ndarray:
    """X' diag(w) X for weights of either sign: ``design.gram`` of the positive part minus that of the
    negative part (a design may take square roots of its weights), the latter over only the rows with
    negative weights when they are fewer than a quarter of the rows."""
    negative = np.flatnonzero(w < 0)
    if not len(negative) or _weights_taken_as_given(design):
        return design.gram(w)
    positive_part = design.gram(np.maximum(w, 0.0))
    if 4 * len(negative) < len(w):
        return positive_part - take_rows(design, negative).gram(-w[negative])
    return positive_part - design.gram(np.maximum(-w, 0.0))


def _weights_taken_as_given(design: Design) -> bool:
    """Whether ``design.gram(w)`` multiplies by w row by row (no square roots), so that weights of either sign
    are exact: a ``CategoricalDesign`` whose products the compiled row passes take (``kernel_parts`` is not
    None exactly then)."""
    return isinstance(design, CategoricalDesign) and design.kernel_parts(np.zeros(design.n_columns)) is not None


def take_rows(design: Design, rows: np.ndarray) -> Design:
    """The design of the rows ``rows`` (an index array or boolean mask), with the same columns."""
    if isinstance(design, CategoricalDesign):
        blocks = [CategoricalBlock(block.codes[rows], block.positions,
                                   None if block.values is None else block.values[rows]) for block in design.blocks]
        return CategoricalDesign(design.dense[rows], design.dense_positions, blocks, design.column_names)
    if isinstance(design, DenseDesign):
        return DenseDesign(design.matrix[rows], design.column_names)
    return DenseDesign(np.asarray(design.to_dense())[rows])
