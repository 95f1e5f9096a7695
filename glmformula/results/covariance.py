"""Covariance matrices of GLM estimates: model-based, heteroskedasticity-robust, clustered.

With A = (X'WX)^{-1} (working weights W of the last IRLS step) and the score
contributions s_i = x_i w_i r_i (r_i the working residual), the sandwich is

    V = A (sum_i omega_i s_i s_i') A,

where omega_i is 1 (HC0), n / (n - k) (HC1), 1 / (1 - h_i) (HC2) or
1 / (1 - h_i)^2 (HC3), h_i the hat values; these are R's
``sandwich::vcovHC(fit, type)``.  The clustered version sums the scores within
the G clusters first and multiplies by G / (G - 1), which is what
``sandwich::vcovCL`` does by default on a glm (type "HC0" with the cluster
adjustment); its type "HC1" (the default only for lm) multiplies by (n - 1) / (n - k)
as well.  Clustering on several variables (``cluster=["firm", "year"]``) is
``vcovCL(cluster = ~ firm + year)`` (Cameron, Gelbach and Miller 2011): the meat of
every non-empty set S of the variables, clustered on their intersection, each with its
own G_S / (G_S - 1), added with sign (-1)^(|S| + 1):

    meat = meat(firm) + meat(year) - meat(firm x year).

With frequency weights f_i the sandwich is that of the data with row i repeated f_i
times: the scores of a row's copies are s_i / f_i each, n is sum f_i, and the hat value
of each copy h_i / f_i.
"""

from __future__ import annotations

import itertools
from typing import Literal

import numpy as np
import pandas as pd

from glmformula.exceptions import DataError

CovType = Literal["nonrobust", "HC0", "HC1", "HC2", "HC3", "cluster"]
COV_TYPES = ("nonrobust", "HC0", "HC1", "HC2", "HC3", "cluster")
ClusterType = Literal["HC0", "HC1"]
CLUSTER_TYPES = ("HC0", "HC1")


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
    *,
    cluster_type: ClusterType = "HC0",
    freq_weights: np.ndarray | None = None,
) -> np.ndarray:
    """Robust covariance (see the module docstring); NaN rows/columns stay NaN (aliased).

    HC0 and HC1 need only X' diag(s^2) X, which any design computes as a weighted
    cross-product; HC2, HC3 and clusters work on the dense matrix.  ``cluster`` is
    (n,) labels, or (n, m) for clustering on m variables.
    """
    kept = ~np.isnan(np.diag(cov_unscaled))
    A = cov_unscaled[np.ix_(kept, kept)]
    score_weights = working_weights * working_residuals
    copies = np.ones(design.shape[0]) if freq_weights is None else np.where(freq_weights > 0, freq_weights, 1.0)
    n, k = (design.shape[0] if freq_weights is None else float(np.sum(freq_weights))), int(kept.sum())
    if cov_type in ("HC0", "HC1"):
        meat = design.gram(score_weights**2 / copies)[np.ix_(kept, kept)]
        if cov_type == "HC1":
            meat *= n / (n - k)
        out = np.full_like(cov_unscaled, np.nan)
        out[np.ix_(kept, kept)] = A @ meat @ A
        return out
    design_matrix = design.to_dense()
    X = design_matrix[:, kept]
    scores = X * score_weights[:, None]
    if cov_type == "cluster":
        meat = _multiway_meat(scores, cluster)
        if cluster_type == "HC1":
            meat *= (n - 1) / (n - k)
    else:
        if cov_type in ("HC2", "HC3"):
            h = hat_values(design_matrix, working_weights, cov_unscaled) / copies
            with np.errstate(divide="ignore"):
                omega = 1 / (1 - h) if cov_type == "HC2" else 1 / (1 - h) ** 2
        else:
            omega = np.ones(len(copies))
        meat = scores.T @ (scores * (omega / copies)[:, None])
    out = np.full_like(cov_unscaled, np.nan)
    out[np.ix_(kept, kept)] = A @ meat @ A
    return out


def _multiway_meat(scores: np.ndarray, cluster: np.ndarray | None) -> np.ndarray:
    """sum over the non-empty sets S of cluster variables of (-1)^(|S|+1) G_S / (G_S - 1) meat(S)."""
    if cluster is None:
        raise DataError("cov_type='cluster' needs cluster= (a column name or an array of group labels)")
    labels = np.asarray(cluster, dtype=object)
    labels = labels.reshape(len(labels), -1)
    codes = np.column_stack([_cluster_codes(labels[:, j]) for j in range(labels.shape[1])])
    meat = np.zeros((scores.shape[1], scores.shape[1]))
    for size in range(1, codes.shape[1] + 1):
        for variables in itertools.combinations(range(codes.shape[1]), size):
            _, groups = np.unique(codes[:, variables], axis=0, return_inverse=True)
            part, count = _cluster_meat(scores, groups.ravel())
            meat += (-1) ** (size + 1) * count / (count - 1) * part
    return meat


def _cluster_codes(labels: np.ndarray) -> np.ndarray:
    codes, uniques = pd.factorize(pd.Series(labels), use_na_sentinel=True)
    if (codes < 0).any():
        raise DataError(f"cluster has {int((codes < 0).sum())} missing label(s); every row needs a cluster")
    if len(uniques) < 2:
        raise DataError("cluster-robust covariance needs at least two clusters")
    return codes


def _cluster_meat(scores: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, int]:
    """sum over the G clusters of (sum of the cluster's scores)(...)', and G."""
    groups = int(codes.max()) + 1
    summed = np.column_stack(
        [np.bincount(codes, weights=scores[:, j], minlength=groups) for j in range(scores.shape[1])]
    )
    return summed.T @ summed, groups


def validate_cov_type(cov_type: str) -> None:
    if cov_type not in COV_TYPES:
        raise DataError(f"cov_type must be one of {', '.join(COV_TYPES)}; got {cov_type!r}")


def validate_cluster_type(cluster_type: str) -> None:
    if cluster_type not in CLUSTER_TYPES:
        raise DataError(f"the cluster covariance type must be 'HC0' (sandwich::vcovCL's default on a glm) or "
                        f"'HC1'; got {cluster_type!r}")
