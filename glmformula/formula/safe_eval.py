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
  R's dotted keywords (``Boundary.knots = c(0, 10)``) are read as Python's
  (``boundary_knots``, ``lexer.python_keywords``), so the formula's text, and the
  names formulaic gives its columns, keep R's spelling;
* calls go through the table of ``functions`` only, each with its allowed
  positional count and keywords (no ``out=``), and sizes checked on the data;
* literals, arithmetic, comparisons, ``&``/``|``/``~``, conditionals, lists and
  tuples; attribute access only as ``np.<function>`` and ``contr.<contrast>``
  (any other dotted name, ``ph.ecog``, is a column's name, as in R).

Work is bounded: a piece's length and nesting depth are capped, integer
arithmetic on literals has a magnitude budget, strings and lists are never
repeated.  Columns are handed to functions as read-only arrays or copies, so
nothing can write into the caller's DataFrame.

The parts live in modules of their own: the language's operators and fixed
names (``syntax``), the static check (``checker``), the tree walk
(``interpreter``), data columns as values (``operands``) and R's names of the
levels of numeric factors (``levels``).  This module compiles and caches
programs and is the entry point the rest of the package imports.

``trusted=True`` (a formula from a source the caller trusts) evaluates with
Python's ``eval`` instead, as formulaic would.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from glmformula.exceptions import DataError, FormulaError
from glmformula.formula import functions
from glmformula.formula.checker import MAX_EXPRESSION_DEPTH, MAX_LITERAL_EXPONENT, check_tree
from glmformula.formula.interpreter import Interpreter
from glmformula.formula.lexer import python_keywords, replace_backquotes
from glmformula.formula.operands import as_columns, column_operand, missing_name, n_rows
from glmformula.formula.syntax import MAX_INTEGER_BITS, R_LOGICALS

#: Longest Python piece of a formula.
MAX_EXPRESSION_LENGTH = 10_000

__all__ = [
    "MAX_EXPRESSION_DEPTH", "MAX_EXPRESSION_LENGTH", "MAX_INTEGER_BITS", "MAX_LITERAL_EXPONENT", "R_LOGICALS",
    "Program", "as_columns", "column_operand", "compile_program", "evaluate", "missing_name", "names_in",
    "parse_checked",
]


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
        interpreter = Interpreter(self, data, n_rows, {} if state is None else state, spec, metadata)
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
    source, aliases = _python_source(expr)
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
        message = getattr(exc, "msg", None) or str(exc) or type(exc).__name__
        raise FormulaError(f"cannot parse {expr!r} in the formula: {message}") from None
    columns = check_tree(tree, expr, aliases, transforms)
    return Program(expr, tree, dict(aliases), columns, transforms)


def _python_source(expr: str) -> tuple[str, dict[str, str]]:
    """``expr`` as Python: R's dotted keywords renamed (``Boundary.knots=`` → ``boundary_knots=``), then each
    backquoted name a placeholder; the placeholders' column names."""
    return replace_backquotes(python_keywords(expr))


def evaluate(expr: str, data: Any, *, trusted: bool = False) -> Any:
    """Evaluate a response or offset expression over ``data`` (a DataFrame or a mapping of columns).

    Only the interpreter's constructs are accepted unless ``trusted``, where Python's ``eval`` runs it.
    Returns a numpy array (or a scalar).
    """
    columns = as_columns(data)
    if trusted:
        return _evaluate_trusted(expr, columns)
    return compile_program(expr, transforms=False).evaluate(columns, n_rows(columns))


def _evaluate_trusted(expr: str, data: Mapping[str, Any]) -> Any:
    source, aliases = _python_source(expr)
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


@lru_cache(maxsize=1024)
def names_in(expr: str) -> frozenset[str]:
    """The data columns an expression reads (backquoted names unquoted); empty when it does not parse."""
    try:
        return compile_program(expr, transforms=True).columns
    except FormulaError:
        return frozenset()
