"""Results: residuals and intervals against R, the summary's content and stability."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import REFERENCE_DIR
from scipy import stats

import glmformula as gf
from glmformula import settings
from glmformula.engine import linalg

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
    assert not dobson.use_t and list(ci.columns) == [0, 1]  # statsmodels; confint() has R's "5 %", "95 %"


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


def test_summary_from_cells_renders_as_from_its_table(dobson):
    """A summary handed its coefficients as arrays prints what it prints from the DataFrame they make,
    in every format, and ``table`` is that DataFrame (with the estimates' values and names)."""
    from glmformula.report.summary import Summary, TableCells

    summary = dobson.summary()
    table = summary.table
    cells = TableCells(list(table.index), list(table.columns), table.to_numpy(dtype=float))
    parts = (summary.title, summary.header)
    from_cells = Summary(*parts, cells, summary.notes, summary.header_split)
    from_frame = Summary(*parts, table.copy(), summary.notes, summary.header_split)
    pd.testing.assert_frame_equal(from_cells.table, table)
    for render in ("as_text", "as_markdown", "as_html", "as_latex"):
        assert getattr(summary, render)() == getattr(from_frame, render)() == getattr(from_cells, render)()
    np.testing.assert_array_equal(summary.table["coef"].to_numpy(), dobson.params.to_numpy())
    np.testing.assert_array_equal(summary.table["std err"].to_numpy(), dobson.bse.to_numpy())
    assert list(summary.table.index) == list(dobson.params.index)
    assert summary.table.index.dtype == object and summary.table.columns.dtype == object
    aliased = TableCells(["a", "b"], ["coef", "std err"], np.array([[1.5, 0.25], [np.nan, np.nan]]))
    markdown = Summary("t", [], aliased).as_markdown().splitlines()
    assert [line.replace(" ", "") for line in markdown[-2:]] == ["|a|1.5000|0.2500|", "|b|(aliased)||"]
    for render in ("as_text", "as_markdown", "as_html", "as_latex"):
        assert getattr(Summary("t", [], aliased), render)() == getattr(Summary("t", [], aliased.frame()), render)()


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


# -- output formats --------------------------------------------------------------------
def html_is_well_formed(text: str) -> bool:
    from html.parser import HTMLParser

    void = {"br", "hr", "img", "meta", "input"}

    class Checker(HTMLParser):
        def __init__(self):
            super().__init__()
            self.stack, self.ok = [], True

        def handle_starttag(self, tag, attrs):
            if tag not in void:
                self.stack.append(tag)

        def handle_endtag(self, tag):
            self.ok &= bool(self.stack) and self.stack.pop() == tag

    checker = Checker()
    checker.feed(text)
    checker.close()
    return checker.ok and not checker.stack


def latex_is_balanced(text: str) -> bool:
    import re

    stack = []
    for kind, name in re.findall(r"\\(begin|end)\{(\w+)\}", text):
        if kind == "begin":
            stack.append(name)
        elif not stack or stack.pop() != name:
            return False
    braces = 0
    for index, char in enumerate(text):
        if char in "{}" and (index == 0 or text[index - 1] != "\\"):
            braces += 1 if char == "{" else -1
            if braces < 0:
                return False
    return not stack and braces == 0


def markdown_tables_are_aligned(text: str) -> bool:
    blocks, current = [], []
    for line in text.splitlines():
        if line.startswith("|"):
            current.append(line)
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    for block in blocks:
        pipes = {tuple(i for i, c in enumerate(line) if c == "|" and line[i - 1] != "\\") for line in block}
        if len(pipes) != 1:
            return False
    return bool(blocks)


@pytest.fixture(scope="module")
def summaries(dobson):
    small = gf.glm("counts ~ outcome", gf.datasets.load("dobson"), "poisson")
    return [dobson.summary(), dobson.summary(style="r", stars=True), dobson.summary(exp=True, stars=True),
            gf.table([small, dobson], labels=["small", "full & <b>"])]


def test_html_is_valid(summaries):
    for summary in summaries:
        assert html_is_well_formed(summary.as_html())
    assert "full &amp; &lt;b&gt;" in summaries[3].as_html()


def test_latex_has_balanced_environments(summaries):
    for summary in summaries:
        text = summary.as_latex()
        assert latex_is_balanced(text) and text.startswith("\\begin{table}")
    assert "full \\& \\ensuremath{<}b" in summaries[3].as_latex()


def test_markdown_columns_are_aligned(summaries):
    for summary in summaries:
        assert markdown_tables_are_aligned(summary.as_markdown())


def test_exp_summary_shows_ratios(dobson):
    text = str(dobson.summary(exp=True))
    assert "exp(coef)" in text and "rate ratios" in text
    assert f"{np.exp(dobson.params['Intercept']):.4f}" in text
    odds = gf.glm("am ~ wt", gf.datasets.load("mtcars"), "binomial").summary(exp=True)
    assert "odds ratios" in str(odds)


def test_stars_follow_r_codes():
    from glmformula.report.summary import significance_stars

    p = pd.Series([0.0001, 0.001, 0.004, 0.01, 0.03, 0.05, 0.07, 0.5, np.nan])  # symnum: p <= cut-point
    assert significance_stars(p).tolist() == ["***", "***", "**", "**", "*", "*", ".", "", ""]


def test_r_style_summary(dobson):
    text = str(dobson.summary(style="r"))
    for fragment in ["Call:", "Coefficients:", "Estimate", "Std. Error", "z value", "Pr(>|z|)", "<2e-16",
                     "(Dispersion parameter for poisson family taken to be 1)", "Null deviance: 10.5814  on 8",
                     "Residual deviance:  5.1291  on 4", "AIC: 56.761", "Number of Fisher Scoring iterations: 4",
                     "outcomeo2", "Deviance Residuals: ", "Signif. codes"]:  # as R prints glm.D93
        assert fragment in text


def test_to_frame_is_tidy(dobson):
    frame = dobson.to_frame()
    assert list(frame.columns) == ["term", "estimate", "std_error", "statistic", "p_value", "conf_low", "conf_high"]
    np.testing.assert_allclose(frame.estimate, dobson.params)
    np.testing.assert_allclose(frame.conf_high, dobson.conf_int().iloc[:, 1])


def test_to_dict_is_json_serialisable():
    with pytest.warns(gf.RankDeficiencyWarning):
        res = gf.glm("mpg ~ hp + wt + hpwt", gf.datasets.load("mtcars"), "gamma(link=log)")
    payload = json.loads(json.dumps(res.to_dict(), allow_nan=False))
    assert payload["params"]["hpwt"] is None and payload["aliased"] == ["hpwt"]
    assert payload["aic"] == pytest.approx(res.aic)


def test_models_table_puts_models_side_by_side(summaries, dobson):
    text = str(summaries[3])
    assert "Standard errors in parentheses." in text and "(0.1709)" in text and "(0.1260)" in text
    assert f"{dobson.aic:.4f}" in text


@pytest.mark.parametrize(("family", "r_null_deviance"), [
    # R 4.2: glm(mpg ~ wt + offset(log(disp)), family=<family>, data=mtcars,
    #            control=glm.control(epsilon=1e-12))$null.deviance
    ("gamma(link='log')", 23.05732120436151789),
    ("inverse_gaussian(link='log')", 0.82533539088561092),
    ("gaussian(link='log')", 6442.38852451666843990),
])
def test_null_deviance_with_an_offset_on_a_log_link(family, r_null_deviance):
    """The closed form of the intercept-only fit with an offset equals R's iterated null model."""
    mtcars = gf.datasets.load("mtcars")
    res = gf.glm("mpg ~ wt + offset(log(disp))", mtcars, family)
    np.testing.assert_allclose(res.null_deviance, r_null_deviance, rtol=1e-10)
    intercept_only = gf.glm("mpg ~ 1 + offset(log(disp))", mtcars, family, tol=1e-14)
    np.testing.assert_allclose(res.null_deviance, intercept_only.deviance, rtol=1e-12)


def test_null_deviance_of_a_tweedie_with_an_offset():
    insurance = gf.datasets.load("insurance")
    family = "tweedie(var_power=1.5, link='log')"
    res = gf.glm("Claims ~ Age + offset(log(Holders))", insurance, family)
    intercept_only = gf.glm("Claims ~ 1 + offset(log(Holders))", insurance, family, tol=1e-14)
    np.testing.assert_allclose(res.null_deviance, intercept_only.deviance, rtol=1e-12)


@pytest.mark.parametrize("family", ["poisson", "Gamma(link='log')", "tweedie(var_power=1.5, link='log')",
                                    "binomial", "gaussian"])
def test_null_deviance_without_an_offset_over_many_row_chunks(family):
    """The intercept-only deviance at the weighted mean, summed by row chunks (a last one partial), equals
    the family's deviance at a constant mean over all rows at once."""
    rng = np.random.default_rng(3)
    n = 4321
    data = pd.DataFrame({"x": rng.normal(size=n), "w": rng.integers(1, 4, n).astype(float)})
    mean = np.exp(0.2 + 0.3 * data.x)
    data["y"] = {"poisson": rng.poisson(mean).astype(float), "binomial": (rng.uniform(size=n) < mean / 4) * 1.0,
                 "gaussian": rng.normal(mean)}.get(family, rng.gamma(2.0, mean / 2.0))
    with settings.override(null_deviance_chunk_rows=1000):
        res = gf.glm("y ~ x", data, family, weights="w")
    y, w = data.y.to_numpy(), data.w.to_numpy()
    expected = gf.family(family).deviance(y, np.full(n, np.sum(w * y) / np.sum(w)), w)
    np.testing.assert_allclose(res.null_deviance, expected, rtol=1e-12)


def test_standard_errors_of_a_large_factor_do_not_form_the_covariance():
    """bse and the summary need only diag((X'WX)^{-1}): the levels x levels covariance of a large factor is
    formed when cov_params() asks for it, and then agrees with the standard errors and with inv(X'WX)."""
    rng = np.random.default_rng(21)
    n = 20_000
    data = pd.DataFrame({"x": rng.normal(size=n), "shop": rng.integers(0, 300, n).astype(str)})
    data["y"] = rng.poisson(np.exp(0.2 + 0.3 * data.x)).astype(float)
    formed = []
    original = linalg.SolveResult.unscaled_covariance

    def counted(self):
        formed.append(self)
        return original(self)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(linalg.SolveResult, "unscaled_covariance", counted)
        res = gf.glm("y ~ x + shop", data, "poisson")
        str(res.summary())
        assert not formed  # not by the fit, bse or the summary: the variances come from the block factor
        cov = res.cov_params().to_numpy()
        assert formed
    X = res.model_data.design.to_dense()
    w = res.working_weights.to_numpy()
    np.testing.assert_allclose(cov, np.linalg.inv(X.T @ (w[:, None] * X)), rtol=1e-8, atol=1e-14)
    np.testing.assert_allclose(np.sqrt(np.diag(cov)), res.bse, rtol=1e-10)


def test_results_pickle_before_and_after_the_covariance_is_formed():
    import pickle

    insurance = gf.datasets.load("insurance")
    res = gf.glm("Claims ~ Age + District + offset(log(Holders))", insurance, "poisson")
    fresh = pickle.loads(pickle.dumps(res))
    pd.testing.assert_frame_equal(fresh.cov_params(), res.cov_params())
    again = pickle.loads(pickle.dumps(res))
    pd.testing.assert_series_equal(again.bse, res.bse)
    assert str(again.summary()) == str(res.summary())
