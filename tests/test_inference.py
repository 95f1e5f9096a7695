"""Inference against R: analysis of deviance, drop1/add1, robust and cluster covariances,
prediction, influence, profile intervals.

``_extras.json`` came with the project; ``_inference.json`` is produced by
``tests/data/reference/inference.R`` with R 4.2.2, MASS and sandwich.
"""

from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import REFERENCE_DIR

import glmformula as gf

EXTRAS = json.loads((REFERENCE_DIR / "_extras.json").read_text())
R = json.loads((REFERENCE_DIR / "_inference.json").read_text())
RTOL = 1e-6
INSURANCE = "Claims ~ C(District) + Group + Age + offset(log(Holders))"


def r_column(values) -> np.ndarray:
    return np.array([np.nan if v in ("NA", None) else v for v in values], dtype=float)


def assert_table(ours: pd.DataFrame, reference: dict, rtol: float = RTOL):
    assert len(ours) == len(reference["rows"])
    for column, values in reference["columns"].items():
        assert column in ours.columns, f"{column} missing from {list(ours.columns)}"
        np.testing.assert_allclose(ours[column].to_numpy(dtype=float), r_column(values), rtol=rtol, atol=1e-300,
                                   err_msg=column)


@pytest.fixture(scope="module")
def insurance():
    return gf.datasets.load("insurance")


@pytest.fixture(scope="module")
def poisson_fit(insurance):
    return gf.glm(INSURANCE, insurance, "poisson")


@pytest.fixture(scope="module")
def quasi_fit(insurance):
    return gf.glm(INSURANCE, insurance, "quasipoisson")


# -- analysis of deviance -----------------------------------------------------------
def test_sequential_anova_matches_extras(poisson_fit):
    reference = EXTRAS["insurance_anova"]
    table = poisson_fit.anova(test="Chisq")
    assert list(table.index) == ["NULL", "C(District)", "Group", "Age"]
    assert list(table.columns) == ["Df", "Deviance", "Resid. Df", "Resid. Dev", "Pr(>Chi)"]
    np.testing.assert_allclose(table["Deviance"].iloc[1:], reference["deviance"][1:], rtol=RTOL)
    np.testing.assert_allclose(table["Resid. Dev"], reference["resid_dev"], rtol=RTOL)
    np.testing.assert_array_equal(table["Resid. Df"], reference["resid_df"])
    np.testing.assert_allclose(table["Pr(>Chi)"].iloc[1:], reference["p"][1:], rtol=RTOL)
    assert poisson_fit.anova(test="LRT").equals(table)


def test_sequential_anova_without_test(poisson_fit):
    assert list(poisson_fit.anova().columns) == ["Df", "Deviance", "Resid. Df", "Resid. Dev"]


def test_quasi_anova_f_test(quasi_fit):
    assert_table(quasi_fit.anova(test="F"), R["quasi_anova_F"])


def test_rao_score_sequential(poisson_fit):
    assert_table(poisson_fit.anova(test="Rao"), R["poisson_anova_Rao"])


def test_f_test_with_fixed_dispersion_warns(poisson_fit):
    with pytest.warns(UserWarning, match="F test with a poisson family is inappropriate"):
        poisson_fit.anova(test="F")


@pytest.fixture(scope="module")
def warpbreaks_models():
    wb = gf.datasets.load("warpbreaks")
    return [gf.glm(f, wb, "poisson") for f in ("breaks ~ wool", "breaks ~ wool + tension", "breaks ~ wool * tension")]


@pytest.mark.parametrize(("test", "key"), [("Chisq", "models_Chisq"), ("Rao", "models_Rao")])
def test_nested_models(warpbreaks_models, test, key):
    assert_table(gf.anova(*warpbreaks_models, test=test), R[key])


def test_nested_quasi_models_f_test():
    wb = gf.datasets.load("warpbreaks")
    models = [gf.glm(f, wb, "quasipoisson") for f in ("breaks ~ wool", "breaks ~ wool * tension")]
    assert_table(gf.anova(*models, test="F"), R["models_quasi_F"])


def test_nested_models_need_the_same_response(warpbreaks_models):
    other = gf.glm("w ~ wool", gf.datasets.load("warpbreaks"), "poisson")
    with pytest.raises(gf.DataError, match="different responses"):
        gf.anova(warpbreaks_models[0], other)


