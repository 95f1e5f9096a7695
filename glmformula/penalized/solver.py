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

from glmformula import settings
from glmformula.families.base import Family
from glmformula.penalized import kernels


@dataclass(frozen=True)
class Standardisation:
    """Weighted means and standard deviations of the penalised columns (intercept column excluded)."""

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def of(cls, X: np.ndarray, weights: np.ndarray, standardize: bool, intercept: bool,
           columns: np.ndarray | None = None) -> Standardisation:
        """Of the ``columns`` (a boolean mask, default all) of X, in row chunks: no copy of X is made."""
        columns = np.ones(X.shape[1], dtype=bool) if columns is None else columns
        p = int(np.count_nonzero(columns))
        mean = (weights @ X)[columns] if intercept else np.zeros(p)
        if not standardize:
            return cls(mean, np.ones(p))
        variance, chunk_rows = np.zeros(p), settings.current().penalized_chunk_rows  # temporaries stay small
        for start in range(0, X.shape[0], chunk_rows):
            rows = slice(start, start + chunk_rows)
            variance += weights[rows] @ (X[rows][:, columns] - mean) ** 2
        scale = np.sqrt(variance)
        return cls(mean, np.where(scale > 0, scale, 1.0))

    def apply(self, X: np.ndarray, columns: np.ndarray | None = None) -> np.ndarray:
        """(X[:, columns] - mean) / scale as a new Fortran-ordered array (coordinate descent reads columns)."""
        columns = np.ones(X.shape[1], dtype=bool) if columns is None else columns
        Z, chunk_rows = np.empty((X.shape[0], len(self.mean)), order="F"), settings.current().penalized_chunk_rows
        for start in range(0, X.shape[0], chunk_rows):
            rows = slice(start, start + chunk_rows)
            Z[rows] = (X[rows][:, columns] - self.mean) / self.scale
        return Z


@dataclass(frozen=True)
class PenalizedFit:
    intercept: float
    coefficients: np.ndarray  # original scale
    standardised: np.ndarray
    deviance: float
    n_iter: int
    converged: bool
    warm_start: WarmStart | None = None  # where a fit at a neighbouring lambda starts


@dataclass(frozen=True)
class WarmStart:
    """Where a fit starts: a neighbouring fit's standardised intercept and coefficients, and
    optionally its quadratic model and its ``Point``, which do not depend on lambda."""

    intercept: float
    coefficients: np.ndarray
    curvature: CovarianceModel | None = None
    state: Point | None = None


@dataclass(frozen=True)
class Point:
    """The fit at some coefficients, independent of lambda: what an iteration there needs.

    ``score`` is w (y - mu) mu_eta / V(mu), ``v`` the working weights w mu_eta^2 / V(mu), and
    ``gradient`` the smooth part's gradient -X'score with X = [1, Z] (covariance mode only).
    """

    eta: np.ndarray
    mu: np.ndarray
    deviance: float
    score: np.ndarray
    v: np.ndarray
    gradient: np.ndarray | None


def evaluate_point(Z: np.ndarray, coefficients: np.ndarray, intercept: bool, offset: np.ndarray, y: np.ndarray,
                   weights: np.ndarray, family: Family, deviance_of, with_gradient: bool) -> Point:
    """The ``Point`` at ``coefficients`` ([intercept,] standardised beta); ``deviance_of`` is the
    family's ``deviance_function`` of this response.  Two passes over Z: X beta and X'score."""
    link = family.link
    beta = coefficients[intercept:]
    eta = Z @ beta
    eta += offset
    if intercept:
        eta += coefficients[0]
    mu = link.inverse_into(eta, np.empty_like(eta))
    mu_eta = link.mu_eta_at(eta, mu)
    ratio = mu_eta / family.variance(mu)
    score, v = weights * (y - mu), weights * mu_eta
    score *= ratio
    v *= ratio
    gradient = None
    if with_gradient:
        gradient = -(Z.T @ score)
        if intercept:
            gradient = np.concatenate([[-score.sum()], gradient])
    return Point(eta, mu, float(deviance_of(eta, mu)), score, v, gradient)


