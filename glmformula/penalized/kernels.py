"""The compiled coordinate-descent loop of the covariance-mode solver, with Python as the fallback.

``_cd.c`` runs the sweeps of ``CovarianceModel.solve`` (a few hundred thousand
coordinate updates along a path, each O(p), whose interpreter overhead would
dominate as Python; figures in docs/performance.md).  It is built by ``pip install`` when a C compiler is present;
without it ``AVAILABLE`` is False and the solver uses its Python loop, which
makes the same updates in the same order (the tests run both); ``in_use()``
also asks ``glmformula.settings`` (``kernels`` and ``penalized_kernels``).
Loaded by ``glmformula._native``, as the design's kernels are.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np

from glmformula import settings
from glmformula._native import INT, POINTER, load_library

_LIBRARY = load_library(Path(__file__).parent, "_cd", {
    "gf_cd_covariance": ([INT, POINTER, POINTER, POINTER, POINTER, POINTER, INT, ctypes.c_double, INT, POINTER],
                         None),
})
#: Whether the compiled library loaded (a fact; whether it is used is ``in_use()``).
AVAILABLE = _LIBRARY is not None


def in_use() -> bool:
    """Whether the compiled loop runs: the library loaded and the settings allow it."""
    current = settings.current()
    return AVAILABLE and current.kernels and current.penalized_kernels


def cd_covariance(H: np.ndarray, gradient: np.ndarray, x: np.ndarray, l1: np.ndarray, l2: np.ndarray,
                  intercept: bool, stop: float, max_sweeps: int) -> None:
    """Coordinate descent on the quadratic model with matrix H (C-ordered, symmetric); updates
    ``x`` and ``gradient`` (float arrays, contiguous) in place.  See ``_cd.c``."""
    m = len(x)
    arrays = [np.ascontiguousarray(a, dtype=float) for a in (H, l1, l2)]
    for array in (gradient, x):
        if not (array.dtype == float and array.flags.c_contiguous):
            raise ValueError("gradient and x must be contiguous float arrays (they are updated in place)")
    work = np.empty(2 * m, dtype=np.int64)
    _LIBRARY.gf_cd_covariance(m, arrays[0].ctypes.data, gradient.ctypes.data, x.ctypes.data, arrays[1].ctypes.data,
                              arrays[2].ctypes.data, int(intercept), float(stop), int(max_sweeps), work.ctypes.data)
