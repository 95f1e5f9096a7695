"""The language of a formula's Python pieces: its operators, literals and names, shared by the checker and
the interpreter.

The checker (``formula.checker``) admits exactly the operators the interpreter
(``formula.interpreter``) implements, because both read them from the tables
here; the names with a fixed meaning (R's ``TRUE``/``FALSE``, the ``np``
namespace, contrasts written as values) and the error a refused construct
raises are defined once, here, too.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from typing import Any

import numpy as np

from glmformula.exceptions import UnsafeFormulaError
from glmformula.formula import functions

#: Integers computed from literals may have at most this many bits (``(10**100)**100`` would run for minutes).
MAX_INTEGER_BITS = 1024

BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
    ast.BitAnd: operator.and_, ast.BitOr: operator.or_, ast.BitXor: operator.xor,
}
UNARY: dict[type, Callable[[Any], Any]] = {
    ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Invert: operator.invert, ast.Not: np.logical_not,
}
COMPARE: dict[type, Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
}
#: R's reserved words for the logicals: literals, never column names (a column so named is backquoted).
R_LOGICALS = {"TRUE": True, "FALSE": False}
#: The names under which ``np.<function>`` may be written.
NUMPY_MODULE_NAMES = frozenset({"np", "numpy"})
#: patsy's contrast constructors, which a formula may pass as values (``C(x, Sum)``).
_CONTRAST_CONSTRUCTORS = ("Treatment", "Sum", "Helmert", "Poly", "Diff")


def refuse(construct: str, expr: str) -> UnsafeFormulaError:
    """The error for a construct a formula may not use."""
    return UnsafeFormulaError(
        f"{construct} is not allowed in a formula (in {expr!r}). Formulas may use data columns, "
        "numbers, arithmetic and the documented transforms; pass trusted=True to evaluate "
        "arbitrary Python from a source you trust."
    )


def dotted_name(node: ast.AST) -> str | None:
    """``a.b.c`` (``np.log``, ``contr.sum``, a column ``ph.ecog``) for a chain of plain names without
    dunders, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return None if any(part.startswith("__") for part in parts) else ".".join(reversed(parts))


def contrast_value(name: str) -> Any | None:
    """A contrast passed as a value (``C(x, Sum)``, ``C(x, contr.sum)``), or None."""
    if name.startswith("contr."):
        return functions.contrast_class(name.split(".", 1)[1])
    if name in _CONTRAST_CONSTRUCTORS:
        found = functions.lookup(name, transforms=True)
        return found.call if found else None
    return None


def binary(op: ast.operator, left: Any, right: Any, text: str) -> Any:
    """``left op right``, with Python integers kept within ``MAX_INTEGER_BITS`` and strings and lists never
    repeated (``text``, the piece, names the refused construct)."""
    if isinstance(left, int) and isinstance(right, int):
        if isinstance(op, ast.Pow) and right > 0 and abs(left) > 1 and left.bit_length() * right > MAX_INTEGER_BITS:
            raise refuse(f"literal arithmetic beyond {MAX_INTEGER_BITS} bits", text)
        if isinstance(op, ast.Mult) and left.bit_length() + right.bit_length() > MAX_INTEGER_BITS:
            raise refuse(f"literal arithmetic beyond {MAX_INTEGER_BITS} bits", text)
    if isinstance(op, ast.Mult) and any(isinstance(side, (str, list, tuple)) for side in (left, right)):
        raise refuse("repeating a string or a list", text)
    return BINARY[type(op)](left, right)
