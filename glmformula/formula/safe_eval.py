"""The formula interpreter: the Python pieces of a formula, parsed once and evaluated without ``eval``.

A formula is user input.  Each Python piece of it (the response, ``offset()``
terms, ``I()``, ``{...}``, transform calls and their arguments, ``cbind()``
parts) is parsed here with :mod:`ast` into a ``Program``, checked, and then
evaluated by walking that same tree, so the text that is checked is the text
that runs, by construction.  What a program can do:

* names are data columns (backquoted names through placeholders, ``lexer``);
  they never resolve to builtins, modules or Python objects.  R's reserved
  words ``TRUE`` and ``FALSE`` are the logicals (a column of that name is
  written in backquotes, as in R); ``T`` and ``F`` are column names (R's T and F
  are variables a data column masks, so they are never read as logicals);
* ``c(...)`` builds a vector of literals (``knots = c(1, 2)``), R's spelling of a list;
* calls go through the table of ``functions`` only, each with its allowed
  positional count and keywords (no ``out=``), and sizes checked on the data;
* literals, arithmetic, comparisons, ``&``/``|``/``~``, conditionals, lists and
  tuples; attribute access only as ``np.<function>`` and ``contr.<contrast>``
  (any other dotted name, ``ph.ecog``, is a column's name, as in R).

Work is bounded: a piece's length and nesting depth are capped, integer
arithmetic on literals has a magnitude budget, strings and lists are never
repeated.  Columns are handed to functions as read-only arrays or copies, so
nothing can write into the caller's DataFrame.

``trusted=True`` (a formula from a source the caller trusts) evaluates with
Python's ``eval`` instead, as formulaic would.
"""

from __future__ import annotations

import ast
import builtins
import difflib
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from glmformula.exceptions import DataError, FormulaError, MissingColumnError, UnsafeFormulaError
from glmformula.formula import functions
from glmformula.formula.lexer import replace_backquotes

#: Largest literal exponent allowed: ``x ** 1000`` is a typo, not a model.
MAX_LITERAL_EXPONENT = 100
#: Integers computed from literals may have at most this many bits (``(10**100)**100`` would run for minutes).
MAX_INTEGER_BITS = 1024
#: Longest Python piece of a formula, and deepest nesting of its expression tree.
MAX_EXPRESSION_LENGTH = 10_000
MAX_EXPRESSION_DEPTH = 64

_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
    ast.BitAnd: operator.and_, ast.BitOr: operator.or_, ast.BitXor: operator.xor,
}
_UNARY: dict[type, Callable[[Any], Any]] = {
    ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Invert: operator.invert, ast.Not: np.logical_not,
}
_COMPARE: dict[type, Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
}
_STRUCTURE = (ast.Expression, ast.Load, ast.keyword, ast.And, ast.Or)
_OPERATORS = (*_BINARY, *_UNARY, *_COMPARE)
_EXPRESSIONS = (ast.BinOp, ast.UnaryOp, ast.Compare, ast.BoolOp, ast.IfExp, ast.Call, ast.Name, ast.Constant,
                ast.Attribute, ast.List, ast.Tuple)
_NUMPY_MODULE_NAMES = frozenset({"np", "numpy"})
#: R's reserved words for the logicals: literals, never column names (a column so named is backquoted).
R_LOGICALS = {"TRUE": True, "FALSE": False}


@dataclass(frozen=True)
class Program:
    """One checked Python piece of a formula.

    Attributes
    ----------
    text : the piece as the formula (or formulaic's term) wrote it.
    tree : its parsed expression; evaluation walks exactly this tree.
    aliases : placeholder -> column name for its backquoted names.
    columns : the data columns it reads.
    transforms : whether it may call formulaic's transforms (right-hand side only).
    """

    text: str
    tree: ast.Expression
    aliases: Mapping[str, str]
    columns: frozenset[str]
    transforms: bool

    def evaluate(self, data: Mapping[str, Any], n_rows: int, *, state: dict | None = None, spec: Any = None,
                 metadata: Any = None) -> Any:
        """The piece's value over ``data`` (a mapping of column name to values).

        ``state``, ``spec`` and ``metadata`` are formulaic's transform state (learned on the training
        data, replayed on new data), its model spec, and the factor's metadata.
        """
        for column in self.columns:
            if column not in data:
                raise missing_name(column, list(data))
        interpreter = _Interpreter(self, data, n_rows, {} if state is None else state, spec, metadata)
        with np.errstate(all="ignore"):
            try:
                return interpreter.value(self.tree.body)
            except (FormulaError, DataError):
                raise
            except (TypeError, ValueError, ArithmeticError, AttributeError, IndexError, KeyError,
                    np.linalg.LinAlgError) as exc:
                raise FormulaError(f"cannot evaluate {self.text!r}: {type(exc).__name__}: {exc}") from None


