"""Compiled row-pass kernels of the categorical-aware design, with numpy as the fallback.

``_kernels.c`` computes X'WX, X'Wz and X beta of a design of dense columns and
categorical codes in one pass over the rows (numpy needs a dozen passes and a
sparse product per block).  It is built by ``pip install`` when a C compiler
is present; without it ``AVAILABLE`` is False and the design uses its numpy
path, which gives the same numbers (the tests compare the two).

The library is called through ctypes, which releases the GIL, so large designs
are split into row ranges summed on a few threads, each into its own
accumulators.
"""

from __future__ import annotations

import ctypes
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from glmformula._native import INT, POINTER, load_library

#: Dense blocks wider than this take numpy's path (the kernel's stack buffers are this wide).
MAX_DENSE = 64
#: Rows per thread below which one thread does all the work.
ROWS_PER_THREAD = 250_000
_LIBRARY = load_library(Path(__file__).parent, "_kernels", {
    "gf_products": ([INT, INT, INT, POINTER, POINTER, POINTER, INT] + [POINTER] * 8, ctypes.c_int),
    "gf_xtw": ([INT, INT, INT, POINTER, POINTER, POINTER, INT, POINTER, POINTER, POINTER], None),
    "gf_dot": ([INT, INT, INT, POINTER, POINTER, INT, POINTER, POINTER, POINTER], None),
    "gf_gather_columns": ([INT, INT, INT, INT, POINTER, POINTER, INT, POINTER], None),
    "gf_log_step": ([INT, INT, INT, POINTER, POINTER, INT, POINTER, POINTER] + [POINTER] * 4 + [INT, INT]
                    + [POINTER] * 5, ctypes.c_int),
})
#: Whether the compiled kernels are in use (set to False to force the numpy path, as the tests do).
AVAILABLE = _LIBRARY is not None
_EXECUTOR: ThreadPoolExecutor | None = None


def _pointers(arrays) -> ctypes.Array:
    return (POINTER * max(1, len(arrays)))(*[array.ctypes.data for array in arrays])


_CPUS = os.cpu_count() or 1


#: Row ranges per thread: the pool hands them out as threads finish, so a core that another process slows
#: down takes fewer of them (with one range per thread, every pass would wait for the slowest core).
RANGES_PER_THREAD = 4


