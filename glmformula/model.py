"""``glm()``: the public entry point that wires formula, family, engine and results."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from glmformula.design.dense import DenseDesign
from glmformula.distributed.dask_glm import glm_dask, is_dask_dataframe
from glmformula.engine.irls import IRLSControl, irls
from glmformula.engine.negbin import fit_negative_binomial
from glmformula.exceptions import (
    ConvergenceWarning,
    DataError,
    FamilyError,
    FitError,
    PerfectSeparationWarning,
    RankDeficiencyWarning,
    ResponseError,
)
from glmformula.families.base import Family
from glmformula.families.ranges import weighted_sum
from glmformula.families.registry import get_family
from glmformula.families.standard import Binomial, NegativeBinomial
from glmformula.formula.frame import ArrayOrColumn, NaAction, build_model_frame
from glmformula.results.glm_results import FitCall, GLMResults, ModelData


def glm(
    formula: str,
    data: Any,
    family: str | Family = "gaussian",
    *,
    weights: ArrayOrColumn = None,
    offset: ArrayOrColumn = None,
    exposure: ArrayOrColumn = None,
    na_action: NaAction = "drop",
    scale: float | str = "pearson",
    start: np.ndarray | None = None,
    tol: float = 1e-8,
    maxiter: int = 25,
    control: IRLSControl | None = None,
    cov_type: str = "nonrobust",
    cluster: Any = None,
    trusted: bool = False,
    verbose: bool = False,
    penalty: str | None = None,
    alpha: float = 1.0,
    l1_ratio: float | None = None,
    penalty_factor: dict[str, float] | None = None,
) -> GLMResults:
    """Fit a generalized linear model from an R-style formula.

    ``data`` may also be a Dask DataFrame: the fit then runs as map-reduce IRLS over
    its partitions (see ``glmformula.distributed``) and returns a ``DaskGLMResults``.

    Parameters
    ----------
    formula : ``"response ~ terms"``, with R's vocabulary: ``offset(expr)``,
        ``cbind(successes, failures)``, ``factor(x)``/``C(x)``, ``I(x^2)``,
        ``a*b``, ``a:b``, ``a/b``, ``(a+b)^2``, ``poly``, ``bs``, ``cr``, ``.``, ``-1``.
    data : pandas DataFrame (never modified).
    family : a name (``"poisson"``), an R-style call (``"binomial(link='probit')"``)
        or a ``Family`` object.
    weights : prior weights, a column name or an array (binomial: trials for
        a proportion response).
    offset, exposure : a column name or an array; ``exposure`` adds log(exposure)
        to the linear predictor and needs the log link.
    na_action : ``"drop"`` rows with missing values (counted in the result) or ``"raise"``.
    scale : dispersion for families that estimate it: ``"pearson"`` (default, as R),
        ``"deviance"`` or a number.
    start : starting coefficients, one per design column.
    tol, maxiter : IRLS convergence tolerance and iteration limit (R's defaults),
        or pass a complete ``control``.
    cov_type : "nonrobust" (default), "HC0"-"HC3" or "cluster" (with ``cluster=`` a
        column name or array of group labels); ``res.with_cov()`` switches later.
    trusted : evaluate arbitrary Python in the formula (only for formulas you wrote).
    verbose : report progress (iteration, deviance, elapsed time) of fits on Dask data.
    penalty, alpha, l1_ratio, penalty_factor : a penalised fit ("l1", "l2" or "elasticnet")
        at lambda = ``alpha``, glmnet's objective (see ``glmformula.penalized``).
    """
    if penalty is not None:
        from glmformula.penalized import glm_penalized

        return glm_penalized(formula, data, family, penalty=penalty, alpha=alpha, l1_ratio=l1_ratio,
                             penalty_factor=penalty_factor, weights=weights, offset=offset, exposure=exposure,
                             na_action=na_action)
    family = get_family(family)
    if exposure is not None and family.link.name != "log":
        raise DataError(f"exposure= needs the log link; the {family.name} family here uses {family.link.name}")
    _check_scale(scale)
    control = control or IRLSControl(tol=tol, maxiter=maxiter)
    if is_dask_dataframe(data):
        if isinstance(family, NegativeBinomial) and family.theta is None:
            raise FamilyError(
                "with Dask data, give the negative binomial's theta: gf.family('negative_binomial', theta=...)"
            )
        return glm_dask(formula, data, family, weights=weights, offset=offset, exposure=exposure,
                        na_action=na_action, control=control, verbose=verbose)
    frame = build_model_frame(
        formula, data, weights=weights, offset=offset, exposure=exposure, na_action=na_action,
        categorical_response=isinstance(family, Binomial), trusted=trusted,
    )
    try:
        response = family.initialize(frame.y, frame.weights)
    except ResponseError as exc:
        raise ResponseError(f"response {frame.response_name!r}: {exc}") from None
    design = frame.design
    if design.shape[1] == 0:
        raise FitError(f"formula {formula!r} has no terms and no intercept: there is nothing to estimate")
    theta = loglik = None
    null_family = family
    if isinstance(family, NegativeBinomial) and family.theta is None:
        negbin = fit_negative_binomial(
            design, response.y, link=family.link, prior_weights=response.prior_weights, offset=frame.offset,
            mustart=response.mustart, control=control,
        )
        fit, family, theta, loglik = negbin.fit, negbin.family, negbin.theta, negbin.loglik
        null_family = NegativeBinomial(family.link, theta=theta.theta)  # glm.nb: the final theta
    else:
        fit = irls(
            design, response.y, family, prior_weights=response.prior_weights, offset=frame.offset,
            mustart=response.mustart, control=control, start=start,
        )
    if fit.aliased.any():
        names = [name for name, flag in zip(frame.column_names, fit.aliased) if flag]
        warnings.warn(
            f"the design is rank deficient: {', '.join(names)} aliased (linearly dependent on earlier "
            "columns); their coefficients are NaN and the degrees of freedom use the rank",
            RankDeficiencyWarning,
            stacklevel=2,
        )
    _warn_separation(family, fit, frame.column_names)
    model_data = ModelData(
        y=response.y, prior_weights=response.prior_weights, n_trials=response.n_trials,
        offset=frame.offset, row_labels=frame.row_labels, n_dropped=frame.n_dropped,
        response_name=frame.response_name, column_names=frame.column_names, spec=frame.spec,
        has_intercept=frame.has_intercept, has_offset=frame.has_offset, design=design,
    )
    if theta is None:
        null_dev = null_deviance(model_data, family, control, mustart=fit.mu, log_y=fit.log_y)
    elif model_data.has_offset and model_data.has_intercept:
        null_dev = null_deviance(model_data, null_family, control, mustart=None)
    else:
        null_dev = null_deviance(model_data, family, control, mustart=None)
    call = FitCall(data=data, weights=weights, offset=offset, exposure=exposure, na_action=na_action,
                   control=control, trusted=trusted)
    results = GLMResults(formula, family, model_data, fit, null_dev, call=call, scale=scale, cov_type=cov_type,
                         cluster=cluster, theta=theta, loglik=loglik)
    if not family.dispersion_fixed and results.df_resid > 0 and not results.scale > 0:
        warnings.warn(
            f"the estimated dispersion is {results.scale:g} (a perfect fit, or a response too small to square in "
            "double precision): standard errors are 0 or undefined; rescale the response",
            ConvergenceWarning,
            stacklevel=2,
        )
    return results


def null_deviance(data: ModelData, family: Family, control: IRLSControl, mustart: np.ndarray | None,
                  log_y: np.ndarray | None = None) -> float:
    """Deviance of the intercept-only model with the same offset and weights (as R).

    Without an offset the intercept-only fit is the weighted mean of y.  With an
    offset and a log link on a variance mu^p it has a closed form: the score
    equation sum w (y - mu) mu^(1-p) = 0 with mu = exp(b + offset) gives

        exp(b) = sum w y exp((1 - p) offset) / sum w exp((2 - p) offset),

    the optimum R's IRLS converges to.  Otherwise it needs its own IRLS, started
    (as R's ``glm``) from the full model's fitted values, or from the family's
    starting values (as ``glm.nb``).  ``log_y`` is log(y) when the full fit took it.
    """
    y, weights = data.y, data.prior_weights
    if not data.has_intercept:
        return family.deviance(y, family.link.inverse(data.offset), weights)
    if not data.has_offset:
        return _deviance_at_constant_mean(family, y, weights, weighted_sum(weights, y) / np.sum(weights), log_y)
    power = family.variance_power
    if family.link.name == "log" and power is not None:
        shift = np.max(data.offset)  # exp((k - p) (offset - max)) cannot overflow for k - p >= 0

        def sum_over_exposure(values: np.ndarray | None, exponent: float) -> float:
            """sum w values exp(exponent (offset - shift)) (values None: 1), without the exponential
            when exponent = 0."""
            scaled = weights if values is None else weights * values
            if exponent == 0:
                return float(np.sum(scaled))
            return weighted_sum(scaled, np.exp(exponent * (data.offset - shift)))

        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            log_rate = np.log(sum_over_exposure(y, 1 - power)) - np.log(sum_over_exposure(None, 2 - power)) - shift
            eta = log_rate + data.offset
            mu = family.link.inverse(eta)
        if np.isfinite(log_rate) and family.valid_mu(mu):
            return family.deviance_function(y, weights, log_y=log_y)(eta, mu)
    intercept = DenseDesign(np.ones((len(y), 1)), ["Intercept"])
    exposure = np.exp(data.offset)
    rate = np.sum(weights * y) / np.sum(weights * exposure)
    if family.link.name == "log" and np.isfinite(rate) and rate > 0:
        # the intercept-only log-linear fit with an offset has mu = exp(offset) * rate: start at the
        # weighted-mean rate (exact for poisson), which saves most of R's iterations from the full fit
        mustart = exposure * rate
    elif mustart is None:
        mustart = family.initialize(y, weights).mustart
    fit = irls(intercept, y, family, prior_weights=weights, offset=data.offset, mustart=mustart, control=control)
    return fit.deviance


#: Rows per chunk of ``_deviance_at_constant_mean``.
_CONSTANT_MEAN_ROWS = 1 << 17


def _deviance_at_constant_mean(family: Family, y: np.ndarray, weights: np.ndarray, mean: float,
                               log_y: np.ndarray | None) -> float:
    """The deviance at mu = ``mean`` for every row, by row chunks: no constant array the data's length is
    written.  With ``log_y`` (a log-link fit took it) the one-pass log-link deviance, with eta = log(mean)."""
    size = min(len(y), _CONSTANT_MEAN_ROWS)
    mu = np.full(size, mean)
    one_pass = log_y is not None and mean > 0
    eta = np.full(size, np.log(mean)) if one_pass else None
    total = 0.0
    for start in range(0, len(y), _CONSTANT_MEAN_ROWS):
        rows = slice(start, start + _CONSTANT_MEAN_ROWS)
        count = len(y[rows])
        if one_pass:
            deviance_at = family.deviance_function(y[rows], weights[rows], log_y=log_y[rows])
            total += deviance_at(eta[:count], mu[:count])
        else:
            total += family.deviance(y[rows], mu[:count], weights[rows])
    return total


def _check_scale(scale: float | str) -> None:
    if isinstance(scale, str):
        if scale not in ("pearson", "deviance"):
            raise DataError(f"scale must be 'pearson', 'deviance' or a positive number, got {scale!r}")
    elif isinstance(scale, bool) or not isinstance(scale, (int, float)) or not scale > 0:
        raise DataError(f"scale must be 'pearson', 'deviance' or a positive number, got {scale!r}")


def _warn_separation(family: Family, fit, names: list[str]) -> None:
    """Name the terms behind fitted values on the boundary (perfect or quasi-separation).

    Under separation the likelihood keeps rising as some coefficients run off to
    infinity; IRLS stops with those estimates large and their standard errors
    huge.  The coefficients whose standard error exceeds 10 on the link scale (or
    whose estimate exceeds 15 in absolute value) are the ones named.
    """
    if family.boundary_message(fit.mu) is None:
        return
    se = fit.se_unscaled
    suspects = [name for name, b, s in zip(names, fit.params, se) if np.isfinite(b) and (s > 10 or abs(b) > 15)]
    if suspects:
        warnings.warn(
            f"separation: the fit is driven to the boundary by {', '.join(suspects)} (estimates diverging, "
            "standard errors huge); consider removing or regrouping those terms, or a penalized fit",
            PerfectSeparationWarning,
            stacklevel=3,
        )
