"""GLMs on Dask DataFrames: map-reduce IRLS over partitions, the same iterations as in memory.

1. One pass learns the levels of every categorical the formula uses; each
   partition is then cast to those levels, so every partition is encoded with
   the same columns (the model spec is fixed).  Stateful transforms (poly, bs,
   center, ...) would learn from a single partition and are refused.
2. Each IRLS iteration is one pass: every partition computes, at the current
   coefficients, its deviance and its X'WX and X'Wz; the driver sums them and
   solves.  The pass at beta_k gives deviance(beta_k) for the convergence test
   and the step to beta_{k+1}, so the sequence of iterates, the convergence
   test (R's) and step-halving are those of the in-memory engine.
3. A last pass collects what the results need: Pearson statistics, the
   log-likelihood, the null deviance.

Only sums of size p x p travel between workers and the driver, so memory
stays bounded by one partition per worker.
"""

from __future__ import annotations

import logging
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd

from glmformula.engine.block_gram import BlockGram
from glmformula.engine.irls import IRLSControl, run_irls
from glmformula.engine.linalg import SolveResult, aliased_columns_from_gram, solve_normal_equations
from glmformula.engine.null_deviance import null_model
from glmformula.exceptions import DataError, FitError, FormulaError, RankDeficiencyWarning
from glmformula.families.base import Family
from glmformula.families.standard import Binomial
from glmformula.formula.frame import build_model_frame, categorical_sources

logger = logging.getLogger("glmformula")


@dataclass(frozen=True)
class PartitionModel:
    """How every partition is turned into arrays: the formula and the fixed categorical levels."""

    formula: str
    levels: dict[str, list]
    weights: str | None
    offset: str | None
    exposure: str | None
    na_action: str
    family: Family
    columns: list[str]

    def arrays(self, partition: pd.DataFrame):
        """(design, y, prior weights, offset, n_trials, mustart, rows dropped) of one partition: the design
        built as in memory (blocks of codes for categoricals and interactions, no dummy columns)."""
        if len(partition) == 0:
            return None
        partition = partition.copy()
        for column, levels in self.levels.items():
            partition[column] = pd.Categorical(partition[column], categories=levels)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frame = build_model_frame(self.formula, partition, weights=self.weights, offset=self.offset,
                                      exposure=self.exposure, na_action=self.na_action,
                                      categorical_response=isinstance(self.family, Binomial),
                                      drop_unused_levels=False)
            response = self.family.initialize(frame.y, frame.weights)
        if frame.column_names != self.columns:
            raise FormulaError("a partition was encoded with different columns; check the categorical levels")
        return (frame.design, response.y, response.prior_weights, frame.offset, response.n_trials,
                response.mustart, frame.n_dropped)


def _stats(arrays, family: Family, beta, beta_previous, keep, dispersion_for_loglik):
    """Per-partition pieces: deviance, X'WX, X'Wz at beta (or at mustart when beta is None), and summaries."""
    if arrays is None:
        return None
    design, y, weights, offset, n_trials, mustart, dropped = arrays
    X = design if keep.all() else design.select(keep)
    link = family.link
    with np.errstate(all="ignore"):
        eta = link.link(mustart) if beta is None else X.dot(beta) + offset
        mu = link.inverse(eta)
        deviance = family.deviance(y, mu, weights)
        valid = link.valid_eta(eta) and family.valid_mu(mu)
        mu_eta = link.mu_eta_at(eta, mu)
        good = (weights > 0) & (mu_eta != 0)
        z = np.where(good, eta - offset + (y - mu) / np.where(good, mu_eta, 1.0), 0.0)
        w = np.where(good, weights * mu_eta**2 / np.where(good, family.variance(mu), 1.0), 0.0)
    with np.errstate(over="ignore", invalid="ignore"):
        gram, xtw = X.gram_xtw(w, z)
    out = {"deviance": deviance, "valid": valid, "gram": gram.to_dense() if isinstance(gram, BlockGram) else gram,
           "xtw": xtw,
           "nobs": int(np.count_nonzero(weights)), "rows": len(y), "dropped": dropped,
           "sum_wy": float(np.sum(weights * y)), "sum_w": float(np.sum(weights)),
           "has_offset": bool(np.any(offset != 0)), "max_abs_y": float(np.max(np.abs(y))) if len(y) else 0.0}
    if beta_previous is not None:  # the fit's final summaries
        eta_previous = link.link(mustart) if isinstance(beta_previous, str) else X.dot(beta_previous) + offset
        mu_previous = link.inverse(eta_previous)
        mu_eta_previous = link.mu_eta_at(eta_previous, mu_previous)
        last_weights = weights * mu_eta_previous**2 / family.variance(mu_previous)
        working_residuals = (y - mu) / mu_eta
        used = last_weights > 0
        out["pearson_working"] = float(np.sum((last_weights * working_residuals**2)[used]))
        out["pearson_chi2"] = float(np.sum(weights * (y - mu) ** 2 / family.variance(mu)))
        out["loglik"] = family.loglik(y, mu, weights, n_trials, deviance, dispersion=dispersion_for_loglik)
    return out