def compile_program(expr: str, *, transforms: bool) -> Program:
    """Parse and check ``expr`` (cached: formulas repeat across fits and predictions).

    Raises ``UnsafeFormulaError`` naming a refused construct, ``FormulaError`` for text that is not an
    expression.  Which names are data columns is settled at evaluation (``Program.evaluate``).
    """
    if not isinstance(expr, str):
        raise FormulaError(f"a formula piece must be text, got {type(expr).__name__}")
    return _compile(expr, transforms)


@lru_cache(maxsize=2048)
def _compile(expr: str, transforms: bool) -> Program:
    if len(expr) > MAX_EXPRESSION_LENGTH:
        raise FormulaError(f"a piece of the formula is {len(expr)} characters long; the limit is "
                           f"{MAX_EXPRESSION_LENGTH}: compute long expressions as data columns first")
    source, aliases = replace_backquotes(expr)
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
        message = getattr(exc, "msg", None) or str(exc) or type(exc).__name__
        raise FormulaError(f"cannot parse {expr!r} in the formula: {message}") from None
    _check_depth(tree, expr)
    columns: set[str] = set()
    for node in ast.walk(tree):
        _check_node(node, expr, aliases, transforms, columns)
    return Program(expr, tree, dict(aliases), frozenset(columns), transforms)


def _check_depth(tree: ast.AST, expr: str) -> None:
    """Refuse trees deeper than ``MAX_EXPRESSION_DEPTH`` (walked without recursion)."""
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_EXPRESSION_DEPTH:
            raise FormulaError(f"{expr[:60]!r}... is nested more than {MAX_EXPRESSION_DEPTH} levels deep; "
                               "simplify it or compute it as a data column first")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


def _refuse(construct: str, expr: str) -> UnsafeFormulaError:
    return UnsafeFormulaError(
        f"{construct} is not allowed in a formula (in {expr!r}). Formulas may use data columns, "
        "numbers, arithmetic and the documented transforms; pass trusted=True to evaluate "
        "arbitrary Python from a source you trust."
    )


def _check_node(node: ast.AST, expr: str, aliases: Mapping[str, str], transforms: bool, columns: set[str]) -> None:
    if not isinstance(node, (*_STRUCTURE, *_OPERATORS, *_EXPRESSIONS)):
        raise _refuse(f"the construct {type(node).__name__}", expr)
    if isinstance(node, ast.Constant) and not isinstance(node.value, (int, float, str, bool, type(None))):
        raise _refuse(f"the literal {node.value!r}", expr)
    if isinstance(node, ast.Attribute):
        _check_attribute(node, expr, transforms, columns)
    elif isinstance(node, ast.Call):
        _check_call(node, expr, aliases, transforms)
    elif isinstance(node, ast.BinOp):
        _check_arithmetic(node, expr)
    elif isinstance(node, ast.Name):
        if node.id.startswith("__"):
            raise _refuse(f"the name {node.id!r}", expr)
        if node.id in R_LOGICALS:
            return
        if not _is_function_position(node) and not (transforms and _contrast_value(node.id)):
            columns.add(aliases.get(node.id, node.id))


def _is_function_position(node: ast.Name) -> bool:
    return getattr(node, "_gf_callee", False)


def _contrast_value(name: str) -> Any | None:
    """A contrast passed as a value (``C(x, Sum)``, ``C(x, contr.sum)``), or None."""
    if name.startswith("contr."):
        return functions.contrast_class(name.split(".", 1)[1])
    if name in ("Treatment", "Sum", "Helmert", "Poly", "Diff"):
        found = functions.lookup(name, transforms=True)
        return found.call if found else None
    return None


