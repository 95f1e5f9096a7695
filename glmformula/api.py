"""``gf.glm``, the front door: it only chooses the fitter.

A penalised fit (``penalty=``) goes to ``glmformula.penalized``, a Dask
DataFrame to ``glmformula.distributed`` (map-reduce IRLS over its partitions),
and everything else to the in-memory fitter ``glmformula.model.fit_glm``.
The fitters never import this module or one another.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from glmformula.distributed.dask_glm import glm_dask
from glmformula.distributed.detect import is_dask_dataframe
from glmformula.distributed.results import DaskGLMResults
from glmformula.engine.irls import IRLSControl
from glmformula.exceptions import DataError
from glmformula.families.base import Family
from glmformula.formula.frame import ArrayOrColumn, NaAction
from glmformula.model import check_options, fit_glm
from glmformula.penalized import PenalizedResults, glm_penalized
from glmformula.results.glm_results import GLMResults


def glm(
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
    verbose: bool = False,
    penalty: str | None = None,
    alpha: float = 1.0,
    l1_ratio: float | None = None,
    penalty_factor: dict[str, float] | None = None,
    lambda_: float | None = None,
) -> GLMResults | DaskGLMResults | PenalizedResults:
    """Fit a generalized linear model from an R-style formula.

    ``data`` may also be a Dask DataFrame: the fit then runs as map-reduce IRLS over
    its partitions (see ``glmformula.distributed``) and returns a ``DaskGLMResults``.

    Parameters
    ----------
    formula : str
        ``"response ~ terms"`` with R's vocabulary: ``offset(expr)``,
        ``cbind(successes, failures)``, ``factor(x)`` or ``C(x)``, ``I(x^2)``,
        ``a*b``, ``a:b``, ``a/b``, ``(a+b)^2``, ``poly``, ``bs``, ``cr``, ``.``, ``-1``.
    data : pandas.DataFrame
        The data (never modified); a Dask DataFrame is fitted by map-reduce IRLS.
    family : str or Family, default "gaussian"
        A name (``"poisson"``), an R-style call (``"binomial(link='probit')"``)
        or a ``Family`` object (``gf.family("negative_binomial", theta=2)``).
    weights : str or array_like, optional
        Prior weights, a column name or an array (binomial: the number of trials
        of a proportion response).
    offset : str or array_like, optional
        A column name or an array added to the linear predictor.
    exposure : str or array_like, optional
        A column name or an array; ``log(exposure)`` is added to the linear
        predictor (log link only).
    freq_weights : str or array_like, optional
        statsmodels' frequency weights: row i counts as ``freq_weights[i]``
        identical observations.  The fit is that of the data with each row repeated:
        the same estimates and standard errors, and ``nobs``, ``df_resid``, the
        dispersion, ``llf``, AIC and BIC of the expanded data (see ``glmformula.weighting``).
    var_weights : str or array_like, optional
        statsmodels' variance weights, Var(y_i) = phi V(mu_i) / v_i: R's prior
        ``weights`` under statsmodels' name (multiplied with ``weights`` when both are given).
    subset : str or array_like of bool, optional
        The rows to fit, as R's ``subset``: a boolean mask over the data's rows or an
        expression on its columns (``"service > 0"``, ``"Sex == 'F'"``), evaluated by the
        formula interpreter; rows where it is missing are left out.  ``weights``,
        ``offset`` and ``exposure`` arrays are for all the data's rows.  ``n_dropped``
        counts only the rows of the subset dropped for missing values.
    na_action : {"drop", "raise"}, default "drop"
        Drop rows with missing values (counted in the result) or refuse them.
    scale : float or {"pearson", "deviance"}, optional
        The dispersion.  By default the family's own, as R's ``summary``: 1 for
        poisson, binomial and negative binomial (``glm.nb``'s), the Pearson estimate
        for the others.  ``"pearson"`` or ``"deviance"`` estimates it for every family
        (with t tests; R's ``summary(glm(f, family = negative.binomial(1)))`` uses the
        Pearson estimate); a number fixes it.
    start : numpy.ndarray, optional
        Starting coefficients, one per design column.
    tol : float, default 1e-8
        IRLS convergence tolerance on the relative change of the deviance
        (R's ``glm.control(epsilon)``).
    maxiter : int, default 25
        IRLS iteration limit (R's ``glm.control(maxit)``).
    control : IRLSControl, optional
        All the IRLS settings at once, in place of ``tol`` and ``maxiter``.
    cov_type : {"nonrobust", "HC0", "HC1", "HC2", "HC3", "cluster"}, default "nonrobust"
        The covariance of the estimates; ``res.with_cov()`` switches later.
    cluster : str or array_like, optional
        With ``cov_type="cluster"``: a column name or an array of group labels.
    trusted : bool, default False
        Evaluate arbitrary Python in the formula (only for formulas you wrote).
    verbose : bool, default False
        Report progress (iteration, deviance, elapsed time) of fits on Dask data.
    penalty : {"l1", "l2", "elasticnet"}, optional
        Fit a penalised GLM (lasso, ridge or elastic net) with glmnet's objective
        (see ``glmformula.penalized``).
    alpha : float, default 1.0
        The penalty weight, glmnet's **lambda** (scikit-learn's and glum's name
        ``alpha``); not glmnet's ``alpha``, which is ``l1_ratio`` here.
    l1_ratio : float, optional
        The elastic-net mixing in [0, 1], glmnet's ``alpha``: 1 is the lasso, 0 ridge.
    penalty_factor : dict of str to float, optional
        Relative penalty per term, as glmnet's ``penalty.factor`` (0: unpenalised).
    lambda_ : float, optional
        glmnet's name for the penalty weight: the same parameter as ``alpha`` (give one of them).

    Returns
    -------
    GLMResults
        A ``DaskGLMResults`` for Dask data, a ``PenalizedResults`` with ``penalty``.
    """
    if freq_weights is not None or var_weights is not None:
        if penalty is not None or is_dask_dataframe(data):
            raise DataError("freq_weights= and var_weights= are for in-memory, unpenalised fits; "
                            "pass the product as weights= for a penalised fit")
    if subset is not None and (penalty is not None or is_dask_dataframe(data)):
        raise DataError("subset= is for in-memory, unpenalised fits; select the rows of the data first "
                        "(data[mask], or ddf[mask] for Dask data)")
    if penalty is not None:
        return glm_penalized(formula, data, family, penalty=penalty,
                             alpha=None if lambda_ is not None and alpha == 1.0 else alpha, lambda_=lambda_,
                             l1_ratio=l1_ratio,
                             penalty_factor=penalty_factor, weights=weights, offset=offset, exposure=exposure,
                             na_action=na_action)
    if is_dask_dataframe(data):
        family = check_options(family, exposure, scale)
        return glm_dask(formula, data, family, weights=weights, offset=offset, exposure=exposure,
                        na_action=na_action, control=control or IRLSControl(tol=tol, maxiter=maxiter),
                        verbose=verbose)
    return fit_glm(formula, data, family, weights=weights, offset=offset, exposure=exposure,
                   freq_weights=freq_weights, var_weights=var_weights, subset=subset, na_action=na_action,
                   scale=scale, start=start, tol=tol, maxiter=maxiter, control=control, cov_type=cov_type,
                   cluster=cluster, trusted=trusted)
