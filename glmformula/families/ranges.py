"""Range checks on large arrays (valid means and linear predictors), without temporary arrays."""

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
