"""Recognising Dask data without importing Dask (the front door dispatches on it; Dask is an optional extra)."""

from __future__ import annotations

from typing import Any


def is_dask_dataframe(data: Any) -> bool:
    """Whether ``data`` is a Dask DataFrame (or another Dask collection that splits into delayed partitions)."""
    return type(data).__module__.split(".")[0] == "dask" and hasattr(data, "to_delayed")
