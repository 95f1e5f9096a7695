"""GLMs on Dask DataFrames: map-reduce IRLS over partitions, the same iterations as in memory.

1. What the whole data decide is learned first (``learning``): the levels of every categorical
   and text column the formula uses (each partition is then cast to them, so every partition is
   encoded with the same columns), and the state of stateful transforms (``bs``, ``poly``,
   ``scale``, ...), learned from the complete rows of the whole data and replayed per partition.
2. Each partition's design is built once by the in-memory block builder (codes, never dummies)
   and kept on its worker when the data are in memory, or rebuilt at each pass when they are read
   from files (``executor``).
3. Each IRLS iteration is one pass: every partition computes, at the current coefficients, its
   deviance and its X'WX and X'Wz with the in-memory engine's pass (``partition.point``); the sums
   are added on the workers and the driver solves (block elimination around a large categorical,
   as in memory).  The pass at beta_k gives deviance(beta_k) for the convergence test and the step
   to beta_{k+1}, so the iterates, the convergence test (R's) and step-halving are those of the
   in-memory engine (``engine.irls.run_irls``).
4. A last pass collects what the results need: Pearson statistics, the log-likelihood, and the null
   deviance (``NullDeviance``: ``engine.null_deviance.null_model``'s rule, in closed form under a log
   link), whose sums ride on the fit's first and last passes.
   The negative binomial with theta estimated alternates as ``glm.nb`` (``distributed.negbin``).

Only sums of size p x p at most travel between workers and the driver.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd

from glmformula.distributed import partition as ops
from glmformula.distributed.executor import partitions_for
from glmformula.distributed.fitting import DaskFit, DaskFitter, fit_model
from glmformula.distributed.learning import (
    learn_levels,
    learn_transform_state,
    stateful_factors,
    used_columns,
)
from glmformula.distributed.negbin import fit_negative_binomial
from glmformula.distributed.partition import PartitionModel
from glmformula.engine.irls import IRLSControl
from glmformula.engine.null_deviance import null_model
from glmformula.exceptions import DataError, RankDeficiencyWarning
from glmformula.families.base import Family
from glmformula.families.standard import Binomial, NegativeBinomial
from glmformula.formula.frame import build_model_frame, categorical_sources

logger = logging.getLogger("glmformula")


def glm_dask(formula, ddf, family: Family, *, weights=None, offset=None, exposure=None, na_action="drop",
             control: IRLSControl, verbose: bool = False, cache: bool | None = None):
    """Fit a GLM to a Dask DataFrame (see the module doc); ``cache`` keeps each partition's design between
    passes (default: when the data are in memory, persisted or from pandas, rather than read from files)."""
    from glmformula.distributed.results import DaskGLMResults

    model, frame = _partition_model(formula, ddf, family, weights, offset, exposure, na_action)
    used = used_columns(formula, list(ddf.columns), weights, offset, exposure)
    partitions = partitions_for(ddf if used is None else ddf[used], model, cache)
    fitter = DaskFitter(model, partitions, control, verbose)
    try:
        null_model_fit = NullDeviance(fitter, frame, family)
        if isinstance(family, NegativeBinomial) and family.theta is None:
            fit = fit_negative_binomial(fitter)
        else:
            fit = fit_model(fitter, family)
        _warn_aliased(fit.outcome.aliased, frame.column_names)
        null = null_model_fit.deviance(fit)
    finally:
        partitions.close()
    return DaskGLMResults(formula=formula, family=fit.family, column_names=frame.column_names, beta=fit.beta,
                          aliased=fit.outcome.aliased, covariance=fit.outcome.solve.unscaled_covariance(),
                          final=fit.final, null_deviance=null, n_iter=fit.outcome.n_iter,
                          converged=fit.outcome.converged, has_intercept=frame.has_intercept,
                          response_name=frame.response_name, spec=model.replay or frame.spec,
                          passes=fitter.passes, theta=fit.theta)


def _partition_model(formula, ddf, family, weights, offset, exposure, na_action):
    """(``PartitionModel``, the model frame of the first rows): the levels of the categoricals and the state
    of stateful transforms learned from the whole data (``learning``)."""
    for name, value in (("weights", weights), ("offset", offset), ("exposure", exposure)):
        if value is not None and not isinstance(value, str):
            raise DataError(f"with Dask data, {name}= must be a column name")
    head = _head(ddf)
    arguments = {"weights": weights, "offset": offset, "exposure": exposure, "na_action": na_action,
                 "categorical_response": isinstance(family, Binomial), "drop_unused_levels": False}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = build_model_frame(formula, head, **arguments)
    used = used_columns(formula, list(head.columns), weights, offset, exposure) or list(head.columns)
    text_columns = [c for c in used if isinstance(head[c].dtype, pd.CategoricalDtype)
                    or pd.api.types.is_string_dtype(head[c].dtype) or head[c].dtype.kind == "O"]
    sources = list(categorical_sources(first.spec.model_spec, list(head.columns)))
    levels = learn_levels(ddf, sorted(set(sources) | set(text_columns)))
    for column, column_levels in levels.items():
        head[column] = pd.Categorical(head[column], categories=column_levels)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = build_model_frame(formula, head, **arguments)
    replay = learn_transform_state(ddf, frame.spec, used, arguments) if stateful_factors(frame.spec) else None
    return PartitionModel(formula, levels, weights, offset, exposure, na_action, family, frame.column_names,
                          replay), frame


def _head(ddf, rows: int = 200):
    """The first ``rows`` rows (from as few partitions as hold them)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        head = ddf.head(rows, npartitions=1)
        if len(head) < rows and ddf.npartitions > 1:
            head = ddf.head(rows, npartitions=-1)
    if len(head) == 0:
        raise DataError("the Dask DataFrame has no rows")
    return head


