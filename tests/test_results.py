"""Results: residuals and intervals against R, the summary's content and stability."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import REFERENCE_DIR
from scipy import stats

import glmformula as gf

EXTRAS = json.loads((REFERENCE_DIR / "_extras.json").read_text())


@pytest.fixture(scope="module")
def dobson():
    return gf.glm("counts ~ outcome + treatment", gf.datasets.load("dobson"), "poisson")


@pytest.mark.parametrize("kind", ["deviance", "pearson", "working", "response"])
def test_residuals_match_r(dobson, kind):
    expected = EXTRAS["dobson_influence"][f"resid_{kind}"]
    np.testing.assert_allclose(dobson.resid(kind).to_numpy(), expected, rtol=1e-6, atol=1e-12)


def test_unknown_residual_type(dobson):
    with pytest.raises(ValueError, match="unknown residual type 'raw'"):
        dobson.resid("raw")


def test_deviance_is_sum_of_squared_deviance_residuals(dobson):
    assert np.sum(dobson.resid("deviance") ** 2) == pytest.approx(dobson.deviance)
    assert np.sum(dobson.resid("pearson") ** 2) == pytest.approx(dobson.pearson_chi2)


def test_fitted_values_and_linear_predictor(insurance):
    res = gf.glm("Claims ~ Group + offset(log(Holders))", insurance, "poisson")
    np.testing.assert_allclose(np.log(res.fittedvalues), res.linear_predictor)
    assert res.fittedvalues.index.equals(insurance.index)


def test_wald_inference_with_fixed_scale_uses_normal(dobson):
    ci = dobson.conf_int(0.1)
    z = stats.norm.ppf(0.95)
    np.testing.assert_allclose(ci.iloc[:, 0], dobson.params - z * dobson.bse)
    np.testing.assert_allclose(dobson.pvalues, 2 * stats.norm.sf(np.abs(dobson.params / dobson.bse)))
    assert not dobson.use_t and list(ci.columns) == ["0.05", "0.95"]


def test_estimated_scale_uses_t_on_residual_df(insurance):
    res = gf.glm("Claims ~ Group + Age + offset(log(Holders))", insurance, "quasipoisson")
    assert res.use_t
    np.testing.assert_allclose(res.pvalues, 2 * stats.t.sf(np.abs(res.tvalues), res.df_resid))
    q = stats.t.ppf(0.975, res.df_resid)
    np.testing.assert_allclose(res.conf_int().iloc[:, 1], res.params + q * res.bse)


def test_scale_options(insurance):
    formula = "Claims ~ Group + Age + offset(log(Holders))"
    pearson = gf.glm(formula, insurance, "quasipoisson")
    deviance = gf.glm(formula, insurance, "quasipoisson", scale="deviance")
    fixed = gf.glm(formula, insurance, "quasipoisson", scale=1.0)
    poisson = gf.glm(formula, insurance, "poisson")
    assert deviance.scale == pytest.approx(deviance.deviance / deviance.df_resid)
    np.testing.assert_allclose(fixed.bse, poisson.bse)
    assert not fixed.use_t and pearson.scale != deviance.scale


def test_cov_params_diagonal_is_bse_squared(dobson):
    np.testing.assert_allclose(np.diag(dobson.cov_params()), dobson.bse**2)


def test_aic_bic_llf_relations(dobson):
    assert dobson.aic == pytest.approx(-2 * dobson.llf + 2 * 5)
    assert dobson.bic == pytest.approx(-2 * dobson.llf + np.log(9) * 5)
    gaussian = gf.glm("mpg ~ wt", gf.datasets.load("mtcars"))
    assert gaussian.df_loglik == 3  # two coefficients and the variance, as R's logLik


def test_summary_header_and_table(dobson):
    text = str(dobson.summary())
    for label in ["Dep. Variable:", "No. Observations:", "Model Family:", "Link Function:", "Df Residuals:",
                  "Df Model:", "Scale:", "Log-Likelihood:", "Deviance:", "Null deviance:", "Pearson chi2:",
                  "AIC:", "No. Iterations:", "Covariance Type:", "Rows dropped (NA):"]:
        assert label in text
    assert "P>|z|" in text and "[0.025" in text and "0.975]" in text
    assert "outcome[T.o2]" in text and "poisson" in text
    assert str(dobson) == text


def test_summary_for_estimated_scale_shows_t():
    res = gf.glm("lot1 ~ log(u)", gf.datasets.load("clotting"), "gamma")
    assert "P>|t|" in str(res.summary())


def test_summary_marks_aliased_coefficients():
    with pytest.warns(gf.RankDeficiencyWarning):
        res = gf.glm("mpg ~ hp + wt + hpwt", gf.datasets.load("mtcars"), "gamma(link=log)")
    text = str(res.summary())
    assert "hpwt       (aliased)" in text and "not defined because of singularities" in text


def test_summary_html_is_well_formed(dobson):
    from html.parser import HTMLParser

    class Checker(HTMLParser):
        def __init__(self):
            super().__init__()
            self.stack = []

        def handle_starttag(self, tag, attrs):
            self.stack.append(tag)

        def handle_endtag(self, tag):
            assert self.stack.pop() == tag

    checker = Checker()
    checker.feed(dobson._repr_html_())
    assert checker.stack == []


def test_repr_is_short(dobson):
    assert repr(dobson) == "<GLMResults poisson(log): 'counts ~ outcome + treatment', n=9>"
