"""Penalised GLMs against R's glmnet (figures from tests/data/reference/glmnet.R), paths and cross-validation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import REFERENCE_DIR, load_as_read_csv

import glmformula as gf
from glmformula import settings
from glmformula.penalized import kernels, solver

GLMNET = json.loads((REFERENCE_DIR / "_glmnet.json").read_text())
GLMNET_PATHS = json.loads((REFERENCE_DIR / "_glmnet_paths.json").read_text())


@pytest.fixture(params=["covariance-compiled", "covariance-python", "naive"])
def solver_mode(request):
    """Both inner solvers: the (p x p) quadratic model, with its compiled coordinate descent and with
    the Python fallback, and the n-vector of residuals for wide designs."""
    if request.param == "covariance-compiled" and not kernels.AVAILABLE:
        pytest.skip("the compiled coordinate descent is not built")
    changes = {"penalized_kernels": request.param == "covariance-compiled"}
    if request.param == "naive":
        changes["covariance_max_columns"] = 0
    with settings.override(**changes):
        yield request.param


def test_compiled_coordinate_descent_equals_the_python_loop():
    """The same updates in the same order: the same coefficients to rounding."""
    if not kernels.AVAILABLE:
        pytest.skip("the compiled coordinate descent is not built")
    rng = np.random.default_rng(3)
    Z = np.asfortranarray(rng.normal(size=(500, 12)))
    model = solver.CovarianceModel(Z, rng.uniform(0.1, 1.0, 500), intercept=True)
    score, v = rng.normal(size=500), np.ones(500)
    gradient = -np.concatenate([[score.sum()], Z.T @ score])
    point, gamma = solver.Point(np.zeros(500), np.zeros(500), 0.0, score, v, gradient), np.zeros(13)
    l1, l2 = [0.0] + [5.0] * 12, [0.0] + [1.0] * 12
    compiled, compiled_decrease = model.solve(point, gamma, l1, l2, 1e-13, 10_000)
    with settings.override(penalized_kernels=False):
        python, python_decrease = model.solve(point, gamma, l1, l2, 1e-13, 10_000)
    assert compiled_decrease == pytest.approx(python_decrease, rel=1e-12) and compiled_decrease > 0
    assert np.count_nonzero(compiled) > 3 and np.count_nonzero(compiled == 0) > 0
    np.testing.assert_array_equal(compiled == 0, python == 0)
    np.testing.assert_allclose(compiled, python, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("case", sorted(GLMNET))
def test_coefficients_match_glmnet(case, solver_mode):
    ref = GLMNET[case]
    res = gf.glm(ref["formula"], load_as_read_csv(ref["dataset"]), ref["family"], penalty=ref["penalty"],
                 alpha=ref["alpha"], l1_ratio=ref["l1_ratio"])
    expected = np.array(ref["coef"])
    ours = res.params.to_numpy()
    zero = expected == 0
    assert np.all(ours[zero] == 0), "the lasso's zeros are exact"
    np.testing.assert_allclose(ours[~zero], expected[~zero], rtol=1e-4)
    assert res.converged


@pytest.mark.parametrize("case", sorted(GLMNET_PATHS))
def test_path_matches_glmnet(case, solver_mode):
    """Every point of a warm-started path (curvature carried from lambda to lambda) is glmnet's optimum."""
    ref = GLMNET_PATHS[case]
    data = load_as_read_csv(ref["dataset"])  # as glmnet_paths.R read it
    path = gf.glm_path(ref["formula"], data, ref["family"], penalty=ref["penalty"], l1_ratio=ref["l1_ratio"],
                       alphas=ref["alphas"])
    expected = np.array(ref["coef"]).T  # (lambdas x coefficients)
    ours = path.drop(columns="deviance").to_numpy()
    assert np.all(ours[expected == 0] == 0)
    scale = np.abs(expected).max(axis=0)  # relative to each coefficient's size along the path
    worst = np.max(np.abs(ours - expected) / scale)
    assert worst < 1e-4, f"largest difference {worst:.2e} of a coefficient's size along the path"


@pytest.mark.parametrize("case", sorted(GLMNET_PATHS))
def test_default_grid_is_glmnets(case):
    ref = GLMNET_PATHS[case]
    path = gf.glm_path(ref["formula"], load_as_read_csv(ref["dataset"]), ref["family"], penalty=ref["penalty"],
                       l1_ratio=ref["l1_ratio"], n_alphas=30)
    glmnet_grid = np.array(ref["alphas"])  # glmnet stops early once the deviance no longer improves
    np.testing.assert_allclose(path.index.to_numpy()[: len(glmnet_grid)], glmnet_grid, rtol=1e-8)


@pytest.mark.parametrize("alphas", [[], ["a"], [0.1, -1], [np.nan]])
def test_bad_path_lambdas_are_refused(alphas):
    with pytest.raises(gf.DataError, match="alphas must be a non-empty sequence"):
        gf.glm_path("mpg ~ wt", gf.datasets.load("mtcars"), alphas=alphas)


def test_summary_states_penalty_and_shows_no_p_values():
    res = gf.glm("mpg ~ wt + hp", gf.datasets.load("mtcars"), penalty="l1", alpha=0.5)
    text = str(res.summary())
    assert "lasso (l1)" in text and "lambda (alpha=)" in text and "lambda = 0.5" in text and "P>|" not in text
    assert "do not apply" in text


