"""Covariance matrices of GLM estimates: model-based, heteroskedasticity-robust, clustered.

With A = (X'WX)^{-1} (working weights W of the last IRLS step) and the score
contributions s_i = x_i w_i r_i (r_i the working residual), the sandwich is

    V = A (sum_i omega_i s_i s_i') A,

where omega_i is 1 (HC0), n / (n - k) (HC1), 1 / (1 - h_i) (HC2) or
1 / (1 - h_i)^2 (HC3), h_i the hat values; these are R's
``sandwich::vcovHC(fit, type)``.  The clustered version sums the scores within
the G clusters first and multiplies by G / (G - 1), which is what
``sandwich::vcovCL`` does by default on a glm (type "HC0" with the cluster
adjustment; the extra (n - 1) / (n - k) of "HC1" is its default only for lm).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from glmformula.exceptions import DataError

CovType = Literal["nonrobust", "HC0", "HC1", "HC2", "HC3", "cluster"]
COV_TYPES = ("nonrobust", "HC0", "HC1", "HC2", "HC3", "cluster")


def hat_values(design_matrix: np.ndarray, working_weights: np.ndarray, cov_unscaled: np.ndarray) -> np.ndarray:
    """Diagonal of W^{1/2} X (X'WX)^{-1} X' W^{1/2} over the estimable columns."""
    kept = ~np.isnan(np.diag(cov_unscaled))
    X = design_matrix[:, kept]
    A = cov_unscaled[np.ix_(kept, kept)]
    return working_weights * np.einsum("ij,jk,ik->i", X, A, X)


def sandwich(
    design,
    working_weights: np.ndarray,
    working_residuals: np.ndarray,
    cov_unscaled: np.ndarray,
    cov_type: CovType,
    cluster: np.ndarray | None = None,
) -> np.ndarray:
    """Robust covariance (see the module docstring); NaN rows/columns stay NaN (aliased).

    HC0 and HC1 need only X' diag(s^2) X, which any design computes as a weighted
    cross-product; HC2, HC3 and clusters work on the dense matrix.
    """
    kept = ~np.isnan(np.diag(cov_unscaled))
    A = cov_unscaled[np.ix_(kept, kept)]
    score_weights = working_weights * working_residuals
    n, k = design.shape[0], int(kept.sum())
    if cov_type in ("HC0", "HC1"):
        meat = design.gram(score_weights**2)[np.ix_(kept, kept)]
        if cov_type == "HC1":
            meat *= n / (n - k)
        out = np.full_like(cov_unscaled, np.nan)
        out[np.ix_(kept, kept)] = A @ meat @ A
        return out
    design_matrix = design.to_dense()
    X = design_matrix[:, kept]
    scores = X * score_weights[:, None]
    if cov_type == "cluster":
        meat, groups = _cluster_meat(scores, cluster)
        meat *= groups / (groups - 1)
    else:
        if cov_type in ("HC2", "HC3"):
            h = hat_values(design_matrix, working_weights, cov_unscaled)
            with np.errstate(divide="ignore"):
                omega = 1 / (1 - h) if cov_type == "HC2" else 1 / (1 - h) ** 2
        else:
            omega = np.ones(n)
        meat = scores.T @ (scores * omega[:, None])
    out = np.full_like(cov_unscaled, np.nan)
    out[np.ix_(kept, kept)] = A @ meat @ A
    return out


def _cluster_meat(scores: np.ndarray, cluster: np.ndarray | None) -> tuple[np.ndarray, int]:
    if cluster is None:
        raise DataError("cov_type='cluster' needs cluster= (a column name or an array of group labels)")
    codes, uniques = pd.factorize(pd.Series(cluster), use_na_sentinel=True)
    if (codes < 0).any():
        raise DataError(f"cluster has {int((codes < 0).sum())} missing label(s); every row needs a cluster")
    if len(uniques) < 2:
        raise DataError("cluster-robust covariance needs at least two clusters")
    summed = np.column_stack(
        [np.bincount(codes, weights=scores[:, j], minlength=len(uniques)) for j in range(scores.shape[1])]
    )
    return summed.T @ summed, len(uniques)


def validate_cov_type(cov_type: str) -> None:
    if cov_type not in COV_TYPES:
        raise DataError(f"cov_type must be one of {', '.join(COV_TYPES)}; got {cov_type!r}")
