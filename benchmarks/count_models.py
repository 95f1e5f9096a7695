"""Benchmark zero-inflated and hurdle models (issue 19): glmformula against R's pscl on the same data.

Two shapes, generated deterministically in Python and written to a CSV that R reads:

* ``zi200k``: 200,000 rows, five numeric columns x0..x4, a 20-level factor g1, an exposure t and about
  30% extra zeros; ``y ~ x0 + x1 + x2 + g1 + offset(log(t)) | x0 + g1``.  Targets: the zero-inflated
  negative binomial, the hurdle Poisson and the negative binomial GLM of the count formula each take at
  most 1/10 of pscl's (MASS's) time.
* ``zi1m``: 1,000,000 rows, the same with a 1,000-level factor c1000 in the count part and the 20-level
  g1 in the zero part; ``y ~ x0 + x1 + x2 + c1000 + offset(log(t)) | x0 + g1``.  Targets: the
  zero-inflated negative binomial and the hurdle Poisson each take at most 5x glmformula's own Poisson
  GLM of the count formula, with peak traced memory at most 3x the DataFrame.

glmformula is timed from the DataFrame in memory to a fitted model with standard errors (the median of
``--repeats`` calls); peak memory is ``benchmarks/run.py``'s ``peak_memory`` (tracemalloc's peak during
one more call) over the DataFrame's own size.  pscl (and MASS::glm.nb, stats::glm) are timed in R with
``system.time`` around the fit alone, after ``read.csv``, with pscl's default control.  R runs on zi200k
only unless ``--pscl-shapes`` says otherwise: with the 1,000-level factor R's dense model matrices
(1M x 1,004 doubles, 8 GB each) and their QR or BFGS take hours (at 10,000 rows, on this shared
machine, R's own Poisson GLM did not finish in 300 s); ``--no-pscl`` skips R altogether.

    python benchmarks/count_models.py                            # both shapes, pscl on zi200k
    python benchmarks/count_models.py --shapes zi200k            # the issue's table
    python benchmarks/count_models.py --shapes zi1m --no-pscl    # the 1M-row targets without R
    python benchmarks/count_models.py --scale 0.1                # a tenth of the rows, for a quick look
    python benchmarks/count_models.py --pscl-shapes zi200k,zi1m  # R on the 1M-row shape too (hours)

``run(shapes, scale, repeats, pscl_shapes)`` does the same from Python (for ``benchmarks/run.py``) and
returns the figures.
"""

from __future__ import annotations

import argparse
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import peak_memory, timed  # noqa: E402  (the same measurements as the GLM benchmark)

import glmformula as gf  # noqa: E402


@dataclass(frozen=True)
class Shape:
    """A benchmark data set and the model formula fitted to it."""

    name: str
    rows: int
    count_factor: tuple[str, int] | None  # a factor of the count part only: (name, levels)
    description: str
    pscl_target: bool  # compare with pscl (<= 1/10)
    own_poisson_target: bool  # compare with glmformula's Poisson GLM (<= 5x) and the DataFrame (memory <= 3x)
    zero_levels: int = 20

    @property
    def formula(self) -> str:
        count = "x0 + x1 + x2 + " + (self.count_factor[0] if self.count_factor else "g1")
        return f"y ~ {count} + offset(log(t)) | x0 + g1"

    @property
    def count_formula(self) -> str:
        return self.formula.split("|")[0].strip()


SHAPES = {
    "zi200k": Shape("zi200k", 200_000, None, "200k rows, 5 numeric, a 20-level factor in both parts, "
                    "an exposure, ~30% extra zeros", pscl_target=True, own_poisson_target=False),
    "zi1m": Shape("zi1m", 1_000_000, ("c1000", 1000), "1M rows, a 1,000-level factor in the count part, "
                  "a 20-level factor in the zero part, an exposure, ~30% extra zeros",
                  pscl_target=False, own_poisson_target=True),
}

# name: (what is fitted, glmformula's call, R's call); {f} is the formula, {c} the count formula
MODELS = {
    "zeroinfl negbin": (lambda frame, s: gf.zeroinfl(s.formula, frame, "negbin"),
                        'zeroinfl({f}, data = d, dist = "negbin")'),
    "hurdle poisson": (lambda frame, s: gf.hurdle(s.formula, frame, "poisson"),
                       'hurdle({f}, data = d, dist = "poisson")'),
    "glm negbin": (lambda frame, s: gf.glm(s.count_formula, frame, family="negative_binomial"),
                   "glm.nb({c}, data = d)"),
    "glm poisson": (lambda frame, s: gf.glm(s.count_formula, frame, family="poisson"),
                    "glm({c}, family = poisson, data = d)"),
}
TWO_PART = ("zeroinfl negbin", "hurdle poisson")
R_ORDER = ("glm poisson", "glm negbin", "hurdle poisson", "zeroinfl negbin")  # the quick fits first


