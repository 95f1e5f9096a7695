"""Read-only access to a DataFrame's columns, each name, dtype and array fetched once.

Building a model frame reads the same few columns several times (missing
values, response, offsets, design).  Through pandas each read costs tens of
microseconds of bookkeeping (``frame[name]`` builds a Series, ``frame.dtypes``
a new Series, iterating ``frame.columns`` boxes every name), which for a fit of
a thousand rows is more than the fit itself.  ``FrameColumns`` reads the names
once and each column at most once, and hands out the column arrays: numpy arrays marked read-only
(so nothing downstream can write into the caller's frame), or pandas extension
arrays (categoricals, strings), which are never written to.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd

from glmformula.exceptions import DataError


class FrameColumns(Mapping):
    """The columns of a DataFrame by (string) name: ``columns[name]`` is the column's array.

    A frame with duplicate column names is refused (``DataError``): a name must say which column it reads.

    A Mapping, so expression evaluation (``safe_eval.evaluate``) reads it like a dict of columns.
    """

    def __init__(self, frame: pd.DataFrame):
        self.frame = frame
        labels = frame.columns.tolist()
        if len(set(labels)) != len(labels):  # as columns.is_unique, without building the Index's hash table
            dupes = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
            raise DataError(f"data has duplicate column names: {', '.join(dupes)}; rename them first")
        self.names: list[str] = [str(name) for name in labels]
        self._positions = {name: position for position, name in enumerate(self.names)}
        self._arrays: dict[str, Any] = {}
        self._finite: dict[str, bool] = {}

    def __len__(self) -> int:
        return len(self.names)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __contains__(self, name: object) -> bool:
        return name in self._positions

    def __getitem__(self, name: str):
        array = self._arrays.get(name)
        if array is None:
            array = self._arrays[name] = _column_array(self.frame, self._positions[name])
        return array

    def finite(self, name: str) -> bool:
        """Whether the column is numbers with no NaN or infinity: proved by one sum (NaN and infinities
        propagate into it) for floats, true for integers and booleans; False otherwise or when the sum
        overflows (not proved).  Cached: the missing-value check and the design check share it.  The caller
        holds ``np.errstate(over="ignore", invalid="ignore")`` (a sum may overflow: then it proves nothing)."""
        proved = self._finite.get(name)
        if proved is None:
            values = self[name]
            if isinstance(values, np.ndarray) and values.dtype.kind in "iub":
                proved = True
            elif isinstance(values, np.ndarray) and values.dtype.kind == "f":
                proved = math.isfinite(values.sum())
            else:
                proved = False
            self._finite[name] = proved
        return proved

    def dtype(self, name: str):
        """The column's dtype, from its array (``frame.dtypes`` builds a Series of every column's)."""
        return self[name].dtype

    @property
    def n_rows(self) -> int:
        return len(self.frame)

    def series(self, name: str) -> pd.Series:
        """The column as a pandas Series (for the rarer paths that need pandas' methods)."""
        return pd.Series(self[name], index=self.frame.index, name=name, copy=False)

    def position(self, name: str) -> int:
        return self._positions[name]


def _column_array(frame: pd.DataFrame, position: int):
    """The values of one column, without a copy: numpy arrays read-only, extension arrays as they are."""
    # pandas' own column accessor skips building a Series (twenty times cheaper on small frames); it is not
    # public API, so any pandas without it takes the public route
    getter = getattr(frame, "_get_column_array", None)
    array = getter(position) if getter is not None else frame.iloc[:, position].array
    if isinstance(array, pd.arrays.NumpyExtensionArray):
        array = array.to_numpy()
    if isinstance(array, np.ndarray):
        array = array.view()
        array.flags.writeable = False
    return array
