"""Zero-inflated and hurdle models against pscl (R 4.2.2, pscl 1.5.5), model comparison and
the overdispersion test against AER."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import REFERENCE_DIR, load_as_read_csv

import glmformula as gf

EXTRAS = json.loads((REFERENCE_DIR / "_extras.json").read_text())
R = json.loads((REFERENCE_DIR / "_count_models.json").read_text())
FORMULA = "art ~ fem + mar + kid5 + phd + ment"
#: pscl's Hessian (R's optimhess: central differences of the score, step 1e-3): its standard errors, to the
#: digits recorded, need the same finite differences (the default analytic Hessian differs by up to ~3e-4)
PSCL = {"hessian_step": 1e-3}


@pytest.fixture(scope="module")
def biochem():
    return load_as_read_csv("biochemists")  # as count_models.R read it


def test_zip_matches_extras(biochem):
    reference = EXTRAS["biochem_zip"]
    res = gf.zeroinfl(reference["formula"], biochem, "poisson", **PSCL)
    expected = list(reference["count"].values()) + list(reference["zero"].values())
    assert list(res.params.index) == ["count_Intercept", "count_fem[T.Women]", "count_mar[T.Single]",
                                      "count_kid5", "count_phd", "count_ment", "zero_Intercept"]
    np.testing.assert_allclose(res.params.to_numpy(), expected, rtol=1e-5)
    np.testing.assert_allclose(res.bse.to_numpy(), reference["se"], rtol=1e-5)
    np.testing.assert_allclose(res.llf, reference["loglik"], rtol=1e-9)
    assert res.aic == pytest.approx(-2 * reference["loglik"] + 2 * 7)


CASES = {
    "zinb": lambda b, **kw: gf.zeroinfl(FORMULA + " | ment", b, "negbin", **kw),
    "zip_full": lambda b, **kw: gf.zeroinfl(FORMULA, b, **kw),
    "zigeom": lambda b, **kw: gf.zeroinfl("art ~ fem + kid5 + ment | ment", b, "geometric", **kw),
    "hurdle_p": lambda b, **kw: gf.hurdle(FORMULA + " | fem + ment", b, **kw),
    "hurdle_nb": lambda b, **kw: gf.hurdle(FORMULA, b, "negbin", **kw),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request, biochem):
    return R[request.param], CASES[request.param](biochem, **PSCL)


def test_estimates_and_likelihood_match_pscl(case):
    reference, res = case
    np.testing.assert_allclose(res.params.to_numpy(), reference["coef"], rtol=1e-5)
    np.testing.assert_allclose(res.bse.to_numpy(), reference["se"], rtol=1e-5)
    np.testing.assert_allclose(res.llf, reference["loglik"], rtol=1e-9)
    assert res.converged


def test_theta_matches_pscl(case):
    reference, res = case
    if reference["theta"] in ("NA", None):
        assert res.theta in (None, 1.0)
        return
    np.testing.assert_allclose(res.theta, reference["theta"], rtol=1e-5)
    np.testing.assert_allclose(res.log_theta_se, reference["se_logtheta"], rtol=1e-4)
    assert res.theta_se == pytest.approx(res.theta * res.log_theta_se)


def test_predictions_match_pscl(case):
    reference, res = case
    np.testing.assert_allclose(res.predict(type="response").to_numpy()[:5], reference["fitted"], rtol=1e-5)
    np.testing.assert_allclose(res.predict(type="zero").to_numpy()[:5], reference["zero"], rtol=1e-5)
    np.testing.assert_allclose(res.predict(type="prob").to_numpy()[:3, :4], np.array(reference["prob"]), rtol=1e-5)


def test_probabilities_are_a_distribution_with_the_predicted_mean(case):
    _, res = case
    probabilities = res.predict(type="prob", max_count=2000)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-8)
    mean = probabilities.to_numpy() @ np.arange(2001)
    np.testing.assert_allclose(mean, res.predict(type="response"), rtol=1e-7)


def test_summary_shows_both_parts(case):
    _, res = case
    text = str(res.summary())
    assert "count_Intercept" in text and "zero_" in text and "Log-Likelihood" in text
    if res.spec.dist.has_theta:
        assert "Theta:" in text


def test_prediction_on_new_data(biochem):
    res = gf.zeroinfl(FORMULA + " | ment", biochem, "negbin")
    np.testing.assert_allclose(res.predict(biochem.iloc[:10]), res.fittedvalues.iloc[:10], rtol=1e-12)
    np.testing.assert_allclose(res.predict(biochem.iloc[:10], type="count"), res.predict(type="count")[:10])


def test_without_bar_both_parts_use_the_same_regressors(biochem):
    res = gf.zeroinfl(FORMULA, biochem)
    assert len(res.params.filter(like="zero_")) == 6


def test_poisson_against_negative_binomial_matches_r(biochem):
    reference = EXTRAS["biochem_compare"]
    poisson = gf.glm(FORMULA, biochem, "poisson")
    negbin = gf.glm(FORMULA, biochem, "negative_binomial")
    np.testing.assert_allclose([poisson.aic, negbin.aic, poisson.bic, negbin.bic],
                               [reference["poisson_aic"], reference["nb_aic"], reference["poisson_bic"],
                                reference["nb_bic"]], rtol=1e-9)
    test = gf.lrtest(poisson, negbin)
    np.testing.assert_allclose(test.statistic, reference["lr_stat"], rtol=1e-6)
    assert test.boundary and test.df == 1
    from scipy import stats

    assert test.pvalue == pytest.approx(0.5 * stats.chi2.sf(reference["lr_stat"], 1))


def test_lrtest_of_nested_glms_is_not_halved(biochem):
    small = gf.glm("art ~ fem + mar", biochem, "poisson")
    large = gf.glm(FORMULA, biochem, "poisson")
    test = gf.lrtest(large, small)  # order does not matter
    assert not test.boundary and test.df == 3
    assert test.statistic == pytest.approx(small.deviance - large.deviance)


def test_vuong_matches_pscl(biochem):
    zip_model = gf.zeroinfl(FORMULA + " | 1", biochem)
    poisson = gf.glm(FORMULA, biochem, "poisson")
    table = gf.vuong(zip_model, poisson)
    np.testing.assert_allclose(table.loc["Raw", "statistic"], R["vuong_zip_pois"]["raw"], rtol=1e-6)
    assert table.loc["Raw", "hypothesis"] == "model1 > model2"
    n, k = poisson.nobs, 1
    m = zip_model.loglik_obs() - poisson.loglik_obs() - k / n
    assert table.loc["AIC-corrected", "statistic"] == pytest.approx(np.sqrt(n) * m.mean() / m.std(ddof=1))


def test_compare_families_table(biochem):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gf.GLMWarning)
        table = gf.compare_families(FORMULA, biochem)
    assert list(table.columns) == ["label", "family", "n_params", "logLik", "AIC", "BIC", "deviance",
                                   "dispersion_or_theta", "converged"]
    assert list(table.label) == ["poisson", "quasipoisson", "negative_binomial", "zip", "zinb"]
    assert table.set_index("label").loc["zinb", "n_params"] == 13
    assert np.isnan(table.set_index("label").loc["quasipoisson", "AIC"])
    np.testing.assert_allclose(table.set_index("label").loc["negative_binomial", "AIC"],
                               EXTRAS["biochem_compare"]["nb_aic"], rtol=1e-9)


def test_compare_accepts_any_models(biochem):
    models = [gf.glm(FORMULA, biochem, "poisson"), gf.hurdle(FORMULA, biochem)]
    table = gf.compare(models, labels=["p", "h"])
    assert table.family.tolist() == ["poisson", "hurdle-poisson"]


@pytest.mark.parametrize(
    ("change", "message"),
    [(lambda y: y - 1, "negative"), (lambda y: y + 0.5, "not whole numbers"), (lambda y: y + 1, "no zeros")],
)
@pytest.mark.parametrize("model", [gf.zeroinfl, gf.hurdle])
def test_bad_responses(biochem, model, change, message):
    with pytest.raises(gf.ResponseError, match=message):
        model(FORMULA, biochem.assign(art=change(biochem.art)))


def test_unknown_distribution(biochem):
    with pytest.raises(gf.FamilyError, match="dist must be one of"):
        gf.zeroinfl(FORMULA, biochem, "binomial")


def test_unidentified_zero_part_warns(biochem):
    with pytest.warns(gf.ConvergenceWarning, match="not identified"):
        gf.zeroinfl("art ~ fem + kid5 + ment | 1", biochem, "geometric")


def test_missing_values_in_either_part_drop_the_row(biochem):
    data = biochem.copy()
    data.loc[3, "ment"] = np.nan
    data.loc[7, "phd"] = np.nan
    res = gf.zeroinfl("art ~ fem + ment | phd", data)
    assert res.n_dropped == 2 and res.nobs == len(data) - 2


# -- overdispersion test, against AER::dispersiontest (figures in tests/data/reference/count_models.R) -------
def test_dispersion_test_matches_aer(biochem):
    poisson = gf.glm(FORMULA, biochem, "poisson")
    default = poisson.dispersion_test()
    np.testing.assert_allclose([default.statistic, default.pvalue, default.estimate],
                               [5.78246363403923, 3.68072431251516e-09, 1.82453981321258], rtol=1e-8)
    nb2 = poisson.dispersion_test(trafo=2)
    np.testing.assert_allclose([nb2.statistic, nb2.pvalue, nb2.estimate],
                               [6.52970183992659, 3.295037393567e-11, 0.509121569087058], rtol=1e-8)
    two_sided = poisson.dispersion_test(trafo=1, alternative="two-sided")
    np.testing.assert_allclose([two_sided.statistic, two_sided.pvalue, two_sided.estimate],
                               [5.78246363403922, 7.36144862503048e-09, 0.824539813212575], rtol=1e-8)


def test_dispersion_test_is_for_poisson(biochem):
    with pytest.raises(gf.FamilyError, match="poisson fits"):
        gf.glm(FORMULA, biochem, "quasipoisson").dispersion_test()


def test_poisson_summary_shows_dispersion_ratios(biochem):
    text = str(gf.glm(FORMULA, biochem, "poisson").summary())
    assert "Deviance/df" in text and "Pearson chi2/df" in text


# -- the fitting machinery: analytic Hessian, EM + Newton, the categorical design -----------------------------
@pytest.mark.parametrize("name", sorted(CASES))
def test_analytic_hessian_is_the_derivative_of_the_analytic_score(biochem, name):
    """Closed form against central differences of the closed-form score (step 1e-5 max(1, |b|)) at the optimum."""
    from glmformula.count.optimize import numerical_hessian

    res = CASES[name](biochem)
    likelihood, params = res._likelihood, res._optimum.params
    _, gradient, information = likelihood.derivatives(params)
    np.testing.assert_allclose(gradient, likelihood.gradient(params), rtol=1e-12, atol=1e-12)
    difference = -numerical_hessian(likelihood.gradient, params)
    np.testing.assert_allclose(information, difference, rtol=0, atol=1e-7 * np.abs(information).max())
    k = res.params.size
    np.testing.assert_allclose(res.cov_params().to_numpy(), np.linalg.inv(information)[:k, :k], rtol=1e-8)


@pytest.mark.parametrize("link", ["probit", "cloglog", "cauchit", "log"])
@pytest.mark.parametrize("kind", ["zeroinfl", "hurdle"])
def test_analytic_hessian_with_other_zero_links(biochem, kind, link):
    """Non-canonical links: the covariance is the inverse of the observed information, not Fisher's."""
    from glmformula.count.optimize import numerical_hessian

    model = gf.zeroinfl if kind == "zeroinfl" else gf.hurdle
    data = biochem.assign(w=np.resize([1.0, 2.0, 0.5], len(biochem)))
    zero_terms = "fem + ment" if link != "log" else "fem"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gf.ConvergenceWarning)
        res = model(f"art ~ fem + kid5 + ment + offset(log(phd)) | {zero_terms}", data, link=link, weights="w")
    likelihood, params = res._likelihood, res._optimum.params
    _, gradient, information = likelihood.derivatives(params)
    assert np.max(np.abs(gradient)) < 1e-6
    difference = -numerical_hessian(likelihood.gradient, params)
    np.testing.assert_allclose(information, difference, rtol=0, atol=1e-7 * np.abs(information).max())


