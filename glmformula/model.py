"""``fit_glm()``: the in-memory fitter that wires formula, family, engine and results.

``gf.glm`` (``glmformula.api``) hands every fit here except penalised ones and
fits on Dask data; this module knows of neither.
"""

from __future__ import annotations

import warnings
from dataclasses import fields as dataclass_fields
from dataclasses import replace
from typing import Any

import numpy as np

from glmformula import weighting
from glmformula.design.dense import DenseDesign
from glmformula.engine.irls import FitState, IRLSControl, irls
from glmformula.engine.negbin import fit_negative_binomial
from glmformula.engine.null_deviance import null_deviance
from glmformula.exceptions import (
    ConvergenceWarning,
    DataError,
    FitError,
    PerfectSeparationWarning,
    RankDeficiencyWarning,
    ResponseError,
)
from glmformula.families.base import Family
from glmformula.families.registry import get_family
from glmformula.families.standard import Binomial, NegativeBinomial
from glmformula.formula.frame import ArrayOrColumn, NaAction, build_model_frame
from glmformula.results.glm_results import FitCall, GLMResults, ModelData


def check_options(family: str | Family, exposure: ArrayOrColumn, scale: float | str | None) -> Family:
    """The family of a fit (a name, call string or ``Family``), after the checks every GLM fit makes first,
    in memory or on Dask: ``exposure=`` needs the log link, and ``scale`` is None, an option or a positive
    number."""
    family = get_family(family)
    if exposure is not None and family.link.name != "log":
        raise DataError(f"exposure= needs the log link; the {family.name} family here uses {family.link.name}")
    _check_scale(scale)
    return family


def fit_glm(
    formula: str,
    data: Any,
    family: str | Family = "gaussian",
    *,
    weights: ArrayOrColumn = None,
    offset: ArrayOrColumn = None,
    exposure: ArrayOrColumn = None,
    freq_weights: ArrayOrColumn = None,
    var_weights: ArrayOrColumn = None,
    subset: Any = None,
    na_action: NaAction = "drop",
    scale: float | str | None = None,
    start: np.ndarray | None = None,
    tol: float = 1e-8,
    maxiter: int = 25,
    control: IRLSControl | None = None,
    cov_type: str = "nonrobust",
    cluster: Any = None,
    trusted: bool = False,
) -> GLMResults:
    """Fit a GLM to a pandas DataFrame by IRLS: ``gf.glm`` without its penalised and Dask fits (see
    ``glmformula.api.glm`` for the arguments)."""
    arguments = {name: value for name, value in locals().items() if name not in ("formula", "data")}
    family = check_options(family, exposure, scale)
    control = control or IRLSControl(tol=tol, maxiter=maxiter)
    combined = weighting.combine_weights(data, weights, var_weights, freq_weights)
    frame = build_model_frame(
        formula, data, weights=combined.prior, offset=offset, exposure=exposure, na_action=na_action,
        categorical_response=isinstance(family, Binomial), trusted=trusted, subset=subset,
    )
    freq = weighting.freq_of_rows(combined.freq, data, frame.row_labels)
    try:
        response = weighting.initialize(family, frame.y, frame.weights, freq)
    except ResponseError as exc:
        raise ResponseError(f"response {frame.response_name!r}: {exc}") from None
    design = frame.design
    if design.n_columns == 0:
        raise FitError(f"formula {formula!r} has no terms and no intercept: there is nothing to estimate")
    theta = loglik = None
    null_family = family
    if isinstance(family, NegativeBinomial) and family.theta is None:
        negbin = fit_negative_binomial(
            design, response.y, link=family.link, prior_weights=response.prior_weights, offset=frame.offset,
            control=control,
        )
        fit, family, theta, loglik = negbin.fit, negbin.family, negbin.theta, negbin.loglik
        del negbin  # its fit is ``fit``, whose log y is released below
        null_family = NegativeBinomial(family.link, theta=theta.theta)  # glm.nb: the final theta
    else:
        fit = irls(
            design, response.y, family, prior_weights=response.prior_weights, offset=frame.offset,
            mustart=response.mustart, control=control, start=start, overwrite_mustart=True,
        )
        response = replace(response, mustart=None)  # overwritten by the fit: not to be read again
    if fit.aliased.any():
        names = [name for name, flag in zip(frame.column_names, fit.aliased) if flag]
        warnings.warn(
            f"the design is rank deficient: {', '.join(names)} aliased (linearly dependent on earlier "
            "columns); their coefficients are NaN and the degrees of freedom use the rank",
            RankDeficiencyWarning,
            stacklevel=3,  # the caller of gf.glm
        )
    _warn_separation(fit, frame.column_names)
    model_data = ModelData(
        y=response.y, prior_weights=response.prior_weights, n_trials=response.n_trials,
        offset=frame.offset, row_labels=frame.row_labels, n_dropped=frame.n_dropped,
        response_name=frame.response_name, column_names=frame.column_names, spec=frame.spec,
        has_intercept=frame.has_intercept, has_offset=frame.has_offset, design=design, freq_weights=freq,
    )
    null_dev = _null_deviance(model_data, family, null_family, fit, control, theta_estimated=theta is not None)
    fit = _released(fit, "log_y")  # read by the null deviance only
    call = FitCall(data=data, weights=combined.prior, offset=offset, exposure=exposure, na_action=na_action,
                   control=control, trusted=trusted, arguments=arguments, fitter=fit_glm)
    results = GLMResults(formula, family, model_data, fit, null_dev, call=call, scale=scale, cov_type=cov_type,
                         cluster=cluster, theta=theta, loglik=loglik)
    if not family.dispersion_fixed and results.df_resid > 0 and not results.scale > 0:
        warnings.warn(
            f"the estimated dispersion is {results.scale:g} (a perfect fit, or a response too small to square in "
            "double precision): standard errors are 0 or undefined; rescale the response",
            ConvergenceWarning,
            stacklevel=3,
        )
    return results


