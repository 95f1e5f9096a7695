"""IRLS's elementwise work under the log link for V = mu^p, p = 1 (poisson) or 2 (gamma).

The deviance takes log(y) once per fit and log(mu) = max(eta, log(eps)) (the
link floors mu at eps), which saves two logarithms per row and iteration:

    p = 1:  2 sum w (y (log y - log mu) - (y - mu))
    p = 2:  2 sum w (log mu - log y + y / mu - 1)

With the compiled library (``_log_link.c``) it and the working response and
weights take one pass over the rows; without it (or with ``glmformula.settings``'
``kernels`` or ``log_link_kernels`` off) numpy computes the same numbers by row
chunks.

numpy is the reference implementation: ``by_chunks`` below, and the families'
``unit_deviance`` and IRLS's generic working response.  The C per-row formulas,
shared by ``_log_link.c`` and the fused step of ``design/_kernels.c``, are in
``log_link_math.h``; the tests compare both compiled passes with numpy.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np

from glmformula import settings
from glmformula._native import INT, POINTER, load_library
from glmformula.families.base import chunk_rows, chunks, log_of_mean
from glmformula.families.ranges import weighted_sum

_LIBRARY = load_library(Path(__file__).parent, "_log_link", {
    "gf_log_working": ([INT, INT] + [POINTER] * 7, ctypes.c_int),
    "gf_log_deviance": ([INT, INT] + [POINTER] * 5, ctypes.c_double),
})
#: Whether the compiled library loaded (a fact; whether it is used is ``in_use()``).
AVAILABLE = _LIBRARY is not None


def in_use() -> bool:
    """Whether the compiled pass runs: the library loaded and the settings allow it."""
    current = settings.current()
    return AVAILABLE and current.kernels and current.log_link_kernels


def _contiguous(*arrays: np.ndarray) -> list[np.ndarray]:
    return [np.ascontiguousarray(a, dtype=float) for a in arrays]


def working_function(power: int, y: np.ndarray, prior_weights: np.ndarray, offset: np.ndarray):
    """(eta, mu, z_out, w_out) -> bool writing z and w in one pass (False: IRLS's generic path must take
    over), or None when the compiled pass is not in use."""
    if not in_use():
        return None
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
    """(eta, mu) -> the deviance (see the module docstring); ``log_y`` is log(y), 0 where y = 0."""
    if in_use():
        y, log_y, weights = _contiguous(y, log_y, weights)

        def compiled(eta, mu) -> float:
            eta, mu = _contiguous(eta, mu)
            return float(_LIBRARY.gf_log_deviance(len(y), power, y.ctypes.data, log_y.ctypes.data,
                                                  weights.ctypes.data, eta.ctypes.data, mu.ctypes.data))

        return compiled
    size = chunk_rows()
    scratch, ratio = np.empty(min(len(y), size)), np.empty(min(len(y), size))  # reused by each call

    def by_chunks(eta, mu) -> float:
        total = 0.0
        for rows in chunks(len(y), size):
            log_mu = log_of_mean(eta[rows], out=scratch[: len(y[rows])])
            if power == 1:
                unit = np.subtract(log_y[rows], log_mu, out=log_mu)
                unit *= y[rows]
                unit -= y[rows]
                unit += mu[rows]
            else:
                unit = np.subtract(log_mu, log_y[rows], out=log_mu)
                unit += np.divide(y[rows], mu[rows], out=ratio[: len(unit)])
                unit -= 1.0
            total += weighted_sum(weights[rows], unit)
        return 2.0 * total

    return by_chunks
