"""IRLS's elementwise work under the log link in one compiled pass (``_log_link.c``), numpy as the fallback.

For poisson-type (V = mu) and gamma (V = mu^2) families with the log link, the
working response and weights and the deviance are computed in one pass over
the rows; elsewhere, or without the compiled library, numpy's chunked path
computes the same numbers.  The tests compare the two.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np

from glmformula._native import INT, POINTER, load_library

_LIBRARY = load_library(Path(__file__).parent, "_log_link", {
    "gf_log_working": ([INT, INT] + [POINTER] * 7, ctypes.c_int),
    "gf_log_deviance": ([INT, INT] + [POINTER] * 5, ctypes.c_double),
})
#: Whether the compiled pass is in use (set to False to force numpy's path, as the tests do).
AVAILABLE = _LIBRARY is not None


def _contiguous(*arrays: np.ndarray) -> list[np.ndarray]:
    return [np.ascontiguousarray(a, dtype=float) for a in arrays]


def working_function(power: int, y: np.ndarray, prior_weights: np.ndarray, offset: np.ndarray):
    """(eta, mu, z_out, w_out) -> bool: writes z and w, False when numpy's path must take over."""
    y, prior_weights, offset = _contiguous(y, prior_weights, offset)

    def working(eta, mu, z_out, w_out) -> bool:
        eta, mu = _contiguous(eta, mu)
        if not (z_out.flags.c_contiguous and w_out.flags.c_contiguous):
            return False
        status = _LIBRARY.gf_log_working(len(y), power, y.ctypes.data, eta.ctypes.data, mu.ctypes.data,
                                         offset.ctypes.data, prior_weights.ctypes.data, z_out.ctypes.data,
                                         w_out.ctypes.data)
        return status == 0

    return working


def deviance_function(power: int, y: np.ndarray, log_y: np.ndarray, weights: np.ndarray):
    """(eta, mu) -> the deviance (see ``_log_link.c``)."""
    y, log_y, weights = _contiguous(y, log_y, weights)

    def deviance(eta, mu) -> float:
        eta, mu = _contiguous(eta, mu)
        return float(_LIBRARY.gf_log_deviance(len(y), power, y.ctypes.data, log_y.ctypes.data, weights.ctypes.data,
                                              eta.ctypes.data, mu.ctypes.data))

    return deviance
