"""The levels of a factor made from a numeric column, named as R names them.

R's ``factor(x)`` of a numeric column labels each level with ``as.character``
of its value: ``factor(k)2`` for the integer 2, and for a double the value to
15 significant digits, fixed or scientific, whichever is narrower (R's
``formatReal``): 1.0 is ``"1"``, 0.5 ``"0.5"``, 1e5 ``"1e+05"``, 1e-20
``"1e-20"``, 1/3 ``"0.333333333333333"``.  formulaic would print Python's
``str`` of the value (``C(x)[T.1.0]``, ``C(x)[T.100000.0]``).

Only the names change: the levels themselves stay the column's numbers, so
that new data is matched to them by value (prediction), and both ways of
building a design (formulaic's and the categorical blocks of
``formula.categorical``, whose names are formulaic's) name them alike.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from glmformula.formula.operands import on_index
from glmformula.report.r_format import scientific

#: R's as.character of a double: 15 significant digits.
R_DIGITS = 15


def is_double(value: Any) -> bool:
    """Whether ``value`` is a floating-point number (a level R prints with ``as.character``), not a logical."""
    return isinstance(value, (float, np.floating)) and not isinstance(value, bool)


def r_character(value: float) -> str:
    """R's ``as.character`` of a double: ``formatReal`` to 15 significant digits (R 4.2).

    Fixed notation when it is not wider than scientific; trailing zeros dropped; ``-0`` is ``"0"``.
    """
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Inf" if value > 0 else "-Inf"
    if value == 0:
        return "0"
    kpower, nsig, widens = scientific(value, R_DIGITS)
    negative = int(value < 0)
    left = kpower + 1 - int(widens)
    sleft = negative + (1 if left <= 0 else left)
    if left < 0:
        sleft = 1 + negative
    right = max(nsig - left, 0)
    fixed_width = sleft + right + int(right != 0)
    exponent_digits = 2 if (left > 100 or left <= -99) else 1
    decimals = nsig - 1
    scientific_width = negative + int(decimals > 0) + decimals + 4 + exponent_digits
    if fixed_width <= scientific_width:
        return f"{value:.{right}f}"
    return f"{value:.{decimals}e}"


def level_labels(levels: Sequence[Hashable]) -> dict[Hashable, str]:
    """R's label of each double among ``levels`` (``r_character``).  Two doubles that print alike at 15
    digits (0.3 and 0.1 + 0.2, which R would merge into one level) keep Python's exact ``repr``, so that
    every label stays unique."""
    doubles = [level for level in levels if is_double(level)]
    labels = {level: r_character(level) for level in doubles}
    seen: dict[str, int] = {}
    for label in labels.values():
        seen[label] = seen.get(label, 0) + 1
    return {level: label if seen[label] == 1 else repr(float(level)) for level, label in labels.items()}


def with_level_labels(encoded: Any, levels: Sequence[Hashable]) -> Any:
    """formulaic's encoding of a factor (a ``FactorValues`` of a frame, of a dict of columns, an array or a
    sparse matrix) with each column named by a double level renamed by ``level_labels``; other names are
    left as they are."""
    labels = level_labels(levels)
    if not labels:
        return encoded
    from formulaic.materializers.types import FactorValues

    def rename(name: Hashable) -> Hashable:
        return labels.get(name, name) if is_double(name) else name

    metadata = encoded.__formulaic_metadata__
    values = encoded.__wrapped__ if isinstance(encoded, FactorValues) else encoded
    if isinstance(values, pd.DataFrame):
        values = values.set_axis([rename(name) for name in values.columns], axis=1)
    elif isinstance(values, dict):  # formulaic's columns of an encoding (``as_columns``), in order
        values = {rename(name): column for name, column in values.items()}
    names = None if metadata.column_names is None else tuple(rename(name) for name in metadata.column_names)
    drop_field = None if metadata.drop_field is None else rename(metadata.drop_field)
    return FactorValues(values, metadata=metadata, column_names=names, drop_field=drop_field)


def integer_factor(values: Any, index: pd.Index | None) -> pd.Series | None:
    """An integer column as a factor of its integers (levels 1, 2, not the floats 1.0, 2.0 the interpreter
    computes with, and exact beyond 2**53), on ``index``; None for any other column."""
    if getattr(getattr(values, "dtype", None), "kind", None) not in ("i", "u"):
        return None
    return on_index(pd.Categorical(values), index)
