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


# -- the categorical-aware design and the compiled passes ----------------------------------------------------

BLOCKS_REFERENCE = load_reference("negbin_blocks")


@pytest.fixture(scope="module")
def blocks_data():
    """negbin_blocks.R's data: 20,000 rows, a 300-level factor, an offset (read as R's read.csv did)."""
    import pandas as pd
    from conftest import REFERENCE_DIR

    return pd.read_csv(REFERENCE_DIR / "negbin_blocks_data.csv")


def _blocks_fit(data, **options):
    from glmformula import settings
    from glmformula.design.categorical import CategoricalDesign

    with settings.override(dense_cells=0):  # the factors as codes, never dense dummies
        res = gf.glm(BLOCKS_REFERENCE["formula"], data, "negative_binomial", **options)
    assert isinstance(res.model_data.design, CategoricalDesign)
    return res


@pytest.mark.parametrize("control", ["tight", "default"])
def test_a_300_level_factor_on_the_categorical_design_reproduces_glm_nb(blocks_data, control):
    expected = BLOCKS_REFERENCE[control]
    res = _blocks_fit(blocks_data, **({"tol": 1e-12, "maxiter": 50} if control == "tight" else {}))
    assert res.theta == pytest.approx(expected["theta"], rel=1e-8)
    assert res.theta_se == pytest.approx(expected["theta_se"], rel=1e-6)
    assert [r_name(name) for name in res.params.index] == expected["names"]
    np.testing.assert_allclose(res.params.to_numpy(), expected["coefficients"], rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(res.bse.to_numpy(), expected["se"], rtol=1e-7)
    assert res.deviance == pytest.approx(expected["deviance"], rel=1e-9)
    assert res.null_deviance == pytest.approx(expected["null_deviance"], rel=1e-9)
    assert 2 * res.llf == pytest.approx(expected["twologlik"], rel=1e-10)
    assert res.aic == pytest.approx(expected["aic"], rel=1e-10)
    assert res.n_iter == expected["iter"] and res.df_resid == expected["df_residual"]
    np.testing.assert_allclose(res.fittedvalues.to_numpy()[:20], expected["fitted_head"], rtol=1e-8)


def test_the_compiled_passes_equal_numpys_fit(blocks_data):
    """The compiled negative binomial passes (the fused step, theta.ml's and the log-likelihood's sums) and
    numpy's: one answer (the design's products compiled in both)."""
    from glmformula import settings

    compiled = _blocks_fit(blocks_data, tol=1e-12, maxiter=50)
    with settings.override(log_link_kernels=False):
        reference = _blocks_fit(blocks_data, tol=1e-12, maxiter=50)
    assert compiled.theta == pytest.approx(reference.theta, rel=1e-12)
    assert compiled.theta_se == pytest.approx(reference.theta_se, rel=1e-12)
    np.testing.assert_allclose(compiled.params, reference.params, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(compiled.bse, reference.bse, rtol=1e-12)
    for name in ("deviance", "null_deviance", "llf"):
        assert getattr(compiled, name) == pytest.approx(getattr(reference, name), rel=1e-12), name
    assert compiled.n_iter == reference.n_iter


def _numpy_step(family, eta, offset, y, prior):
    """IRLS's step at X beta = eta by the numpy reference: mu, the deviance, z and w."""
    full = eta + offset
    mu = family.link.inverse(full)
    variance = family.variance(mu)
    return mu, family.deviance(y, mu, prior), full - offset + (y - mu) / mu, prior * mu**2 / variance


@pytest.mark.parametrize("theta", [0.05, 1.7, 3e4])
def test_the_compiled_step_equals_numpy(theta):
    from glmformula.families import log_link
    from glmformula.families.base import log_or_zero
    from glmformula.families.standard import NegativeBinomial

    if not log_link.in_use():
        pytest.skip("the compiled log-link library is not built")
    rng = np.random.default_rng(7)
    n = 5003  # several tiles and a partial one
    x_beta, offset = rng.normal(0, 2, n), rng.normal(0, 1, n)
    x_beta[:3] = [-60.0, 30.0, 0.0]  # mu floored at eps; a large mean
    y = rng.poisson(np.exp(np.minimum(x_beta + offset, 5))).astype(float)
    prior = rng.uniform(0.5, 2, n)
    family = NegativeBinomial("log", theta=theta)
    buffers = [np.empty(n) for _ in range(5)]
    eta, mu, z, w, w_other = buffers
    eta[:] = x_beta
    step = log_link.NegativeBinomialStep(theta, offset, y, prior, eta, mu, z, (w, w_other))
    deviance = step(True, w)
    expected = _numpy_step(family, x_beta, offset, y, prior)
    np.testing.assert_allclose(eta, x_beta + offset, rtol=1e-15)
    for got, want in zip((mu, deviance, z, w), expected):
        np.testing.assert_allclose(got, want, rtol=1e-12)
    for log_y in (None, log_or_zero(y)):
        assert family.deviance_function(y, prior, log_y=log_y)(eta, mu) == pytest.approx(expected[1], rel=1e-12)
    z_out, w_out = np.empty(n), np.empty(n)
    assert family.working_function(y, prior, offset)(eta, mu, z_out, w_out)
    np.testing.assert_allclose(z_out, z, rtol=1e-15)
    np.testing.assert_allclose(w_out, w, rtol=1e-15)
    eta[0] = 800.0  # exp overflows: the pass refuses, for IRLS's generic path to halve or report
    assert step(False, w) is None


def test_theta_and_loglik_sums_equal_numpy():
    from glmformula import settings
    from glmformula.engine.negbin import nb_loglik, theta_ml

    rng = np.random.default_rng(11)
    mu = np.exp(rng.normal(0.5, 1.5, 30001))
    y = rng.negative_binomial(1.3, 1.3 / (1.3 + mu)).astype(float)
    weights = rng.uniform(0.5, 2, len(y))
    compiled = theta_ml(y, mu, weights), nb_loglik(y, mu, weights, 1.3)
    with settings.override(kernels=False):
        reference = theta_ml(y, mu, weights), nb_loglik(y, mu, weights, 1.3)
    assert compiled[0].theta == pytest.approx(reference[0].theta, rel=1e-12)
    assert compiled[0].se == pytest.approx(reference[0].se, rel=1e-12)
    assert compiled[1] == pytest.approx(reference[1], rel=1e-12)
