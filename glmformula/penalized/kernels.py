"""The compiled coordinate-descent loop of the covariance-mode solver, with Python as the fallback.

``_cd.c`` runs the sweeps of ``CovarianceModel.solve`` (a few hundred thousand
coordinate updates along a path, each O(p), which cost some ten microseconds
apiece as Python).  It is built by ``pip install`` when a C compiler is present;
without it ``AVAILABLE`` is False and the solver uses its Python loop, which
makes the same updates in the same order (the tests run both).  Loaded with
ctypes, as ``glmformula.design.kernels`` loads the design's kernels, and
disabled by the same ``GLMFORMULA_NO_KERNELS`` environment variable.
"""

from __future__ import annotations

import ctypes
import importlib.machinery
import os
from pathlib import Path

import numpy as np

_POINTER = ctypes.c_void_p
_INT = ctypes.c_int64


def _load() -> ctypes.CDLL | None:
    if os.environ.get("GLMFORMULA_NO_KERNELS"):
        return None
    here = Path(__file__).parent
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = here / f"_cd{suffix}"
        if path.exists():
            try:
                library = ctypes.CDLL(str(path))
            except OSError:
                return None
            library.gf_cd_covariance.argtypes = [_INT, _POINTER, _POINTER, _POINTER, _POINTER, _POINTER, _INT,
                                                 ctypes.c_double, _INT, _POINTER]
            library.gf_cd_covariance.restype = None
            return library
    return None


_LIBRARY = _load()
#: Whether the compiled loop is in use (set to False to force the Python path, as the tests do).
AVAILABLE = _LIBRARY is not None


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
