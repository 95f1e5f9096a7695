"""Benchmark glmformula's Dask fits against its in-memory fits on the same data, and one out-of-core fit.

1. S1 and S6 (``run.py``'s shapes) at 2M rows: the in-memory fit, and the fit of the same data in 8
   persisted partitions on a 2-worker ``LocalCluster`` (one thread a worker, separate processes), timed
   alternately, best of ``--repeats``.
2. The time of one IRLS pass (every partition's deviance, X'WX and X'Wz at given coefficients, summed)
   and of the whole fit with 1 and with 2 workers, side by side.
3. Out of core: a parquet dataset of S1's shape (text columns for the factors, files of 250,000 rows)
   taking ``--times`` (4.1) the 2 workers' total ``memory_limit`` (512 MiB each) in memory as pandas
   holds it, written once to ``/tmp/glmformula-ooc-S1`` and fitted by reading every file at each pass
   (nothing persisted), with the workers' peak resident memory.  ``--check-in-memory`` then fits the
   same files in memory (about 10 GB at the default size) and compares.

    python benchmarks/dask_run.py                       # everything (3.7 GB of parquet in /tmp)
    python benchmarks/dask_run.py --skip-out-of-core    # the in-memory comparison alone
    python benchmarks/dask_run.py --out-of-core-only
    python benchmarks/dask_run.py --check-in-memory     # after an out-of-core run
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
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
    """The in-memory fit and the Dask fit of the same DataFrame, timed alternately (in memory, Dask, in memory,
    ...) in this process, best of ``repeats`` each (the machine is shared: the best is the least disturbed),
    with 2 and then 1 workers; and the time of one pass."""
    import dask.dataframe as dd
    from distributed import wait

    shape = SHAPES[name]
    frame, formula = make_data(shape, ROWS / shape.rows * scale)
    memory = gf.glm(formula, frame, "poisson")  # warm: formulaic's spec is cached per formula and levels
    rows = []
    for workers in (2, 1):
        local, client = cluster(workers)
        try:
            ddf = dd.from_pandas(frame, npartitions=PARTITIONS).persist()
            wait(ddf)
            fit = gf.glm(formula, ddf, "poisson")  # warm the workers
            memory_times, dask_times = [], []
            for _ in range(repeats):
                memory_times.append(timed(lambda: gf.glm(formula, frame, "poisson"), 1)[0])
                seconds, fit = timed(lambda data=ddf: gf.glm(formula, data, "poisson"), 1)
                dask_times.append(seconds)
            beta = np.nan_to_num(fit.params.to_numpy())
            one_pass = pass_time(ddf, formula, beta)
            difference = float(np.nanmax(np.abs(fit.params - memory.params) / np.maximum(1, np.abs(memory.params))))
            rows.append({"shape": name, "rows": len(frame), "workers": workers, "in-memory s": min(memory_times),
                         "dask s": min(dask_times), "ratio": min(dask_times) / min(memory_times),
                         "passes": fit.passes, "pass s": one_pass, "max rel diff": difference})
        finally:
            client.close()
            local.close()
    return rows


OOC_FOLDER = Path(tempfile.gettempdir()) / "glmformula-ooc-S1"
OOC_FILE_ROWS = 250_000


def write_parquet(folder: Path, times: float, memory_limit: str, file_rows: int = OOC_FILE_ROWS) -> dict:
    """S1-shaped data in parquet files of ``file_rows`` rows, with text columns for the factors (what
    ``read_parquet`` gives), enough of them that the data take ``times`` the 2 workers' total memory_limit
    in memory as pandas holds them (``memory_usage(deep=True)`` of each file's frame, Arrow-backed text).
    Written once: a folder already holding such data for the same target is reused."""
    import json

    from dask.utils import parse_bytes

    target = times * 2 * parse_bytes(memory_limit)
    marker = folder / "written.json"
    if marker.exists():
        facts = json.loads(marker.read_text())
        if facts["target bytes"] == target:
            return facts
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    shape, size, rows, files = SHAPES["S1"], 0, 0, 0
    while size < target:
        frame, formula = make_data(shape, file_rows / shape.rows, seed=1000 + files)
        frame = frame.astype({"c10": "string[pyarrow]", "c1000": "string[pyarrow]"})
        size += int(frame.memory_usage(deep=True, index=False).sum())
        rows += len(frame)
        frame.to_parquet(folder / f"part-{files:05d}.parquet", index=False)
        files += 1
    facts = {"target bytes": target, "rows": rows, "files": files, "pandas bytes": size, "formula": formula,
             "parquet bytes": sum(f.stat().st_size for f in folder.glob("*.parquet"))}
    marker.write_text(json.dumps(facts))
    return facts


def _worker_memory() -> dict:
    """This worker process's resident memory now and at its peak (ru_maxrss), in MiB, its CPU seconds (user +
    system: what the fit cost it, whatever else ran on the machine) and its pid."""
    import resource

    import psutil

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"rss": psutil.Process().memory_info().rss / 2**20, "peak": usage.ru_maxrss / 2**10,
            "cpu": usage.ru_utime + usage.ru_stime, "pid": os.getpid()}


def out_of_core(times: float, memory_limit: str, folder: Path = OOC_FOLDER) -> dict:
    """Fit S1's shape read from parquet files at every pass (nothing persisted) on 2 single-threaded workers
    of ``memory_limit`` each; the workers' peak resident memory is their ru_maxrss at the end (the kernel's
    high-water mark of each worker process), and a worker restarted by its nanny would show as a new pid."""
    import json

    import dask.dataframe as dd

    facts = write_parquet(folder, times, memory_limit)
    local, client = cluster(2, memory_limit)
    try:
        before = client.run(_worker_memory)
        limit = sum(w["memory_limit"] for w in client.scheduler_info()["workers"].values())
        ddf = dd.read_parquet(str(folder))
        began = time.perf_counter()
        fit = gf.glm(facts["formula"], ddf, "poisson")
        seconds = time.perf_counter() - began
        after = client.run(_worker_memory)
    finally:
        client.close()
        local.close()
    (folder / "dask_fit.json").write_text(json.dumps({"params": fit.params.to_dict(), "deviance": fit.deviance,
                                                      "null_deviance": fit.null_deviance}))
    return {"rows": facts["rows"], "files (partitions)": facts["files"], "partitions read": ddf.npartitions,
            "data in memory (pandas) GB": facts["pandas bytes"] / 1e9,
            "parquet on disk GB": facts["parquet bytes"] / 1e9, "workers' total memory_limit GB": limit / 1e9,
            "data / total memory_limit": facts["pandas bytes"] / limit,
            "seconds": seconds, "passes": fit.passes, "IRLS iterations": fit.n_iter, "converged": fit.converged,
            "deviance": fit.deviance, "worker RSS at start MiB": [round(m["rss"]) for m in before.values()],
            "worker peak RSS MiB": [round(m["peak"]) for m in after.values()],
            "worker CPU s during the fit": [round(after[w]["cpu"] - before.get(w, {"cpu": 0.0})["cpu"]) for w in after],
            "load average (1, 5, 15 min) at the end": os.getloadavg(),
            "same worker processes": sorted(m["pid"] for m in before.values()) == sorted(
                m["pid"] for m in after.values())}


def in_memory_check(folder: Path = OOC_FOLDER) -> dict:
    """The in-memory fit of the out-of-core data (all files read into one frame) against the Dask fit's
    coefficients and deviances saved by ``out_of_core``."""
    import json

    saved = json.loads((folder / "dask_fit.json").read_text())
    facts = json.loads((folder / "written.json").read_text())
    frame = pd.read_parquet(folder)
    began = time.perf_counter()
    fit = gf.glm(facts["formula"], frame, "poisson")
    seconds = time.perf_counter() - began
    dask_params = pd.Series(saved["params"])[fit.params.index]
    relative = np.abs(dask_params - fit.params) / np.maximum(1, np.abs(fit.params))
    return {"rows": len(frame), "in-memory seconds": seconds, "max rel diff coefficients": float(np.max(relative)),
            "rel diff deviance": abs(saved["deviance"] - fit.deviance) / fit.deviance,
            "rel diff null deviance": abs(saved["null_deviance"] - fit.null_deviance) / fit.null_deviance}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the rows of the in-memory comparison")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--shapes", default="S1,S6")
    parser.add_argument("--skip-out-of-core", action="store_true")
    parser.add_argument("--out-of-core-only", action="store_true")
    parser.add_argument("--memory-limit", default="512MiB", help="each worker's memory_limit out of core")
    parser.add_argument("--times", type=float, default=4.1, help="the parquet data's size in memory, in times "
                        "the workers' total memory_limit")
    parser.add_argument("--check-in-memory", action="store_true",
                        help="only fit the out-of-core data in memory and compare with the saved Dask fit")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.precision", 3):
        if args.check_in_memory:
            print(pd.Series(in_memory_check()).to_string())
            return
        rows = []
        for name in filter(None, "" if args.out_of_core_only else args.shapes.split(",")):
            rows += compare_shape(name, args.scale, args.repeats)
        if rows:
            print(pd.DataFrame(rows).to_string(index=False))
        if not args.skip_out_of_core:
            print(pd.Series(out_of_core(args.times, args.memory_limit)).to_string())


if __name__ == "__main__":
    main()
