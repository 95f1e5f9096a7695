"""Negative binomial with estimated theta against MASS::glm.nb (R 4.2), and its Poisson limit."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import load_as_read_csv, load_reference, r_name

import glmformula as gf

REFERENCE_TOL = 1e-12  # the references were computed with glm.control(epsilon = 1e-12)


@pytest.fixture(scope="module", params=["quine_nb", "biochem_nb"])
def case(request):
    ref = load_reference(request.param)
    res = gf.glm(ref["formula"], load_as_read_csv(ref["dataset"]), "negative_binomial", tol=REFERENCE_TOL)
    return ref, res


def test_theta_and_its_standard_error(case):
    ref, res = case
    np.testing.assert_allclose(res.theta, ref["theta"], rtol=1e-5)
    np.testing.assert_allclose(res.theta_se, ref["theta_se"], rtol=1e-4)
    assert res.alpha == pytest.approx(1 / ref["theta"], rel=1e-5)


def test_coefficients_and_standard_errors(case):
    ref, res = case
    ours_coef = {r_name(k): v for k, v in res.params.items()}
    ours_se = {r_name(k): v for k, v in res.bse.items()}
    assert sorted(ours_coef) == sorted(ref["coef"])
    for name in ref["coef"]:
        np.testing.assert_allclose(ours_coef[name], ref["coef"][name], rtol=1e-6, err_msg=name)
        np.testing.assert_allclose(ours_se[name], ref["se"][name], rtol=1e-6, err_msg=name)


def test_likelihood_aic_and_deviances(case):
    ref, res = case
    np.testing.assert_allclose(2 * res.llf, ref["twologlik"], rtol=1e-6)
    np.testing.assert_allclose(res.aic, ref["aic"], rtol=1e-6)  # theta counted as a parameter
    np.testing.assert_allclose(res.deviance, ref["deviance"], rtol=1e-6)
    np.testing.assert_allclose(res.null_deviance, ref["null_deviance"], rtol=1e-6)
    assert res.df_resid == ref["df_residual"] and res.scale == 1.0 and res.n_iter == ref["iter"]


def test_default_tolerance_is_close_to_the_reference(case):
    ref, _ = case
    res = gf.glm(ref["formula"], load_as_read_csv(ref["dataset"]), "negative_binomial")
    np.testing.assert_allclose(res.theta, ref["theta"], rtol=1e-5)


def test_summary_shows_theta_and_alpha(case):
    ref, res = case
    text = str(res.summary())
    assert "Theta:" in text and "Alpha (1/theta):" in text and f"{ref['theta']:.6g}" in text
    assert "Theta:  " in str(res.summary(style="r"))


def test_fixed_theta_is_kept():
    ref = load_reference("quine_nb_fixed_theta")
    res = gf.glm(ref["formula"], gf.datasets.load("quine"), gf.family("negative_binomial", theta=2), tol=1e-12)
    assert res.theta == 2 and res.theta_se is None
    np.testing.assert_allclose(res.aic, ref["aic"], rtol=1e-6)  # theta not counted


def test_no_overdispersion_reports_the_poisson_limit():
    """R's glm.nb fails on this model; glmformula warns and reports theta = inf."""
    insurance = gf.datasets.load("insurance")
    formula = "Claims ~ C(District) + Group + Age + offset(log(Holders))"
    with pytest.warns(gf.OverdispersionWarning, match="not overdispersed"):
        res = gf.glm(formula, insurance, "negative_binomial")
    poisson = gf.glm(formula, insurance, "poisson")
    assert np.isinf(res.theta) and res.alpha == 0
    np.testing.assert_allclose(res.params, poisson.params, rtol=1e-10)
    np.testing.assert_allclose(res.bse, poisson.bse, rtol=1e-10)
    np.testing.assert_allclose(res.llf, poisson.llf, rtol=1e-10)
    assert res.aic == pytest.approx(poisson.aic + 2)


def test_theta_ml_matches_a_direct_maximisation():
    from scipy import optimize, stats

    from glmformula.engine.negbin import theta_ml

    rng = np.random.default_rng(4)
    mu = rng.uniform(1, 10, 400)
    y = rng.negative_binomial(3.0, 3.0 / (3.0 + mu)).astype(float)
    estimate = theta_ml(y, mu, np.ones_like(y))
    best = optimize.minimize_scalar(lambda t: -stats.nbinom.logpmf(y, t, t / (t + mu)).sum(), bounds=(0.1, 100),
                                    method="bounded", options={"xatol": 1e-10})
    assert estimate.theta == pytest.approx(best.x, rel=1e-6)


def test_negative_counts_are_refused():
    data = gf.datasets.load("quine").assign(Days=lambda d: d.Days - 5)
    with pytest.raises(gf.ResponseError, match="negative_binomial family"):
        gf.glm("Days ~ Eth", data, "negative_binomial")
