"""Numeric transforms (splines, ``poly``, ``log``, ``scale``, ``I()``) beside categorical blocks.

A term none of whose factors is categorical (``bs(x, df=8)``, ``poly(x, 2)``, ``log(x)``, ``scale(x)``,
``I(x**2)``, ``bs(x, 3):log(z)``) is a set of dense numeric columns.  formulaic materialises those terms
alone, through glmformula's interpreter (the ``materialise`` callable of ``formula.frame``; never
``eval``), on every row the model uses: stateful transforms learn their state (knots, means, the
orthogonal polynomial basis) from the full data, as R does, and the columns land in the dense block of
the ``CategoricalDesign`` (``formula.categorical``) with no categorical dummy ever built.

A transform factor that interacts with a categorical (``g:log(z)``, ``g:bs(x, 3)``) is materialised the
same way, as a term of its own: its columns are the values of the interaction's blocks.

The learned state is handed to the spec of the whole formula (materialised on two rows for its names,
structure and levels), so prediction on new data replays the knots and means learned here.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from glmformula.exceptions import FormulaError
from glmformula.formula import safe_eval
from glmformula.formula.columns import FrameColumns

#: Functions whose value is a categorical however numeric their input (``C(x)``): never a numeric transform.
_CATEGORICAL_FUNCTIONS = frozenset({"C"})


def is_numeric_expression(expr: str, columns: FrameColumns) -> bool:
    """Whether the Python factor ``expr`` reads only numeric data columns and calls nothing that makes a
    categorical of them: a candidate numeric transform.  (A factor can still turn out categorical, a
    comparison's booleans for one: ``learn`` checks formulaic's encoding of each factor.)"""
    try:
        program = safe_eval.compile_program(expr, transforms=True)
    except FormulaError:
        return False
    if not program.columns or any(name not in columns for name in program.columns):
        return False
    if any(columns.dtype(name).kind not in "iuf" for name in program.columns):
        return False
    return not any(isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                   and node.func.id in _CATEGORICAL_FUNCTIONS for node in ast.walk(program.tree))


@dataclass(eq=False)
class LearnedTransforms:
    """The numeric transform terms materialised on the full data, one formulaic call per term (formulaic's
    temporaries are then those of one term).

    values : each term's (or factor's) name -> its (n, k) C-ordered columns, as formulaic computes them.
    names : each term's name -> its k column names, as formulaic names them.
    state : formulaic's transform state, learned on these rows (the spec of the whole formula replays it).
    key : a hashable copy of ``state`` (a spec built with one state is never reused with another).
    """

    values: dict[str, np.ndarray]
    names: dict[str, list[str]]
    state: dict
    key: tuple

    def names_match(self, term: str, expected_names: list[str]) -> bool:
        """Whether ``term``'s columns are named as ``expected_names`` (the whole formula's spec): else formulaic
        encoded the term differently beside the other terms."""
        return self.names.get(term) == list(expected_names)

    def take_values(self) -> dict[str, np.ndarray]:
        """The columns, handed over: this object no longer holds them (the design's builder frees each term's
        columns once copied into the dense block)."""
        values, self.values = self.values, {}
        return values


def learn(terms: list, frame: pd.DataFrame, materialise: Callable) -> LearnedTransforms | None:
    """formulaic's columns and transform state for ``terms`` (formulaic ``Term``s, each numeric) on ``frame``;
    None when a row is dropped (a transform gave a missing value: formulaic's path reports it) or a factor
    turned out categorical."""
    from formulaic.formula import SimpleFormula

    values, names, state = {}, {}, {}
    for term in terms:
        matrix, spec, kept = materialise(SimpleFormula([term]), frame, output="numpy")  # no intercept
        if not kept.all() or any(getattr(kind, "value", kind) != "numerical"
                                 for kind, _ in spec.encoder_state.values()):
            return None
        values[str(term)], names[str(term)] = matrix, list(spec.column_names)
        state.update(spec.transform_state)
        del matrix, spec  # the spec's structure holds the factor's values: freed before the next term
    return LearnedTransforms(values, names, state, _frozen(state))


def _frozen(value: Any) -> Any:
    """A hashable, exact copy of a transform state (nested dicts, lists, arrays and numbers)."""
    if isinstance(value, dict):
        return tuple(sorted((str(key), _frozen(item)) for key, item in value.items()))
    if isinstance(value, (list, tuple, np.ndarray)):
        return tuple(_frozen(item) for item in value)
    if isinstance(value, np.generic):
        return value.item()
    try:
        hash(value)
    except TypeError:
        return repr(value)
    return value