def _check_attribute(node: ast.Attribute, expr: str, transforms: bool, columns: set[str]) -> None:
    """``np.<function>`` and ``contr.<contrast>`` are allowed; any other dotted name (``ph.ecog``) is the
    name of a data column, as R reads it: no attribute is ever looked up."""
    if getattr(node, "_gf_part", False):  # inside a dotted column name, checked with it
        return
    column = _dotted_name(node)
    if column is None:
        raise _refuse(f"attribute access {ast.unparse(node)!r}", expr)
    owner, _, attribute = column.partition(".")
    if ((owner in _NUMPY_MODULE_NAMES and functions.lookup(column, transforms=False) is not None)
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


def _dotted_name(node: ast.AST) -> str | None:
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


def _check_call(node: ast.Call, expr: str, aliases: Mapping[str, str], transforms: bool) -> None:
    func = node.func
    if isinstance(func, ast.Name):
        name = func.id
    elif (name := _dotted_name(func)) is None:
        raise _refuse(f"the call {ast.unparse(func)!r}", expr)
    found = functions.lookup(name, transforms=transforms)
    if found is None:
        if name in aliases:
            raise _refuse(f"calling the column {aliases[name]!r}", expr)
        if functions.is_transform_name(name):
            raise _refuse(f"the transform {name!r} outside the right-hand side", expr)
        if isinstance(func, ast.Name) and not _is_python_name(name):
            raise _unsupported(name, expr, transforms)
        raise _refuse(f"the function {name!r}", expr)
    if isinstance(func, ast.Name):
        func._gf_callee = True
    if any(isinstance(arg, ast.Starred) for arg in node.args):
        raise _refuse("*argument unpacking", expr)
    if len(node.args) > found.max_positional:
        raise _refuse(f"{name}() with {len(node.args)} positional arguments (it takes at most "
                      f"{found.max_positional})", expr)
    for keyword in node.keywords:
        if keyword.arg is None:
            raise _refuse("**keyword unpacking", expr)
        if keyword.arg not in found.keywords:
            allowed = ", ".join(sorted(found.keywords)) or "none"
            raise _refuse(f"the keyword {keyword.arg}= of {name}() (allowed: {allowed})", expr)


def _is_python_name(name: str) -> bool:
    """Whether ``name`` is one of Python's builtins (``eval``, ``open``, ``getattr``) or a private name: calling
    it is refused as unsafe, where another unknown function is only not supported."""
    return name.startswith("_") or name in _PYTHON_BUILTINS


_PYTHON_BUILTINS = frozenset(dir(builtins))


#: What to write instead of R functions that formulas do not call.
_R_SPELLINGS = {
    "relevel": "for relevel(x, ref = 'b') write C(x, contr.treatment('b')) (or base= with the level's position)",
    "ordered": "make the column an ordered pandas Categorical: it is then coded by contr.poly, as in R",
}


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
            raise _refuse(f"a literal exponent above {MAX_LITERAL_EXPONENT}", expr)
    if isinstance(node.op, ast.Mult) and any(
        isinstance(side, (ast.List, ast.Tuple)) or (isinstance(side, ast.Constant) and isinstance(side.value, str))
        for side in (node.left, node.right)
    ):
        raise _refuse("repeating a string or a list", expr)


class _Interpreter:
    """Evaluates a checked ``Program``'s tree node by node (see the module doc)."""

    def __init__(self, program: Program, data: Mapping[str, Any], n_rows: int, state: dict, spec: Any,
                 metadata: Any):
        self.program, self.data, self.n_rows = program, data, n_rows
        self.state, self.spec, self.metadata = state, spec, metadata
        frame = getattr(data, "frame", None)
        self.index = frame.index if isinstance(frame, pd.DataFrame) else None

    def value(self, node: ast.AST, *, as_factor: bool = False) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return self.name(node.id, as_factor=as_factor)
        if isinstance(node, ast.BinOp):
            return _binary(node.op, self.value(node.left), self.value(node.right), self.program.text)
        if isinstance(node, ast.UnaryOp):
            return _UNARY[type(node.op)](self.value(node.operand))
        if isinstance(node, ast.Compare):
            return self.compare(node)
        if isinstance(node, ast.BoolOp):
            combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
            result = self.value(node.values[0])
            for other in node.values[1:]:
                result = combine(result, self.value(other))
            return result
        if isinstance(node, ast.IfExp):
            return np.where(self.value(node.test), self.value(node.body), self.value(node.orelse))
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [self.value(item) for item in node.elts]
            return items if isinstance(node, ast.List) else tuple(items)
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, ast.Attribute):  # a dotted column name, or contr.sum as a value (checked)
            column = getattr(node, "_gf_column", None)
            return self.name(column, as_factor=as_factor) if column else _contrast_value(_dotted_name(node) or "")
        raise _refuse(f"the construct {type(node).__name__}", self.program.text)  # unreachable after the check

    def name(self, name: str, *, as_factor: bool) -> Any:
        if name in R_LOGICALS:  # a bare TRUE/FALSE (a backquoted one is a placeholder, looked up below)
            return R_LOGICALS[name]
        column = self.program.aliases.get(name, name)
        if column not in self.data:
            contrast = _contrast_value(name) if self.program.transforms else None
            if contrast is not None:
                return contrast
            raise missing_name(column, list(self.data))
        return column_operand(self.data[column], column, as_factor=as_factor, index=self.index)

    def integer_factor(self, node: ast.AST, value: Any) -> Any:
        """``C(k)`` of an integer column: a factor of its integers (levels 1, 2, not 1.0, 2.0, so that its
        columns are named ``C(k)[T.1]`` as the fast path names them, and as R prints ``factor(k)``);
        any other argument as evaluated."""
        column = getattr(node, "_gf_column", None) if isinstance(node, ast.Attribute) else (
            self.program.aliases.get(node.id, node.id) if isinstance(node, ast.Name) else None)
        if column is None or column not in self.data:
            return value
        raw = self.data[column]
        if getattr(getattr(raw, "dtype", None), "kind", None) not in ("i", "u"):
            return value
        factor = pd.Categorical(raw)
        return pd.Series(factor, index=self.index) if self.index is not None and len(self.index) == len(factor) \
            else pd.Series(factor)

    def compare(self, node: ast.Compare) -> Any:
        left = self.value(node.left)
        result = None
        for op, right_node in zip(node.ops, node.comparators):
            right = self.value(right_node)
            outcome = _COMPARE[type(op)](left, right)
            result = outcome if result is None else np.logical_and(result, outcome)
            left = right
        return result

    def call(self, node: ast.Call) -> Any:
        name = node.func.id if isinstance(node.func, ast.Name) else _dotted_name(node.func)
        found = functions.lookup(name, transforms=self.program.transforms)
        factor_input = found.transform and name in ("C", "lag")
        args = tuple(self.value(arg, as_factor=factor_input and i == 0) for i, arg in enumerate(node.args))
        if name == "C" and node.args:
            args = (self.integer_factor(node.args[0], args[0]), *args[1:])
        kwargs = {keyword.arg: self.value(keyword.value) for keyword in node.keywords}
        state = self.state.setdefault(ast.unparse(node), {}) if found.stateful else None
        if found.limit is not None and not state:  # sizes are checked when learned, not when replayed
            found.limit(args, kwargs, self.n_rows)
        if found.stateful:
            kwargs.update(_state=state, _spec=self.spec,
                          _metadata=self.metadata if node is self.program.tree.body else None)
        return found.call(*args, **kwargs)