#: The covariance-mode matrix is rebuilt once the working weights drift further than this (relative).
MAX_DRIFT = 0.1

_WORKSPACE: dict = {}


def _workspace(Z: np.ndarray) -> np.ndarray:
    """A reusable (n, p) Fortran buffer for weighted columns: a path refits the same shape a hundred times."""
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


def _weighted_gram(Z: np.ndarray, v: np.ndarray, intercept: bool) -> np.ndarray:
    """X'VX for X = [1, Z] (the column of ones only with an intercept), as a C-ordered symmetric matrix.

    Accumulated by dsyrk over chunks of rows of sqrt(v) X, so that no weighted copy of the whole
    design is made (the chunk stays in cache between the scaling and the product).
    """
    from scipy.linalg import blas

    n, p = Z.shape
    m = p + intercept
    gram = np.zeros((m, m), order="F")
    if m == 0:
        return gram
    chunk_rows = settings.current().penalized_chunk_rows
    buffer = np.empty((min(n, chunk_rows), m), order="F")
    for start in range(0, n, chunk_rows):
        rows = slice(start, start + chunk_rows)
        root = np.sqrt(v[rows])
        chunk = buffer if len(root) == len(buffer) else np.empty((len(root), m), order="F")
        if intercept:
            chunk[:, 0] = root
        np.multiply(Z[rows], root[:, None], out=chunk[:, intercept:])
        gram = blas.dsyrk(1.0, chunk, beta=1.0, c=gram, trans=1, overwrite_c=True)  # upper triangle
    return np.ascontiguousarray(np.triu(gram) + np.triu(gram, 1).T)


class CovarianceModel:
    """The quadratic model held as the matrix H = X'VX of the intercept column and Z (intercept first).

    Built once, H serves many iterations and neighbouring lambdas: coordinate descent then
    costs O(p) per coordinate instead of two passes over n rows, and each iteration needs
    only the exact gradient X'(score) (one pass).
    """

    def __init__(self, Z: np.ndarray, v: np.ndarray, intercept: bool):
        self.matrix = _weighted_gram(Z, v, intercept)
        self.Z, self.v, self.intercept = Z, v, intercept

    def drift(self, v: np.ndarray) -> float:
        """max_i |v_i / v0_i - 1| for the weights v0 the matrix was built with: a bound on how
        much slower than Newton's the iterations with this matrix converge."""
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.abs(v / self.v - 1)
        return float(np.max(ratio, where=self.v > 0, initial=0.0))

    def solve(self, point: Point, gamma: np.ndarray, l1: list, l2: list, stop: float,
              max_sweeps: int) -> tuple[np.ndarray, float]:
        """The minimiser x of the model plus the penalty, by coordinate descent from ``gamma``, and the
        decrease of the model's smooth part from gamma to x, -(g'd + d'Hd / 2) = -(g + g_x)'d / 2."""
        gradient, x = point.gradient.copy(), gamma.copy()
        if kernels.in_use():
            kernels.cd_covariance(self.matrix, gradient, x, l1, l2, self.intercept, stop, max_sweeps)
        else:
            self._sweeps(gradient, x, l1, l2, stop, max_sweeps)
        return x, -0.5 * float((point.gradient + gradient) @ (x - gamma))

    def _sweeps(self, gradient: np.ndarray, x: np.ndarray, l1: list, l2: list, stop: float,
                max_sweeps: int) -> None:
        """The Python fallback of ``_cd.c``: the same updates in the same order, on x and gradient in place."""
        from scipy.linalg import blas

        H = self.matrix
        diagonal = np.diag(H).tolist()
        axpy = blas.daxpy

        def update(j: int) -> float:
            old, curvature = x[j], diagonal[j]
            denominator = curvature + l2[j]
            if denominator <= 0:
                return 0.0
            new = soft_threshold(curvature * old - gradient[j], l1[j]) / denominator
            if new == old:
                return 0.0
            axpy(H[j], gradient, a=new - old)  # in place; H is symmetric: row j is column j
            x[j] = new
            return abs(new - old) * np.sqrt(curvature)

        _sweep_to_convergence(update, x, self.intercept, stop, max_sweeps)


