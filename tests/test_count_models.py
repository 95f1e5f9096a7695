"""Zero-inflated and hurdle models against pscl (R 4.2.2, pscl 1.5.5), model comparison and
the overdispersion test against AER."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from conftest import REFERENCE_DIR, load_as_read_csv

import glmformula as gf

EXTRAS = json.loads((REFERENCE_DIR / "_extras.json").read_text())
R = json.loads((REFERENCE_DIR / "_count_models.json").read_text())
FORMULA = "art ~ fem + mar + kid5 + phd + ment"


@pytest.fixture(scope="module")
def biochem():
    return load_as_read_csv("biochemists")  # as count_models.R read it


def test_zip_matches_extras(biochem):
    reference = EXTRAS["biochem_zip"]
    res = gf.zeroinfl(reference["formula"], biochem, "poisson")
    expected = list(reference["count"].values()) + list(reference["zero"].values())
    assert list(res.params.index) == ["count_Intercept", "count_fem[T.Women]", "count_mar[T.Single]",
                                      "count_kid5", "count_phd", "count_ment", "zero_Intercept"]
    np.testing.assert_allclose(res.params.to_numpy(), expected, rtol=1e-5)
    np.testing.assert_allclose(res.bse.to_numpy(), reference["se"], rtol=1e-5)
    np.testing.assert_allclose(res.llf, reference["loglik"], rtol=1e-9)
    assert res.aic == pytest.approx(-2 * reference["loglik"] + 2 * 7)


CASES = {
    "zinb": lambda b: gf.zeroinfl(FORMULA + " | ment", b, "negbin"),
    "zip_full": lambda b: gf.zeroinfl(FORMULA, b),
    "zigeom": lambda b: gf.zeroinfl("art ~ fem + kid5 + ment | ment", b, "geometric"),
    "hurdle_p": lambda b: gf.hurdle(FORMULA + " | fem + ment", b),
    "hurdle_nb": lambda b: gf.hurdle(FORMULA, b, "negbin"),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request, biochem):
    return R[request.param], CASES[request.param](biochem)


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
