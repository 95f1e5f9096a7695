"""Data columns as the interpreter's values, and the error for a name that is not a column.

A formula reads the caller's DataFrame and must never write into it: numbers
are handed on as read-only views or fresh float copies, text as object-array
copies, and a factor (for formulaic's ``C()`` and categorical encoding) as a
pandas Categorical on the frame's index.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from glmformula.exceptions import DataError, MissingColumnError
from glmformula.formula.columns import FrameColumns


def column_operand(values: Any, name: str, *, as_factor: bool = False, index: pd.Index | None = None) -> Any:
    """A data column as an interpreter value: numbers as float arrays that cannot write into the caller's
    frame (read-only views or fresh copies), text as an object array, or with ``as_factor`` (a factor for
    formulaic) as a categorical Series on ``index``."""
    value = _operand(values, name, as_factor)
    if isinstance(value, pd.Categorical):
        return on_index(value, index)
    return value


def on_index(factor: pd.Categorical, index: pd.Index | None) -> pd.Series:
    """``factor`` as a Series on ``index`` (the data's, when of its length), without a copy."""
    if index is not None and len(index) == len(factor):
        return pd.Series(factor, index=index, copy=False)
    return pd.Series(factor, copy=False)


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
        return FrameColumns(data)
    return data


def n_rows(data: Mapping[str, Any]) -> int:
    """The number of rows of a mapping of columns (``FrameColumns.n_rows``, else its first column's length)."""
    rows = getattr(data, "n_rows", None)
    if rows is not None:
        return rows
    for values in data.values():
        return len(values)
    return 0


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
