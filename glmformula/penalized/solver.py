"""Elastic-net penalized GLMs by IRLS with coordinate descent inside (glmnet's algorithm).

Objective, with prior weights w normalised to sum to 1 and predictors
standardised to weighted mean 0 and weighted (population) variance 1:

    D(beta0, beta) / 2  +  lambda * sum_j pf_j * ((1 - a) / 2 * beta_j^2 + a * |beta_j|)

where D / 2 is the deviance divided by 2 sum(w) (so -loglik / n for counts and
RSS / 2n for gaussian), a = l1_ratio, pf_j the penalty factors (rescaled to
sum to the number of penalised columns, as glmnet) and the intercept is not
penalised.  Outer loop: the quadratic (IRLS) approximation at the current
fit; inner loop: cyclic coordinate descent on the penalised weighted least
squares problem with the soft-threshold update

    beta_j <- S(sum_i v_i x_ij r_ij + u_j beta_j, lambda a pf_j) / (u_j + lambda (1 - a) pf_j),
    u_j = sum_i v_i x_ij^2,

over the active set first (glmnet's strategy), then all columns to confirm.
Coefficients are returned on the original scale of the predictors.

One glmnet convention is kept for the gaussian family: glmnet fits it with the
response scaled to unit standard deviation, which leaves the lasso term as
written but divides the ridge term by sd(y); glmformula does the same, so that
coefficients agree with glmnet's at the same lambda.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from glmformula.families.base import Family


@dataclass(frozen=True)
class Standardisation:
    """Weighted means and standard deviations of the penalised columns (intercept column excluded)."""

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def of(cls, X: np.ndarray, weights: np.ndarray, standardize: bool, intercept: bool) -> Standardisation:
        p = X.shape[1]
        mean = weights @ X if intercept else np.zeros(p)
        if not standardize:
            return cls(mean, np.ones(p))
        variance = weights @ (X - mean) ** 2 if intercept else weights @ X**2
        scale = np.sqrt(variance)
        return cls(mean, np.where(scale > 0, scale, 1.0))

    def apply(self, X: np.ndarray) -> np.ndarray:
        return (X - self.mean) / self.scale


@dataclass(frozen=True)
class PenalizedFit:
    intercept: float
    coefficients: np.ndarray  # original scale
    standardised: np.ndarray
    deviance: float
    n_iter: int
    converged: bool


_WORKSPACE: dict = {}


def _workspace(Z: np.ndarray) -> np.ndarray:
    """A reusable (n, p) Fortran buffer for V Z: a path refits the same shape a hundred times."""
    buffer = _WORKSPACE.get("buffer")
    if buffer is None or buffer.shape != Z.shape:
        buffer = np.empty(Z.shape, order="F")
        _WORKSPACE["buffer"] = buffer
    return buffer


def soft_threshold(value: float, threshold: float) -> float:
    """sign(v) max(|v| - t, 0); within 1e-12 (relative) of the threshold counts as 0, so that
    a coefficient on the boundary (at lambda_max, say) is exactly zero, not a rounding error."""
    excess = abs(value) - threshold
    return float(np.sign(value) * excess) if excess > 1e-12 * threshold else 0.0


def fit_penalized(Z: np.ndarray, y: np.ndarray, weights: np.ndarray, offset: np.ndarray, family: Family,
                  lam: float, l1_ratio: float, penalty_factor: np.ndarray, standardisation: Standardisation,
                  intercept: bool, start: tuple[float, np.ndarray] | None = None, tol: float = 1e-12,
                  maxiter: int = 200, max_inner: int = 100_000) -> PenalizedFit:
    """Minimise the objective of the module docstring for one lambda.

    ``Z`` holds the standardised penalised columns; ``weights`` are prior weights
    summing to 1; ``start`` (intercept, standardised coefficients) warm-starts a path.
    """
    link = family.link
    n, p = Z.shape
    beta0, beta = (start[0], start[1].copy()) if start is not None else (None, np.zeros(p))
    if beta0 is None:
        mean_y = np.sum(weights * y)
        beta0 = float(np.average(link.link(np.full(1, mean_y)) - offset, weights=weights)) if intercept else 0.0
    eta = beta0 + Z @ beta + offset
    mu = link.inverse(eta)
    deviance_old = family.deviance(y, mu, weights)
    converged = False
    l1, l2 = lam * l1_ratio * penalty_factor, lam * (1 - l1_ratio) * penalty_factor
    if family.name == "gaussian":  # glmnet's convention, see the module docstring
        centre = np.sum(weights * y) if intercept else 0.0
        l2 = l2 / np.sqrt(np.sum(weights * (y - centre) ** 2))
    for n_iter in range(1, maxiter + 1):  # noqa: B007 - reported after the loop
        mu_eta = link.mu_eta_at(eta, mu)
        v = weights * mu_eta**2 / family.variance(mu)
        z = eta - offset + (y - mu) / mu_eta
        weighted_residual = v * (z - (eta - offset))  # z - beta0 - Z beta, with eta from the last step
        weighted_columns = np.multiply(Z, v[:, None], out=_workspace(Z))
        u = np.einsum("ij,ij->j", Z, weighted_columns)
        beta0, beta = _coordinate_descent(Z, weighted_columns, v, u, weighted_residual, beta0, beta, l1, l2,
                                          intercept, max_inner, threshold=tol)
        eta = beta0 + Z @ beta + offset
        mu = link.inverse(eta)
        deviance = family.deviance(y, mu, weights)
        objective_change = abs(deviance - deviance_old) / (abs(deviance) + 0.1)
        deviance_old = deviance
        if objective_change < tol:
            converged = True
            break
    coefficients = beta / standardisation.scale
    intercept_value = beta0 - coefficients @ standardisation.mean if intercept else 0.0
    return PenalizedFit(float(intercept_value), coefficients, beta, float(deviance), n_iter, converged)


def _coordinate_descent(Z, weighted_columns, v, u, weighted_residual, beta0, beta, l1, l2, intercept: bool,
                        max_inner: int, threshold: float = 1e-12):
    """Cyclic coordinate descent on the penalised weighted least squares problem.

    Works on the weighted residual v * r, so that a coordinate's gradient is one dot
    product and its update one in-place axpy (BLAS).  As glmnet: sweep the active set
    to convergence, then all columns; stop when a full sweep changes nothing.
    """
    from scipy.linalg import blas

    p = len(beta)
    sum_v = v.sum()
    state = {"beta0": beta0}
    ddot, daxpy = blas.ddot, blas.daxpy
    u_list, l1_list, l2_list = u.tolist(), l1.tolist(), l2.tolist()
    root_u = np.sqrt(u).tolist()

    def sweep(columns) -> float:
        largest = 0.0
        if intercept:
            shift = weighted_residual.sum() / sum_v
            state["beta0"] += shift
            blas.daxpy(v, weighted_residual, a=-shift)
            largest = abs(shift) * np.sqrt(sum_v)
        for j in columns:
            old = beta[j]
            denominator = u_list[j] + l2_list[j]
            if denominator <= 0:
                continue
            gradient = ddot(Z[:, j], weighted_residual) + u_list[j] * old
            new = soft_threshold(gradient, l1_list[j]) / denominator
            if new != old:
                daxpy(weighted_columns[:, j], weighted_residual, a=old - new)
                beta[j] = new
                change = abs(new - old) * root_u[j]
                if change > largest:
                    largest = change
        return largest

    stop = threshold * 0.1  # on the change of a coefficient times its column's weighted norm
    for _ in range(max_inner):
        if sweep(range(p)) < stop:
            break
        for _ in range(max_inner):
            if sweep(np.flatnonzero(beta != 0)) < stop:
                break
    return state["beta0"], beta


def lambda_max(Z: np.ndarray, y: np.ndarray, weights: np.ndarray, offset: np.ndarray, family: Family,
               l1_ratio: float, penalty_factor: np.ndarray, intercept: bool) -> float:
    """The smallest lambda with every penalised coefficient 0 (glmnet's start of the path)."""
    link = family.link
    if intercept:
        null = fit_penalized(np.zeros((len(y), 0)), y, weights, offset, family, 0.0, 1.0, np.zeros(0),
                             Standardisation(np.zeros(0), np.ones(0)), True)
        eta = null.intercept + offset
    else:
        eta = offset.copy()
    mu = link.inverse(eta)
    score = Z.T @ (weights * (y - mu) * link.mu_eta_at(eta, mu) / family.variance(mu))
    ratio = max(l1_ratio, 1e-3)  # glmnet's floor for ridge paths
    with np.errstate(divide="ignore"):
        per_column = np.abs(score) / np.where(penalty_factor > 0, penalty_factor, np.inf)
    return float(per_column.max() / ratio)
