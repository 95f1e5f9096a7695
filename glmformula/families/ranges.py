"""Reductions over arrays the size of the data: range checks (valid means and linear predictors)
without temporary arrays, and weighted sums without BLAS."""

from __future__ import annotations

import numpy as np


def within(values: np.ndarray, low: float = -np.inf, high: float = np.inf) -> bool:
    """Whether every value is finite and strictly between ``low`` and ``high``.

    Two reductions and no temporary array: NaN propagates into np.min and np.max,
    so a NaN anywhere fails the comparisons.
    """
    values = np.asarray(values)
    if values.size == 0:
        return True
    smallest, largest = values.min(), values.max()
    return bool(np.isfinite(smallest) and np.isfinite(largest) and smallest > low and largest < high)


def weighted_sum(weights: np.ndarray, values: np.ndarray) -> float:
    """sum(weights * values) by numpy's own loop, not BLAS's dot.

    OpenBLAS runs a long dot product on several threads and leaves them spinning
    for a while afterwards, which takes the cores from the row-pass kernels that
    follow: on large fits that costs far more than numpy's loop loses on the sum
    itself (figures in docs/performance.md).
    """
    return float(np.einsum("i,i->", weights, values))
