"""Where the partitions' passes run, and whether their designs are kept between passes.

* ``ClusterPartitions``: a ``dask.distributed`` client and data in memory (persisted, or from
  pandas): each partition's ``PartitionData`` is built once, on the worker that holds the partition,
  and kept there (a future) until the fit ends.  A pass ships the coefficients, runs one task per
  partition, adds the results on each worker (one task per worker, next to its partitions) and
  gathers one sum per worker.
* ``LocalPartitions``: no distributed client and data in memory: the partitions' data are built
  once in this process and each pass runs over them here.
* ``StreamedPartitions``: data read from files (parquet, CSV, ...): nothing is kept; each pass reads
  every partition, builds its design, returns its sums and lets it go, so memory is bounded by the
  partitions in flight, not by the data.

All three give the same sums (``partition.combine``) for an operation of ``partition``.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any, Protocol

from glmformula.distributed.partition import PartitionData, PartitionModel, combine_all
from glmformula.exceptions import DataError

#: Expression leaves whose partitions are in memory already (persisted futures, a pandas frame).
_IN_MEMORY_SOURCES = {"FromGraph", "FromPandas", "FromArray", "FromDict", "FromDelayed"}


class Partitions(Protocol):
    """Runs an operation of ``glmformula.distributed.partition`` over every partition and adds the results."""

    def map_reduce(self, operation: Callable, **arguments: Any) -> dict:
        """The sum over the partitions of ``operation(partition_data, **arguments)``."""

    def close(self) -> None:
        """Let the kept partitions go."""


def in_memory(ddf) -> bool:
    """Whether every partition of ``ddf`` is already in memory (persisted, or made from pandas) rather than
    read from files: then keeping its design costs about what the partition costs."""
    expr = getattr(ddf, "expr", None)
    if expr is None:  # not a dask-expr collection: keep its partitions as before
        return True
    leaves = [node for node in expr.walk() if not node.dependencies()]
    return all(type(node).__name__ in _IN_MEMORY_SOURCES for node in leaves)


def partitions_for(ddf, model: PartitionModel, cache: bool | None = None) -> Partitions:
    """The executor for ``ddf``: kept designs when its data are in memory (or ``cache`` says so), else
    streamed; on the distributed client when there is one."""
    keep = in_memory(ddf) if cache is None else cache
    client = _client()
    if not keep:
        return StreamedPartitions(ddf, model)
    if client is not None:
        return ClusterPartitions(client, ddf.to_delayed(), model)
    return LocalPartitions(ddf.to_delayed(), model)


def _client():
    """The default ``dask.distributed`` client, or None (no distributed, or no client running)."""
    try:
        from distributed import default_client
    except ImportError:
        return None
    try:
        return default_client()
    except ValueError:
        return None


def _build(partition, model: PartitionModel) -> PartitionData | None:
    return model.data(partition)


def _apply(data: PartitionData | None, operation: Callable, arguments: dict) -> dict | None:
    return None if data is None else operation(data, **arguments)


def _apply_frame(partition, model: PartitionModel, operation: Callable, arguments: dict):
    """The sums of one partition read from its source, as a one-element object Series (a partition of a Dask
    collection is a pandas object), its frame and design dropped on return."""
    import pandas as pd

    return pd.Series([_apply(model.data(partition), operation, arguments)], dtype=object)


def _apply_all(operation: Callable, arguments: dict, *partitions: PartitionData | None) -> dict | None:
    return combine_all([_apply(data, operation, arguments) for data in partitions])


def _sum(*results) -> dict | None:
    """The sums of some results (dicts, or the one-element Series of ``_apply_frame``)."""
    return combine_all([result.iloc[0] if hasattr(result, "iloc") else result for result in results])


def _checked(total: dict | None) -> dict:
    if total is None:
        raise DataError("no rows left in any partition")
    return total


class ClusterPartitions:
    """Designs kept on the workers (see the module doc): built there once, spread evenly over the workers;
    a pass is one task per worker, over the partitions it keeps."""

    def __init__(self, client, partitions: list, model: PartitionModel):
        import dask
        from distributed import wait

        self.client = client
        workers = sorted(client.scheduler_info()["workers"]) or [None]
        self._by_worker: dict = defaultdict(list)
        self.futures = []
        with quiet_scheduler():
            for position, part in enumerate(partitions):
                worker = workers[position % len(workers)]
                self.futures.append(client.compute(dask.delayed(_build)(part, model),
                                                   workers=None if worker is None else [worker],
                                                   allow_other_workers=True))
                self._by_worker[worker].append(self.futures[-1])
            wait(self.futures)
        for future in self.futures:
            if future.status == "error":
                future.result()  # raises the partition's error

    def map_reduce(self, operation: Callable, **arguments: Any) -> dict:
        client = self.client
        with quiet_scheduler():
            sums = [client.submit(_apply_all, operation, arguments, *futures, pure=False,
                                  workers=None if worker is None else [worker], allow_other_workers=True)
                    for worker, futures in self._by_worker.items()]
            return _checked(combine_all(client.gather(sums)))

    def close(self) -> None:
        self.client.cancel(self.futures)
        self.futures, self._by_worker = [], {}


class LocalPartitions:
    """Designs kept in this process (see the module doc)."""

    def __init__(self, partitions: list, model: PartitionModel):
        import dask

        with quiet_scheduler():
            self.data = [d for d in dask.compute(*[dask.delayed(_build)(part, model) for part in partitions])
                         if d is not None]

    def map_reduce(self, operation: Callable, **arguments: Any) -> dict:
        return _checked(combine_all([operation(data, **arguments) for data in self.data]))

    def close(self) -> None:
        self.data = []


class StreamedPartitions:
    """Each pass reads and builds every partition again (see the module doc): one task a partition reads it,
    builds its design and returns its sums (Dask fuses the read with ``_apply_frame``, so no partition's
    frame waits in a worker's memory for a task of its own, nor travels to another worker); the sums are
    added in a tree of ``FAN_IN`` results a node."""

    FAN_IN = 4

    def __init__(self, ddf, model: PartitionModel):
        self.ddf, self.model = ddf, model

    def map_reduce(self, operation: Callable, **arguments: Any) -> dict:
        import dask
        import pandas as pd

        mapped = self.ddf.map_partitions(_apply_frame, self.model, operation, arguments,
                                         meta=pd.Series([], dtype=object), enforce_metadata=False)
        level = mapped.to_delayed()
        while True:
            level = [dask.delayed(_sum)(*level[i:i + self.FAN_IN]) for i in range(0, len(level), self.FAN_IN)]
            if len(level) == 1:
                break
        with quiet_scheduler():
            (total,) = dask.compute(level[0])
        return _checked(total)

    def close(self) -> None:
        self.ddf = None


@contextmanager
def quiet_scheduler():
    """Dask's and distributed's own UserWarnings (task-size and shuffle notices, about the scheduler, not the
    model) are not shown to the user; the model's warnings are raised by the driver, outside this context."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module=r"(dask|distributed)(\.|$)")
        yield