@pytest.mark.parametrize("name", ["zinb", "zip_full", "zigeom"])
def test_em_and_newton_reach_the_bfgs_optimum(biochem, name):
    """pscl's route (BFGS with the analytic score, then Newton polish) finds the same optimum."""
    from glmformula.count.fitting import binomial_start, poisson_start
    from glmformula.count.optimize import maximize

    res = CASES[name](biochem)
    likelihood = res._likelihood
    data = likelihood.data
    start = np.concatenate([poisson_start(data.X, data.y, data.weights, data.offset_x),  # pscl's start
                            binomial_start(data.Z, data.y == 0, data.weights, data.offset_z, likelihood.link),
                            np.zeros(int(likelihood.has_theta))])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gf.ConvergenceWarning)  # its finite-difference Hessian: not the point here
        bfgs = maximize(likelihood, start)
    np.testing.assert_allclose(res._optimum.params, bfgs.params, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(res.llf, bfgs.loglik, rtol=1e-12)


def test_integer_weights_are_repeated_rows(biochem):
    weights = np.resize([1, 2, 3], len(biochem))
    weighted = gf.zeroinfl(FORMULA + " | ment", biochem, "negbin", weights=weights)
    repeated = gf.zeroinfl(FORMULA + " | ment", biochem.loc[biochem.index.repeat(weights)], "negbin")
    np.testing.assert_allclose(weighted.params, repeated.params, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(weighted.bse, repeated.bse, rtol=1e-6)
    np.testing.assert_allclose(weighted.llf, repeated.llf, rtol=1e-12)


def test_offsets_in_both_parts_shift_the_linear_predictors(biochem):
    """offset() on each side of the bar enters that part's linear predictor, and predictions replay it."""
    data = biochem.assign(t=np.resize([0.5, 1.0, 2.0], len(biochem)))
    res = gf.hurdle("art ~ fem + ment + offset(log(t)) | ment + offset(0.5 * t)", data, "negbin")
    beta, gamma = res.params.filter(like="count_").to_numpy(), res.params.filter(like="zero_").to_numpy()
    mu = np.exp(beta[0] + beta[1] * (data.fem == "Women") + beta[2] * data.ment + np.log(data.t))
    np.testing.assert_allclose(res.predict(type="count"), mu, rtol=1e-10)
    pi = 1 / (1 + np.exp(-(gamma[0] + gamma[1] * data.ment + 0.5 * data.t)))
    p0 = (res.theta / (res.theta + mu)) ** res.theta
    np.testing.assert_allclose(res.predict(type="zero"), pi / (1 - p0), rtol=1e-10)
    np.testing.assert_allclose(res.predict(data.iloc[:7]), res.fittedvalues.iloc[:7], rtol=1e-12)


def _many_levels(n_levels=1000, per_level=4, seed=3):
    rng = np.random.default_rng(seed)
    n = n_levels * per_level
    frame = pd.DataFrame({"x": rng.normal(size=n), "z": rng.normal(size=n),
                          "g": pd.Categorical(np.repeat(np.arange(n_levels), per_level).astype(str)),
                          "h": pd.Categorical(rng.integers(0, 30, n).astype(str)),
                          "t": rng.uniform(0.5, 2.0, n)})
    effects = rng.normal(scale=0.3, size=n_levels)
    mu = np.exp(2.0 + 0.3 * frame.x + effects[frame.g.cat.codes] + np.log(frame.t))
    y = rng.negative_binomial(3.0, 3.0 / (3.0 + mu))
    y[rng.uniform(size=n) < 0.1] = 0
    return frame.assign(y=y)


@pytest.mark.parametrize(("model", "dist"), [(gf.zeroinfl, "negbin"), (gf.hurdle, "poisson")])
def test_a_1000_level_factor_on_the_categorical_design_equals_the_dense_fit(model, dist):
    from glmformula.design.categorical import CategoricalDesign
    from glmformula.design.dense import DenseDesign

    data = _many_levels()
    formula = "y ~ x + g + offset(log(t)) | z + h"
    with gf.settings.override(dense_cells=0):  # codes, no dummies, however small the data
        fast = model(formula, data, dist)
    with gf.settings.override(fast_categorical_design=False):  # formulaic's dense dummies
        dense = model(formula, data, dist)
    assert isinstance(fast._likelihood.data.X, CategoricalDesign) and isinstance(fast._likelihood.data.Z,
                                                                                 CategoricalDesign)
    assert isinstance(dense._likelihood.data.X, DenseDesign)
    assert fast.params.index.equals(dense.params.index) and fast.converged and dense.converged
    np.testing.assert_allclose(fast.params, dense.params, rtol=0, atol=1e-8)
    np.testing.assert_allclose(fast.bse, dense.bse, rtol=1e-7)
    np.testing.assert_allclose(fast.llf, dense.llf, rtol=1e-12)


def test_design_products_of_categorical_designs_match_the_dense_ones():
    from glmformula.count.design_products import cross_gram, signed_gram, take_rows
    from glmformula.design.dense import DenseDesign
    from glmformula.formula.frame import build_model_frame

    data = _many_levels(n_levels=80, per_level=5)
    with gf.settings.override(dense_cells=0):
        x = build_model_frame("y ~ x + g + g:z", data).design
        z = build_model_frame("y ~ z + h", data).design
    w = np.random.default_rng(0).normal(size=len(data))  # either sign
    dense_x, dense_z = x.to_dense(), z.to_dense()
    np.testing.assert_allclose(cross_gram(x, z, w), dense_x.T @ (w[:, None] * dense_z), atol=1e-10)
    np.testing.assert_allclose(signed_gram(x, w), dense_x.T @ (w[:, None] * dense_x), atol=1e-10)
    np.testing.assert_allclose(signed_gram(DenseDesign(dense_z), w), dense_z.T @ (w[:, None] * dense_z), atol=1e-10)
    rows = np.flatnonzero(w > 0)
    np.testing.assert_array_equal(take_rows(x, rows).to_dense(), dense_x[rows])


def test_hessian_step_is_checked(biochem):
    with pytest.raises(gf.DataError, match="hessian_step"):
        gf.zeroinfl(FORMULA, biochem, hessian_step=-1)


@pytest.mark.parametrize("name", ["logit", "probit", "cauchit", "cloglog", "loglog", "log", "identity"])
def test_second_derivatives_of_the_inverse_links(name):
    from glmformula.count.link_derivatives import mu_eta_derivative
    from glmformula.families.registry import get_link

    link = get_link(name)
    eta = np.linspace(-3.0, 0.5 if name == "log" else 3.0, 41)
    step = 1e-5
    difference = (link.mu_eta(eta + step) - link.mu_eta(eta - step)) / (2 * step)
    np.testing.assert_allclose(mu_eta_derivative(link, eta), difference, rtol=1e-6, atol=1e-9)


def test_logit_inverse_and_mu_eta_are_the_links_own_numbers():
    """The fused logit (one exp) gives bit for bit ``Logit.inverse`` and ``Logit.mu_eta``, clamps included."""
    from glmformula.count.link_derivatives import inverse_and_mu_eta
    from glmformula.families.links import Logit, Probit

    eta = np.concatenate([np.random.default_rng(3).normal(scale=12, size=5000), [-1e3, -31, -30, 0, 30, 31, 1e3]])
    for link in (Logit(), Probit()):
        pi, mu_eta = inverse_and_mu_eta(link, eta)
        assert np.array_equal(pi, link.inverse(eta)) and np.array_equal(mu_eta, link.mu_eta(eta))


@pytest.mark.parametrize("name", ["zinb", "zip_full"])
def test_logistic_newton_start_is_the_binomial_glm(biochem, name):
    """The zero part's start by Newton from 0 (logit) is the IRLS engine's binomial GLM (to its tolerance)."""
    from glmformula.count.fitting import _binomial_irls, binomial_start
    from glmformula.families.links import Logit

    data = CASES[name](biochem)._likelihood.data
    args = (data.Z, data.y == 0, data.weights, data.offset_z, Logit())
    np.testing.assert_allclose(binomial_start(*args), _binomial_irls(*args), rtol=1e-5, atol=1e-6)
