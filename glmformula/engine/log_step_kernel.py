"""The compiled IRLS step under the log link (``gf_log_step`` in ``design/_kernels.c``), through ctypes.

One pass over the rows computes eta = X beta + offset, mu, the deviance and the
next working response and weights of a poisson or gamma fit (see
``engine.fused_step``, which decides when a fit may use it).  The C source is
built with the design's row-pass kernels, into the same library; the engine
loads it here itself, so that it needs nothing from ``glmformula.design``: a
design hands over its arrays through ``Design.kernel_parts``.

The library is called through ctypes, which releases the GIL: large data are
split into row ranges run on a few threads (``glmformula._native``).
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np

from glmformula import settings
from glmformula._native import INT, POINTER, load_library, map_ranges, pointers, row_ranges
from glmformula.engine.unit_weights import contiguous_or_none

_LIBRARY = load_library(Path(__file__).parent.parent / "design", "_kernels", {
    "gf_log_step": ([INT, INT, INT, INT, POINTER, POINTER, INT, POINTER, POINTER] + [POINTER] * 4 + [INT, INT]
                    + [POINTER] * 5, ctypes.c_int),
})
#: Whether the compiled library loaded (a fact; whether it is used is ``in_use()``).
AVAILABLE = _LIBRARY is not None


def in_use() -> bool:
    """Whether the compiled log step runs: the library loaded and the settings allow the design's kernels
    (``kernels`` and ``design_kernels``: it is built and switched with them)."""
    current = settings.current()
    return AVAILABLE and current.kernels and current.design_kernels


class LogStep:
    """``gf_log_step`` bound to one fit: its fixed arrays (the offset, y, log y and prior weights) and the
    buffers it writes (eta, mu and z; the working weights go to the buffer each call names).

    ``log_y`` None: the kernel takes log y row by row (the caller has checked ``log_link.logs_in_pass``).
    ``mu`` None: the means are the working weights (poisson, unit prior weights: mu^2 / mu is mu), written
    into the buffer each call names and nowhere else, so that a fit holds one array fewer.

    IRLS calls it once per iteration; on small data the kernel's own work is tiny beside Python's, so every
    address that does not change during the fit is taken once: those of the arrays above, and those
    of the design's blocks (kept for the design last seen).
    """

    def __init__(self, offset: np.ndarray, y: np.ndarray, log_y: np.ndarray | None, prior: np.ndarray, power: int,
                 eta: np.ndarray, mu: np.ndarray | None, z: np.ndarray, weights: tuple[np.ndarray, ...]):
        n = len(y)
        if not all(a.flags.c_contiguous and a.dtype == np.float64 and a.shape == (n,)
                   for a in (eta, z, *weights, *([] if mu is None else [mu]))):
            raise ValueError("the outputs of the log step must be C-contiguous float64 arrays of the data's length")
        # unit prior weights (``unit_weights``) go as NULL, which the kernel reads as all 1: no array of ones
        self._fixed_arrays = (*(np.ascontiguousarray(a, dtype=float) for a in (offset, y)),
                              None if log_y is None else np.ascontiguousarray(log_y, dtype=float),
                              contiguous_or_none(prior))
        if mu is None and (power != 1 or self._fixed_arrays[3] is not None):
            raise ValueError("the means are the working weights only for power 1 without prior weights")
        self.means_are_weights = mu is None
        self._fixed = [None if array is None else array.ctypes.data for array in self._fixed_arrays]
        self._output_arrays = (eta, mu, z)  # kept alive while their addresses are used
        self._outputs = [None if array is None else array.ctypes.data for array in self._output_arrays]
        self._n = n
        self._power = power
        self._ranges = row_ranges(n)
        self._range_indices = [(index,) for index in range(len(self._ranges))]
        self._deviances = np.zeros(len(self._ranges))
        self._deviance_address = self._deviances.ctypes.data
        self._design: tuple = (None, None, None)  # the design last seen: dense block, codes, their addresses

    def __call__(self, dense: np.ndarray | None, beta_dense: np.ndarray | None, codes: list[np.ndarray],
                 beta_blocks: list[np.ndarray], w: np.ndarray, intercept: bool = False) -> float | None:
        """Writes eta = X beta + offset, mu, z and ``w`` (see ``gf_log_step`` in ``_kernels.c``; with the
        means as weights, mu into ``w`` alone) and returns the deviance, or None when a value fell outside the
        pass's range (the outputs are then not to be used).  With ``dense`` None, eta already holds the
        linear predictor (offset included) and X is not read.  ``intercept``: X's dense part has a column of
        1s first that ``dense`` does not hold (``beta_dense[0]`` is its coefficient)."""
        if not (w.flags.c_contiguous and w.dtype == np.float64 and w.shape == (self._n,)):
            raise ValueError("the log step writes its weights into a C-contiguous float64 array of the data's length")
        eta_known = dense is None
        if eta_known:
            dense, beta_dense = _NO_DENSE, _NO_DENSE[0]
        if self._design[0] is not dense or self._design[1] is not codes:  # the same arrays at every step of a fit
            self._design = (dense, codes, (dense.shape[1], dense.ctypes.data, len(codes), pointers(codes)))
        width, dense_address, n_blocks, code_pointers = self._design[2]
        beta_dense = np.ascontiguousarray(beta_dense, dtype=float)
        beta_blocks = [np.ascontiguousarray(beta, dtype=float) for beta in beta_blocks]
        head = [width, int(intercept and not eta_known), dense_address, beta_dense.ctypes.data, n_blocks,
                code_pointers, pointers(beta_blocks)]
        eta_address, mu_address, z_address = self._outputs
        w_address = w.ctypes.data
        if self.means_are_weights:
            mu_address, w_address = w_address, None
        tail = [self._power, int(eta_known), eta_address, mu_address, z_address, w_address]
        ranges, address = self._ranges, self._deviance_address

        def run(index: int) -> int:
            start, stop = ranges[index]
            return _LIBRARY.gf_log_step(start, stop, *head, *self._fixed, *tail, address + 8 * index)

        if any(map_ranges(run, self._range_indices)):
            return None
        return float(self._deviances.sum())


_NO_DENSE = np.zeros((1, 0))


def log_step(dense: np.ndarray | None, beta_dense: np.ndarray | None, codes: list[np.ndarray],
             beta_blocks: list[np.ndarray], offset: np.ndarray, y: np.ndarray, log_y: np.ndarray | None,
             prior: np.ndarray, power: int, eta: np.ndarray, mu: np.ndarray | None, z: np.ndarray, w: np.ndarray,
             intercept: bool = False) -> float | None:
    """One IRLS step's X beta, mean, deviance and next working response under the log link, in one pass
    (``LogStep`` for one call; ``log_y`` or ``mu`` None as there)."""
    return LogStep(offset, y, log_y, prior, power, eta, mu, z, (w, w))(dense, beta_dense, codes, beta_blocks, w,
                                                                      intercept)
