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
from glmformula.exceptions import FamilyError
from glmformula.families.base import Family
from glmformula.families.standard import NegativeBinomial
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
) -> GLMResults | DaskGLMResults | PenalizedResults:
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
        return glm_penalized(formula, data, family, penalty=penalty, alpha=alpha, l1_ratio=l1_ratio,
                             penalty_factor=penalty_factor, weights=weights, offset=offset, exposure=exposure,
                             na_action=na_action)
    if is_dask_dataframe(data):
        family = check_options(family, exposure, scale)
        if isinstance(family, NegativeBinomial) and family.theta is None:
            raise FamilyError(
                "with Dask data, give the negative binomial's theta: gf.family('negative_binomial', theta=...)"
            )
        return glm_dask(formula, data, family, weights=weights, offset=offset, exposure=exposure,
                        na_action=na_action, control=control or IRLSControl(tol=tol, maxiter=maxiter),
                        verbose=verbose)
    return fit_glm(formula, data, family, weights=weights, offset=offset, exposure=exposure, na_action=na_action,
                   scale=scale, start=start, tol=tol, maxiter=maxiter, control=control, cov_type=cov_type,
                   cluster=cluster, trusted=trusted)