def _row_ranges(n: int) -> list[tuple[int, int]]:
    threads = min(_CPUS, 4, n // ROWS_PER_THREAD)
    if threads <= 1:
        return [(0, n)]
    pieces = threads * RANGES_PER_THREAD
    bounds = [n * part // pieces for part in range(pieces + 1)]
    return list(zip(bounds[:-1], bounds[1:]))


def _forget_executor() -> None:
    """In a forked child the pool's threads do not exist: start a new pool when one is needed."""
    global _EXECUTOR
    _EXECUTOR = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_executor)


def _map(function, ranges):
    global _EXECUTOR
    if len(ranges) == 1:
        return [function(*ranges[0])]
    if _EXECUTOR is None:
        _EXECUTOR = ThreadPoolExecutor(max_workers=min(_CPUS, 4), thread_name_prefix="glmformula")
    return list(_EXECUTOR.map(lambda bounds: function(*bounds), ranges))


def products(dense: np.ndarray, codes: list[np.ndarray], sizes: list[int], w: np.ndarray, z: np.ndarray | None):
    """Accumulators of X'WX (and X'Wz) over all rows; see ``_kernels.c`` for what each holds.

    Returns (gram upper triangle (pd, pd), xtw (pd,), diagonals, block_xtw, crosses (size, pd)
    per block, pair tables (size_k * size_l) for k < l in order).
    """
    n, pd = dense.shape
    size_array = np.asarray(sizes, dtype=np.int64)
    code_pointers = _pointers(codes)
    w = np.ascontiguousarray(w, dtype=float)
    z = None if z is None else np.ascontiguousarray(z, dtype=float)

    def run(start: int, stop: int):
        gram, xtw = np.zeros((pd, pd)), np.zeros(pd)
        diagonals = [np.zeros(size) for size in sizes]
        block_xtw = [np.zeros(size) for size in sizes]
        crosses = [np.zeros((size, pd)) for size in sizes]
        pairs = [np.zeros(a * b) for i, a in enumerate(sizes) for b in sizes[i + 1:]]
        status = _LIBRARY.gf_products(
            start, stop, pd, dense.ctypes.data, w.ctypes.data, None if z is None else z.ctypes.data,
            len(codes), code_pointers, size_array.ctypes.data, gram.ctypes.data, xtw.ctypes.data,
            _pointers(diagonals), _pointers(block_xtw), _pointers(crosses), _pointers(pairs))
        if status != 0:
            raise ValueError(f"the dense block has {pd} columns; the kernel takes at most {MAX_DENSE}")
        return gram, xtw, diagonals, block_xtw, crosses, pairs

    return _sum_parts(_map(run, _row_ranges(n)))


def _sum_parts(parts):
    """Add the accumulators of each row range into the first's (arrays, or lists of arrays)."""
    total = parts[0]
    for part in parts[1:]:
        for mine, theirs in zip(total, part):
            if isinstance(mine, list):
                for a, b in zip(mine, theirs):
                    a += b
            else:
                mine += theirs
    return total


def xtw(dense: np.ndarray, codes: list[np.ndarray], sizes: list[int], v: np.ndarray, w: np.ndarray | None = None):
    """X'v, or X'Wv when ``w`` is given (without writing w * v): (dense part (pd,), one table per block)."""
    n, pd = dense.shape
    v = np.ascontiguousarray(v, dtype=float)
    w = None if w is None else np.ascontiguousarray(w, dtype=float)
    code_pointers = _pointers(codes)

    def run(start: int, stop: int):
        dense_part, tables = np.zeros(pd), [np.zeros(size) for size in sizes]
        _LIBRARY.gf_xtw(start, stop, pd, dense.ctypes.data, v.ctypes.data, None if w is None else w.ctypes.data,
                        len(codes), code_pointers, dense_part.ctypes.data, _pointers(tables))
        return dense_part, tables

    return _sum_parts(_map(run, _row_ranges(n)))


def gather_columns(columns: list[np.ndarray], positions: list[int], intercept: int | None, out: np.ndarray) -> None:
    """Write the C-contiguous float64 ``columns`` (each of out's length) into the columns ``positions`` of the
    row-major ``out``, and 1s into its column ``intercept`` unless None: one pass, in tiles of rows."""
    n, width = out.shape
    if not (out.flags.c_contiguous and out.dtype == np.float64) or not all(
            c.flags.c_contiguous and c.dtype == np.float64 and c.shape == (n,) for c in columns):
        raise ValueError("gather_columns takes C-contiguous float64 arrays of the output's length")
    column_pointers = _pointers(columns)
    position_array = np.asarray(positions, dtype=np.int64)
    if position_array.size and (position_array.min() < 0 or position_array.max() >= width):
        raise ValueError("a column position is outside the output")

    def run(start: int, stop: int) -> None:
        _LIBRARY.gf_gather_columns(start, stop, width, len(columns), column_pointers, position_array.ctypes.data,
                                   -1 if intercept is None else intercept, out.ctypes.data)

    _map(run, _row_ranges(n))


def dot(dense: np.ndarray, beta_dense: np.ndarray, codes: list[np.ndarray], beta_blocks: list[np.ndarray],
        out: np.ndarray | None = None):
    """X beta = D beta_D + sum over blocks of beta_k[code] (code -1 adds nothing), into ``out`` if given."""
    n, pd = dense.shape
    eta = out if out is not None and out.flags.c_contiguous and out.dtype == np.float64 else np.empty(n)
    beta_dense = np.ascontiguousarray(beta_dense, dtype=float)
    beta_blocks = [np.ascontiguousarray(beta, dtype=float) for beta in beta_blocks]
    code_pointers, beta_pointers = _pointers(codes), _pointers(beta_blocks)

    def run(start: int, stop: int):
        _LIBRARY.gf_dot(start, stop, pd, dense.ctypes.data, beta_dense.ctypes.data, len(codes), code_pointers,
                        beta_pointers, eta.ctypes.data)

    _map(run, _row_ranges(n))
    if out is not None and eta is not out:
        out[...] = eta
        return out
    return eta


class LogStep:
    """``gf_log_step`` bound to one fit: its fixed arrays (the offset, y, log y and prior weights) and the
    buffers it writes (eta, mu, z and the two working-weight buffers IRLS alternates between).

    IRLS calls it once per iteration; for a thousand rows the kernel takes microseconds, so every
    address that does not change during the fit is taken once: those of the arrays above, and those
    of the design's blocks (kept for the design last seen).
    """

    def __init__(self, offset: np.ndarray, y: np.ndarray, log_y: np.ndarray, prior: np.ndarray, power: int,
                 eta: np.ndarray, mu: np.ndarray, z: np.ndarray, weights: tuple[np.ndarray, np.ndarray]):
        n = len(y)
        if not all(a.flags.c_contiguous and a.dtype == np.float64 and a.shape == (n,) for a in (eta, mu, z, *weights)):
            raise ValueError("the outputs of the log step must be C-contiguous float64 arrays of the data's length")
        self._fixed_arrays = tuple(np.ascontiguousarray(a, dtype=float) for a in (offset, y, log_y, prior))
        self._fixed = [array.ctypes.data for array in self._fixed_arrays]
        self._output_arrays, self._weights = (eta, mu, z), weights  # kept alive while their addresses are used
        self._outputs = [array.ctypes.data for array in self._output_arrays]
        self._weight_addresses = [array.ctypes.data for array in weights]
        self._power = power
        self._ranges = _row_ranges(n)
        self._range_indices = [(index,) for index in range(len(self._ranges))]
        self._deviances = np.zeros(len(self._ranges))
        self._deviance_address = self._deviances.ctypes.data
        self._design: tuple = (None, None, None)  # the design last seen: dense block, codes, their addresses

    def __call__(self, dense: np.ndarray | None, beta_dense: np.ndarray | None, codes: list[np.ndarray],
                 beta_blocks: list[np.ndarray], w: np.ndarray) -> float | None:
        """Writes eta = X beta + offset, mu, z and ``w`` (one of the two weight buffers; see ``gf_log_step`` in
        ``_kernels.c``) and returns the deviance, or None when a value fell outside the pass's range (the
        outputs are then not to be used).  With ``dense`` None, eta already holds the linear predictor
        (offset included) and X is not read."""
        eta_known = dense is None
        if eta_known:
            dense, beta_dense = _NO_DENSE, _NO_DENSE[0]
        if self._design[0] is not dense or self._design[1] is not codes:  # the same arrays at every step of a fit
            self._design = (dense, codes, (dense.shape[1], dense.ctypes.data, len(codes), _pointers(codes)))
        width, dense_address, n_blocks, code_pointers = self._design[2]
        beta_dense = np.ascontiguousarray(beta_dense, dtype=float)
        beta_blocks = [np.ascontiguousarray(beta, dtype=float) for beta in beta_blocks]
        head = [width, dense_address, beta_dense.ctypes.data, n_blocks, code_pointers, _pointers(beta_blocks)]
        tail = [self._power, int(eta_known), *self._outputs, self._weight_address(w)]
        ranges, address = self._ranges, self._deviance_address

        def run(index: int) -> int:
            start, stop = ranges[index]
            return _LIBRARY.gf_log_step(start, stop, *head, *self._fixed, *tail, address + 8 * index)

        if any(_map(run, self._range_indices)):
            return None
        return float(self._deviances.sum())

    def _weight_address(self, w: np.ndarray) -> int:
        for buffer, address in zip(self._weights, self._weight_addresses):
            if buffer is w:
                return address
        raise ValueError("the log step writes its weights into one of the two buffers it was given")


_NO_DENSE = np.zeros((1, 0))


def log_step(dense: np.ndarray | None, beta_dense: np.ndarray | None, codes: list[np.ndarray],
             beta_blocks: list[np.ndarray], offset: np.ndarray, y: np.ndarray, log_y: np.ndarray, prior: np.ndarray,
             power: int, eta: np.ndarray, mu: np.ndarray, z: np.ndarray, w: np.ndarray) -> float | None:
    """One IRLS step's X beta, mean, deviance and next working response under the log link, in one pass
    (``LogStep`` for one call)."""
    return LogStep(offset, y, log_y, prior, power, eta, mu, z, (w, w))(dense, beta_dense, codes, beta_blocks, w)
