"""Where a design's dense columns are to be written: an array given by the caller (``output_into``).

``formula.numeric_terms`` builds the dense block of a design as one row-major
array and materialises each numeric transform term straight into its columns:
within ``output_into(view)`` formulaic's matrix of the term is written into the
view (``materializer.InterpretingMaterializer``) rather than into a new array.
A transform that computes its own matrix (``bs``, ``ns``: ``formula.splines``)
may write it there in the first place, when it is the whole term: it asks with
``claim((rows, width))``, and the materializer, finding the term's columns to be
the view's own, copies nothing.

Each ``output_into`` block hands its target out once for each use:

* ``claim(shape)``, to a transform: the target when its shape is ``shape`` (and
  it is float64), to the first transform that asks; None to any other (in
  ``bs(x, df=1, degree=1):bs(z, df=1, degree=1)`` both bases are the term's
  width, but only one may be written there: the term's column is their product);
* ``take(shape)``, to the materializer combining the term's columns: the target
  when its shape is ``shape``, claimed or not, once.  The columns are computed
  before they are combined, so a basis a transform wrote there has been read
  (into the product, say) by the time the combined columns overwrite it.

This module imports nothing of glmformula: the transforms (imported by the
interpreter's table of functions) and the materializer (which imports the
interpreter) both read it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import numpy as np


@dataclass
class _Target:
    """The array of an ``output_into`` block and what it was handed out for."""

    array: np.ndarray
    claimed: bool = False  # a transform writes its columns there (``claim``)
    taken: bool = False  # the materializer writes the combined columns there (``take``)

    def fits(self, shape: tuple[int, ...]) -> bool:
        """Whether the array is a float64 array of ``shape``."""
        return self.array.shape == tuple(shape) and self.array.dtype == np.float64


#: The target of the innermost ``output_into`` block, or None.
_OUTPUT_TARGET: ContextVar[_Target | None] = ContextVar("glmformula_output_target", default=None)


@contextmanager
def output_into(target: np.ndarray | None) -> Iterator[None]:
    """Within the block, a ``numpy`` output of ``InterpretingMaterializer`` of ``target``'s shape (a float64
    array, or a view of some columns of one) is written into ``target`` and returned as it, not in a new
    array: a numeric transform term lands straight in the design's dense block (``formula.numeric_terms``).
    None: no target (an enclosing block's is hidden)."""
    token = _OUTPUT_TARGET.set(None if target is None else _Target(target))
    try:
        yield
    finally:
        _OUTPUT_TARGET.reset(token)


def claim(shape: tuple[int, int]) -> np.ndarray | None:
    """For a transform computing a whole term's columns: the block's target if it is a float64 array of
    ``shape`` and no transform has claimed it (nor the materializer taken it) yet, else None."""
    target = _OUTPUT_TARGET.get()
    if target is None or target.claimed or target.taken or not target.fits(shape):
        return None
    target.claimed = True
    return target.array


def take(shape: tuple[int, int]) -> np.ndarray | None:
    """For the materializer combining a matrix's columns: the block's target if it is a float64 array of
    ``shape`` not taken yet (a transform may have claimed it), else None."""
    target = _OUTPUT_TARGET.get()
    if target is None or target.taken or not target.fits(shape):
        return None
    target.taken = True
    return target.array
