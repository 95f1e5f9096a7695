"""Penalised GLMs from formulas: one lambda, a whole path, and cross-validation.

Names as in scikit-learn and glum: ``alpha`` is the penalty's weight, which glmnet calls
**lambda** (``lambda_=`` is accepted as an alias), and ``l1_ratio`` the elastic-net mixing
(1: lasso, 0: ridge), which glmnet calls **alpha**.  So glmnet's ``alpha = 0.5, lambda = 0.1``
is ``l1_ratio=0.5, alpha=0.1`` here.  See ``glmformula.penalized.solver`` for the objective,
which is glmnet's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from glmformula.exceptions import DataError, FamilyError
from glmformula.families.registry import get_family
from glmformula.families.standard import Binomial
from glmformula.formula.frame import build_model_frame
from glmformula.penalized.solver import Standardisation, fit_penalized, lambda_max

Penalty = Literal["l1", "l2", "elasticnet"]


@dataclass(frozen=True)
class PenalizedProblem:
    """The data of a penalised fit, standardised once."""

    names: list[str]
    penalised: np.ndarray  # mask over design columns (the intercept is not penalised)
    Z: np.ndarray
    y: np.ndarray
    weights: np.ndarray  # prior weights / their sum
    offset: np.ndarray
    family: Any
    standardisation: Standardisation
    penalty_factor: np.ndarray
    intercept: bool
    frame: Any
    weight_total: float


def _l1_ratio(penalty: Penalty, l1_ratio: float | None) -> float:
    if penalty == "l1":
        return 1.0
    if penalty == "l2":
        return 0.0
    if penalty == "elasticnet":
        ratio = 0.5 if l1_ratio is None else float(l1_ratio)
        if not 0 <= ratio <= 1:
            raise DataError(f"l1_ratio must be between 0 and 1, got {l1_ratio!r}")
        return ratio
    raise DataError(f"penalty must be 'l1', 'l2' or 'elasticnet', got {penalty!r}")


def prepare(formula: str, data, family, *, weights=None, offset=None, exposure=None,
            penalty_factor: dict[str, float] | None = None, standardize: bool = True,
            na_action: str = "drop") -> PenalizedProblem:
    family = get_family(family)
    if not family.dispersion_fixed and family.name != "gaussian":
        raise FamilyError(
            f"penalised fits support gaussian, binomial, poisson and negative binomial; not {family.name}"
        )
    frame = build_model_frame(formula, data, weights=weights, offset=offset, exposure=exposure,
                              na_action=na_action, categorical_response=isinstance(family, Binomial))
    response = family.initialize(frame.y, frame.weights)
    X = frame.X
    names = frame.column_names
    penalised = np.ones(len(names), dtype=bool)
    if frame.has_intercept:
        penalised[frame.spec.term_slices["1"]] = False  # the intercept term, whatever a column is called
    w = response.prior_weights / np.sum(response.prior_weights)
    standardisation = Standardisation.of(X, w, standardize, frame.has_intercept, penalised)
    factors = np.ones(int(penalised.sum()))
    if penalty_factor:
        penalised_names = [n for n, keep in zip(names, penalised) if keep]
        for term, factor in penalty_factor.items():
            matched = [i for i, n in enumerate(penalised_names) if n == term or n.startswith(f"{term}[")
                       or n.split("[")[0] == term]
            if not matched:
                raise DataError(f"penalty_factor names {term!r}, which is not a penalised term of the model")
            factors[matched] = float(factor)
    if factors.sum() > 0:
        factors = factors * len(factors) / factors.sum()  # glmnet rescales the factors to sum to p
    Z = standardisation.apply(X, penalised)
    return PenalizedProblem(names, penalised, Z, response.y, w, frame.offset, family, standardisation, factors,
                            frame.has_intercept, frame, float(np.sum(response.prior_weights)))


#: Convergence tolerance (relative change of the objective) of single fits and of the fits along a path or
#: in cross-validation: warm starts make the tight one cheap, and paths then agree with glmnet's to ~1e-5.
FIT_TOL, PATH_TOL = 1e-12, 1e-12


def _fit_one(problem: PenalizedProblem, lam: float, l1_ratio: float, start=None, tol: float = FIT_TOL):
    return fit_penalized(problem.Z, problem.y, problem.weights, problem.offset, problem.family, lam, l1_ratio,
                         problem.penalty_factor, problem.standardisation, problem.intercept, start=start, tol=tol)


def penalty_weight(alpha: float | None, lambda_: float | None) -> float:
    """The penalty weight lambda from ``alpha`` (scikit-learn's name) or ``lambda_`` (glmnet's), default 1."""
    if lambda_ is not None and alpha is not None and float(alpha) != float(lambda_):
        raise DataError(f"alpha={alpha!r} and lambda_={lambda_!r} are the same parameter (the penalty weight "
                        "lambda); give one of them")
    return float(1.0 if alpha is None and lambda_ is None else (lambda_ if lambda_ is not None else alpha))


def glm_penalized(formula: str, data, family="gaussian", *, penalty: Penalty = "l2", alpha: float | None = None,
                  l1_ratio: float | None = None, penalty_factor: dict[str, float] | None = None,
                  standardize: bool = True, lambda_: float | None = None, **kwargs):
    """A penalised GLM at one lambda; see ``gf.glm(..., penalty=...)``.

    Parameters
    ----------
    formula : str
        R-style formula, as for ``gf.glm``.
    data : pandas.DataFrame
        The data.
    family : str or Family, default "gaussian"
        gaussian, binomial, poisson or negative binomial (with theta).
    penalty : {"l1", "l2", "elasticnet"}, default "l2"
        Lasso, ridge or elastic net.
    alpha : float, default 1.0
        The penalty weight: glmnet's **lambda** (scikit-learn's and glum's name ``alpha``).
        Not glmnet's ``alpha``, which is ``l1_ratio`` here.
    l1_ratio : float, optional
        The elastic-net mixing in [0, 1] (glmnet's ``alpha``): 1 is the lasso, 0 ridge;
        0.5 by default with ``penalty="elasticnet"``.
    penalty_factor : dict of str to float, optional
        Relative penalty per term, as glmnet's ``penalty.factor`` (0 leaves a term unpenalized).
    standardize : bool, default True
        Penalize the predictors standardized, as glmnet does (coefficients are reported on
        the original scale).
    lambda_ : float, optional
        The same as ``alpha``, under glmnet's name.
    **kwargs
        ``weights``, ``offset``, ``exposure``, ``na_action`` as for ``gf.glm``.

    Returns
    -------
    PenalizedResults
    """
    from glmformula.penalized.results import PenalizedResults

    ratio = _l1_ratio(penalty, l1_ratio)
    alpha = penalty_weight(alpha, lambda_)
    if not alpha >= 0:
        raise DataError(f"alpha (the penalty weight lambda) must be >= 0, got {alpha!r}")
    problem = prepare(formula, data, family, penalty_factor=penalty_factor, standardize=standardize, **kwargs)
    fit = _fit_one(problem, float(alpha), ratio)
    return PenalizedResults(formula, problem, fit, float(alpha), ratio, penalty)


def glm_path(formula: str, data, family="gaussian", *, penalty: Penalty = "l1", l1_ratio: float | None = None,
             n_alphas: int = 100, alpha_min_ratio: float | None = None, alphas=None, penalty_factor=None,
             standardize=True, **kwargs) -> pd.DataFrame:
    """Coefficients along a decreasing path of lambdas, glmnet's grid: from lambda_max down to
    lambda_max * ratio (1e-4 when n > p, else 1e-2), log-spaced, or the lambdas given as ``alphas``
    (fitted largest first); each fit is warm-started from the last, reusing its curvature, and
    converged to a relative objective change of 1e-12.

    Parameters
    ----------
    formula : str
        R-style formula, as for ``gf.glm``.
    data : pandas.DataFrame
        The data.
    family : str or Family, default "gaussian"
        gaussian, binomial, poisson or negative binomial (with theta).
    penalty : {"l1", "l2", "elasticnet"}, default "l1"
        Lasso, ridge or elastic net.
    l1_ratio : float, optional
        The elastic-net mixing, glmnet's ``alpha`` (1 lasso, 0 ridge).
    n_alphas : int, default 100
        Number of lambdas on the path (glmnet's ``nlambda``).
    alpha_min_ratio : float, optional
        Smallest lambda as a fraction of lambda_max (glmnet's ``lambda.min.ratio``).
    alphas : sequence of float, optional
        The lambdas themselves (glmnet's ``lambda``), in place of the grid.
    penalty_factor : dict of str to float, optional
        Relative penalty per term (glmnet's ``penalty.factor``).
    standardize : bool, default True
        Penalize standardized predictors, as glmnet.
    **kwargs
        ``weights``, ``offset``, ``exposure``, ``na_action`` as for ``gf.glm``.

    Returns
    -------
    pandas.DataFrame
        Indexed by lambda (named ``alpha``), one column per coefficient, plus ``deviance``.
    """
    ratio = _l1_ratio(penalty, l1_ratio)
    problem = prepare(formula, data, family, penalty_factor=penalty_factor, standardize=standardize, **kwargs)
    if alphas is None:
        lambdas = lambda_grid(problem, ratio, n_alphas, alpha_min_ratio)
    else:
        try:
            lambdas = np.sort(np.asarray(alphas, dtype=float).ravel())[::-1]
        except (TypeError, ValueError):
            lambdas = np.array([np.nan])
        if not len(lambdas) or not np.all(lambdas >= 0):
            raise DataError(f"alphas must be a non-empty sequence of lambdas >= 0, got {alphas!r}")
    rows, start = [], None
    for lam in lambdas:
        fit = _fit_one(problem, lam, ratio, start=start, tol=PATH_TOL)
        start = fit.warm_start
        rows.append(_coefficient_row(problem, fit))
    table = pd.DataFrame(rows, index=pd.Index(lambdas, name="alpha"))
    table["deviance"] = [r["_deviance"] for r in rows]
    return table.drop(columns="_deviance")


def _coefficient_row(problem: PenalizedProblem, fit) -> dict[str, float]:
    row, penalised = {}, iter(fit.coefficients)
    for name, is_penalised in zip(problem.names, problem.penalised):
        row[name] = next(penalised) if is_penalised else fit.intercept
    row["_deviance"] = fit.deviance * problem.weight_total
    return row


def lambda_grid(problem: PenalizedProblem, l1_ratio: float, n_alphas: int, alpha_min_ratio: float | None):
    top = lambda_max(problem.Z, problem.y, problem.weights, problem.offset, problem.family, l1_ratio,
                     problem.penalty_factor, problem.intercept)
    n, p = problem.Z.shape
    ratio = alpha_min_ratio if alpha_min_ratio is not None else (1e-4 if n > p else 1e-2)
    return np.exp(np.linspace(np.log(top), np.log(top * ratio), n_alphas))


def cv_glm(formula: str, data, family="gaussian", *, penalty: Penalty = "l1", l1_ratio: float | None = None,
           folds: int = 10, n_alphas: int = 100, seed: int = 0, choose: Literal["min", "1se"] = "min",
           penalty_factor=None, standardize=True, **kwargs):
    """K-fold cross-validation of lambda by deviance; returns the model refitted at the chosen lambda.

    The result carries ``cv_table`` (mean and standard error of the held-out deviance per
    lambda), ``alpha_min`` and ``alpha_1se`` (the largest lambda within one standard error),
    also named ``lambda_min`` and ``lambda_1se`` as glmnet's ``cv.glmnet`` names them.

    Parameters
    ----------
    formula : str
        R-style formula, as for ``gf.glm``.
    data : pandas.DataFrame
        The data.
    family : str or Family, default "gaussian"
        gaussian, binomial, poisson or negative binomial (with theta).
    penalty : {"l1", "l2", "elasticnet"}, default "l1"
        Lasso, ridge or elastic net.
    l1_ratio : float, optional
        The elastic-net mixing, glmnet's ``alpha`` (1 lasso, 0 ridge).
    folds : int, default 10
        Number of folds (glmnet's ``nfolds``).
    n_alphas : int, default 100
        Number of lambdas on the path.
    seed : int, default 0
        Seed of the random fold assignment.
    choose : {"min", "1se"}, default "min"
        Refit at ``lambda_min`` or at ``lambda_1se``.
    penalty_factor : dict of str to float, optional
        Relative penalty per term (glmnet's ``penalty.factor``).
    standardize : bool, default True
        Penalize standardized predictors, as glmnet.
    **kwargs
        ``weights``, ``offset``, ``exposure``, ``na_action`` as for ``gf.glm``.

    Returns
    -------
    PenalizedResults
    """
    ratio = _l1_ratio(penalty, l1_ratio)
    problem = prepare(formula, data, family, penalty_factor=penalty_factor, standardize=standardize, **kwargs)
    lambdas = lambda_grid(problem, ratio, n_alphas, None)
    n = len(problem.y)
    fold_of = np.random.default_rng(seed).permutation(np.arange(n) % folds)
    losses = np.zeros((folds, len(lambdas)))
    X = problem.frame.X[:, problem.penalised]
    for k in range(folds):
        train, test = fold_of != k, fold_of == k
        sub = _subset(problem, X, train)
        X_test, start = X[test], None
        for index, lam in enumerate(lambdas):
            fit = _fit_one(sub, lam, ratio, start=start, tol=PATH_TOL)
            start = fit.warm_start
            eta = fit.intercept + X_test @ fit.coefficients + problem.offset[test]
            mu = problem.family.link.inverse(eta)
            w = problem.weights[test]
            losses[k, index] = problem.family.deviance(problem.y[test], mu, w) / np.sum(w)
    mean, se = losses.mean(axis=0), losses.std(axis=0, ddof=1) / np.sqrt(folds)
    best = int(np.argmin(mean))
    within = np.flatnonzero(mean <= mean[best] + se[best])
    one_se = int(within.min())  # lambdas decrease along the grid: the first is the largest
    chosen = lambdas[best] if choose == "min" else lambdas[one_se]
    result = glm_penalized(formula, data, family, penalty=penalty, alpha=float(chosen), l1_ratio=l1_ratio,
                           penalty_factor=penalty_factor, standardize=standardize, **kwargs)
    result.cv_table = pd.DataFrame({"mean_deviance": mean, "se": se}, index=pd.Index(lambdas, name="alpha"))
    result.alpha_min, result.alpha_1se = float(lambdas[best]), float(lambdas[one_se])
    return result


def _subset(problem: PenalizedProblem, X: np.ndarray, rows: np.ndarray) -> PenalizedProblem:
    """The same problem on some rows, standardised on those rows (as glmnet's cv does);
    X holds the penalised columns of the design."""
    from dataclasses import replace

    weights = problem.weights[rows] / problem.weights[rows].sum()
    X = X[rows]
    standardisation = Standardisation.of(X, weights, not np.all(problem.standardisation.scale == 1),
                                         problem.intercept)
    return replace(problem, Z=standardisation.apply(X), y=problem.y[rows], weights=weights,
                   offset=problem.offset[rows], standardisation=standardisation)
