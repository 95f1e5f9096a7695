"""The evaluation of a checked formula piece: a walk over the very tree the checker passed.

``Interpreter.value`` computes a node from its children, with the operators of
``syntax`` and the functions of ``functions`` only.  Names are data columns
(``operands.column_operand``: read-only views or copies) or R's logicals;
``C(k)`` of an integer column is a factor of its integers
(``levels.integer_factor``).  Stateful transforms (``bs``, ``poly``, ``scale``)
get formulaic's transform state, keyed by the call's text, so that new data
replays what the training data taught them.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from glmformula.formula import functions
from glmformula.formula.levels import integer_factor
from glmformula.formula.operands import column_operand, missing_name
from glmformula.formula.syntax import COMPARE, R_LOGICALS, UNARY, binary, contrast_value, dotted_name, refuse

if TYPE_CHECKING:
    from glmformula.formula.safe_eval import Program

#: Functions whose first argument is read as a factor (a text column as a pandas Categorical).
_FACTOR_INPUT = frozenset({"C", "lag"})


class Interpreter:
    """Evaluates a checked ``Program``'s tree node by node over ``data`` (``n_rows`` rows), with formulaic's
    transform ``state``, ``spec`` and factor ``metadata`` for the stateful transforms."""

    def __init__(self, program: Program, data: Mapping[str, Any], n_rows: int, state: dict, spec: Any,
                 metadata: Any):
        self.program, self.data, self.n_rows = program, data, n_rows
        self.state, self.spec, self.metadata = state, spec, metadata
        frame = getattr(data, "frame", None)
        self.index = frame.index if isinstance(frame, pd.DataFrame) else None

    def value(self, node: ast.AST, *, as_factor: bool = False) -> Any:
        """The value of ``node`` (``as_factor``: a text column as a categorical, for ``C()``)."""
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return self.name(node.id, as_factor=as_factor)
        if isinstance(node, ast.BinOp):
            return binary(node.op, self.value(node.left), self.value(node.right), self.program.text)
        if isinstance(node, ast.UnaryOp):
            return UNARY[type(node.op)](self.value(node.operand))
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
            return self.name(column, as_factor=as_factor) if column else contrast_value(dotted_name(node) or "")
        raise refuse(f"the construct {type(node).__name__}", self.program.text)  # unreachable after the check

    def name(self, name: str, *, as_factor: bool) -> Any:
        """A bare name's value: R's logical, a data column, or (right-hand side) a contrast."""
        if name in R_LOGICALS:  # a bare TRUE/FALSE (a backquoted one is a placeholder, looked up below)
            return R_LOGICALS[name]
        column = self.program.aliases.get(name, name)
        if column not in self.data:
            contrast = contrast_value(name) if self.program.transforms else None
            if contrast is not None:
                return contrast
            raise missing_name(column, list(self.data))
        return column_operand(self.data[column], column, as_factor=as_factor, index=self.index)

    def factor_argument(self, node: ast.AST, value: Any) -> Any:
        """The first argument of ``C()``: an integer column as a factor of its integers (so that its columns
        are named ``C(k)[T.1]``, as the fast path names them and R prints ``factor(k)``); any other
        argument as evaluated."""
        column = getattr(node, "_gf_column", None) if isinstance(node, ast.Attribute) else (
            self.program.aliases.get(node.id, node.id) if isinstance(node, ast.Name) else None)
        if column is None or column not in self.data:
            return value
        factor = integer_factor(self.data[column], self.index)
        return value if factor is None else factor

    def compare(self, node: ast.Compare) -> Any:
        """A chain of comparisons (``a < b <= c``), elementwise."""
        left = self.value(node.left)
        result = None
        for op, right_node in zip(node.ops, node.comparators):
            right = self.value(right_node)
            outcome = COMPARE[type(op)](left, right)
            result = outcome if result is None else np.logical_and(result, outcome)
            left = right
        return result

    def call(self, node: ast.Call) -> Any:
        """A call of a function of the table, with its size limits checked and, if stateful, its state."""
        name = node.func.id if isinstance(node.func, ast.Name) else dotted_name(node.func)
        found = functions.lookup(name, transforms=self.program.transforms)
        factor_input = found.transform and name in _FACTOR_INPUT
        args = tuple(self.value(arg, as_factor=factor_input and i == 0) for i, arg in enumerate(node.args))
        if name == "C" and node.args:
            args = (self.factor_argument(node.args[0], args[0]), *args[1:])
        kwargs = {keyword.arg: self.value(keyword.value) for keyword in node.keywords}
        state = self.state.setdefault(ast.unparse(node), {}) if found.stateful else None
        if found.limit is not None and not state:  # sizes are checked when learned, not when replayed
            found.limit(args, kwargs, self.n_rows)
        if found.stateful:
            kwargs.update(_state=state, _spec=self.spec,
                          _metadata=self.metadata if node is self.program.tree.body else None)
        return found.call(*args, **kwargs)