def _binary(op: ast.operator, left: Any, right: Any, text: str) -> Any:
    """``left op right``, with Python integers kept within ``MAX_INTEGER_BITS``."""
    if isinstance(left, int) and isinstance(right, int):
        if isinstance(op, ast.Pow) and right > 0 and abs(left) > 1 and left.bit_length() * right > MAX_INTEGER_BITS:
            raise _refuse(f"literal arithmetic beyond {MAX_INTEGER_BITS} bits", text)
        if isinstance(op, ast.Mult) and left.bit_length() + right.bit_length() > MAX_INTEGER_BITS:
            raise _refuse(f"literal arithmetic beyond {MAX_INTEGER_BITS} bits", text)
    if isinstance(op, ast.Mult) and any(isinstance(side, (str, list, tuple)) for side in (left, right)):
        raise _refuse("repeating a string or a list", text)
    return _BINARY[type(op)](left, right)


def column_operand(values: Any, name: str, *, as_factor: bool = False, index: pd.Index | None = None) -> Any:
    """A data column as an interpreter value: numbers as float arrays that cannot write into the caller's
    frame (read-only views or fresh copies), text as an object array, or with ``as_factor`` (a factor for
    formulaic) as a categorical Series on ``index``."""
    value = _operand(values, name, as_factor)
    if isinstance(value, pd.Categorical):
        return pd.Series(value, index=index, copy=False) if index is not None and len(index) == len(value) \
            else pd.Series(value, copy=False)
    return value