@pytest.mark.parametrize(
    ("family", "test", "key"),
    [("poisson", "Chisq", "poisson_drop1_Chisq"), ("quasipoisson", "F", "quasi_drop1_F"),
     ("poisson", "Rao", "poisson_drop1_Rao")],
)
def test_drop1(insurance, family, test, key):
    table = gf.glm(INSURANCE, insurance, family).drop1(test=test)
    assert list(table.index) == ["<none>", "C(District)", "Group", "Age"]
    assert_table(table, R[key])


@pytest.mark.parametrize(("test", "key"), [("F", "gaussian_drop1_F"), ("Chisq", "gaussian_drop1_Chisq")])
def test_drop1_gaussian(test, key):
    assert_table(gf.glm("mpg ~ wt + hp + qsec", gf.datasets.load("mtcars")).drop1(test=test), R[key])


def test_drop1_respects_marginality():
    res = gf.glm("breaks ~ wool * tension", gf.datasets.load("warpbreaks"), "poisson")
    assert list(res.drop1().index) == ["<none>", "wool:tension"]


def test_add1_gaussian_f():
    res = gf.glm("mpg ~ wt", gf.datasets.load("mtcars"))
    table = res.add1("~ . + hp + qsec", test="F")
    assert list(table.index) == ["<none>", "hp", "qsec"]
    assert_table(table, R["gaussian_add1_F"])
    assert table.equals(res.add1(["hp", "qsec"], test="F"))


@pytest.mark.parametrize(("test", "key"), [("Chisq", "binomial_add1_Chisq"), ("Rao", "binomial_add1_Rao")])
def test_add1_binomial(test, key):
    res = gf.glm("cbind(numdead, numalive) ~ ldose", gf.datasets.load("budworm"), "binomial")
    assert_table(res.add1(["sex"], test=test), R[key])


def test_wald_test_terms_equals_f_test_in_a_linear_model():
    """For a gaussian identity model the Wald F of a term is the partial F of dropping it."""
    res = gf.glm("mpg ~ C(cyl) + wt + hp", gf.datasets.load("mtcars"))
    wald = res.wald_test_terms()
    drop = res.drop1(test="F")
    np.testing.assert_allclose(wald.loc[["C(cyl)", "wt", "hp"], "F"], drop.loc[["C(cyl)", "wt", "hp"], "F value"])
    np.testing.assert_allclose(wald.loc["wt", "Pr(>F)"], res.pvalues["wt"])


def test_wald_test_terms_with_fixed_scale_is_chi2(poisson_fit):
    wald = poisson_fit.wald_test_terms()
    assert list(wald.columns) == ["Df", "chi2", "Pr(>Chi)"] and wald.loc["Group", "Df"] == 3
    np.testing.assert_allclose(wald.loc["Intercept", "chi2"], poisson_fit.tvalues["Intercept"] ** 2)


# -- covariances ----------------------------------------------------------------------
@pytest.mark.parametrize("cov_type", ["HC0", "HC1", "HC3"])
def test_robust_standard_errors_match_sandwich(cov_type):
    res = gf.glm("counts ~ outcome + treatment", gf.datasets.load("dobson"), "poisson", cov_type=cov_type)
    np.testing.assert_allclose(res.bse.to_numpy(), EXTRAS["dobson_robust"][cov_type], rtol=RTOL)
    assert re.search(rf"Covariance Type: +{cov_type}\b", str(res.summary()))


@pytest.fixture(scope="module")
def epil_fit():
    return gf.glm("y ~ lbase * trt + lage + V4", gf.datasets.load("epil"), "poisson")


def test_cluster_covariance_matches_vcovcl(epil_fit):
    clustered = epil_fit.with_cov("cluster", cluster="subject")
    np.testing.assert_allclose(clustered.bse.to_numpy(), R["epil_cluster_se"], rtol=RTOL)
    direct = gf.glm("y ~ lbase * trt + lage + V4", gf.datasets.load("epil"), "poisson", cov_type="cluster",
                    cluster="subject")
    np.testing.assert_allclose(direct.bse.to_numpy(), R["epil_cluster_se"], rtol=RTOL)
    assert clustered.params.equals(epil_fit.params) and epil_fit.cov_type == "nonrobust"


def test_hc2_matches_vcovhc(epil_fit):
    np.testing.assert_allclose(epil_fit.with_cov("HC2").bse.to_numpy(), R["epil_HC2_se"], rtol=RTOL)


