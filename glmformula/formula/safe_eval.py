"""Restricted evaluation of the Python pieces of a formula.

A formula is user input.  formulaic evaluates the Python inside it with
``eval``, so ``y ~ {__import__("os").system(...)}`` would run.  Every Python
snippet of a formula (the response, ``offset()`` terms, ``I()``, ``{...}``,
transform calls) is therefore parsed with :mod:`ast` and checked against an
allow-list *before anything runs*:

* names: data columns, the allowed functions below, and ``np``/``contr``;
* calls: only to allowed functions (numpy math ufuncs and formulaic's
  transforms such as ``C``, ``poly``, ``bs``), or ``np.<allowed>`` /
  ``contr.<contrast>``;
* literals, arithmetic, comparisons, ``&``/``|``, lists and tuples of literals;
* no attribute access other than the two above, no subscripts, no lambdas,
  comprehensions, f-strings, walrus or starred arguments, no dunder names.

``evaluate`` then computes an allowed expression over the data with numpy,
which is how responses and offsets are evaluated without formulaic.
"""

from __future__ import annotations

import ast
import difflib
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import numpy as np

from glmformula.exceptions import FormulaError, MissingColumnError, UnsafeFormulaError

#: numpy functions usable in formulas, by the name a formula uses for them.
MATH_FUNCTIONS: dict[str, Any] = {
    "log": np.log,
    "log1p": np.log1p,
    "log2": np.log2,
    "log10": np.log10,
    "exp": np.exp,
    "expm1": np.expm1,
    "exp2": np.exp2,
    "sqrt": np.sqrt,
    "abs": np.abs,
    "fabs": np.fabs,
    "sin": np.sin,
    "cos": np.cos,
    "tan": np.tan,
    "arcsin": np.arcsin,
    "arccos": np.arccos,
    "arctan": np.arctan,
    "sinh": np.sinh,
    "cosh": np.cosh,
    "tanh": np.tanh,
    "floor": np.floor,
    "ceil": np.ceil,
    "round": np.round,
    "sign": np.sign,
    "square": np.square,
    "power": np.power,
    "minimum": np.minimum,
    "maximum": np.maximum,
    "clip": np.clip,
    "where": np.where,
    "I": lambda x: x,
}

#: formulaic transforms (evaluated by formulaic itself, never by ``evaluate``).
FORMULAIC_TRANSFORMS = frozenset(
    {
        "C", "center", "scale", "standardize", "poly", "bs", "cr", "cs", "cc", "lag", "Q",
        "Treatment", "Sum", "Helmert", "Poly", "Diff",
    }
)
_CONTRAST_ATTRIBUTES = frozenset({"treatment", "sum", "helmert", "poly", "diff", "custom"})
_NUMPY_MODULE_NAMES = frozenset({"np", "numpy"})
#: Largest literal exponent allowed: x ** 9 ** 9 ** 9 would otherwise hang the evaluation.
MAX_LITERAL_EXPONENT = 100

_ALLOWED_NODES = (
    ast.Expression, ast.BinOp, ast.UnaryOp, ast.Compare, ast.BoolOp, ast.IfExp,
    ast.Call, ast.keyword, ast.Name, ast.Load, ast.Constant, ast.Attribute,
    ast.List, ast.Tuple,
    ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow,
    ast.BitAnd, ast.BitOr, ast.BitXor, ast.Invert, ast.USub, ast.UAdd, ast.Not,
    ast.And, ast.Or, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE,
)


