"""Loading the optional compiled kernels (C files built by ``pip install``, called through ctypes).

Each kernel module (``glmformula.design.kernels``, ``glmformula.penalized.kernels``,
``glmformula.families.log_link``) asks for its library here and falls back to
numpy when there is none: no C compiler at install time, a library that does
not load, or the environment variable ``GLMFORMULA_NO_KERNELS`` set (each
module's ``AVAILABLE`` is then False).  A loaded library is used while
``glmformula.settings`` allow it (each module's ``in_use()``).  ctypes releases
the GIL during a call, so row ranges can run on several threads: ``row_ranges``
splits the rows and ``map_ranges`` runs a pass over each on one shared pool.
"""

from __future__ import annotations

import ctypes
import importlib.machinery
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from glmformula import settings

POINTER = ctypes.c_void_p
INT = ctypes.c_int64


def load_library(directory: Path, stem: str, signatures: dict[str, tuple[list, object]]) -> ctypes.CDLL | None:
    """The compiled extension ``stem`` next to a module, with ``signatures`` (name: (argtypes, restype))
    declared, or None when it is absent, does not load, or kernels are disabled."""
    if os.environ.get("GLMFORMULA_NO_KERNELS"):
        return None
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = directory / f"{stem}{suffix}"
        if path.exists():
            try:
                library = ctypes.CDLL(str(path))
            except OSError:
                return None
            for name, (argtypes, restype) in signatures.items():
                function = getattr(library, name)
                function.argtypes, function.restype = argtypes, restype
            return library
    return None


def pointers(arrays) -> ctypes.Array:
    """A C array of the data addresses of ``arrays`` (numpy arrays; one null slot when there are none)."""
    return (POINTER * max(1, len(arrays)))(*[array.ctypes.data for array in arrays])


_CPUS = os.cpu_count() or 1
_EXECUTOR: ThreadPoolExecutor | None = None


def row_ranges(n: int) -> list[tuple[int, int]]:
    """Row ranges for up to four threads (one below ``settings.rows_per_thread`` rows a thread), several per
    thread (``settings.ranges_per_thread``): the pool hands them out as threads finish, so a core that another
    process slows down takes fewer of them (with one range per thread, every pass would wait for the slowest)."""
    current = settings.current()
    threads = min(_CPUS, 4, n // current.rows_per_thread)
    if threads <= 1:
        return [(0, n)]
    pieces = threads * current.ranges_per_thread
    bounds = [n * part // pieces for part in range(pieces + 1)]
    return list(zip(bounds[:-1], bounds[1:]))


def _forget_executor() -> None:
    """In a forked child the pool's threads do not exist: start a new pool when one is needed."""
    global _EXECUTOR
    _EXECUTOR = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_executor)


def map_ranges(function, ranges):
    """[function(*r) for r in ranges], on a shared pool of up to four threads when there are several
    (ctypes releases the GIL: each range runs a compiled pass)."""
    global _EXECUTOR
    if len(ranges) == 1:
        return [function(*ranges[0])]
    if _EXECUTOR is None:
        _EXECUTOR = ThreadPoolExecutor(max_workers=min(_CPUS, 4), thread_name_prefix="glmformula")
    return list(_EXECUTOR.map(lambda bounds: function(*bounds), ranges))