def _warn_aliased(aliased: np.ndarray, names: list[str]) -> None:
    if aliased.any():
        warnings.warn(f"the design is rank deficient: {', '.join(np.array(names)[aliased])} aliased",
                      RankDeficiencyWarning, stacklevel=4)


class NullDeviance:
    """R's null model (``engine.null_deviance.null_model``) by distributed passes, as the in-memory fitter
    finds it: the deviance at the weighted mean, at mu = linkinv(offset) (NaN when those means are not valid
    for the family, as R's), or of the intercept-only fit
    beside an offset, in closed form under a log link on a variance mu^p.  Its sums ride on the fit's own
    passes: the exposure sums of the closed form on the first, the null deviance on the pass of the final
    summaries (``DaskFitter.attach``).  Only an intercept-only fit without a closed form takes passes of
    its own: IRLS from the full fit's means (``glm.nb``: from the family's starting means)."""

    def __init__(self, fitter: DaskFitter, frame, family: Family):
        self.fitter, self.has_intercept = fitter, frame.has_intercept
        self.intercept = np.zeros(len(frame.column_names), dtype=bool)
        if frame.has_intercept:
            self.intercept[frame.spec.term_slices["1"]] = True
        self.power = family.variance_power if family.link.name == "log" else None
        if self.has_intercept and self.power is not None:
            fitter.attach("exposure", ops.exposure_sums, power=self.power)
        fitter.before_final = self._attach

    def _attach(self, family: Family, state: dict) -> None:
        """Put the null deviance on the pass of the final summaries (``family``: that pass's)."""
        kind = null_model(self.has_intercept, state["has_offset"])
        if kind == "offset":
            self.fitter.attach("null", ops.deviance_at, family=family, mu=None)
        elif kind == "mean":
            self.fitter.attach("null", ops.deviance_at, family=family, mu=state["sum_wy"] / state["sum_w"])
        elif family.variance_power == self.power and (log_rate := self._log_rate()) is not None:
            self.fitter.attach("null", ops.deviance_at_rate, family=family, log_rate=log_rate)

    def _log_rate(self) -> float | None:
        """log exp(b) = log sum w y exp((1-p) offset) - log sum w exp((2-p) offset) (None: not finite)."""
        if "exposure" not in self.fitter.attached:
            return None
        shift, first, second, _, _ = self.fitter.attached["exposure"]["exposure"]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            log_rate = np.log(first) - np.log(second) - shift
        return float(log_rate) if np.isfinite(log_rate) else None

    def deviance(self, fit: DaskFit) -> float:
        """The null deviance of ``fit`` (after its final summaries)."""
        kind = null_model(self.has_intercept, fit.final["has_offset"])
        null = self.fitter.attached.get("null")
        if null is not None and (null["valid"] or kind != "intercept fit"):  # not valid there: IRLS decides
            return _null_deviance_of(null, kind)
        family = fit.null_family if fit.theta is not None and kind == "intercept fit" else fit.family
        if kind == "offset":
            return _null_deviance_of(self.fitter.run(ops.deviance_at, family=family, mu=None), kind)
        if kind == "mean":
            return self.fitter.run(ops.deviance_at, family=family,
                                   mu=fit.final["sum_wy"] / fit.final["sum_w"])["deviance"]
        sums = self.fitter.attached.get("exposure") or self.fitter.run(ops.exposure_sums, power=0.0)
        rate = sums["sum_wy"] / sums["sum_w_exposure"]
        if family.link.name == "log" and np.isfinite(rate) and rate > 0:
            start = ("rate", rate)
        else:
            start = ("initialize",) if fit.theta is not None else ("fitted", fit.beta, None)
        _, outcome, _ = self.fitter.irls(family, start, keep=self.intercept, label="null model")
        return outcome.deviance


def _null_deviance_of(sums: dict, kind: str) -> float:
    """The null deviance from ``deviance_at``'s sums: NaN for the "offset" model when mu = linkinv(offset) is
    not valid for the family (as ``engine.null_deviance.null_deviance``: gamma's inverse link at eta = 0)."""
    if kind == "offset" and not sums["valid"]:
        return float("nan")
    return sums["deviance"]