def replace_backquotes(expr: str) -> tuple[str, dict[str, str]]:
    """Replace `quoted names` by placeholder identifiers; return the mapping back.

    Backquotes inside string literals are text, not names (as formulaic reads them):
    the scan follows Python's quoting so the checker sees what will be evaluated.
    A backquoted name holding a quote or backslash is refused outright.
    """
    aliases: dict[str, str] = {}
    out: list[str] = []
    index, quote = 0, None
    while index < len(expr):
        char = expr[index]
        if quote:
            out.append(char)
            if char == "\\" and index + 1 < len(expr):
                out.append(expr[index + 1])
                index += 1
            elif char == quote:
                quote = None
        elif char in "'\"":
            quote = char
            out.append(char)
        elif char == "`":
            end = expr.find("`", index + 1)
            if end < 0:
                raise FormulaError(f"unclosed backquote in {expr!r}")
            name = expr[index + 1 : end]
            if any(c in name for c in "'\"\\"):
                raise UnsafeFormulaError(f"the backquoted name {name!r} holds quotes or backslashes; rename the column")
            alias = f"q{len(aliases)}_backquoted"
            aliases[alias] = name
            out.append(alias)
            index = end
        else:
            out.append(char)
        index += 1
    return "".join(out), aliases


def parse_checked(expr: str, columns: set[str], *, allow_transforms: bool) -> tuple[ast.Expression, dict[str, str]]:
    """Parse ``expr`` and verify it against the allow-list.

    Returns the tree and the backquote aliases.  Raises ``UnsafeFormulaError``
    naming the refused construct, or ``MissingColumnError`` for an unknown name.
    Successful checks are cached (formulas and column sets repeat across fits).
    """
    return _parse_checked(expr, frozenset(columns), allow_transforms)


@lru_cache(maxsize=1024)
def _parse_checked(expr: str, columns: frozenset[str], allow_transforms: bool):
    columns = set(columns)
    source, aliases = replace_backquotes(expr)
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        raise FormulaError(f"cannot parse {expr!r} in the formula: {exc.msg}") from None
    for original in aliases.values():
        if original not in columns:
            raise missing_name(original, columns)
    known_functions = set(MATH_FUNCTIONS) | (FORMULAIC_TRANSFORMS if allow_transforms else set())
    for node in ast.walk(tree):
        _check_node(node, expr, columns | set(aliases), known_functions)
    return tree, aliases


def _refuse(construct: str, expr: str) -> UnsafeFormulaError:
    return UnsafeFormulaError(
        f"{construct} is not allowed in a formula (in {expr!r}). Formulas may use data columns, "
        "numbers, arithmetic and the documented transforms; pass trusted=True to evaluate "
        "arbitrary Python from a source you trust."
    )


def _check_node(node: ast.AST, expr: str, columns: set[str], functions: set[str]) -> None:
    if not isinstance(node, _ALLOWED_NODES):
        raise _refuse(f"the construct {type(node).__name__}", expr)
    if isinstance(node, ast.Name) and node.id.startswith("__"):
        raise _refuse(f"the name {node.id!r}", expr)
    if isinstance(node, ast.Constant) and not isinstance(node.value, (int, float, complex, str, bool, type(None))):
        raise _refuse(f"the literal {node.value!r}", expr)
    if isinstance(node, ast.Attribute):
        owner = node.value.id if isinstance(node.value, ast.Name) else None
        allowed = (owner in _NUMPY_MODULE_NAMES and node.attr in MATH_FUNCTIONS) or (
            owner == "contr" and node.attr in _CONTRAST_ATTRIBUTES
        )
        if not allowed:
            raise _refuse(f"attribute access {ast.unparse(node)!r}", expr)
    if isinstance(node, ast.Call):
        _check_call(node, expr, columns, functions)
    if isinstance(node, ast.BinOp):
        _check_arithmetic(node, expr)
    if isinstance(node, ast.Name) and node.id not in columns | functions | {"contr"} | _NUMPY_MODULE_NAMES:
        raise missing_name(node.id, columns)


def _check_arithmetic(node: ast.BinOp, expr: str) -> None:
    """Refuse arithmetic that can exhaust time or memory before any data is touched."""
    if isinstance(node.op, ast.Pow):
        exponent = node.right
        if isinstance(exponent, ast.UnaryOp) and isinstance(exponent.operand, ast.Constant):
            exponent = exponent.operand
        literal = isinstance(exponent, ast.Constant) and isinstance(exponent.value, (int, float))
        if literal and abs(exponent.value) > MAX_LITERAL_EXPONENT:
            raise _refuse(f"a literal exponent above {MAX_LITERAL_EXPONENT}", expr)
        if not literal and not any(isinstance(n, ast.Name) for n in ast.walk(exponent)):
            raise _refuse("an exponent computed from literals (write its value)", expr)
    if isinstance(node.op, ast.Mult) and any(
        isinstance(side, ast.Constant) and isinstance(side.value, str) for side in (node.left, node.right)
    ):
        raise _refuse("repeating a string", expr)