class DaskFitter:
    """Drives the passes; ``run`` returns the pieces ``DaskGLMResults`` needs."""

    def __init__(self, model: PartitionModel, partitions, control: IRLSControl, verbose: bool):
        self.model, self.partitions, self.control, self.verbose = model, partitions, control, verbose
        self.passes = 0

    def _pass(self, beta=None, keep=None, beta_previous=None, dispersion_for_loglik=None, family=None):
        import dask

        family = family or self.model.family
        keep = np.ones(len(self.model.columns), dtype=bool) if keep is None else keep
        tasks = [dask.delayed(_partition_stats)(part, self.model, family, beta, beta_previous, keep,
                                                dispersion_for_loglik) for part in self.partitions]
        with _quiet_scheduler():
            results = [r for r in dask.compute(*tasks) if r is not None]
        self.passes += 1
        if not results:
            raise DataError("no rows left in any partition")
        total = {key: sum(r[key] for r in results) for key in results[0]
                 if key not in ("valid", "has_offset", "max_abs_y")}
        total["valid"] = all(r["valid"] for r in results)
        total["max_abs_y"] = max(r["max_abs_y"] for r in results)
        total["has_offset"] = any(r["has_offset"] for r in results)
        return total

    def irls(self, keep=None, family=None, label: str = "model"):
        """The engine's IRLS loop (``run_irls``) with every data pass distributed (``DaskPass``)."""
        data = DaskPass(self, keep, family or self.model.family)
        deviance = data.start()
        callback = self._progress(time.perf_counter(), label) if self.verbose else None
        control = IRLSControl(tol=self.control.tol, maxiter=self.control.maxiter, rank_tol=self.control.rank_tol,
                              callback=callback)
        outcome = run_irls(data, deviance, control)
        return data.coefficients(outcome.coefficients), outcome, data

    @staticmethod
    def _progress(began: float, label: str):
        """Progress of one IRLS sequence, labelled ("model", "null model"): a fit runs two."""
        def report(n_iter: int, deviance: float, elapsed: float) -> None:
            logger.info("%s, iteration %d: deviance %.10g (%.1f s)", label, n_iter, deviance, elapsed)
            print(f"{label}, iteration {n_iter}: deviance {deviance:.10g}, "
                  f"elapsed {time.perf_counter() - began:.1f} s")
        return report


class DaskPass:
    """The ``IRLSPass`` of a Dask fit: each point is one distributed pass that returns the deviance, the
    validity and X'WX, X'Wz summed over the partitions (the working response and weights never leave
    the workers).  Aliased columns stay in the partitions' designs with coefficient 0."""

    def __init__(self, fitter: DaskFitter, keep: np.ndarray | None, family: Family):
        self.fitter, self.family = fitter, family
        self.keep = np.ones(len(fitter.model.columns), dtype=bool) if keep is None else keep
        self.kept: np.ndarray | None = None  # of the keep columns, those not aliased
        self.state: dict = {}
        self.solve_gram: np.ndarray | None = None  # X'WX of the kept solve, for the covariance
        self.candidate_gram: np.ndarray | None = None

    def start(self) -> float:
        self.state = self.fitter._pass(keep=self.keep, family=self.family)
        if not self.state["valid"]:
            raise FitError(
                f"cannot find valid starting values for the {self.family.name} family with the "
                f"{self.family.link.name} link from the response (its starting means are outside the "
                "link's domain, e.g. y <= 0 with a log link); use another link")
        return self.state["deviance"]

    def working(self, n_iter: int) -> bool:
        return bool(np.any(np.diag(self.state["gram"]) > 0))

    def aliased(self, tol: float) -> np.ndarray:
        aliased = aliased_columns_from_gram(self.state["gram"], tol)
        self.kept = ~aliased
        return aliased

    def solve(self) -> SolveResult:
        kept = self.kept
        gram, xtw = self.state["gram"][np.ix_(kept, kept)], self.state["xtw"][kept]
        self.candidate_gram = gram
        return solve_normal_equations(gram, xtw)

    def reject(self) -> None:
        self.candidate_gram = None

    def move(self, coefficients: np.ndarray, *, generic: bool = False) -> tuple[float, bool]:
        if self.candidate_gram is not None:
            self.solve_gram, self.candidate_gram = self.candidate_gram, None
        self.state = self.fitter._pass(self.coefficients(coefficients), self.keep, family=self.family)
        return self.state["deviance"], self.state["valid"]

    def largest_response(self) -> float:
        return self.state["max_abs_y"]

    def coefficients(self, kept_coefficients: np.ndarray) -> np.ndarray:
        """The coefficients of every keep column: 0 where aliased."""
        full = np.zeros(int(np.sum(self.keep)))
        full[self.kept] = kept_coefficients
        return full


