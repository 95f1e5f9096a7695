"""``zeroinfl()`` and ``hurdle()``: two-part count models fitted by maximum likelihood (as R's pscl).

``"y ~ x1 + x2 | z1 + z2"``: the count part uses x1, x2 (log link), the zero
part z1, z2 (logit link by default); ``| 1`` is a constant zero part; without
``|`` both parts use the same regressors; ``offset()`` may appear on either side of it.
Both parts are built on the designs ``glm()`` uses (a large factor stays as codes, no dummy
columns) and fitted by IRLS, EM and Newton (``count.fitting``); starting values come from a
Poisson GLM for the count part and a binomial GLM for the zero part, as pscl does.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd

from glmformula.count.distributions import get_distribution
from glmformula.count.fitting import fit_hurdle, fit_zeroinfl
from glmformula.count.likelihoods import TwoPartData
from glmformula.count.results import CountModelResults, TwoPartSpec
from glmformula.design.categorical import CategoricalDesign
from glmformula.exceptions import DataError, ResponseError
from glmformula.families.registry import get_link
from glmformula.formula.frame import build_model_frame
from glmformula.formula.parse import split_bar

Dist = Literal["poisson", "negbin", "geometric"]


def zeroinfl(formula: str, data: Any, dist: Dist = "poisson", *, link: str = "logit", weights=None,
             offset=None, exposure=None, na_action: str = "drop",
             hessian_step: float | None = None) -> CountModelResults:
    """Zero-inflated count model: a point mass at zero (probability pi) mixed with a count distribution.

    P(Y = 0) = pi + (1 - pi) f(0),  P(Y = y) = (1 - pi) f(y) for y > 0;
    log E[count] = X beta, g(pi) = Z gamma, as pscl's ``zeroinfl``.

    Parameters
    ----------
    formula : str
        ``"count ~ x1 + x2 | z1 + z2"``: the count part left of ``|``, the zero part right
        of it (the same terms for both without ``|``; ``| 1`` for a constant).
    data : pandas.DataFrame
        The data.
    dist : {"poisson", "negbin", "geometric"}, default "poisson"
        The count distribution f.
    link : str, default "logit"
        The link g of the zero part's probability.
    weights : str or array_like, optional
        Case weights, a column name or an array.
    offset : str or array_like, optional
        An offset of the count part.
    exposure : str or array_like, optional
        ``log(exposure)`` added to the count part's linear predictor.
    na_action : {"drop", "raise"}, default "drop"
        Drop rows with missing values or refuse them.
    hessian_step : float, optional
        None (default): standard errors from the analytic observed information, exact to
        rounding.  A step (pscl: 1e-3) takes the Hessian as pscl does, by central differences
        of the score with that step, for bit-parity with pscl's standard errors (which are off
        by up to ~3e-4 relative for coefficients of covariates with a large range).

    Returns
    -------
    CountModelResults
    """
    return _fit("zeroinfl", formula, data, dist, link, weights, offset, exposure, na_action, hessian_step)


def hurdle(formula: str, data: Any, dist: Dist = "poisson", *, zero_dist: str = "binomial", link: str = "logit",
           weights=None, offset=None, exposure=None, na_action: str = "drop",
           hessian_step: float | None = None) -> CountModelResults:
    """Hurdle model: a binary model for y > 0 and a zero-truncated count model for the positive counts.

    P(Y = 0) = 1 - pi,  P(Y = y) = pi f(y) / (1 - f(0)) for y > 0;
    log E[count] = X beta, g(pi) = Z gamma, as pscl's ``hurdle``.

    Parameters
    ----------
    formula : str
        ``"count ~ x1 + x2 | z1 + z2"``: the count part left of ``|``, the zero part right
        of it (the same terms for both without ``|``; ``| 1`` for a constant).
    data : pandas.DataFrame
        The data.
    dist : {"poisson", "negbin", "geometric"}, default "poisson"
        The count distribution f.
    zero_dist : {"binomial"}, default "binomial"
        The model of the hurdle (only the binomial is available).
    link : str, default "logit"
        The link g of the zero part's probability.
    weights : str or array_like, optional
        Case weights, a column name or an array.
    offset : str or array_like, optional
        An offset of the count part.
    exposure : str or array_like, optional
        ``log(exposure)`` added to the count part's linear predictor.
    na_action : {"drop", "raise"}, default "drop"
        Drop rows with missing values or refuse them.
    hessian_step : float, optional
        None (default): standard errors from the analytic observed information, exact to
        rounding.  A step (pscl: 1e-3) takes the Hessian as pscl does, by central differences
        of the score with that step, for bit-parity with pscl's standard errors (which are off
        by up to ~3e-4 relative for coefficients of covariates with a large range).

    Returns
    -------
    CountModelResults
    """
    if zero_dist != "binomial":
        raise ResponseError(f"hurdle: zero_dist={zero_dist!r} is not available; use 'binomial'")
    return _fit("hurdle", formula, data, dist, link, weights, offset, exposure, na_action, hessian_step)


def _fit(kind, formula, data, dist_name, link_name, weights, offset, exposure, na_action,
         hessian_step) -> CountModelResults:
    dist, link = get_distribution(dist_name), get_link(link_name)
    count_formula, zero_formula = split_bar(formula)
    zero_formula = zero_formula or count_formula
    _check_hessian_step(hessian_step)
    count_frame, zero_frame = _frames(count_formula, zero_formula, data, weights, offset, exposure, na_action)
    y = _check_counts(count_frame.y, count_frame.response_name, kind)
    two_part = TwoPartData(y=y, X=count_frame.design, Z=zero_frame.design, offset_x=count_frame.offset,
                           offset_z=zero_frame.offset, weights=count_frame.weights)
    spec = TwoPartSpec(kind=kind, dist=dist, link=link, formula=formula, count_spec=count_frame.spec,
                       zero_spec=zero_frame.spec, count_names=count_frame.column_names,
                       zero_names=zero_frame.column_names)
    del zero_frame  # its response and weights repeat the count part's: not held during the fit
    likelihood, optimum = (fit_zeroinfl if kind == "zeroinfl" else fit_hurdle)(two_part, dist, link, hessian_step)
    return CountModelResults(spec, likelihood, optimum, row_labels=count_frame.row_labels,
                             n_dropped=count_frame.n_dropped, response_name=count_frame.response_name)


def _frames(count_formula, zero_formula, data, weights, offset, exposure, na_action):
    """Model frames of both parts on the same rows (those complete for both), each design's dense block with its
    intercept's 1s written out (the two-part passes read ``dense``; see ``_stored_intercept``)."""
    count, zero = _rows_in_common(count_formula, zero_formula, data, weights, offset, exposure, na_action)
    return _stored_intercept(count), _stored_intercept(zero)


