"""Residuals of a fitted GLM: R's ``residuals.glm`` types and statsmodels' ``resid_*`` attributes.

With w_i the row's prior weight (R's ``weights`` times ``var_weights``; frequency weights
are not part of it, so a row's residual is that of each of its copies, as statsmodels'):

    response   y - mu
    working    (y - mu) / mu_eta(eta)          statsmodels: (y - mu) g'(mu), the same
    pearson    (y - mu) sqrt(w / V(mu))
    deviance   sign(y - mu) sqrt(w d(y, mu))
    anscombe   sqrt(w) (A(y) - A(mu)) / V(mu)^(1/6)
    partial    working + each term's centred contribution x_t' beta_t (a DataFrame)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from glmformula.results.glm_results import GLMResults, ModelData

ResidualType = Literal["deviance", "pearson", "working", "response", "anscombe", "partial"]


def row_weights(data: ModelData) -> np.ndarray:
    """Each row's own prior weight: the fit's prior weights without the frequency weights."""
    if data.freq_weights is None:
        return data.prior_weights
    freq = data.freq_weights
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(freq > 0, data.prior_weights / np.where(freq > 0, freq, 1.0), 0.0)


def residuals(results: GLMResults, type: ResidualType = "deviance") -> pd.Series | pd.DataFrame:  # noqa: A002
    """Residuals of the given type (see the module docstring)."""
    data, mu, family = results.model_data, results._fit.mu, results.family
    weights = row_weights(data)
    if type == "deviance":
        unit = family.deviance_residuals(data.y, mu, weights)
        values = np.sign(data.y - mu) * np.sqrt(np.maximum(unit, 0))
    elif type == "pearson":
        values = (data.y - mu) * np.sqrt(weights) / np.sqrt(family.variance(mu))
    elif type == "working":
        values = results._working_residuals()
    elif type == "response":
        values = data.y - mu
    elif type == "anscombe":
        values = np.sqrt(weights) * (family.anscombe(data.y) - family.anscombe(mu)) / family.variance(mu) ** (1 / 6)
    elif type == "partial":
        return partial_residuals(results)
    else:
        raise ValueError(
            f"unknown residual type {type!r}; choose deviance, pearson, working, response, anscombe or partial"
        )
    return pd.Series(values, index=data.row_labels, name=f"resid_{type}")


def partial_residuals(results: GLMResults) -> pd.DataFrame:
    """Working residuals plus each term's centred contribution (R's ``residuals(fit, "partial")``)."""
    X = results.model_data.design.to_dense()
    beta = np.nan_to_num(results.params.to_numpy())
    centred = X - X.mean(axis=0) if results.model_data.has_intercept else X
    working = results._working_residuals()
    columns = {}
    for name, columns_of_term in results.term_slices.items():
        if name != "1":
            columns[name] = working + centred[:, columns_of_term] @ beta[columns_of_term]
    return pd.DataFrame(columns, index=results.model_data.row_labels)
