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

Memory: given the number of the dense block's other columns (``reserved_columns``: the numeric columns, their
products, and the intercept's 1s unless they are implicit), ``learn`` writes every term's columns into one
row-major array with those columns left free before them (each term's width probed first on a few rows),
and that array becomes the dense block itself (``block_assembly``): no term's columns are held twice, nor
copied into a new block.
"""

from __future__ import annotations

import ast
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from glmformula.design import kernels
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


class LearnedValues(dict):
    """Each learned term's (n, k) columns; when ``buffer`` is not None, they are views of the row-major
    ``buffer``, whose first ``reserve`` columns are free for the dense block's other columns and whose
    ``layout`` lists (term, first column, stop) in its order: the buffer may become the dense block."""

    def __init__(self, values: dict, buffer: np.ndarray | None = None, reserve: int = 0,
                 layout: tuple[tuple[str, int, int], ...] = ()):
        super().__init__(values)
        self.buffer, self.reserve, self.layout = buffer, reserve, layout


@dataclass(eq=False)
class LearnedTransforms:
    """The numeric transform terms materialised on the full data, one formulaic call per term (formulaic's
    temporaries are then those of one term).

    values : each term's (or factor's) name -> its (n, k) columns, as formulaic computes them (a
        ``LearnedValues``: views of one buffer when ``learn`` was given the dense block's other columns).
    names : each term's name -> its k column names, as formulaic names them.
    state : formulaic's transform state, learned on these rows (the spec of the whole formula replays it).
    key : a hashable copy of ``state`` (a spec built with one state is never reused with another).
    """

    values: dict[str, np.ndarray]  # a LearnedValues when learned here
    names: dict[str, list[str]]
    state: dict
    key: tuple

    def names_match(self, term: str, expected_names: list[str]) -> bool:
        """Whether ``term``'s columns are named as ``expected_names`` (the whole formula's spec): else formulaic
        encoded the term differently beside the other terms."""
        return self.names.get(term) == list(expected_names)

    def take_values(self) -> LearnedValues:
        """The columns, handed over: this object no longer holds them (the design's builder frees each term's
        columns once copied into the dense block, or makes their buffer the dense block)."""
        values, self.values = self.values, LearnedValues({})
        return values


def reserved_columns(kinds: dict) -> int:
    """The dense block's columns besides the numeric transform terms', as the formula's term kinds
    (``formula.categorical``) give them: each numeric column and each product of numeric columns, and the
    intercept's 1s unless they will be implicit (``block_assembly.implicit_intercept``).  (Scoped terms of
    an interaction with a categorical may add numeric columns: the dense block is then built anew, as
    ``block_assembly`` checks.)"""
    count = 0
    for kind in kinds.values():
        if kind[0] == "numeric" or (kind[0] == "intercept" and not kernels.in_use()):
            count += 1
        elif kind[0] == "interaction" and all(part[0] == "numeric" for part in kind[1]):
            count += 1
    return count


#: Rows on which each transform term's width is probed before the full data are materialised.
_PROBE_ROWS = 64


def learn(terms: list, frame: pd.DataFrame, materialise: Callable,
          reserve: int | None = None) -> LearnedTransforms | None:
    """formulaic's columns and transform state for ``terms`` (formulaic ``Term``s, each numeric) on ``frame``;
    None when a row is dropped (a transform gave a missing value: formulaic's path reports it) or a factor
    turned out categorical.

    With ``reserve`` (``reserved_columns``), the columns are written into one row-major buffer after
    ``reserve`` free columns (see the module doc), when every term's width can be probed on a few rows;
    else each term is an array of its own."""
    from formulaic.formula import SimpleFormula

    widths = None if reserve is None else _probe_widths(terms, frame, materialise)
    buffer = None if widths is None else np.empty((len(frame), reserve + sum(widths)))
    values, names, state, layout = {}, {}, {}, []
    start = 0 if buffer is None else reserve
    for index, term in enumerate(terms):
        into = None if buffer is None else buffer[:, start:start + widths[index]]
        target = {} if into is None else {"into": into}
        matrix, spec, kept = materialise(SimpleFormula([term]), frame, output="numpy", **target)  # no intercept
        if not kept.all() or any(getattr(kind, "value", kind) != "numerical"
                                 for kind, _ in spec.encoder_state.values()):
            return None
        if into is not None and matrix is not into:  # a width other than the probe's: the buffer is not usable
            layout = None
        elif into is not None and layout is not None:
            layout.append((str(term), start, start + widths[index]))
        start += 0 if into is None else widths[index]
        values[str(term)], names[str(term)] = matrix, list(spec.column_names)
        state.update(spec.transform_state)
        del matrix, spec  # the spec's structure holds the factor's values: freed before the next term
    learned = LearnedValues(values) if buffer is None or layout is None else LearnedValues(
        values, buffer, reserve, tuple(layout))
    return LearnedTransforms(learned, names, state, _frozen(state))


def _probe_widths(terms: list, frame: pd.DataFrame, materialise: Callable) -> list[int] | None:
    """The number of columns of each term, from formulaic's design of a few rows spread over the data (their
    own transform state, thrown away); None when a term cannot be materialised there."""
    from formulaic.formula import SimpleFormula

    n = len(frame)
    rows = np.unique(np.linspace(0, n - 1, min(n, _PROBE_ROWS)).astype(int))
    sample = frame.iloc[rows].reset_index(drop=True)
    widths = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the full data's materialisation gives the user its warnings
        for term in terms:
            try:
                matrix, _, kept = materialise(SimpleFormula([term]), sample, output="numpy")
            except Exception:  # noqa: BLE001 - a transform the sample cannot take: learn term by term
                return None
            if not kept.all():
                return None
            widths.append(matrix.shape[1])
    return widths


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