def _operand(values: Any, name: str, as_factor: bool) -> Any:
    if isinstance(values, pd.Series):
        values = values.array
    if isinstance(values, pd.arrays.NumpyExtensionArray):
        values = values.to_numpy()
    dtype = getattr(values, "dtype", None)
    if getattr(dtype, "kind", None) == "c":
        raise DataError(f"column {name!r} holds complex numbers; a model needs real ones: "
                        "use its real part or modulus as a column of its own")
    if isinstance(values, np.ndarray):
        if values.dtype.kind in "iu":
            return values.astype(float)
        if values.dtype.kind in "fb":
            view = values.view()
            view.flags.writeable = False
            return view
        if as_factor and values.dtype.kind in "OUS":
            return pd.Categorical(values)
        return values.astype(object, copy=True)
    if isinstance(values, pd.Categorical):
        return values if as_factor else np.asarray(values, dtype=object)
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
        if not values.isna().any() and pd.api.types.is_bool_dtype(dtype):
            return values.to_numpy(dtype=bool)
        return values.to_numpy(dtype=float, na_value=np.nan)  # a copy: never the extension array's buffer
    if as_factor:
        return pd.Categorical(values)
    return np.asarray(values, dtype=object).copy()


def as_columns(data: Any) -> Mapping[str, Any]:
    """A DataFrame as the interpreter's mapping of columns (``FrameColumns``), other mappings as they are."""
    if isinstance(data, pd.DataFrame):
        from glmformula.formula.columns import FrameColumns

        return FrameColumns(data)
    return data


def _n_rows(data: Mapping[str, Any]) -> int:
    n_rows = getattr(data, "n_rows", None)
    if n_rows is not None:
        return n_rows
    for values in data.values():
        return len(values)
    return 0


def evaluate(expr: str, data: Any, *, trusted: bool = False) -> Any:
    """Evaluate a response or offset expression over ``data`` (a DataFrame or a mapping of columns).

    Only the interpreter's constructs are accepted unless ``trusted``, where Python's ``eval`` runs it.
    Returns a numpy array (or a scalar).
    """
    columns = as_columns(data)
    if trusted:
        return _evaluate_trusted(expr, columns)
    return compile_program(expr, transforms=False).evaluate(columns, _n_rows(columns))


def _evaluate_trusted(expr: str, data: Mapping[str, Any]) -> Any:
    source, aliases = replace_backquotes(expr)
    try:
        code = compile(source.strip(), "<formula>", "eval")
    except SyntaxError as exc:
        raise FormulaError(f"cannot parse {expr!r} in the formula: {exc.msg}") from None
    namespace: dict[str, Any] = {"np": np, "numpy": np}
    namespace.update({name: function.call for name, function in functions.MATH_FUNCTIONS.items()})
    for name in code.co_names:
        column = aliases.get(name, name)
        if column in data:
            namespace[name] = column_operand(data[column], column)
    with np.errstate(all="ignore"):
        try:
            return eval(code, namespace)  # noqa: S307 - trusted=True: the caller vouches for the formula
        except (TypeError, ValueError, ArithmeticError, AttributeError, NameError) as exc:
            raise FormulaError(f"cannot evaluate {expr!r}: {exc}") from None


def parse_checked(expr: str, columns: set[str] | frozenset[str], *, allow_transforms: bool) -> Program:
    """``compile_program``, and every column the piece reads present in ``columns``."""
    program = compile_program(expr, transforms=allow_transforms)
    for column in program.columns:
        if column not in columns:
            raise missing_name(column, list(columns))
    return program


def missing_name(name: str, columns: set[str] | list[str]) -> MissingColumnError:
    """An error for an unknown name, with the nearest column names."""
    candidates = [str(c) for c in columns]
    close = difflib.get_close_matches(name, candidates, n=3, cutoff=0.6)
    lowered = [c for c in candidates if c.lower() == name.lower() and c not in close]
    suggestions = lowered + close
    hint = f" Did you mean {', '.join(repr(c) for c in suggestions)}?" if suggestions else ""
    if name in ("T", "F"):
        hint += (f" (For R's logical write {'TRUE' if name == 'T' else 'FALSE'}: formulas read T and F as column "
                 "names, as a data column masks them in R.)")
    return MissingColumnError(f"column {name!r} is not in the data.{hint}")


@lru_cache(maxsize=1024)
def names_in(expr: str) -> frozenset[str]:
    """The data columns an expression reads (backquoted names unquoted); empty when it does not parse."""
    try:
        return compile_program(expr, transforms=True).columns
    except FormulaError:
        return frozenset()