def test_path_starts_empty_and_ends_near_the_unpenalised_fit():
    mtcars = gf.datasets.load("mtcars")
    path = gf.glm_path("mpg ~ wt + hp + qsec + drat", mtcars, penalty="l1", n_alphas=60)
    coefficients = path.drop(columns=["Intercept", "deviance"])
    assert np.all(coefficients.iloc[0] == 0) and np.any(coefficients.iloc[1] != 0)
    assert np.all(np.diff(path.index.to_numpy()) < 0)
    assert np.all(np.diff(path["deviance"].to_numpy()) <= 1e-8)  # less penalty, better fit
    unpenalised = gf.glm("mpg ~ wt + hp + qsec + drat", mtcars)
    np.testing.assert_allclose(path.iloc[-1][unpenalised.params.index], unpenalised.params, rtol=1e-2)


def test_zero_penalty_is_the_maximum_likelihood_fit():
    data = gf.datasets.load("mtcars")
    penalised = gf.glm("am ~ wt + hp", data, "binomial", penalty="l2", alpha=0.0)
    np.testing.assert_allclose(penalised.params, gf.glm("am ~ wt + hp", data, "binomial").params, rtol=1e-6)


def test_penalty_factor_zero_leaves_a_term_unpenalised():
    data = gf.datasets.load("mtcars")
    res = gf.glm("mpg ~ wt + hp + qsec", data, penalty="l1", alpha=50.0, penalty_factor={"wt": 0})
    assert res.params["wt"] != 0 and res.params["hp"] == 0 and res.params["qsec"] == 0
    with pytest.raises(gf.DataError, match="not a penalised term"):
        gf.glm("mpg ~ wt", data, penalty="l1", penalty_factor={"cyl": 0})


def test_cross_validation_chooses_lambda():
    bio = gf.datasets.load("biochemists")
    res = gf.cv_glm("art ~ fem + mar + kid5 + phd + ment", bio, "poisson", penalty="l1", folds=5, n_alphas=30)
    assert res.alpha_1se >= res.alpha_min and res.alpha == pytest.approx(res.alpha_min)
    table = res.cv_table
    assert table["mean_deviance"].idxmin() == pytest.approx(res.alpha_min)
    one_se = gf.cv_glm("art ~ fem + mar + kid5 + phd + ment", bio, "poisson", penalty="l1", folds=5, n_alphas=30,
                       choose="1se")
    assert one_se.alpha == pytest.approx(res.alpha_1se) and one_se.df_model <= res.df_model
    assert "lambda_min" in str(res.summary())


def test_prediction_from_a_penalised_fit():
    insurance = gf.datasets.load("insurance")
    res = gf.glm("Claims ~ Group + offset(log(Holders))", insurance, "poisson", penalty="l2", alpha=0.01)
    np.testing.assert_allclose(res.predict(insurance), res.predict(), rtol=1e-12)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"penalty": "l3"}, "penalty must be"),
    ({"penalty": "elasticnet", "l1_ratio": 2}, "l1_ratio must be between"),
    ({"penalty": "l1", "alpha": -1}, "must be >= 0"),
])
def test_bad_penalty_arguments(kwargs, message):
    with pytest.raises(gf.DataError, match=message):
        gf.glm("mpg ~ wt", gf.datasets.load("mtcars"), **kwargs)


def test_quasi_families_are_refused():
    with pytest.raises(gf.FamilyError, match="penalised fits support"):
        gf.glm("breaks ~ wool", gf.datasets.load("warpbreaks"), "quasipoisson", penalty="l1", alpha=0.1)


def test_lambda_is_an_alias_of_alpha_and_said_where_glmnet_users_look():
    from glmformula.penalized import glm_penalized

    mtcars = gf.datasets.load("mtcars")
    by_alpha = glm_penalized("am ~ wt + hp + qsec", mtcars, "binomial", penalty="l1", alpha=0.05)
    by_lambda = glm_penalized("am ~ wt + hp + qsec", mtcars, "binomial", penalty="l1", lambda_=0.05)
    pd.testing.assert_series_equal(by_alpha.params, by_lambda.params)
    assert by_lambda.alpha == by_lambda.lambda_ == 0.05
    with pytest.raises(gf.DataError, match="same parameter"):
        glm_penalized("am ~ wt", mtcars, "binomial", penalty="l1", alpha=0.1, lambda_=0.05)
    text = str(by_alpha.summary())
    assert "lambda = 0.05" in text and "glmnet" in text
    assert "glmnet's lambda" in glm_penalized.__doc__ or "glmnet's **lambda**" in glm_penalized.__doc__
    first_lines = "\n".join((Path(__file__).parent.parent / "docs" / "penalized.md").read_text().splitlines()[:8])
    assert "glmnet's `lambda`" in first_lines and "lambda_=" in first_lines


def test_lambda_is_glmnets_name_for_alpha_in_gf_glm():
    data = gf.datasets.load("mtcars")
    by_alpha = gf.glm("mpg ~ wt + hp", data, penalty="l1", alpha=0.5)
    by_lambda = gf.glm("mpg ~ wt + hp", data, penalty="l1", lambda_=0.5)
    np.testing.assert_allclose(by_lambda.params, by_alpha.params, rtol=1e-12)
    with pytest.raises(gf.GLMFormulaError):
        gf.glm("mpg ~ wt + hp", data, penalty="l1", alpha=0.3, lambda_=0.5)
