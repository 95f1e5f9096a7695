"""R's ``predict(fit, type = "terms")``: each term's contribution to the linear predictor.

With x̄ the column means of the fitted model's design (every row of the fit, as R's
``colMeans(model.matrix(fit))``) and a model with an intercept, term t's column is

    (x - x̄)_t' beta_t                     (centred: each term averages 0 over the fit)

and ``constant`` = x̄' beta, so that the sum of the columns plus the constant plus the
offset is the linear predictor.  Without an intercept the terms are not centred and the
constant is 0.  Aliased coefficients count as 0.  Standard errors (``se=True``) are
sqrt((x - x̄)_t' V_tt (x - x̄)_t) with V ``cov_params()`` (R: the model-based V).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from glmformula.formula.frame import ArrayOrColumn
from glmformula.results.prediction import design_rows

if TYPE_CHECKING:
    from glmformula.results.glm_results import GLMResults


@dataclass(frozen=True)
class TermsPrediction:
    """R's ``predict(type = "terms", se.fit = TRUE)``: ``fit`` and ``se_fit`` (one column per term) and the
    ``constant`` that the centred terms leave out."""

    fit: pd.DataFrame
    se_fit: pd.DataFrame
    constant: float


def predict_terms(results: GLMResults, newdata: Any = None, se: bool = False, offset: ArrayOrColumn = None,
                  exposure: ArrayOrColumn = None) -> pd.DataFrame | TermsPrediction:
    """The terms frame (``attrs["constant"]`` holds the constant), or with ``se=True`` a ``TermsPrediction``."""
    data = results.model_data
    design, _, index, unseen_rows = design_rows(results, newdata, offset, exposure)
    fitted = data.design.to_dense()
    X = fitted if newdata is None else design.to_dense()
    beta = np.nan_to_num(results.params.to_numpy())
    constant = 0.0
    if data.has_intercept:
        means = fitted.mean(axis=0)
        constant = float(means @ beta)
        X = X - means
    covariance = np.nan_to_num(results.cov_params().to_numpy()) if se else None
    fits, errors = {}, {}
    for name, columns in results.term_slices.items():
        if name == "1":
            continue
        block = X[:, columns]
        fits[name] = block @ beta[columns]
        if se:
            errors[name] = np.sqrt(np.einsum("ij,jk,ik->i", block, covariance[columns, columns], block))
    fit = pd.DataFrame(fits, index=index)
    fit.loc[unseen_rows, :] = np.nan
    fit.attrs["constant"] = constant
    if not se:
        return fit
    se_fit = pd.DataFrame(errors, index=index)
    se_fit.loc[unseen_rows, :] = np.nan
    return TermsPrediction(fit, se_fit, constant)
