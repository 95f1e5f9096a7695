"""Benchmark glmformula against statsmodels, glum and pyfixest on the same DataFrames in one run.

Each shape is generated deterministically; every library goes from the
DataFrame in memory to a fitted model with standard errors.  Printed per shape:
median wall time of each library, the ratios glmformula / peer, peak traced
memory of the fit relative to the DataFrame's own size, the share of
glmformula's time spent building the design, the "floor" ratio
fit time / (iterations x one pass of X'WX, X'Wz and X beta on the same
design), and the largest relative coefficient difference from statsmodels.
pyfixest's ``fepois`` runs on the Poisson shapes whose factors it can absorb
(S1, S2, S8: numeric columns plus categorical main effects); it reports the
numeric columns' coefficients and standard errors, compared with ours.

    python benchmarks/run.py                  # all shapes
    python benchmarks/run.py --shapes S2,S5 --repeats 3
    python benchmarks/run.py --scale 0.1      # a tenth of the rows, for a quick look
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
import tracemalloc
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

import glmformula as gf
import glmformula.model as gf_model
from glmformula.engine.irls import irls
from glmformula.formula.frame import build_model_frame


@dataclass
class Shape:
    name: str
    rows: int
    numeric: int
    categoricals: dict[str, int]
    family: str
    offset: bool
    description: str
    statsmodels_limit_cells: float = 3e8  # dense dummy cells statsmodels must hold
    rhs: str | None = None  # the right-hand side, when not the sum of every column
    peers: tuple[str, ...] = ("statsmodels", "glum")  # the libraries that can fit it here
    note: str = ""  # why a peer is left out


SHAPES = {
    "S1": Shape("S1", 1_000_000, 10, {"c10": 10, "c1000": 1000}, "poisson", True,
                "1M rows, 10 numeric, 10- and 1,000-level categoricals, Poisson with offset",
                peers=("statsmodels", "glum", "pyfixest")),
    "S2": Shape("S2", 1_000_000, 10, {"c10": 10, "c20": 20}, "poisson", True,
                "1M rows, 10 numeric, 10- and 20-level categoricals, Poisson with offset",
                peers=("statsmodels", "glum", "pyfixest")),
    "S3": Shape("S3", 100_000, 200, {}, "binomial", False, "100k rows, 200 numeric, binomial logit"),
    "S4": Shape("S4", 10_000_000, 5, {"c50": 50}, "gamma", False,
                "10M rows, 5 numeric, a 50-level categorical, gamma with log link"),
    "S6": Shape("S6", 1_000_000, 5, {"c20": 20, "c1000": 1000}, "poisson", True,
                "1M rows, 5 numeric, a 20-level factor crossed with x0, a 1,000-level factor, Poisson with offset",
                rhs="x0 + x1 + x2 + x3 + x4 + c20*x0 + c1000"),
    "S7": Shape("S7", 1_000_000, 1, {"c20": 20, "c1000": 1000}, "poisson", True,
                "1M rows, a crossed pair of factors (20 x 1,000 = 20,000 cells), Poisson with offset",
                rhs="x0 + c20:c1000", peers=(),
                note="statsmodels and glum: not run (a dense design of 20,000 columns x 1M rows is 160 GB)"),
    "S8": Shape("S8", 1_000_000, 5, {"c1000": 1000, "c5000": 5000}, "poisson", True,
                "1M rows, 5 numeric, factors of 1,000 and 5,000 levels, Poisson with offset",
                peers=("glum", "pyfixest"), note="statsmodels: not run (6,000 dense columns x 1M rows)"),
    "S9": Shape("S9", 1_000_000, 10, {"c10": 10, "c1000": 1000}, "negative_binomial", True,
                "S1's data, negative binomial with theta estimated (against glmformula's own Poisson fit)",
                peers=(), note="compared with glmformula's Poisson fit of the same data (glum has no theta ML)"),
    "SPL": Shape("SPL", 1_000_000, 2, {"c1000": 1000}, "poisson", True,
                 "1M rows, bs(x, df=8) of two numeric columns and a 1,000-level factor, Poisson with offset",
                 rhs="bs(x0, df=8) + bs(x1, df=8) + c1000", peers=("glum",),
                 note="statsmodels: not run (1M x 1,017 dense cells)"),
}


def make_data(shape: Shape, scale: float, seed: int = 2024) -> tuple[pd.DataFrame, str]:
    rng = np.random.default_rng(seed)
    n = max(1000, int(shape.rows * scale))
    columns = {f"x{i}": rng.normal(size=n) for i in range(shape.numeric)}
    frame = pd.DataFrame(columns)
    eta = 0.05 * frame.to_numpy() @ rng.uniform(-1, 1, shape.numeric) if shape.numeric else np.zeros(n)
    for name, levels in shape.categoricals.items():
        codes = rng.integers(0, levels, n)
        frame[name] = pd.Categorical.from_codes(codes, [f"L{j:04d}" for j in range(levels)])
        eta = eta + rng.normal(scale=0.2, size=levels)[codes]
    if shape.offset:
        frame["exposure"] = rng.uniform(0.5, 2.0, n)
    if shape.family == "poisson":
        frame["y"] = rng.poisson(np.exp(eta - 1) * frame["exposure"]).astype(float)
    elif shape.family == "negative_binomial":
        mean = np.exp(eta - 1) * frame["exposure"]
        frame["y"] = rng.negative_binomial(2.0, 2.0 / (2.0 + mean)).astype(float)
    elif shape.family == "binomial":
        frame["y"] = rng.binomial(1, 1 / (1 + np.exp(-eta))).astype(float)
    else:
        frame["y"] = rng.gamma(2.0, np.exp(eta) / 2.0)
    rhs = shape.rhs or " + ".join([*columns, *shape.categoricals])
    formula = f"y ~ {rhs}" + (" + offset(log(exposure))" if shape.offset else "")
    return frame, formula


def fit_glmformula(frame, formula, family):
    res = gf.glm(formula, frame, family="gamma(link=log)" if family == "gamma" else family)
    return res.params, res.bse, res


def fit_glmformula_poisson(frame, formula, family):
    """S9's reference: glmformula's Poisson fit of the same data."""
    return fit_glmformula(frame, formula, "poisson")


def fit_statsmodels(frame, formula, family):
    import statsmodels.api as sm
    import statsmodels.formula.api as smf

    families = {"poisson": sm.families.Poisson(), "binomial": sm.families.Binomial(),
                "gamma": sm.families.Gamma(sm.families.links.Log())}
    sm_formula = formula.replace(" + offset(log(exposure))", "")
    offset = np.log(frame["exposure"]) if "exposure" in frame else None
    res = smf.glm(sm_formula, frame, family=families[family], offset=offset).fit()
    return res.params, res.bse, res


def fit_glum(frame, formula, family):
    from glum import GeneralizedLinearRegressor

    glum_formula = formula.replace(" + offset(log(exposure))", "")
    offset = np.log(frame["exposure"].to_numpy()) if "exposure" in frame else None
    model = GeneralizedLinearRegressor(formula=glum_formula, family=family, link="log" if family == "gamma" else "auto",
                                       alpha=0, drop_first=True, robust=False)
    model.fit(frame, offset=offset, store_covariance_matrix=True)
    return np.r_[model.intercept_, model.coef_], np.sqrt(np.diag(model.covariance_matrix_)), model


_PYFIXEST_WARM = []


def fit_pyfixest(frame, formula, family):
    """pyfixest's ``fepois`` with the categorical columns absorbed as fixed effects (``y ~ x0 + ... | c1 + c2``)
    and the offset; its iid standard errors without small-sample corrections (``ssc``), which are then those
    of the dummy-variable GLM's (X'WX)^-1.  Its first call in a process compiles and loads its routines (about
    4 s here): that is paid once, on a 50,000-row slice, before any timed call (on a few thousand rows of S8,
    nearly every level of its 5,000-level factor is a singleton, and its demeaner panics)."""
    import pyfixest as pf

    if family != "poisson":
        raise ValueError("fepois fits the Poisson family only")
    terms = [term.strip() for term in formula.split("~")[1].replace(" + offset(log(exposure))", "").split("+")]
    absorbed = [term for term in terms if isinstance(frame[term].dtype, pd.CategoricalDtype)]
    numeric = [term for term in terms if term not in absorbed]
    fixest_formula = f"y ~ {' + '.join(numeric)} | {' + '.join(absorbed)}"
    options = {"vcov": "iid", "ssc": pf.ssc(k_adj=False, G_adj=False)}
    if "exposure" in frame:
        options["offset"] = "log_exposure"
    if not _PYFIXEST_WARM:
        warm = frame.iloc[:50_000]
        pf.fepois(fixest_formula, data=warm.assign(log_exposure=np.log(warm["exposure"])) if "exposure" in frame
                  else warm, **options)
        _PYFIXEST_WARM.append(True)
    data = frame.assign(log_exposure=np.log(frame["exposure"])) if "exposure" in frame else frame
    model = pf.fepois(fixest_formula, data=data, **options)
    return model.coef(), model.se(), model


LIBRARIES = {"glmformula": fit_glmformula, "statsmodels": fit_statsmodels, "glum": fit_glum,
             "pyfixest": fit_pyfixest, "glmformula poisson": fit_glmformula_poisson}


def tight_difference(frame, formula, family) -> float:
    """Largest relative coefficient difference when both libraries converge tightly."""
    import statsmodels.api as sm
    import statsmodels.formula.api as smf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = gf.glm(formula, frame, family="gamma(link=log)" if family == "gamma" else family, tol=1e-12).params
        families = {"poisson": sm.families.Poisson(), "binomial": sm.families.Binomial(),
                    "gamma": sm.families.Gamma(sm.families.links.Log())}
        offset = np.log(frame["exposure"]) if "exposure" in frame else None
        theirs = smf.glm(formula.replace(" + offset(log(exposure))", ""), frame, family=families[family],
                         offset=offset).fit(tol=1e-12).params
    common = ours.index.intersection(theirs.index)
    return float(np.max(np.abs(ours[common] - theirs[common]) / np.abs(theirs[common])))


def timed(function, repeats: int, all_times: bool = False):
    """The median time of ``repeats`` calls and the last call's result (and every time, with ``all_times``);
    each call's result is released before the next call (as a refit that replaces a model), for every
    library alike."""
    times, result = [], None
    for _ in range(repeats):
        result = None
        gc.collect()
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return (statistics.median(times), result, times) if all_times else (statistics.median(times), result)


def peak_memory(function) -> float:
    gc.collect()
    tracemalloc.start()
    function()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


class DesignTimer:
    """Times ``build_model_frame`` inside the fits it is active for: the design-building share is measured
    on the very calls whose total is reported, not on a separate call in other conditions."""

    def __init__(self):
        self.seconds = []

    def __enter__(self):
        def timed_build(*args, **kwargs):
            start = time.perf_counter()
            try:
                return self._original(*args, **kwargs)
            finally:
                self.seconds.append(time.perf_counter() - start)

        self._original = gf_model.build_model_frame
        gf_model.build_model_frame = timed_build
        return self

    def __exit__(self, *exc):
        gf_model.build_model_frame = self._original


def floor_ratio(frame, formula, family_name) -> float:
    """IRLS time / (iterations x one pass of X'WX, X'Wz, X beta)."""
    family = gf.family("gamma(link=log)" if family_name == "gamma" else family_name)
    model_frame = build_model_frame(formula, frame)
    response = family.initialize(model_frame.y, model_frame.weights)
    design = model_frame.design

    def fit_once():
        return irls(design, response.y, family, prior_weights=response.prior_weights, offset=model_frame.offset,
                    mustart=response.mustart)

    fit = fit_once()
    z, beta = fit.eta.copy(), np.nan_to_num(fit.params)
    fits, passes = [], []
    for _ in range(5):  # each side the best of five, taken in turn: neither is measured in a quieter moment
        gc.collect()
        start = time.perf_counter()
        fit_once()
        fits.append(time.perf_counter() - start)
        w = fit.working_weights.copy()  # a new array: no cached product can be reused
        start = time.perf_counter()
        design.gram_xtw(w, z)  # X'WX and X'Wz: one pass over the rows, as the engine asks for them
        design.dot(beta)
        passes.append(time.perf_counter() - start)
    return min(fits) / (fit.n_iter * min(passes))


def run_shape(shape: Shape, scale: float, repeats: int, libraries: list[str]) -> None:
    frame, formula = make_data(shape, scale)
    size = frame.memory_usage(deep=True).sum()
    print(f"\n{shape.name}: {shape.description} (rows used: {len(frame):,}; DataFrame {size / 2**20:.0f} MiB)")
    dummy_cells = len(frame) * (shape.numeric + sum(shape.categoricals.values()))
    results = {}
    if shape.note:
        print(f"  {shape.note}")
    chosen = [library for library in libraries if library == "glmformula" or library in shape.peers]
    if shape.family == "negative_binomial":
        chosen.append("glmformula poisson")
    for library in chosen:
        if library == "statsmodels" and dummy_cells > shape.statsmodels_limit_cells:
            print(f"  statsmodels: skipped ({dummy_cells / 1e6:.0f}M dense design cells; it cannot finish in "
                  "reasonable time or memory here)")
            continue
        function = LIBRARIES[library]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with DesignTimer() as design_timer:  # records glmformula's builds; the peers make none
                    seconds, fitted, times = timed(lambda f=function: f(frame, formula, shape.family), repeats,
                                                   all_times=True)
                if library == "glmformula":
                    # per call, and the median, as the time reported (the first call also parses the formula)
                    build_share = statistics.median(b / t for b, t in zip(design_timer.seconds, times))
                memory = peak_memory(lambda f=function: f(frame, formula, shape.family))
        except ImportError as exc:
            print(f"  {library}: not installed ({exc})")
            continue
        results[library] = (seconds, fitted)
        print(f"  {library:12s} {seconds:8.3f} s   peak traced memory {memory / size:5.2f} x DataFrame")
    ours = results.get("glmformula")
    if ours is None:
        return
    for peer in ("statsmodels", "glum", "pyfixest", "glmformula poisson"):
        if peer in results:
            print(f"  ratio glmformula / {peer}: {ours[0] / results[peer][0]:.3f}")
    if "pyfixest" in results:
        theirs_params, theirs_se = results["pyfixest"][1][:2]
        names = theirs_params.index
        params_gap = np.max(np.abs(ours[1][0][names].to_numpy() / theirs_params.to_numpy() - 1))
        se_gap = np.max(np.abs(ours[1][1][names].to_numpy() / theirs_se.to_numpy() - 1))
        print(f"  pyfixest's {len(names)} numeric coefficients: largest relative difference from ours "
              f"{params_gap:.1e}, standard errors {se_gap:.1e}")
    if "statsmodels" in results:
        ours_params = ours[1][0]
        theirs = results["statsmodels"][1][0].rename(index={"Intercept": "Intercept"})
        common = ours_params.index.intersection(theirs.index)
        a, b = ours_params[common].to_numpy(), theirs[common].to_numpy()
        print(f"  max relative coefficient difference from statsmodels ({len(common)} matched by name): "
              f"{np.max(np.abs(a - b) / np.abs(b)):.2e} at each library's default tolerance")
        if np.max(np.abs(a - b) / np.abs(b)) > 1e-8:
            print(f"  ... and {tight_difference(frame, formula, shape.family):.2e} with both converged to 1e-12")
    if shape.family not in ("poisson", "binomial", "gamma") or shape.rhs:
        print(f"  design building: {100 * build_share:.0f}% of the total")
        return
    floor = floor_ratio(frame, formula, shape.family)
    print(f"  floor ratio (IRLS time / (iterations x one pass)): {floor:.2f}; "
          f"design building: {100 * build_share:.0f}% of the total")


def run_latency(fits: int, libraries: list[str]) -> None:
    rng = np.random.default_rng(5)
    frames = []
    for _ in range(fits):
        frame = pd.DataFrame({f"x{i}": rng.normal(size=1000) for i in range(8)})
        frame["g"] = rng.choice(list("abcde"), 1000)
        frame["y"] = rng.poisson(np.exp(0.2 * frame.x0)).astype(float)
        frames.append(frame)
    warm_up = frames[0].copy()
    formula = "y ~ " + " + ".join(f"x{i}" for i in range(8)) + " + g"
    print(f"\nS5: latency, {fits} separate fits of n = 1,000 (8 numeric, a 5-level categorical, Poisson), "
          "formula + fit + summary text, after one warm-up fit per library")
    per_fit = {}
    for library in libraries:
        if library == "glum":
            continue  # glum has no summary table; S5 compares the formula-to-summary path
        if library == "glmformula":
            def fit_and_print(frame):
                str(gf.glm(formula, frame, "poisson").summary())
        else:
            import statsmodels.api as sm
            import statsmodels.formula.api as smf

            def fit_and_print(frame):
                str(smf.glm(formula, frame, family=sm.families.Poisson()).fit().summary())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit_and_print(warm_up)  # imports and first-call costs are paid once per process, not per fit
            start = time.perf_counter()
            for frame in frames:
                fit_and_print(frame)
        per_fit[library] = (time.perf_counter() - start) / fits
        print(f"  {library:12s} {1000 * per_fit[library]:7.2f} ms per fit")
    if "statsmodels" in per_fit:
        print(f"  ratio glmformula / statsmodels: {per_fit['glmformula'] / per_fit['statsmodels']:.3f}")


def run_path(scale: float, repeats: int, libraries: list[str]) -> None:
    """The lasso path of S3 (100 lambdas, glmnet's grid) with glmformula and glum on the same lambdas."""
    from glmformula.penalized.models import lambda_grid, prepare

    frame, formula = make_data(SHAPES["S3"], scale)
    print(f"\nS3 path: the lasso path of S3 over 100 lambdas (rows used: {len(frame):,})")
    alphas = lambda_grid(prepare(formula, frame, "binomial"), 1.0, 100, None)
    results = {}
    if "glmformula" in libraries:
        results["glmformula"] = timed(lambda: gf.glm_path(formula, frame, "binomial", penalty="l1", alphas=alphas),
                                      repeats)
    if "glum" in libraries:
        try:
            from glum import GeneralizedLinearRegressor
        except ImportError as exc:
            print(f"  glum: not installed ({exc})")
        else:
            def glum_path():
                model = GeneralizedLinearRegressor(formula=formula, family="binomial", alpha_search=True,
                                                   alphas=alphas, l1_ratio=1.0, scale_predictors=True)
                return model.fit(frame)

            results["glum"] = timed(glum_path, repeats)
    for library, (seconds, _) in results.items():
        print(f"  {library:12s} {seconds:8.3f} s")
    if len(results) == 2:
        ours, glum_model = results["glmformula"][1], results["glum"][1]
        print(f"  ratio glmformula / glum: {results['glmformula'][0] / results['glum'][0]:.3f}")
        last = ours.drop(columns=["Intercept", "deviance"]).iloc[-1].to_numpy()
        print(f"  largest difference of the last lambda's coefficients from glum's: "
              f"{np.max(np.abs(last - glum_model.coef_)):.2e} (largest coefficient {np.max(np.abs(last)):.2e})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", default="S1,S2,S3,S4,S5,S3path")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of each shape's rows")
    parser.add_argument("--libraries", default="glmformula,statsmodels,glum,pyfixest")
    args = parser.parse_args()
    libraries = args.libraries.split(",")
    import platform

    print(f"machine: {platform.machine()}, {platform.processor() or 'cpu'}; numpy {np.__version__}; "
          f"pandas {pd.__version__}; glmformula {gf.__version__}")
    for name in args.shapes.split(","):
        if name == "S5":
            run_latency(max(10, int(1000 * args.scale)), libraries)
        elif name == "S3path":
            run_path(args.scale, args.repeats, libraries)
        else:
            run_shape(SHAPES[name], args.scale, args.repeats, libraries)


if __name__ == "__main__":
    main()