def make_data(shape: Shape, scale: float = 1.0, seed: int = 19) -> pd.DataFrame:
    """Negative binomial counts (theta = 2) with mean t exp(eta), about 30% of them replaced by zeros.

    Factor levels are zero-padded (g01..g20, c0000..c0999) so that R's sorted levels are pandas' order.
    """
    rng = np.random.default_rng(seed)
    n = max(2000, int(shape.rows * scale))
    frame = pd.DataFrame({f"x{i}": rng.normal(size=n) for i in range(5)})
    g1 = rng.integers(0, shape.zero_levels, n)
    frame["g1"] = pd.Categorical.from_codes(g1, [f"g{j + 1:02d}" for j in range(shape.zero_levels)])
    eta = 0.3 + 0.2 * frame.x0 - 0.1 * frame.x1 + 0.15 * frame.x2 + rng.normal(scale=0.2, size=shape.zero_levels)[g1]
    if shape.count_factor:
        name, levels = shape.count_factor
        codes = rng.integers(0, levels, n)
        frame[name] = pd.Categorical.from_codes(codes, [f"c{j:04d}" for j in range(levels)])
        eta = eta + rng.normal(scale=0.2, size=levels)[codes]
    frame["t"] = rng.uniform(0.5, 2.0, n)
    mean = frame.t * np.exp(eta)
    counts = rng.negative_binomial(2.0, 2.0 / (2.0 + mean))
    zero_logit = np.log(0.3 / 0.7) + 0.3 * frame.x0 + rng.normal(scale=0.3, size=shape.zero_levels)[g1]
    extra_zero = rng.uniform(size=n) < 1 / (1 + np.exp(-zero_logit))
    frame["y"] = np.where(extra_zero, 0, counts).astype(float)
    frame.attrs["extra_zeros"] = float(extra_zero.mean())
    return frame


@dataclass
class ShapeResult:
    """The figures of one shape: seconds and log-likelihoods per model, memory ratios, R's versions."""

    shape: str
    rows: int
    frame_bytes: int
    seconds: dict[str, float] = field(default_factory=dict)
    loglik: dict[str, float] = field(default_factory=dict)
    memory: dict[str, float] = field(default_factory=dict)  # peak traced memory / DataFrame
    pscl_seconds: dict[str, float] = field(default_factory=dict)
    pscl_loglik: dict[str, float] = field(default_factory=dict)
    pscl_version: str = ""
    warnings: dict[str, list[str]] = field(default_factory=dict)


def time_glmformula(frame: pd.DataFrame, shape: Shape, repeats: int, result: ShapeResult) -> None:
    for name, (call, _) in MODELS.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            seconds, fitted = timed(lambda call=call: call(frame, shape), repeats)
        result.seconds[name], result.loglik[name] = seconds, float(fitted.llf)
        result.warnings[name] = sorted({f"{w.category.__name__}: {str(w.message)[:90]}" for w in caught})
        if name in TWO_PART and shape.own_poisson_target:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result.memory[name] = peak_memory(lambda call=call: call(frame, shape)) / result.frame_bytes


R_SCRIPT = r"""
suppressPackageStartupMessages({library(pscl); library(MASS)})
args <- commandArgs(TRUE)
d <- read.csv(args[1], stringsAsFactors = TRUE)
cat("VERSION", as.character(packageVersion("pscl")), R.version.string, "\n")
flush(stdout())
fits <- list(%s)
for (name in names(fits)) {
  fit <- NULL
  seconds <- system.time(fit <- eval(fits[[name]]))[["elapsed"]]
  cat("RESULT", name, "\t", seconds, "\t", sprintf("%%.10g", as.numeric(logLik(fit))), "\n", sep = "")
  flush(stdout())
  rm(fit); invisible(gc())
}
"""