def test_cluster_needs_labels(epil_fit):
    with pytest.raises(gf.DataError, match="needs cluster="):
        epil_fit.with_cov("cluster")
    with pytest.raises(gf.DataError, match="cov_type must be one of"):
        epil_fit.with_cov("HC9")


# -- prediction -------------------------------------------------------------------------
def test_prediction_with_standard_errors_matches_r(poisson_fit):
    reference = EXTRAS["insurance_predict"]
    newdata = pd.DataFrame(reference["newdata"])
    link = poisson_fit.predict(newdata, type="link", se=True)
    response = poisson_fit.predict(newdata, se=True)
    np.testing.assert_allclose(link["fit"], reference["link"], rtol=RTOL)
    np.testing.assert_allclose(link["se"], reference["link_se"], rtol=RTOL)
    np.testing.assert_allclose(response["fit"], reference["response"], rtol=RTOL)
    np.testing.assert_allclose(response["se"], reference["response_se"], rtol=RTOL)
    np.testing.assert_allclose(np.log(response["lower"]), link["lower"], rtol=1e-12)
    assert (response["lower"] < response["fit"]).all() and (response["fit"] < response["upper"]).all()


def test_prediction_with_estimated_dispersion_matches_r():
    res = gf.glm("lot1 ~ log(u)", gf.datasets.load("clotting"), "gamma")
    out = res.predict(pd.DataFrame({"u": [7, 30, 120]}), se=True)
    np.testing.assert_allclose(out["fit"], R["clotting_predict"]["fit"], rtol=RTOL)
    np.testing.assert_allclose(out["se"], R["clotting_predict"]["se"], rtol=RTOL)


def test_predict_on_training_data_equals_fitted_values(poisson_fit, insurance):
    np.testing.assert_allclose(poisson_fit.predict(), poisson_fit.fittedvalues)
    np.testing.assert_allclose(poisson_fit.predict(insurance), poisson_fit.fittedvalues, rtol=1e-12)
    np.testing.assert_allclose(poisson_fit.predict(type="link"), poisson_fit.linear_predictor)


def test_offset_is_reevaluated_on_new_data(poisson_fit, insurance):
    doubled = insurance.assign(Holders=insurance.Holders * 2)
    np.testing.assert_allclose(poisson_fit.predict(doubled), 2 * poisson_fit.fittedvalues, rtol=1e-12)


def test_exposure_argument_at_prediction(insurance):
    res = gf.glm("Claims ~ Group + Age", insurance, "poisson", exposure=insurance.Holders.to_numpy())
    with pytest.raises(gf.DataError, match="pass exposure="):
        res.predict(insurance)
    np.testing.assert_allclose(res.predict(insurance, exposure=insurance.Holders), res.fittedvalues, rtol=1e-12)
    by_column = gf.glm("Claims ~ Group + Age", insurance, "poisson", exposure="Holders")
    np.testing.assert_allclose(by_column.predict(insurance), res.fittedvalues, rtol=1e-12)


def test_unseen_level_names_column_and_level(poisson_fit):
    newdata = pd.DataFrame({"District": [1, 5], "Group": ["<1l", "<1l"], "Age": [">35", ">35"], "Holders": [10, 20]})
    with pytest.raises(gf.DataError, match=r"'C\(District\)' has level\(s\) 5 not seen"):
        poisson_fit.predict(newdata)
    out = poisson_fit.predict(newdata, unseen="nan", se=True)
    assert np.isfinite(out.loc[0, "fit"]) and out.loc[1].isna().all()
    newdata.loc[1, "District"] = 1
    newdata.loc[0, "Group"] = "huge"
    with pytest.raises(gf.DataError, match=r"'Group' has level\(s\) 'huge'"):
        poisson_fit.predict(newdata)


def test_missing_column_in_newdata(poisson_fit):
    with pytest.raises(gf.MissingColumnError, match="newdata: column 'Holders'"):
        poisson_fit.predict(pd.DataFrame({"District": [1], "Group": ["<1l"], "Age": [">35"]}))


def test_missing_values_in_newdata_give_nan(poisson_fit):
    newdata = pd.DataFrame({"District": [1, 2], "Group": ["<1l", None], "Age": [">35", ">35"], "Holders": [10, 20]})
    assert poisson_fit.predict(newdata).isna().tolist() == [False, True]


