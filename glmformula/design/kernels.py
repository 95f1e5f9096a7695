"""Compiled row-pass kernels of the categorical-aware design, with numpy as the fallback.

``_kernels.c`` computes X'WX, X'Wz and X beta of a design of dense columns and
categorical codes in one pass over the rows (numpy needs a dozen passes and a
sparse product per block), blocks with values (``g:x``) and the observed cells of
large pairs of blocks (``design.pairs``) included.  It is built by ``pip install`` when a C compiler
is present; without it ``AVAILABLE`` is False and the design uses its numpy
path, which gives the same numbers (the tests compare the two).  ``in_use()``
says whether they run: available, and allowed by ``glmformula.settings``
(``kernels`` and ``design_kernels``).

The library is called through ctypes, which releases the GIL, so large designs
are split into row ranges summed on a few threads, each into its own
accumulators.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np

from glmformula import settings
from glmformula._native import INT, POINTER, load_library
from glmformula._native import map_ranges as _map
from glmformula._native import pointers as _pointers
from glmformula._native import row_ranges as _row_ranges
from glmformula.engine.log_step_kernel import LogStep, log_step  # noqa: F401  (moved to the engine; kept importable)

#: Dense blocks wider than this take numpy's path (the kernel's stack buffers are this wide).
MAX_DENSE = 64
_LIBRARY = load_library(Path(__file__).parent, "_kernels", {
    "gf_products": ([INT, INT, INT, INT, POINTER, POINTER, POINTER, INT] + [POINTER] * 11, ctypes.c_int),
    "gf_xtw": ([INT, INT, INT, INT, POINTER, POINTER, POINTER, INT, POINTER, POINTER, POINTER, POINTER], None),
    "gf_dot": ([INT, INT, INT, INT, POINTER, POINTER, INT, POINTER, POINTER, POINTER, POINTER], None),
    "gf_gather_columns": ([INT, INT, INT, INT, POINTER, POINTER, INT, POINTER], None),
})
#: Whether the compiled library loaded (a fact; whether it is used is ``in_use()``).
AVAILABLE = _LIBRARY is not None


def in_use() -> bool:
    """Whether the design's compiled row passes run: the library loaded and the settings allow it."""
    current = settings.current()
    return AVAILABLE and current.kernels and current.design_kernels


def optional_pointers(arrays) -> ctypes.Array:
    """A C array of the data addresses of ``arrays``, NULL where an entry is None (one NULL slot for none)."""
    return (POINTER * max(1, len(arrays)))(*[None if array is None else array.ctypes.data for array in arrays])


def products(dense: np.ndarray, codes: list[np.ndarray], sizes: list[int], w: np.ndarray, z: np.ndarray | None,
             values: list[np.ndarray | None] | None = None, cells: list[np.ndarray | None] | None = None,
             cell_counts: list[int | None] | None = None, gates: list[np.ndarray | None] | None = None,
             intercept: bool = False):
    """Accumulators of X'WX (and X'Wz) over all rows; see ``_kernels.c`` for what each holds.

    ``values``: each block's values (None for indicators); ``cells``: per pair of blocks k < l (in order), the
    cell of each row (int32, -1 for none) with ``cell_counts`` cells, or None for a size_k x size_l table;
    ``gates``: per pair, None, or for a nested pair block k's codes, the row's cell then being ``cells``' entry
    (block l's codes) only where the gate is >= 0 (``pairs.PairCells``).
    ``intercept``: the dense part has a column of 1s first that ``dense`` does not hold (see ``_kernels.c``).
    Returns (gram upper triangle (pd, pd), xtw (pd,), diagonals, block_xtw, crosses (size, pd)
    per block, pair tables (size_k * size_l, or the cell count) for k < l in order), pd counting the 1s.
    """
    n, stored = dense.shape
    pd = stored + int(intercept)
    pair_count = len(sizes) * (len(sizes) - 1) // 2
    values = values or [None] * len(sizes)
    cells, cell_counts = cells or [None] * pair_count, cell_counts or [None] * pair_count
    gate_pointers = optional_pointers(gates or [None] * pair_count)
    pair_sizes = [count if count is not None else a * b for count, (a, b) in
                  zip(cell_counts, ((a, b) for i, a in enumerate(sizes) for b in sizes[i + 1:]))]
    size_array = np.asarray(sizes, dtype=np.int64)
    code_pointers, value_pointers, cell_pointers = _pointers(codes), optional_pointers(values), optional_pointers(cells)
    w = np.ascontiguousarray(w, dtype=float)
    z = None if z is None else np.ascontiguousarray(z, dtype=float)

    def run(start: int, stop: int):
        gram, xtw = np.zeros((pd, pd)), np.zeros(pd)
        diagonals = [np.zeros(size) for size in sizes]
        block_xtw = [np.zeros(size) for size in sizes]
        crosses = [np.zeros((size, pd)) for size in sizes]
        pairs = [np.zeros(size) for size in pair_sizes]
        status = _LIBRARY.gf_products(
            start, stop, stored, int(intercept), dense.ctypes.data, w.ctypes.data, None if z is None else z.ctypes.data,
            len(codes), code_pointers, size_array.ctypes.data, value_pointers, cell_pointers, gate_pointers,
            gram.ctypes.data,
            xtw.ctypes.data, _pointers(diagonals), _pointers(block_xtw), _pointers(crosses), _pointers(pairs))
        if status != 0:
            raise ValueError(f"the dense block has {pd} columns; the kernel takes at most {MAX_DENSE}")
        return gram, xtw, diagonals, block_xtw, crosses, pairs

    accumulated = sum(sizes) * (pd + 2) + sum(pair_sizes)
    return _sum_parts(_map(run, _ranges(n, accumulated)))


