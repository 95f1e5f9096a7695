"""Influence measures of a GLM with R's definitions (``influence.measures`` on a glm).

With h_i the hat values (working weights of the final IRLS step), r_D and r_P
the deviance and Pearson residuals, phi the dispersion and p the rank:

    rstandard_i = r_D,i / sqrt(phi (1 - h_i))
    cooks_i     = (r_P,i / (1 - h_i))^2 h_i / (phi p)
    rstudent_i  = sign(r_D,i) sqrt(r_D,i^2 + h_i r_P,i^2 / (1 - h_i)) / sigma_(i)
                  (sigma_(i) = 1 for poisson and binomial)
    sigma_(i)^2 = (sum r_D^2 - r_D,i^2 / (1 - h_i)) / (df_resid - 1)
    dfbetas_ij  = Delta_ij / (sigma_(i) sqrt([(X'WX)^{-1}]_jj))

where Delta_i = (X'WX)^{-1} x_i sqrt(w_i) r_D,i / (1 - h_i) is the
one-step change in the coefficients when row i is left out (R's
``lm.influence`` on the weighted least squares fit).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from glmformula.results.covariance import hat_values

if TYPE_CHECKING:
    from glmformula.results.glm_results import GLMResults


def influence(results: GLMResults) -> pd.DataFrame:
    fit, data = results._fit, results.model_data
    X = data.design.to_dense()
    h = hat_values(X, fit.working_weights, fit.cov_unscaled)
    deviance_resid = results.resid("deviance").to_numpy()
    pearson_resid = results.resid("pearson").to_numpy()
    phi = results.scale
    used = data.prior_weights > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        one_minus_h = 1 - h
        rstandard = deviance_resid / np.sqrt(phi * one_minus_h)
        cooks = (pearson_resid / one_minus_h) ** 2 * h / (phi * results.rank)
        sigma = np.sqrt(
            (np.sum(deviance_resid[used] ** 2) - deviance_resid**2 / one_minus_h) / (results.df_resid - 1)
        )
        rstudent = np.sign(deviance_resid) * np.sqrt(deviance_resid**2 + h * pearson_resid**2 / one_minus_h)
        rstudent[np.isinf(rstudent)] = np.nan
        if results.family.dispersion_fixed and results.family.name in ("poisson", "binomial"):
            studentise = np.ones_like(sigma)
        else:
            studentise = sigma
        rstudent = rstudent / studentise

        kept = ~np.isnan(np.diag(fit.cov_unscaled))
        A = fit.cov_unscaled[np.ix_(kept, kept)]
        change = (X[:, kept] @ A) * (np.sqrt(fit.working_weights) * deviance_resid / one_minus_h)[:, None]
        dfbetas = change / np.outer(sigma, np.sqrt(np.diag(A)))
    frame = pd.DataFrame(
        {"hat": h, "cooks_distance": cooks, "rstandard": rstandard, "rstudent": rstudent, "sigma": sigma},
        index=data.row_labels,
    )
    names = [name for name, keep in zip(results.params.index, kept) if keep]
    for j, name in enumerate(names):
        frame[f"dfbetas_{name}"] = dfbetas[:, j]
    frame.loc[~used, :] = np.nan
    return frame