class NaiveModel:
    """The quadratic model held through the n-vector of weighted residuals (for wide designs).

    Coordinate j's gradient is -Z_j'r and its update an axpy on r, r starting at the score;
    nothing of size p x p is formed.  Rebuilt at every iteration (always exact).
    """

    def __init__(self, Z: np.ndarray, v: np.ndarray, intercept: bool):
        self.Z, self.v, self.intercept = Z, v, intercept
        self.weighted_columns = np.multiply(Z, v[:, None], out=_workspace(Z))
        self.diagonal = np.einsum("ij,ij->j", Z, self.weighted_columns).tolist()
        if intercept:
            self.diagonal.insert(0, float(v.sum()))

    def solve(self, point: Point, gamma: np.ndarray, l1: list, l2: list, stop: float,
              max_sweeps: int) -> tuple[np.ndarray, float]:
        """As ``CovarianceModel.solve``; the decrease is (score + r)'X d / 2 for the final residual r."""
        from scipy.linalg import blas

        residual, x, shift = point.score.copy(), gamma.copy(), int(self.intercept)
        Z, weighted, v, diagonal = self.Z, self.weighted_columns, self.v, self.diagonal

        def update(j: int) -> float:
            old, curvature = x[j], diagonal[j]
            denominator = curvature + l2[j]
            if denominator <= 0:
                return 0.0
            is_intercept = j < shift
            gradient = -(residual.sum() if is_intercept else blas.ddot(Z[:, j - shift], residual))
            new = soft_threshold(curvature * old - gradient, l1[j]) / denominator
            if new == old:
                return 0.0
            blas.daxpy(v if is_intercept else weighted[:, j - shift], residual, a=old - new)
            x[j] = new
            return abs(new - old) * np.sqrt(curvature)

        _sweep_to_convergence(update, x, self.intercept, stop, max_sweeps)
        step = x - gamma
        moved = Z @ step[shift:] + (step[0] if shift else 0.0)
        return x, 0.5 * float((point.score + residual) @ moved)


def _sweep_to_convergence(update, x: np.ndarray, intercept: bool, stop: float, max_sweeps: int) -> None:
    """Cyclic coordinate descent, as glmnet: sweep the active set (nonzero coefficients and the
    intercept) to convergence, then every coordinate; stop when a full sweep moves no coordinate
    by more than ``stop`` (a change times its column's weighted norm)."""
    def sweep(coordinates) -> float:
        largest = 0.0
        for j in coordinates:
            change = update(j)
            if change > largest:
                largest = change
        return largest

    everything = range(len(x))
    for _ in range(max_sweeps):
        if sweep(everything) < stop:
            return
        active = np.flatnonzero(x != 0)
        if intercept and (not len(active) or active[0] != 0):
            active = np.concatenate([[0], active])
        active = active.tolist()
        for _ in range(max_sweeps):
            if sweep(active) < stop:
                break


