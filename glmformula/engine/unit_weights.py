"""The prior weights of a fit without weights: n ones that take no memory.

A fit without ``weights=`` has a prior weight of 1 in every row.  Held as an array of
ones, that is one float64 array the data's length (a third of S7's 26 MB frame) kept
through the fit; here it is a read-only broadcast of a single 1.0 (stride 0), which
numpy reads as any other array.  The compiled passes are handed NULL for it
(``pointer_or_none``: their "every weight is 1"), never a contiguous copy.
"""

from __future__ import annotations

import numpy as np


def unit_weights(n: int) -> np.ndarray:
    """n prior weights of 1: a read-only view of one value (nothing may write into it)."""
    return np.broadcast_to(np.float64(1.0), (n,))


def are_unit(weights: np.ndarray | None) -> bool:
    """Whether ``weights`` is such a broadcast of 1.0 (``unit_weights``): a stride-0 float64 vector of ones.
    An array of ones written out is not: its values are read as they are."""
    return (isinstance(weights, np.ndarray) and weights.ndim == 1 and weights.dtype == np.float64
            and weights.strides == (0,) and (weights.size == 0 or weights[0] == 1.0))


def all_ones(values: np.ndarray) -> bool:
    """Whether every value is a float 1: unit weights (``are_unit``), or ones written out (two reductions, no
    temporary the data's length).  Weights given as ones are then taken as unit weights, so that a fit with them
    is the fit without, to the last bit."""
    return are_unit(values) or bool(values.size > 0 and values.dtype.kind == "f" and values.min() == 1.0
                                     and values.max() == 1.0)


def contiguous_or_none(weights: np.ndarray) -> np.ndarray | None:
    """None for unit weights (a compiled pass reads NULL as all ones), else the weights as a C-contiguous
    float64 array (the array itself when it is one)."""
    return None if are_unit(weights) else np.ascontiguousarray(weights, dtype=float)