def _null_deviance(data: ModelData, family: Family, null_family: Family, fit: FitState, control: IRLSControl,
                   theta_estimated: bool) -> float:
    """The null deviance as R computes it: its IRLS (when it needs one) starts from the full fit's means, or
    for ``glm.nb`` (theta estimated) from the family's starting values, with the final theta when the model
    has an offset and an intercept."""
    if not theta_estimated:
        return null_deviance(data, family, control, mustart=fit.mu, log_y=fit.log_y,
                             intercept_design=_intercept_design)
    if data.has_offset and data.has_intercept:
        return null_deviance(data, null_family, control, mustart=None, intercept_design=_intercept_design)
    return null_deviance(data, family, control, mustart=None, intercept_design=_intercept_design)


def _released(fit: FitState, name: str) -> FitState:
    """The fit with its array ``name`` (one of the data's length) set to None, for the results not to hold it
    (``log_y`` once the null deviance has read it).  Values the fit computed already (its cached covariance or
    standard errors) are kept."""
    if getattr(fit, name) is None:
        return fit
    lighter = replace(fit, **{name: None})
    fields = {field.name for field in dataclass_fields(fit)}
    lighter.__dict__.update({key: value for key, value in vars(fit).items() if key not in fields})
    return lighter


def _intercept_design(n: int) -> DenseDesign:
    """The intercept-only design: one column of ones for n rows."""
    return DenseDesign(np.ones((n, 1)), ["Intercept"])


def _check_scale(scale: float | str | None) -> None:
    if scale is None:
        return
    if isinstance(scale, str):
        if scale not in ("pearson", "deviance"):
            raise DataError(f"scale must be None (the family's own), 'pearson', 'deviance' or a positive number, "
                            f"got {scale!r}")
    elif isinstance(scale, bool) or not isinstance(scale, (int, float)) or not scale > 0:
        raise DataError(f"scale must be None (the family's own), 'pearson', 'deviance' or a positive number, "
                        f"got {scale!r}")


def _warn_separation(fit: FitState, names: list[str]) -> None:
    """Name the terms behind fitted values on the boundary (perfect or quasi-separation).

    Under separation the likelihood keeps rising as some coefficients run off to
    infinity; IRLS stops with those estimates large and their standard errors
    huge.  The coefficients whose standard error exceeds 10 on the link scale (or
    whose estimate exceeds 15 in absolute value) are the ones named.  Whether fitted values sit on the
    boundary is the fit's own finding (``FitState.boundary_message``): no second pass over mu.
    """
    if fit.boundary_message is None:
        return
    se = fit.se_unscaled
    suspects = [name for name, b, s in zip(names, fit.params, se) if np.isfinite(b) and (s > 10 or abs(b) > 15)]
    if suspects:
        warnings.warn(
            f"separation: the fit is driven to the boundary by {', '.join(suspects)} (estimates diverging, "
            "standard errors huge); consider removing or regrouping those terms, or a penalized fit",
            PerfectSeparationWarning,
            stacklevel=4,  # the caller of gf.glm
        )
