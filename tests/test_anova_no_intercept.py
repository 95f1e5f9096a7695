"""Analysis of deviance of models without an intercept, against R 4.2.2.

Without an intercept the smallest model of the sequential table has no columns: R's glm.fit fits it as its
``EMPTY`` branch, mu = linkinv(offset), with working weights prior * mu.eta^2 / variance(mu) and working
residuals (y - mu) / mu.eta at that mu, and ``anova(fit, test = "Rao")`` scores the first term against them
(``drop1`` of a model's only term refits the same empty model).  Each table is compared column by column
with R's to 1e-8 relative: sequential (Rao, Chisq, LRT, F), drop1 (Rao, Chisq), add1 (Rao, whose auxiliary
fit R gives the model's offset), ``anova(smaller, fit)`` in both orders, and two models with equal residual Df.

``tests/data/reference/anova_no_intercept.json`` is produced by ``tests/data/reference/anova_no_intercept.R``.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import REFERENCE_DIR, load_as_read_csv

import glmformula as gf
from glmformula.exceptions import FitError

R = json.loads((REFERENCE_DIR / "anova_no_intercept.json").read_text())
RTOL = 1e-8
MODELS = [name for name, case in R.items() if "anova_Rao" in case and isinstance(case["anova_Rao"], dict)]
TABLES = [(name, key) for name in MODELS for key, value in R[name].items()
          if isinstance(value, dict) and "columns" in value]


def r_column(values) -> np.ndarray:
    return np.array([np.nan if v in ("NA", None) else v for v in values], dtype=float)


def assert_table(ours: pd.DataFrame, reference: dict) -> None:
    assert [str(row) for row in ours.index] == reference["rows"]
    for column, values in reference["columns"].items():
        assert column in ours.columns, f"{column} missing from {list(ours.columns)}"
        np.testing.assert_allclose(ours[column].to_numpy(dtype=float), r_column(values), rtol=RTOL, atol=0,
                                   err_msg=column)


def _fit(formula: str, case: dict) -> gf.GLMResults:
    weights = {"weights": case["weights"]} if "weights" in case else {}
    return gf.glm(formula, load_as_read_csv(case["data"]), case["family"], **weights)


@pytest.fixture(scope="module")
def fits() -> dict[str, gf.GLMResults]:
    return {name: _fit(R[name]["formula"], R[name]) for name in MODELS}


def _table(fit: gf.GLMResults, case: dict, key: str) -> pd.DataFrame:
    kind, test = key.split("_")[0], key.split("_")[-1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # F tests of poisson and binomial fits warn, as R's (suppressed there)
        if kind == "anova":
            return fit.anova(test=test)
        if kind == "drop1":
            return fit.drop1(test=test)
        if kind == "add1":
            return fit.add1(case["add1_scope"], test=test)
        smaller = _fit(case["smaller"], case)
        return gf.anova(fit, smaller, test=test) if "reversed" in key else gf.anova(smaller, fit, test=test)


@pytest.mark.parametrize(("name", "key"), TABLES, ids=[f"{name}-{key}" for name, key in TABLES])
def test_table_matches_r(fits, name, key):
    assert_table(_table(fits[name], R[name], key), R[name][key])


@pytest.mark.parametrize("name", MODELS)
def test_null_deviance_is_the_empty_models(fits, name):
    """The NULL row: the deviance at mu = linkinv(offset), on n residual Df, as R's glm."""
    assert fits[name].null_deviance == pytest.approx(R[name]["null_deviance"], rel=RTOL)
    assert fits[name].df_null == R[name]["df_null"]


@pytest.mark.parametrize("name", [n for n in MODELS if "- 1" in R[n]["formula"] or "~ 0 +" in R[n]["formula"]])
def test_first_term_is_scored_against_the_empty_model(fits, name):
    """The bug this file guards: a zero-column refit gave zero working weights, so the first term scored 0."""
    rao = fits[name].anova(test="Rao")["Rao"].to_numpy(dtype=float)
    assert rao[1] > 0
    assert rao[1] == pytest.approx(r_column(R[name]["anova_Rao"]["columns"]["Rao"])[1], rel=RTOL)


def test_models_with_equal_residual_df_score_the_second_on_the_first():
    case = R["equal_df_compare"]
    data = load_as_read_csv(case["data"])
    first, second = (gf.glm(case[which], data, case["family"]) for which in ("first", "second"))
    assert_table(gf.anova(first, second, test="Rao"), case["compare_Rao"])


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")  # the fit's own null deviance, at eta = 0
@pytest.mark.parametrize("call", ["anova_Rao", "drop1_Rao", "drop1_Chisq"])
def test_an_invalid_empty_model_is_refused_as_r_does(call):
    """Gamma's inverse link at eta = 0 (no intercept, no offset): R stops, and so do the refits here."""
    case = R["invalid_empty_model"]
    assert "invalid linear predictor values in empty model" in case[call]
    fit = gf.glm(case["formula"], load_as_read_csv(case["data"]), case["family"])
    kind, test = call.split("_")
    with pytest.raises(FitError, match="invalid linear predictor values in the empty model"):
        fit.anova(test=test) if kind == "anova" else fit.drop1(test=test)


def test_add1_rao_with_an_offset_warns_that_it_gives_rs_figures():
    """R's add1.glm subtracts the offset in the score regression only (its Rao can be 0 where the deviance
    drops): the figures are R's, and a warning points to anova(..., test="Rao") for the score itself."""
    rng = np.random.default_rng(11)
    data = pd.DataFrame({"x": rng.normal(size=300), "g": rng.choice(list("abc"), 300),
                         "t": rng.uniform(1, 5, 300)})
    data["y"] = rng.poisson(data.t * np.exp(0.5 * data.x))
    with_offset = gf.glm("y ~ g + offset(log(t))", data, "poisson")
    with pytest.warns(gf.GLMWarning, match="R's add1.glm figures"):
        with_offset.add1("~ x", test="Rao")
    without = gf.glm("y ~ g", data, "poisson")
    with warnings.catch_warnings():
        warnings.simplefilter("error", gf.GLMWarning)
        without.add1("~ x", test="Rao")
        with_offset.add1("~ x", test="Chisq")


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")
def test_an_invalid_empty_models_null_deviance_is_nan_as_rs():
    """Gamma's inverse link at eta = 0: the empty model's means are infinite, R's null deviance NaN."""
    case = R["invalid_empty_model"]
    assert case["null_deviance"] == "NaN"
    fit = gf.glm(case["formula"], load_as_read_csv(case["data"]), case["family"])
    assert np.isnan(fit.null_deviance)