def fit_penalized(Z: np.ndarray, y: np.ndarray, weights: np.ndarray, offset: np.ndarray, family: Family,
                  lam: float, l1_ratio: float, penalty_factor: np.ndarray, standardisation: Standardisation,
                  intercept: bool, start: WarmStart | None = None, tol: float = 1e-12,
                  maxiter: int = 200, max_sweeps: int = 10_000) -> PenalizedFit:
    """Minimise the objective of the module docstring for one lambda (proximal Newton steps).

    ``Z`` holds the standardised penalised columns; ``weights`` are prior weights summing
    to 1; ``start`` warm-starts a path.  Each iteration minimises, by coordinate descent,
    the quadratic model of the deviance at the current coefficients plus the penalty.  In
    covariance mode the model's matrix is reused while iterations contract quickly (a
    quasi-Newton step: the fixed point is exact because the gradient is), and rebuilt at the
    current point when they do not, or when a step fails to lower the objective.  Steps
    that still fail are halved.  Converged when the model predicts that its minimiser lowers
    the objective by less than ``tol`` (relative) from the current coefficients: that minimiser
    is the fit, with the deviance the model predicts there.  It is not evaluated, which saves
    an iteration's two passes over Z per lambda (the next lambda starts from the current
    coefficients, whose ``Point`` is known).
    """
    link = family.link
    n, p = Z.shape
    # up to settings.covariance_max_columns the quadratic model is held as a (p x p) matrix (glmnet's
    # "covariance" mode); wider designs, or fewer rows than columns, work on the n-vector of residuals ("naive")
    use_covariance = p <= settings.current().covariance_max_columns and n >= p
    if start is not None:
        gamma = np.concatenate([[start.intercept], start.coefficients]) if intercept else start.coefficients.copy()
    else:
        gamma = np.zeros(p + intercept)
        if intercept:
            mean_y = np.sum(weights * y)
            gamma[0] = float(np.average(link.link(np.full(1, mean_y)) - offset, weights=weights))
    l1 = lam * l1_ratio * penalty_factor
    l2 = lam * (1 - l1_ratio) * penalty_factor
    if family.name == "gaussian":  # glmnet's convention, see the module docstring
        centre = np.sum(weights * y) if intercept else 0.0
        l2 = l2 / np.sqrt(np.sum(weights * (y - centre) ** 2))
    l1_all, l2_all = ([0.0] if intercept else []) + l1.tolist(), ([0.0] if intercept else []) + l2.tolist()
    deviance_of = family.deviance_function(y, weights)

    def penalty(coefficients: np.ndarray) -> float:
        beta = coefficients[intercept:]
        return float(l1 @ np.abs(beta) + 0.5 * l2 @ beta**2)

    def evaluate(coefficients: np.ndarray) -> tuple[Point, float]:
        """The Point at ``coefficients`` and the objective there."""
        point = evaluate_point(Z, coefficients, intercept, offset, y, weights, family, deviance_of, use_covariance)
        return point, point.deviance / 2 + penalty(coefficients)

    if start is not None and start.state is not None:
        point = start.state
        objective = point.deviance / 2 + penalty(gamma)
    else:
        point, objective = evaluate(gamma)
    model = start.curvature if use_covariance and start is not None else None
    if model is not None and model.Z is not Z:
        model = None  # a curvature from other data (another cross-validation fold)
    model_is_current, converged, stop = False, False, tol * 0.1
    for n_iter in range(1, maxiter + 1):  # noqa: B007 - reported after the loop
        if not use_covariance or model is None or model.drift(point.v) > MAX_DRIFT:
            model = CovarianceModel(Z, point.v, intercept) if use_covariance else NaiveModel(Z, point.v, intercept)
            model_is_current = True
        proposal, decrease = model.solve(point, gamma, l1_all, l2_all, stop, max_sweeps)
        if decrease + penalty(gamma) - penalty(proposal) < tol * (abs(objective) + 0.1):
            # gamma is within tol of the optimum, and the model's minimiser closer still (one more
            # quasi-Newton step): report it, with the deviance the model predicts there
            fitted, deviance, converged = proposal, point.deviance - 2 * decrease, True
            break
        step = proposal - gamma
        new, new_objective = evaluate(proposal)
        if not new_objective <= objective + 1e-13 * abs(objective):
            if not model_is_current:
                model = None  # stale curvature overshot: rebuild it here and retry
                continue
            for _ in range(30):  # step-halving, as glm.fit
                step = step / 2
                proposal = gamma + step
                new, new_objective = evaluate(proposal)
                if new_objective <= objective:
                    break
        gamma, point, objective = proposal, new, new_objective
        model_is_current = False
    else:
        fitted, deviance = gamma, point.deviance
    beta = fitted[intercept:]
    coefficients = beta / standardisation.scale
    intercept_value = fitted[0] - coefficients @ standardisation.mean if intercept else 0.0
    # the next lambda starts from gamma, where the Point (and so the gradient) is known
    warm_start = WarmStart(float(gamma[0]) if intercept else 0.0, gamma[intercept:],
                           model if use_covariance else None, point)
    return PenalizedFit(float(intercept_value), coefficients, beta, float(deviance), n_iter, converged, warm_start)


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