def _check_call(node: ast.Call, expr: str, columns: set[str], functions: set[str]) -> None:
    func = node.func
    if isinstance(func, ast.Name):
        if func.id not in functions:
            if func.id in columns:
                raise _refuse(f"calling the column {func.id!r}", expr)
            raise _refuse(f"the function {func.id!r}", expr)
    elif not isinstance(func, ast.Attribute):
        raise _refuse(f"the call {ast.unparse(func)!r}", expr)
    for keyword in node.keywords:
        if keyword.arg is None:
            raise _refuse("**keyword unpacking", expr)


def missing_name(name: str, columns: set[str] | list[str]) -> MissingColumnError:
    """An error for an unknown name, with the nearest column names."""
    candidates = [c for c in columns if not c.endswith("_backquoted")]
    close = difflib.get_close_matches(name, candidates, n=3, cutoff=0.6)
    lowered = [c for c in candidates if c.lower() == name.lower() and c not in close]
    suggestions = lowered + close
    hint = f" Did you mean {', '.join(repr(c) for c in suggestions)}?" if suggestions else ""
    return MissingColumnError(f"column {name!r} is not in the data.{hint}")


def evaluate(expr: str, data: Mapping[str, Any], *, trusted: bool = False) -> np.ndarray:
    """Evaluate a response or offset expression over ``data`` with numpy.

    Only the allow-listed constructs are accepted (unless ``trusted``); names
    are data columns or math functions.  Returns a numpy array (or scalar).
    """
    columns = set(data.keys())
    code, names, aliases = _compiled(expr, frozenset(columns), trusted)
    namespace: dict[str, Any] = {"np": np, "numpy": np, **MATH_FUNCTIONS}
    for name in names:
        source = aliases.get(name, name)
        if source in columns:
            namespace[name] = _column_values(data[source])
        elif name not in namespace and trusted:
            raise missing_name(name, columns)
    with np.errstate(all="ignore"):
        try:
            return eval(code, {"__builtins__": {}}, namespace)  # noqa: S307 - tree checked above
        except (TypeError, ValueError, ArithmeticError, AttributeError) as exc:
            raise FormulaError(f"cannot evaluate {expr!r}: {exc}") from None


@lru_cache(maxsize=1024)
def _compiled(expr: str, columns: frozenset[str], trusted: bool):
    """The checked expression compiled, with the names it reads and its backquote aliases."""
    tree, aliases = _parse_trusted(expr) if trusted else _parse_checked(expr, columns, False)
    return compile(tree, "<formula>", "eval"), frozenset(_names(tree)), aliases


def _parse_trusted(expr: str) -> tuple[ast.Expression, dict[str, str]]:
    source, aliases = replace_backquotes(expr)
    try:
        return ast.parse(source.strip(), mode="eval"), aliases
    except SyntaxError as exc:
        raise FormulaError(f"cannot parse {expr!r} in the formula: {exc.msg}") from None


def _names(tree: ast.AST) -> set[str]:
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}


def _column_values(column: Any) -> np.ndarray:
    values = np.asarray(column)
    if values.dtype == object or values.dtype.kind in "OSUb":
        return values
    return values.astype(float, copy=False) if values.dtype.kind in "iu" else values


@lru_cache(maxsize=1024)
def names_in(expr: str) -> frozenset[str]:
    """Column-like names referenced by an expression (backquoted names unquoted)."""
    source, aliases = replace_backquotes(expr)
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError:
        return frozenset()
    called = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    return frozenset(aliases.get(name, name) for name in _names(tree) - called)