# -- influence, residuals, intervals ------------------------------------------------------
def test_influence_matches_r():
    res = gf.glm("counts ~ outcome + treatment", gf.datasets.load("dobson"), "poisson")
    table = res.influence()
    reference = EXTRAS["dobson_influence"]
    for ours, theirs in [("hat", "hat"), ("cooks_distance", "cooks"), ("rstandard", "rstandard"),
                         ("rstudent", "rstudent")]:
        np.testing.assert_allclose(table[ours], reference[theirs], rtol=RTOL, err_msg=ours)
    dfbetas = table.filter(like="dfbetas_").to_numpy()
    np.testing.assert_allclose(dfbetas, np.array(R["dobson_dfbetas"]), rtol=RTOL, atol=1e-12)


def test_influence_with_estimated_dispersion_matches_r():
    table = gf.glm("lot1 ~ log(u)", gf.datasets.load("clotting"), "gamma").influence()
    reference = R["clotting_influence"]
    for ours, theirs in [("hat", "hat"), ("cooks_distance", "cooks"), ("rstandard", "rstandard"),
                         ("rstudent", "rstudent")]:
        np.testing.assert_allclose(table[ours], reference[theirs], rtol=RTOL, err_msg=ours)
    np.testing.assert_allclose(table.filter(like="dfbetas_").to_numpy(), np.array(reference["dfbetas"]),
                               rtol=RTOL)


def test_partial_residuals_match_r():
    res = gf.glm("counts ~ outcome + treatment", gf.datasets.load("dobson"), "poisson")
    partial = res.resid("partial")
    assert list(partial.columns) == ["outcome", "treatment"]
    np.testing.assert_allclose(partial.to_numpy(), np.array(R["dobson_partial"]), rtol=RTOL, atol=1e-12)


@pytest.mark.parametrize(
    ("family", "formula", "dataset", "sm_family"),
    [
        ("poisson", "counts ~ outcome + treatment", "dobson", "Poisson"),
        ("gamma(link=log)", "lot1 ~ log(u)", "clotting", "Gamma"),
        ("inverse_gaussian(link=log)", "lot1 ~ log(u)", "clotting", "InverseGaussian"),
        ("gaussian(link=log)", "mpg ~ wt", "mtcars", "Gaussian"),
        ("binomial", "am ~ wt", "mtcars", "Binomial"),
    ],
)
def test_anscombe_residuals_match_statsmodels(family, formula, dataset, sm_family):
    sm = pytest.importorskip("statsmodels.api")
    import statsmodels.formula.api as smf

    data = gf.datasets.load(dataset)
    res = gf.glm(formula, data, family, tol=1e-12)
    link = sm.families.links.Log() if "log" in family else None
    sm_fam = getattr(sm.families, sm_family)(link)
    theirs = smf.glm(formula.replace("log(", "np.log("), data, family=sm_fam).fit(tol=1e-12)
    expected = np.asarray(theirs.resid_anscombe_unscaled)
    # both fits stop at a relative deviance change of 1e-12: residuals agree to ~1e-6 of their scale
    ours = res.resid("anscombe").to_numpy()
    np.testing.assert_allclose(ours, expected, rtol=1e-6, atol=1e-6 * np.abs(expected).max())


@pytest.mark.parametrize(
    ("formula", "dataset", "family", "key"),
    [("cbind(numdead, numalive) ~ sex + ldose", "budworm", "binomial", "budworm_profile_ci"),
     ("lot1 ~ log(u)", "clotting", "gamma", "clotting_profile_ci")],
)
def test_profile_intervals_match_mass(formula, dataset, family, key):
    """R's figures use a profile grid 10x finer than MASS's default, so its spline is exact to ~1e-7."""
    res = gf.glm(formula, gf.datasets.load(dataset), family)
    ours = res.conf_int(method="profile").to_numpy()
    reference = np.column_stack([r_column(v) for v in R[key]["columns"].values()])
    np.testing.assert_allclose(ours, reference, rtol=1e-5)


