"""summary(style="r") prints what R 4.2 prints for the same model, character for character.

The expected text is R's own output, written by tests/data/reference/summary_print.R.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import glmformula as gf
from glmformula.report import r_format
from glmformula.report.r_deparse import deparse, r_coefficient_names

REFERENCE = Path(__file__).parent / "data" / "reference"

CASES = {
    "birthwt_logit": ("low ~ age + lwt + factor(race) + smoke", "birthwt", "binomial"),
    "budworm_cbind": ("cbind(numdead, numalive) ~ sex*ldose", "budworm", "binomial"),
    "mtcars_quadratic": ("mpg ~ wt + I(wt^2)", "mtcars", "gaussian"),
    "clotting_gamma": ("lot1 ~ log(u)", "clotting", "Gamma"),
    "quine_nb": ("Days ~ Sex + Age", "quine", "negative_binomial"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_r_style_summary_prints_as_r(case):
    formula, dataset, family = CASES[case]
    res = gf.glm(formula, gf.datasets.load(dataset), family)
    expected = (REFERENCE / f"summary_{case}.txt").read_text()
    assert str(res.summary(style="r", data_name=dataset)) + "\n" == expected


def test_r_names_stars_and_call():
    res = gf.glm("cbind(numdead, numalive) ~ sex*ldose", gf.datasets.load("budworm"), "binomial")
    text = str(res.summary(style="r"))
    assert "sexM:ldose" in text and "[T." not in text
    assert "Signif. codes:  0 '***' 0.001" in text  # stars are R's default
    assert "data = data)" in text
    assert "Signif. codes" not in str(res.summary(style="r", stars=False))


def test_exp_columns_say_they_are_exponentiated():
    res = gf.glm("low ~ age + smoke", gf.datasets.load("birthwt"), "binomial")
    text = str(res.summary(style="r", exp=True))
    assert "exp(Estimate)" in text and "exp(2.5 %)" in text and "exp(97.5 %)" in text and "odds ratios" in text
    identity = str(gf.glm("mpg ~ wt", gf.datasets.load("mtcars")).summary(style="r", exp=True))
    assert "identity link" not in identity and "ratios" not in identity
    statsmodels_layout = str(gf.glm("mpg ~ wt", gf.datasets.load("mtcars")).summary(exp=True))
    assert "identity link" not in statsmodels_layout and "ratios" not in statsmodels_layout


def test_aliased_rows_print_na_and_the_singularity_count():
    data = gf.datasets.load("mtcars").assign(wt2=lambda d: 2 * d.wt)
    with pytest.warns(gf.exceptions.RankDeficiencyWarning):
        res = gf.glm("mpg ~ wt + wt2 + hp", data)
    text = str(res.summary(style="r"))
    assert "Coefficients: (1 not defined because of singularities)" in text
    assert any(line.startswith("wt2") and line.split()[1:] == ["NA"] * 4 for line in text.splitlines())


def test_small_fits_print_every_residual():
    res = gf.glm("lot1 ~ log(u)", gf.datasets.load("clotting").head(6), "Gamma")
    lines = str(res.summary(style="r")).splitlines()
    assert lines[lines.index("Deviance Residuals: ") + 1].split() == ["0", "1", "2", "3", "4", "5"]


def test_r_number_formats():
    # format(c(...), digits = 4) and format.pval in R 4.2
    assert r_format.format_real([0.332452, -0.022478, 1e-10], 4) == [" 3.325e-01", "-2.248e-02", " 1.000e-10"]
    assert r_format.format_real([1126.0472, 203.7454], 5) == ["1126.05", " 203.75"]
    assert r_format.format_one(0.002446059, 7) == "0.002446059"
    assert r_format.format_pvalues([0.5, 1e-20], 3) == ["0.5", "<2e-16"]
    assert r_format.format_pvalues([0.00552, 1e-20], 3) == ["0.00552", "< 2e-16"]
    assert r_format.significance_codes([0.001, 0.0011, 0.05, 0.1, 0.2, np.nan]) == ["***", "**", "*", ".", " ", ""]


def test_deparse_wraps_as_r():
    call = ("glm(formula = yvariable ~ aaaaaaaaaa + bbbbbbbbbb + cccccccccc + dddddddddd*eeeeeeeeee + ffffffffff"
            " + I(aaaaaaaaaa**2) + log(abs(bbbbbbbbbb)), family = poisson(link='log'), data = d)")
    assert deparse(call) == [  # R 4.2's deparse of the same call
        "glm(formula = yvariable ~ aaaaaaaaaa + bbbbbbbbbb + cccccccccc + ",
        "    dddddddddd * eeeeeeeeee + ffffffffff + I(aaaaaaaaaa^2) + ",
        '    log(abs(bbbbbbbbbb)), family = poisson(link = "log"), data = d)',
    ]
    names = ["Intercept", "C(race)[T.2]", "sex[T.M]:ldose", "I(wt ** 2)", "poly(x, 2)[1]", "bs(x, df=4)[2]"]
    assert r_coefficient_names(names, "y ~ factor(race) + sex:ldose") == [
        "(Intercept)", "factor(race)2", "sexM:ldose", "I(wt^2)", "poly(x, 2)1", "bs(x, df = 4)2"]


def _quine_fits():
    quine = gf.datasets.load("quine")
    return (gf.glm("Days ~ Eth + Sex + Age", quine, "poisson"), gf.glm("Days ~ Eth", quine, "poisson"))


def _anova_case(name: str):
    """The glmformula table of each case of tests/data/reference/anova_print.R."""
    full, small = _quine_fits() if name.startswith("quine") else (None, None)
    if name.startswith("clotting"):
        full = gf.glm("lot1 ~ log(u)", gf.datasets.load("clotting"), "Gamma")
    elif name.startswith("birthwt"):
        full = gf.glm("low ~ age + lwt + factor(race) + smoke", gf.datasets.load("birthwt"), "binomial")
    elif name.startswith("budworm"):
        full = gf.glm("cbind(numdead, numalive) ~ sex*ldose", gf.datasets.load("budworm"), "binomial")
    tables = {
        "quine_sequential_chisq": lambda: full.anova(test="Chisq"),
        "quine_compare_chisq": lambda: gf.anova(small, full, test="Chisq"),
        "quine_drop1_chisq": lambda: full.drop1(test="Chisq"),
        "quine_add1_f": lambda: full.add1("~ Lrn", test="F"),
        "clotting_sequential_f": lambda: full.anova(test="F"),
        "clotting_drop1_none": lambda: full.drop1(),
        "birthwt_sequential_none": lambda: full.anova(),
        "birthwt_drop1_lrt": lambda: full.drop1(test="LRT"),
        "budworm_sequential_rao": lambda: full.anova(test="Rao"),
    }
    return tables[name]()


ANOVA_CASES = ["quine_sequential_chisq", "quine_compare_chisq", "quine_drop1_chisq", "quine_add1_f",
               "clotting_sequential_f", "clotting_drop1_none", "birthwt_sequential_none", "birthwt_drop1_lrt",
               "budworm_sequential_rao"]


@pytest.mark.parametrize("case", ANOVA_CASES)
@pytest.mark.filterwarnings("ignore:using F test")
def test_anova_tables_print_as_r(case):
    table = _anova_case(case)
    expected = (REFERENCE / f"anova_{case}.txt").read_text()
    assert str(table) + "\n" == expected
    assert repr(table) == str(table)


def test_anova_table_stays_a_dataframe():
    full, _ = _quine_fits()
    table = full.anova(test="Chisq")
    assert table.attrs["title"].startswith("Analysis of Deviance Table")
    assert type(table[["Df"]]) is pd.DataFrame and type(table.round(2)) is pd.DataFrame
    assert table.loc["Age", "Df"] == 3


def test_infinite_log_likelihood_prints_as_infinite():
    """A Gaussian fit with zero weights has logLik -Inf and AIC Inf in R: printed so, not as nan."""
    data = gf.datasets.load("mtcars")
    weights = np.ones(len(data))
    weights[:3] = 0
    res = gf.glm("mpg ~ wt", data=data, family="gaussian", weights=weights)
    assert res.llf == -np.inf and res.aic == np.inf
    text = str(res.summary())
    assert "Log-Likelihood:                  -inf" in text and "AIC:                              inf" in text
    assert "nan" not in text


@pytest.mark.parametrize("case", ["quine_sequential_chisq", "quine_drop1_chisq", "quine_add1_f"])
@pytest.mark.filterwarnings("ignore:using F test")
def test_anova_refits_stay_on_the_block_design(case, monkeypatch):
    """With the factors as categorical blocks (no dense dummies), anova/drop1/add1 refit on the blocks
    (``to_dense`` is never called) and print R's table."""
    from glmformula import settings
    from glmformula.design.categorical import CategoricalDesign

    def refuse(self):
        raise AssertionError("the design was densified")

    with settings.override(dense_cells=0):
        monkeypatch.setattr(CategoricalDesign, "to_dense", refuse)
        assert isinstance(_quine_fits()[0].model_data.design, CategoricalDesign)
        table = _anova_case(case)
    assert str(table) + "\n" == (REFERENCE / f"anova_{case}.txt").read_text()
