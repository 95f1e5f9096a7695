"""The static check of a formula's Python piece: every node of its parsed tree is one the interpreter allows.

Run once when a piece is compiled (``safe_eval.compile_program``), before any
data is touched.  It refuses, with ``UnsafeFormulaError`` naming the construct:

* any node type outside the language (``syntax``): lambdas, comprehensions,
  subscripts, starred arguments, f-strings, walrus, ...;
* names with dunders, attribute access other than ``np.<function>`` and
  ``contr.<contrast>`` (any other dotted name, ``ph.ecog``, is a column's name);
* calls of anything but the functions of ``functions`` with their allowed
  positional count and keywords;
* arithmetic that could exhaust time or memory (huge literal exponents,
  repeated strings or lists).

It also settles what each name is and marks the tree for the interpreter: a
dotted column name's node carries ``_gf_column`` (its column), the parts of it
and the names in function position carry ``_gf_part``/``_gf_callee`` (neither is a
column).  The data columns the piece reads are returned.
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Mapping

from glmformula.exceptions import FormulaError
from glmformula.formula import functions
from glmformula.formula.syntax import (
    BINARY,
    COMPARE,
    NUMPY_MODULE_NAMES,
    R_LOGICALS,
    UNARY,
    contrast_value,
    dotted_name,
    refuse,
)

#: Largest literal exponent allowed: ``x ** 1000`` is a typo, not a model.
MAX_LITERAL_EXPONENT = 100
#: Deepest nesting of a piece's expression tree.
MAX_EXPRESSION_DEPTH = 64

_STRUCTURE = (ast.Expression, ast.Load, ast.keyword, ast.And, ast.Or)
_OPERATORS = (*BINARY, *UNARY, *COMPARE)
_EXPRESSIONS = (ast.BinOp, ast.UnaryOp, ast.Compare, ast.BoolOp, ast.IfExp, ast.Call, ast.Name, ast.Constant,
                ast.Attribute, ast.List, ast.Tuple)
_PYTHON_BUILTINS = frozenset(dir(builtins))
#: What to write instead of R functions that formulas do not call.
_R_SPELLINGS = {
    "relevel": "for relevel(x, ref = 'b') write C(x, contr.treatment('b')) (or base= with the level's position)",
    "ordered": "make the column an ordered pandas Categorical: it is then coded by contr.poly, as in R",
}


def check_tree(tree: ast.Expression, expr: str, aliases: Mapping[str, str], transforms: bool) -> frozenset[str]:
    """Check every node of ``tree`` (the parse of ``expr``, backquoted names as the placeholders ``aliases``
    maps to columns; transforms allowed on the right-hand side only); the data columns it reads."""
    _check_depth(tree, expr)
    columns: set[str] = set()
    for node in ast.walk(tree):
        _check_node(node, expr, aliases, transforms, columns)
    return frozenset(columns)


def is_function_position(node: ast.Name) -> bool:
    """Whether the checker marked ``node`` as a callee or a namespace (not a column)."""
    return getattr(node, "_gf_callee", False)


def _check_depth(tree: ast.AST, expr: str) -> None:
    """Refuse trees deeper than ``MAX_EXPRESSION_DEPTH`` (walked without recursion)."""
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_EXPRESSION_DEPTH:
            raise FormulaError(f"{expr[:60]!r}... is nested more than {MAX_EXPRESSION_DEPTH} levels deep; "
                               "simplify it or compute it as a data column first")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


def _check_node(node: ast.AST, expr: str, aliases: Mapping[str, str], transforms: bool, columns: set[str]) -> None:
    if not isinstance(node, (*_STRUCTURE, *_OPERATORS, *_EXPRESSIONS)):
        raise refuse(f"the construct {type(node).__name__}", expr)
    if isinstance(node, ast.Constant) and not isinstance(node.value, (int, float, str, bool, type(None))):
        raise refuse(f"the literal {node.value!r}", expr)
    if isinstance(node, ast.Attribute):
        _check_attribute(node, expr, transforms, columns)
    elif isinstance(node, ast.Call):
        _check_call(node, expr, aliases, transforms)
    elif isinstance(node, ast.BinOp):
        _check_arithmetic(node, expr)
    elif isinstance(node, ast.Name):
        if node.id.startswith("__"):
            raise refuse(f"the name {node.id!r}", expr)
        if node.id in R_LOGICALS:
            return
        if not is_function_position(node) and not (transforms and contrast_value(node.id)):
            columns.add(aliases.get(node.id, node.id))


def _check_attribute(node: ast.Attribute, expr: str, transforms: bool, columns: set[str]) -> None:
    """``np.<function>`` and ``contr.<contrast>`` are allowed; any other dotted name (``ph.ecog``) is the
    name of a data column, as R reads it: no attribute is ever looked up."""
    if getattr(node, "_gf_part", False):  # inside a dotted column name, checked with it
        return
    column = dotted_name(node)
    if column is None:
        raise refuse(f"attribute access {ast.unparse(node)!r}", expr)
    owner, _, attribute = column.partition(".")
    if ((owner in NUMPY_MODULE_NAMES and functions.lookup(column, transforms=False) is not None)
            or (owner == "contr" and transforms and functions.contrast_class(attribute) is not None)):
        node.value._gf_callee = True  # np / contr are namespaces here, not columns
        return
    node._gf_column = column
    columns.add(column)
    inner = node.value
    while isinstance(inner, ast.Attribute):
        inner._gf_part = True
        inner = inner.value
    inner._gf_callee = True  # the first part of the column's name, not a column of its own


def _check_call(node: ast.Call, expr: str, aliases: Mapping[str, str], transforms: bool) -> None:
    func = node.func
    if isinstance(func, ast.Name):
        name = func.id
    elif (name := dotted_name(func)) is None:
        raise refuse(f"the call {ast.unparse(func)!r}", expr)
    found = functions.lookup(name, transforms=transforms)
    if found is None:
        if name in aliases:
            raise refuse(f"calling the column {aliases[name]!r}", expr)
        if functions.is_transform_name(name):
            raise refuse(f"the transform {name!r} outside the right-hand side", expr)
        if isinstance(func, ast.Name) and not _is_python_name(name):
            raise _unsupported(name, expr, transforms)
        raise refuse(f"the function {name!r}", expr)
    if isinstance(func, ast.Name):
        func._gf_callee = True
    if any(isinstance(arg, ast.Starred) for arg in node.args):
        raise refuse("*argument unpacking", expr)
    if len(node.args) > found.max_positional:
        raise refuse(f"{name}() with {len(node.args)} positional arguments (it takes at most "
                     f"{found.max_positional})", expr)
    for keyword in node.keywords:
        if keyword.arg is None:
            raise refuse("**keyword unpacking", expr)
        if keyword.arg not in found.keywords:
            allowed = ", ".join(sorted(found.keywords)) or "none"
            raise refuse(f"the keyword {keyword.arg}= of {name}() (allowed: {allowed})", expr)


def _is_python_name(name: str) -> bool:
    """Whether ``name`` is one of Python's builtins (``eval``, ``open``, ``getattr``) or a private name: calling
    it is refused as unsafe, where another unknown function is only not supported."""
    return name.startswith("_") or name in _PYTHON_BUILTINS


def _unsupported(name: str, expr: str, transforms: bool) -> FormulaError:
    known = sorted(functions.MATH_FUNCTIONS) + (sorted(functions.transform_names()) if transforms else [])
    hint = f"; {_R_SPELLINGS[name]}" if name in _R_SPELLINGS else ""
    return FormulaError(
        f"the function {name!r} is not supported in formulas (in {expr!r}){hint}. The functions a formula may "
        f"call are {', '.join(known)}; compute other transformations as data columns first."
    )


def _check_arithmetic(node: ast.BinOp, expr: str) -> None:
    """Refuse arithmetic that can exhaust time or memory, before any data is touched."""
    if isinstance(node.op, ast.Pow):
        exponent = node.right
        if isinstance(exponent, ast.UnaryOp) and isinstance(exponent.operand, ast.Constant):
            exponent = exponent.operand
        literal = isinstance(exponent, ast.Constant) and isinstance(exponent.value, (int, float))
        if literal and abs(exponent.value) > MAX_LITERAL_EXPONENT:
            raise refuse(f"a literal exponent above {MAX_LITERAL_EXPONENT}", expr)
    if isinstance(node.op, ast.Mult) and any(
        isinstance(side, (ast.List, ast.Tuple)) or (isinstance(side, ast.Constant) and isinstance(side.value, str))
        for side in (node.left, node.right)
    ):
        raise refuse("repeating a string or a list", expr)