def test_profile_interval_is_infinite_on_a_separated_side():
    data = pd.DataFrame({"y": [0.0, 0, 0, 1, 0, 1, 1, 1], "x": [1.0, 2, 3, 4, 5, 6, 7, 8]})
    res = gf.glm("y ~ x", data, "binomial")
    assert np.all(np.isfinite(res.conf_int(method="profile")))
    separated = pd.DataFrame({"y": [0.0, 0, 0, 0, 1, 1, 1, 1], "x": [1.0, 2, 3, 4, 5, 6, 7, 8]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gf.GLMWarning)
        res = gf.glm("y ~ x", separated, "binomial")
        with pytest.warns(gf.ConvergenceWarning, match="does not reach"):
            intervals = res.conf_int(method="profile")
    assert np.isinf(intervals.to_numpy()).any()


def test_predict_accepts_a_dict_of_scalars(poisson_fit):
    row = {"District": 1, "Group": "<1l", "Age": ">35", "Holders": 100}
    np.testing.assert_allclose(poisson_fit.predict(row), poisson_fit.predict(pd.DataFrame([row])))


def test_drop1_on_a_negative_binomial_fit_matches_r():
    """R 4.2.2, MASS: drop1(glm.nb(Days ~ Eth + Sex + Age, quine)) gives AIC 1107.7, 1118.3, 1105.8, 1111.1."""
    res = gf.glm("Days ~ Eth + Sex + Age", gf.datasets.load("quine"), "negative_binomial")
    np.testing.assert_allclose(res.drop1()["AIC"], [1107.653, 1118.309, 1105.801, 1111.137], atol=1e-3)


def test_add1_leaves_out_terms_already_in_the_model():
    res = gf.glm("mpg ~ wt", gf.datasets.load("mtcars"))
    assert list(res.add1("~ . + wt + hp").index) == ["<none>", "hp"]
    with pytest.raises(gf.DataError, match="already in the model"):
        res.add1(["wt"])


ZERO_WEIGHTS = pd.DataFrame({
    "x": [0.1, 0.4, 0.5, 0.9, 1.2, 1.5, 1.7, 2.0, 2.2, 2.6, 2.9, 3.1],
    "y": [1.3, 1.1, 2.4, 2.2, 3.9, 3.1, 4.4, 5.2, 4.6, 6.1, 6.0, 7.4],
    "cnt": [1, 0, 2, 3, 2, 4, 6, 5, 9, 8, 12, 14],
    "s": [0, 1, 1, 2, 1, 3, 2, 4, 3, 5, 4, 6],
    "g": [0.8, 1.9, 1.2, 2.5, 2.1, 3.3, 2.9, 4.4, 3.8, 5.0, 6.3, 5.7],
    "w": [1, 2, 0, 1, 1, 0, 2, 1, 1, 1, 0, 1.0],
}).assign(f=lambda d: 6 - d.s)


@pytest.mark.parametrize("formula, family, r_figures", [
    # R 4.2: c(logLik(m), AIC(m), BIC(m)) for m <- glm(<formula>, family, weights = w) on ZERO_WEIGHTS;
    # BIC takes n = 12 rows (logLik's "nobs"), not nobs(m) = 9
    ("cnt ~ x", "poisson", [-19.5491797338, 43.0983594677, 44.0681727673]),
    ("cbind(s, f) ~ x", "binomial", [-12.0094169877, 28.0188339754, 28.9886472749]),  # cbind(s, 6 - s)
    ("g ~ x", "Gamma(link='log')", [-8.81514554584, 23.63029109169, 25.08501104105]),
    ("g ~ x", "inverse_gaussian", [-15.3312326217, 36.6624652435, 38.1171851928]),
])
def test_loglik_aic_bic_with_zero_prior_weights_match_r(formula, family, r_figures):
    res = gf.glm(formula, ZERO_WEIGHTS, family, weights="w")
    assert res.nobs == 9  # R's nobs(): sum(w != 0)
    np.testing.assert_allclose([res.llf, res.aic, res.bic], r_figures, rtol=1e-7)


def test_gaussian_loglik_with_zero_prior_weights_is_minus_infinity_as_in_r():
    """R 4.2 gives logLik -Inf and AIC/BIC Inf here (gaussian()$aic has -sum(log(w))); on the rows with positive
    weight, glm(y ~ x, weights = w, subset = w > 0) gives logLik -4.87278396341, AIC 15.74556792682,
    BIC 16.33724165883."""
    res = gf.glm("y ~ x", ZERO_WEIGHTS, weights="w")
    assert res.llf == -np.inf and res.aic == np.inf and res.bic == np.inf
    positive = gf.glm("y ~ x", ZERO_WEIGHTS, weights="w", subset="w > 0")
    np.testing.assert_allclose([positive.llf, positive.aic, positive.bic],
                               [-4.87278396341, 15.74556792682, 16.33724165883], rtol=1e-9)
