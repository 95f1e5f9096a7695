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
    "gf_xtw": ([INT, INT, INT, POINTER, POINTER, INT, POINTER, POINTER, POINTER], None),
    "gf_dot": ([INT, INT, INT, POINTER, POINTER, INT, POINTER, POINTER, POINTER], None),
    "gf_log_step": ([INT, INT, INT, POINTER, POINTER, INT, POINTER, POINTER] + [POINTER] * 4 + [INT, INT]
                    + [POINTER] * 5, ctypes.c_int),
})
#: Whether the compiled kernels are in use (set to False to force the numpy path, as the tests do).
AVAILABLE = _LIBRARY is not None
_EXECUTOR: ThreadPoolExecutor | None = None


def _pointers(arrays) -> ctypes.Array:
    return (POINTER * max(1, len(arrays)))(*[array.ctypes.data for array in arrays])


_CPUS = os.cpu_count() or 1


def _row_ranges(n: int) -> list[tuple[int, int]]:
    threads = min(_CPUS, 4, n // ROWS_PER_THREAD)
    if threads <= 1:
        return [(0, n)]
    bounds = [n * part // threads for part in range(threads + 1)]
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
        _EXECUTOR = ThreadPoolExecutor(max_workers=4, thread_name_prefix="glmformula")
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


def xtw(dense: np.ndarray, codes: list[np.ndarray], sizes: list[int], v: np.ndarray):
    """X'v: (dense part (pd,), one table per block)."""
    n, pd = dense.shape
    v = np.ascontiguousarray(v, dtype=float)
    code_pointers = _pointers(codes)

    def run(start: int, stop: int):
        dense_part, tables = np.zeros(pd), [np.zeros(size) for size in sizes]
        _LIBRARY.gf_xtw(start, stop, pd, dense.ctypes.data, v.ctypes.data, len(codes), code_pointers,
                        dense_part.ctypes.data, _pointers(tables))
        return dense_part, tables

    return _sum_parts(_map(run, _row_ranges(n)))


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


def log_step(dense: np.ndarray | None, beta_dense: np.ndarray | None, codes: list[np.ndarray],
             beta_blocks: list[np.ndarray], offset: np.ndarray, y: np.ndarray, log_y: np.ndarray, prior: np.ndarray,
             power: int, eta: np.ndarray, mu: np.ndarray, z: np.ndarray, w: np.ndarray) -> float | None:
    """One IRLS step's X beta, mean, deviance and next working response under the log link, in one pass.

    Writes eta = X beta + offset, mu, z and w (see ``gf_log_step`` in ``_kernels.c``) and returns the
    deviance, or None when a value fell outside the pass's range (the outputs are then not to be used).
    With ``dense`` None, ``eta`` already holds the linear predictor (offset included) and X is not read.
    """
    n = len(y)
    eta_known = dense is None
    if eta_known:
        dense, beta_dense = np.zeros((1, 0)), np.zeros(0)
    pd = dense.shape[1]
    beta_dense = np.ascontiguousarray(beta_dense, dtype=float)
    beta_blocks = [np.ascontiguousarray(beta, dtype=float) for beta in beta_blocks]
    code_pointers, beta_pointers = _pointers(codes), _pointers(beta_blocks)
    fixed = [array.ctypes.data for array in (offset, y, log_y, prior)]
    outputs = [array.ctypes.data for array in (eta, mu, z, w)]

    def run(start: int, stop: int) -> tuple[int, float]:
        deviance = np.zeros(1)
        status = _LIBRARY.gf_log_step(start, stop, pd, dense.ctypes.data, beta_dense.ctypes.data, len(codes),
                                      code_pointers, beta_pointers, *fixed, power, int(eta_known), *outputs,
                                      deviance.ctypes.data)
        return status, deviance[0]

    parts = _map(run, _row_ranges(n))
    if any(status for status, _ in parts):
        return None
    return float(sum(deviance for _, deviance in parts))