def time_pscl(frame: pd.DataFrame, shape: Shape, result: ShapeResult, timeout: float, memory_gb: float) -> None:
    """Writes the CSV, runs the fits in Rscript (each timed by ``system.time``) and reads the times back."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        print("  pscl: Rscript not found, skipped")
        return
    calls = ", ".join(f'"{name}" = quote({MODELS[name][1].format(f=shape.formula, c=shape.count_formula)})'
                      for name in R_ORDER)
    with tempfile.TemporaryDirectory() as directory:
        csv, script = Path(directory) / "data.csv", Path(directory) / "fit.R"
        frame.to_csv(csv, index=False)
        script.write_text(R_SCRIPT % calls)

        def limit_memory():  # in the child, before R starts; never above a limit already set
            hard = resource.getrlimit(resource.RLIMIT_AS)[1]
            limit = int(memory_gb * 2**30) if hard == resource.RLIM_INFINITY else min(int(memory_gb * 2**30), hard)
            resource.setrlimit(resource.RLIMIT_AS, (limit, hard))

        try:
            output = subprocess.run([rscript, str(script), str(csv)], capture_output=True, text=True,  # noqa: S603 (our script)
                                    timeout=timeout, preexec_fn=limit_memory, check=False)
            stdout, stderr, returncode = output.stdout, output.stderr, output.returncode
        except subprocess.TimeoutExpired as stopped:  # keep the fits that finished
            stdout = stopped.stdout.decode() if isinstance(stopped.stdout, bytes) else stopped.stdout or ""
            stderr, returncode = f"stopped after {timeout:.0f} s (--pscl-timeout)", "timeout"
    for line in stdout.splitlines():
        if line.startswith("VERSION"):
            result.pscl_version = line.removeprefix("VERSION ").strip()
        elif line.startswith("RESULT"):
            name, seconds, loglik = line.removeprefix("RESULT").split("\t")
            result.pscl_seconds[name], result.pscl_loglik[name] = float(seconds), float(loglik)
    if returncode != 0:
        error = re.sub(r"\s+", " ", (stderr or "").strip())[-400:]
        print(f"  R stopped ({returncode}) after {len(result.pscl_seconds)} fit(s): {error}")


def report(shape: Shape, result: ShapeResult) -> None:
    if result.pscl_version:
        print(f"  R: pscl {result.pscl_version}")
    print(f"  {'model':16s} {'glmformula':>11s} {'R':>9s} {'ratio':>7s}   logLik glmformula - R")
    for name in MODELS:
        ours = result.seconds[name]
        line = f"  {name:16s} {ours:9.3f} s"
        if name in result.pscl_seconds:
            theirs = result.pscl_seconds[name]
            line += (f" {theirs:7.2f} s {ours / theirs:7.3f}   "
                     f"{result.loglik[name] - result.pscl_loglik[name]:+.3g}")
        print(line)
        for message in result.warnings[name]:
            print(f"      glmformula warned: {message}")
    if shape.pscl_target and result.pscl_seconds:
        print("  target: each of zeroinfl negbin, hurdle poisson, glm negbin <= 0.1 of R's time")
    if shape.own_poisson_target:
        poisson = result.seconds["glm poisson"]
        for name in TWO_PART:
            print(f"  {name} / glmformula's Poisson GLM: {result.seconds[name] / poisson:6.2f} (target <= 5);  "
                  f"peak traced memory {result.memory[name]:5.2f} x DataFrame (target <= 3)")


def run(shapes=("zi200k", "zi1m"), scale: float = 1.0, repeats: int = 1, pscl_shapes=("zi200k",),
        pscl_timeout: float = 4 * 3600, pscl_memory_gb: float = 16.0) -> dict[str, ShapeResult]:
    """Times every model of every shape (and in R those of ``pscl_shapes``), prints the table and returns
    the figures by shape name."""
    results = {}
    for name in shapes:
        shape = SHAPES[name]
        frame = make_data(shape, scale)
        result = ShapeResult(name, len(frame), int(frame.memory_usage(deep=True).sum()))
        zeros, extra = (frame.y == 0).mean(), frame.attrs["extra_zeros"]
        print(f"\n{name}: {shape.description} (rows used: {len(frame):,}; zeros {100 * zeros:.0f}%, "
              f"{100 * extra:.0f}% extra; "
              f"DataFrame {result.frame_bytes / 2**20:.0f} MiB)\n  {shape.formula}")
        time_glmformula(frame, shape, repeats, result)
        if name in pscl_shapes:
            time_pscl(frame, shape, result, pscl_timeout, pscl_memory_gb)
        report(shape, result)
        results[name] = result
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", default="zi200k,zi1m", help="comma-separated: zi200k, zi1m")
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of each shape's rows")
    parser.add_argument("--repeats", type=int, default=1, help="glmformula fits per model (the median is shown)")
    parser.add_argument("--pscl-shapes", default="zi200k", help="the shapes also fitted in R (comma-separated)")
    parser.add_argument("--no-pscl", action="store_true", help="do not run R")
    parser.add_argument("--pscl-timeout", type=float, default=4 * 3600, help="seconds before R is stopped")
    parser.add_argument("--pscl-memory-gb", type=float, default=16.0, help="address-space limit of R")
    args = parser.parse_args()
    import platform

    print(f"machine: {platform.machine()}, {platform.processor() or 'cpu'}; numpy {np.__version__}; "
          f"pandas {pd.__version__}; glmformula {gf.__version__}")
    pscl_shapes = () if args.no_pscl else tuple(args.pscl_shapes.split(","))
    run(args.shapes.split(","), args.scale, args.repeats, pscl_shapes, args.pscl_timeout, args.pscl_memory_gb)


if __name__ == "__main__":
    main()