def _partition_stats(partition, model, family, beta, beta_previous, keep, dispersion_for_loglik):
    return _stats(model.arrays(partition), family, beta, beta_previous, keep, dispersion_for_loglik)


def learn_levels(ddf, columns: list[str]) -> dict[str, list]:
    """Sorted levels (or the known categories) of the given columns, in one pass over the data."""
    import dask

    known = {c: list(ddf[c].cat.categories) for c in columns
             if isinstance(ddf[c].dtype, pd.CategoricalDtype) and ddf[c].cat.known}
    unknown = [c for c in columns if c not in known]
    with _quiet_scheduler():
        uniques = dask.compute(*[ddf[c].dropna().unique() for c in unknown])
    for column, values in zip(unknown, uniques):
        known[column] = sorted(pd.unique(pd.Series(values)))
    return known


def glm_dask(formula, ddf, family: Family, *, weights=None, offset=None, exposure=None, na_action="drop",
             control: IRLSControl, verbose: bool = False):
    from glmformula.distributed.results import DaskGLMResults

    for name, value in (("weights", weights), ("offset", offset), ("exposure", exposure)):
        if value is not None and not isinstance(value, str):
            raise DataError(f"with Dask data, {name}= must be a column name")
    head = ddf.head(200, npartitions=-1)
    arguments = {"weights": weights, "offset": offset, "exposure": exposure, "na_action": na_action,
                 "categorical_response": isinstance(family, Binomial), "drop_unused_levels": False}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = build_model_frame(formula, head, **arguments)
    text_columns = [c for c in head.columns if isinstance(head[c].dtype, pd.CategoricalDtype)
                    or pd.api.types.is_string_dtype(head[c].dtype) or head[c].dtype.kind == "O"]
    used = list(categorical_sources(first.spec.model_spec, list(head.columns)))
    levels = learn_levels(ddf, sorted(set(used) | {c for c in text_columns if c in formula}))
    for column, column_levels in levels.items():
        head[column] = pd.Categorical(head[column], categories=column_levels)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = build_model_frame(formula, head, **arguments)
    if any(frame.spec.model_spec.transform_state.values()):
        raise FormulaError("stateful transforms (poly, bs, cr, center, scale, ...) are not supported with Dask "
                           "data: they would learn from one partition; compute those columns first")
    model = PartitionModel(formula, levels, weights, offset, exposure, na_action, family, frame.column_names)
    fitter = DaskFitter(model, ddf.to_delayed(), control, verbose)
    beta, outcome, data = fitter.irls()
    aliased, state = outcome.aliased, data.state
    beta_previous = None if outcome.previous is None else data.coefficients(outcome.previous)
    if aliased.any():
        warnings.warn(f"the design is rank deficient: {', '.join(np.array(frame.column_names)[aliased])} aliased",
                      RankDeficiencyWarning, stacklevel=3)
    dispersion = family.ml_dispersion(state["deviance"], state["nobs"], state["sum_w"])
    final = fitter._pass(beta, beta_previous=beta_previous if beta_previous is not None else "mustart",
                         dispersion_for_loglik=dispersion if np.isfinite(dispersion) else None)
    null = _null_deviance(fitter, frame, final)
    return DaskGLMResults(formula=formula, family=family, column_names=frame.column_names, beta=beta,
                          aliased=aliased, gram=data.solve_gram, final=final, null_deviance=null,
                          n_iter=outcome.n_iter, converged=outcome.converged, has_intercept=frame.has_intercept,
                          response_name=frame.response_name,
                          spec=frame.spec, passes=fitter.passes)


def _null_deviance(fitter: DaskFitter, frame, final) -> float:
    """R's null model (``engine.null_deviance.null_model``) by distributed passes: the intercept-only
    fit, when it is needed, through the same IRLS loop."""
    family = fitter.model.family
    kind = null_model(frame.has_intercept, final["has_offset"])
    if kind == "offset":
        keep = np.zeros(len(frame.column_names), dtype=bool)
        return fitter._pass(np.zeros(0), keep)["deviance"]
    if kind == "mean":
        mean = final["sum_wy"] / final["sum_w"]
        keep = _intercept_mask(frame)
        return fitter._pass(np.array([family.link.link(np.array([mean]))[0]]), keep)["deviance"]
    keep = _intercept_mask(frame)
    beta, _, _ = fitter.irls(keep=keep, label="null model")
    return fitter._pass(beta, keep)["deviance"]


def _intercept_mask(frame) -> np.ndarray:
    keep = np.zeros(len(frame.column_names), dtype=bool)
    keep[frame.spec.term_slices["1"]] = True
    return keep


@contextmanager
def _quiet_scheduler():
    """Dask's and distributed's own UserWarnings (shuffle and task-size notices, about the scheduler, not the
    model) are not shown to the user; the model's warnings are raised by the driver, outside this context."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module=r"(dask|distributed)(\.|$)")
        yield