def _ranges(n: int, accumulated: int) -> list[tuple[int, int]]:
    """``_row_ranges(n)``, merged into one range a thread when each range's accumulators (``accumulated``
    entries, zeroed and then summed) would cost a sizeable part of its rows' pass."""
    ranges = _row_ranges(n)
    per_thread = settings.current().ranges_per_thread
    if len(ranges) <= 1 or accumulated * len(ranges) < n // 4 or len(ranges) < 2 * per_thread:
        return ranges
    threads = len(ranges) // per_thread
    bounds = [n * part // threads for part in range(threads + 1)]
    return list(zip(bounds[:-1], bounds[1:]))


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


def xtw(dense: np.ndarray, codes: list[np.ndarray], sizes: list[int], v: np.ndarray, w: np.ndarray | None = None,
        values: list[np.ndarray | None] | None = None, intercept: bool = False):
    """X'v, or X'Wv when ``w`` is given (without writing w * v): (dense part (pd,), one table per block);
    ``values`` and ``intercept`` as in ``products``."""
    n, stored = dense.shape
    pd = stored + int(intercept)
    v = np.ascontiguousarray(v, dtype=float)
    w = None if w is None else np.ascontiguousarray(w, dtype=float)
    code_pointers, value_pointers = _pointers(codes), optional_pointers(values or [None] * len(codes))

    def run(start: int, stop: int):
        dense_part, tables = np.zeros(pd), [np.zeros(size) for size in sizes]
        _LIBRARY.gf_xtw(start, stop, stored, int(intercept), dense.ctypes.data, v.ctypes.data,
                        None if w is None else w.ctypes.data,
                        len(codes), code_pointers, value_pointers, dense_part.ctypes.data, _pointers(tables))
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
        out: np.ndarray | None = None, values: list[np.ndarray | None] | None = None, intercept: bool = False):
    """X beta = D beta_D + sum over blocks of beta_k[code] (times the row's value for a valued block; code -1
    adds nothing), into ``out`` if given; ``intercept`` as in ``products`` (beta_D's first entry is the 1s')."""
    n, stored = dense.shape
    eta = out if out is not None and out.flags.c_contiguous and out.dtype == np.float64 else np.empty(n)
    beta_dense = np.ascontiguousarray(beta_dense, dtype=float)
    beta_blocks = [np.ascontiguousarray(beta, dtype=float) for beta in beta_blocks]
    code_pointers, beta_pointers = _pointers(codes), _pointers(beta_blocks)
    value_pointers = optional_pointers(values or [None] * len(codes))

    def run(start: int, stop: int):
        _LIBRARY.gf_dot(start, stop, stored, int(intercept), dense.ctypes.data, beta_dense.ctypes.data, len(codes),
                        code_pointers,
                        beta_pointers, value_pointers, eta.ctypes.data)

    _map(run, _row_ranges(n))
    if out is not None and eta is not out:
        out[...] = eta
        return out
    return eta
