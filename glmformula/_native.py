"""Loading the optional compiled kernels (C files built by ``pip install``, called through ctypes).

Each kernel module (``glmformula.design.kernels``, ``glmformula.penalized.kernels``)
asks for its library here and falls back to numpy when there is none: no C
compiler at install time, a library that does not load, or the environment
variable ``GLMFORMULA_NO_KERNELS`` set.  ctypes releases the GIL during a call,
so row ranges can run on several threads.
"""

from __future__ import annotations

import ctypes
import importlib.machinery
import os
from pathlib import Path

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