def _stored_intercept(frame):
    from dataclasses import replace

    if isinstance(frame.design, CategoricalDesign):
        return replace(frame, design=frame.design.with_stored_intercept())
    return frame


def _rows_in_common(count_formula, zero_formula, data, weights, offset, exposure, na_action):
    count = build_model_frame(count_formula, data, weights=weights, offset=offset, exposure=exposure,
                              na_action=na_action)
    zero = build_model_frame(zero_formula, data, weights=weights, na_action=na_action)
    if count.row_labels.equals(zero.row_labels):
        return count, zero
    common = count.row_labels.intersection(zero.row_labels)
    subset = data.loc[common]
    weights = weights if weights is None or isinstance(weights, str) else pd.Series(weights, index=data.index)[common]
    count = build_model_frame(count_formula, subset, weights=weights, offset=offset, exposure=exposure)
    zero = build_model_frame(zero_formula, subset, weights=weights)
    dropped = len(data) - len(common)
    return (_with_dropped(count, dropped), _with_dropped(zero, dropped))


def _with_dropped(frame, dropped):
    from dataclasses import replace

    return replace(frame, n_dropped=dropped)


def _check_counts(y: np.ndarray, name: str, kind: str) -> np.ndarray:
    y = np.asarray(y, dtype=float)
    if y.ndim != 1:
        raise ResponseError(f"{kind}: the response must be a single count column, not cbind()")
    negative = int(np.count_nonzero(y < 0))
    fractional = int(np.count_nonzero(np.abs(y - np.round(y)) > 1e-8))
    if negative or fractional:
        raise ResponseError(
            f"{kind}: response {name!r} must hold counts (whole numbers >= 0); "
            f"{negative} row(s) are negative and {fractional} are not whole numbers"
        )
    if not np.any(y == 0):
        raise ResponseError(f"{kind}: response {name!r} has no zeros, so the zero part cannot be identified")
    if not np.any(y > 0):
        raise ResponseError(f"{kind}: response {name!r} is all zeros, so the count part cannot be identified")
    return y


def _check_hessian_step(hessian_step) -> None:
    if hessian_step is None:
        return
    if isinstance(hessian_step, bool) or not isinstance(hessian_step, (int, float)) or not (
            np.isfinite(hessian_step) and hessian_step > 0):
        raise DataError(f"hessian_step must be None (the analytic Hessian) or a positive step such as 1e-3 "
                        f"(pscl's finite differences), got {hessian_step!r}")
