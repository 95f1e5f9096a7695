"""Benchmark glmformula's Dask fits against its in-memory fits on the same data, and one out-of-core fit.

1. S1 and S6 (``run.py``'s shapes) at 2M rows: the in-memory fit, and the fit of the same data in 8
   persisted partitions on a 2-worker ``LocalCluster`` (one thread a worker, separate processes).
2. The time of one IRLS pass (every partition's deviance, X'WX and X'Wz at given coefficients, summed)
   and of the whole fit with 1 and with 2 workers, side by side.
3. Out of core: a parquet dataset of S1's shape at least 4x the workers' total ``memory_limit``, fitted
   by reading partition by partition at each pass (nothing persisted), with the workers' peak memory
   (a worker holds about 220 MiB once numpy, pandas, pyarrow, dask and glmformula are imported, so each
   gets 400 MiB: 34M rows, 3.3 GB in memory, about 3 GB of parquet).

    python benchmarks/dask_run.py                  # everything (2M rows; about 3 GB of parquet)
    python benchmarks/dask_run.py --scale 0.1      # a tenth of the rows, and of the parquet
    python benchmarks/dask_run.py --skip-out-of-core
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import SHAPES, make_data  # noqa: E402

import glmformula as gf  # noqa: E402

ROWS = 2_000_000
PARTITIONS = 8


def timed(function, repeats: int) -> tuple[float, object]:
    """(median wall time, last result) of ``repeats`` calls."""
    times, result = [], None
    for _ in range(repeats):
        began = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - began)
    return statistics.median(times), result


def cluster(workers: int, memory_limit: str | None = None):
    """A LocalCluster of ``workers`` single-threaded worker processes, and its client."""
    import dask
    import distributed

    # out of core the limit is the line a worker must stay under (the nanny ends it at 95%): no pausing or
    # spilling, which would only hide the working set; pyarrow's buffers go back to the system when freed
    dask.config.set({"distributed.worker.memory.pause": False, "distributed.worker.memory.spill": False,
                     "distributed.worker.memory.target": False})
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    local = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                     dashboard_address=None, memory_limit=memory_limit or "6GiB",
                                     silence_logs=40)
    return local, distributed.Client(local)


def pass_time(ddf, formula: str, beta: np.ndarray, repeats: int = 5) -> float:
    """The median time of one distributed pass (``partition.point`` at ``beta``) over the kept designs."""
    from glmformula.distributed import partition
    from glmformula.distributed.dask_glm import _partition_model
    from glmformula.distributed.executor import partitions_for

    family = gf.family("poisson")
    model, _ = _partition_model(formula, ddf, family, None, None, None, "drop")
    partitions = partitions_for(ddf, model)
    try:
        partitions.map_reduce(partition.point, family=family, keep=None, beta=beta)  # warm
        seconds, _ = timed(lambda: partitions.map_reduce(partition.point, family=family, keep=None, beta=beta),
                           repeats)
    finally:
        partitions.close()
    return seconds


def compare_shape(name: str, scale: float, repeats: int) -> list[dict]:
    """In-memory fit, then the Dask fit and pass with 2 and 1 workers, on the same DataFrame."""
    import dask.dataframe as dd
    from distributed import wait

    shape = SHAPES[name]
    frame, formula = make_data(shape, ROWS / shape.rows * scale)
    memory_seconds, memory = timed(lambda: gf.glm(formula, frame, "poisson"), repeats)
    rows = []
    for workers in (2, 1):
        local, client = cluster(workers)
        try:
            ddf = dd.from_pandas(frame, npartitions=PARTITIONS).persist()
            wait(ddf)
            seconds, fit = timed(lambda data=ddf: gf.glm(formula, data, "poisson"), repeats)
            beta = np.nan_to_num(fit.params.to_numpy())
            one_pass = pass_time(ddf, formula, beta)
            difference = float(np.nanmax(np.abs(fit.params - memory.params) / np.maximum(1, np.abs(memory.params))))
            rows.append({"shape": name, "rows": len(frame), "workers": workers, "in-memory s": memory_seconds,
                         "dask s": seconds, "ratio": seconds / memory_seconds, "passes": fit.passes,
                         "pass s": one_pass, "max rel diff": difference})
        finally:
            client.close()
            local.close()
    return rows


def write_parquet(folder: Path, rows: int, files: int) -> float:
    """S1-shaped data in ``files`` parquet files; returns the data's size in memory (GB)."""
    shape = SHAPES["S1"]
    size = 0
    for index in range(files):
        frame, formula = make_data(shape, rows / files / shape.rows, seed=1000 + index)
        for column in ("c10", "c1000"):  # every file with every level (the data's levels, fixed)
            frame[column] = frame[column].astype(str)
        size += frame.memory_usage(deep=False).sum()
        frame.to_parquet(folder / f"part-{index:04d}.parquet", index=False)
    return size / 1e9


def out_of_core(scale: float, memory_limit: str = "400MiB") -> dict:
    """Fit S1's shape read from parquet files, partition by partition at each pass, on 2 workers of
    ``memory_limit`` each; the workers' peak resident memory is polled during the fit."""
    import dask.dataframe as dd
    import psutil

    folder = Path(tempfile.mkdtemp(prefix="glmformula-ooc-", dir="/tmp"))
    try:
        rows, files = int(34_000_000 * scale), max(4, int(340 * scale))
        size = write_parquet(folder, rows, files)
        disk = sum(f.stat().st_size for f in folder.iterdir()) / 1e9
        local, client = cluster(2, memory_limit)
        peak = {"rss": 0.0}
        done = threading.Event()

        def poll() -> None:
            while not done.is_set():
                try:
                    rss = client.run(lambda: psutil.Process().memory_info().rss)
                except Exception:  # noqa: BLE001 - a worker restarting: the next poll sees it
                    rss = {}
                peak["rss"] = max([peak["rss"], *(value / 2**20 for value in rss.values())])
                time.sleep(0.25)

        try:
            ddf = dd.read_parquet(str(folder))
            formula = "y ~ " + " + ".join([f"x{i}" for i in range(10)] + ["c10", "c1000"]) + " + offset(log(exposure))"
            poller = threading.Thread(target=poll, daemon=True)
            poller.start()
            began = time.perf_counter()
            fit = gf.glm(formula, ddf, "poisson")
            seconds = time.perf_counter() - began
            done.set()
            poller.join()
            limit = sum(w["memory_limit"] for w in client.scheduler_info()["workers"].values()) / 1e9
        finally:
            client.close()
            local.close()
        return {"rows": rows, "files": files, "data in memory GB": size, "parquet GB": disk,
                "workers' total memory_limit GB": limit, "x limit": size / limit, "seconds": seconds,
                "passes": fit.passes, "peak worker RSS MiB": peak["rss"], "converged": fit.converged}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the rows (and of the parquet)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--shapes", default="S1,S6")
    parser.add_argument("--skip-out-of-core", action="store_true")
    parser.add_argument("--memory-limit", default="400MiB", help="each worker's memory_limit out of core")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    rows = []
    for name in filter(None, args.shapes.split(",")):
        rows += compare_shape(name, args.scale, args.repeats)
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.precision", 3):
        if rows:
            print(pd.DataFrame(rows).to_string(index=False))
        if not args.skip_out_of_core:
            print(pd.Series(out_of_core(args.scale, args.memory_limit)).to_string())


if __name__ == "__main__":
    main()
