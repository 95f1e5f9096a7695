"""The workflow verbs R and statsmodels users reach for (issue 17).

R: ``update``, ``gf.step`` (MASS::stepAIC), ``predict(type="terms")``, ``confint()`` (profile by
default) and ``sandwich::vcovCL`` (HC0, HC1, multiway), against ``verbs.json``, which
``tests/data/reference/verbs.R`` computes with R 4.2.2, MASS and sandwich.
statsmodels: ``get_prediction``, ``t_test``/``f_test``/``wald_test``, ``resid_*``,
``pseudo_rsquared``, ``summary2``, ``conf_int`` and ``freq_weights``/``var_weights``, against
statsmodels itself and, for frequency weights, against the fit of the expanded rows.
"""

from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from conftest import REFERENCE_DIR, r_name

import glmformula as gf
from glmformula.results.update import update_formula

R = json.loads((REFERENCE_DIR / "verbs.json").read_text())
RTOL = 1e-6


def r_array(values) -> np.ndarray:
    return np.array([[np.nan if v in ("NA", None) else v for v in row] if isinstance(row, list)
                     else (np.nan if row in ("NA", None) else row) for row in values], dtype=float)


@pytest.fixture(scope="module")
def mtcars():
    return gf.datasets.load("mtcars")


@pytest.fixture(scope="module")
def quine():
    return gf.datasets.load("quine")


@pytest.fixture(scope="module")
def epil():
    return gf.datasets.load("epil")


# -- update ---------------------------------------------------------------------------------------
def _assert_fit(ours: gf.GLMResults, reference: dict, by_name: bool = True) -> None:
    np.testing.assert_allclose(ours.deviance, reference["deviance"], rtol=RTOL)
    np.testing.assert_allclose(ours.aic, reference["aic"], rtol=RTOL)
    assert ours.df_resid == reference["df_residual"]
    if by_name:
        coef = dict(zip(reference["names"], reference["coef"]))
        assert sorted(r_name(n) for n in ours.params.index) == sorted(coef)
        for name, value in ours.params.items():
            np.testing.assert_allclose(value, coef[r_name(name)], rtol=RTOL, err_msg=name)


@pytest.mark.parametrize(("key", "change"), [
    ("update_drop", {"formula": "~ . - hp"}),
    ("update_add", {"formula": ". ~ . + am"}),
    ("update_response", {"formula": "log(.) ~ ."}),
    ("update_family", {"family": gf.family("Gamma", link="log")}),
])
def test_update_matches_r(mtcars, key, change):
    fit = gf.glm("mpg ~ wt + hp + qsec", mtcars)
    _assert_fit(fit.update(**change), R[key])


def test_update_with_new_data_matches_r(mtcars):
    fit = gf.glm("mpg ~ wt + hp + qsec", mtcars)
    _assert_fit(fit.update(data=mtcars[mtcars.cyl != 6]), R["update_data"])


def test_update_keeps_the_offset_and_the_family():
    insurance = gf.datasets.load("insurance")
    fit = gf.glm("Claims ~ C(District) + Group + Age + offset(log(Holders))", insurance, "poisson")
    smaller = fit.update("~ . - Age")
    _assert_fit(smaller, R["update_offset"], by_name=False)  # level order aside, the same model
    assert "Age" not in smaller.term_slices and smaller.model_data.has_offset


def test_update_keeps_the_call_arguments(mtcars):
    fit = gf.glm("mpg ~ wt + hp", mtcars, weights="carb", cov_type="HC1")
    smaller = fit.update("~ . - hp")
    direct = gf.glm("mpg ~ wt", mtcars, weights="carb", cov_type="HC1")
    np.testing.assert_allclose(smaller.bse, direct.bse, rtol=1e-12)
    assert smaller.cov_type == "HC1"
    np.testing.assert_allclose(fit.update(weights=None).params, gf.glm("mpg ~ wt + hp", mtcars).params)
    with pytest.raises(gf.DataError, match="does not take: wieghts"):
        fit.update(wieghts="carb")


def test_update_of_a_dot_formula_uses_the_fitted_terms(mtcars):
    small = mtcars[["mpg", "wt", "hp"]]
    fit = gf.glm("mpg ~ .", small)
    assert list(fit.update("~ . - hp").params.index) == ["Intercept", "wt"]


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("y ~ a + b + offset(log(n))", "~ . - b", "y ~ (a + b) - b + offset(log(n))"),
    ("y ~ a", "log(.) ~ . + c", "log(y) ~ (a) + c"),
    ("y ~ a", "z ~ b", "z ~ b"),
    ("cbind(s, f) ~ a*b", "~ . - a:b", "cbind(s, f) ~ (a*b) - a:b"),
])
def test_update_formula_is_r_update_formula(old, new, expected):
    assert update_formula(old, new) == expected


def test_update_formula_needs_a_tilde():
    with pytest.raises(gf.DataError, match="must contain '~'"):
        update_formula("y ~ a", ". - a")


# -- step (MASS::stepAIC) ---------------------------------------------------------------------------
def _normal_step(label: str) -> str:
    if not label:
        return label
    sign, term = label.split(" ", 1)
    return f"{sign} {':'.join(sorted(term.replace('factor(', 'C(').split(':')))}"


def _assert_path(ours: gf.GLMResults, reference: dict) -> None:
    path = ours.step_path
    assert [_normal_step(s) for s in path["Step"]] == [_normal_step(s) for s in reference["step"]]
    scale = max(r_array(reference["resid_dev"]))  # "Deviance" is a difference of residual deviances
    for column, key in (("Df", "df"), ("Deviance", "deviance"), ("Resid. Df", "resid_df"),
                        ("Resid. Dev", "resid_dev"), ("AIC", "aic")):
        np.testing.assert_allclose(path[column].to_numpy(dtype=float), r_array(reference[key]), rtol=RTOL,
                                   atol=RTOL * scale if column == "Deviance" else 0, err_msg=column)
    terms = {frozenset(t.split(":")) for t in ours.term_slices if t != "1"}
    assert terms == {frozenset(t.split(":")) for t in reference["terms"]}
    np.testing.assert_allclose(ours.aic, reference["final_aic"], rtol=RTOL)


def test_step_backward_on_the_textbook_negative_binomial(quine):
    """MASS (Venables & Ripley, 7.4): glm.nb(Days ~ .^4, quine) and stepAIC, theta refitted at every move."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gf.RankDeficiencyWarning)
        full = gf.glm("Days ~ (Eth + Sex + Age + Lrn)^4", quine, "negative_binomial")
    _assert_path(gf.step(full), R["step_quine_nb"])


def test_step_forward(mtcars):
    null = gf.glm("mpg ~ 1", mtcars)
    chosen = gf.step(null, scope="~ wt + hp + qsec + am + disp + drat", direction="forward")
    _assert_path(chosen, R["step_mtcars_forward"])


def test_step_both_with_upper_and_lower_scopes(mtcars):
    start = gf.glm("mpg ~ wt + hp + qsec + am + disp + drat", mtcars)
    chosen = gf.step(start, scope={"upper": "~ (wt + hp + qsec + am)^2 + disp + drat", "lower": "~ wt"},
                     direction="both")
    _assert_path(chosen, R["step_mtcars_both"])


def test_step_by_bic(quine):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gf.RankDeficiencyWarning)
        start = gf.glm("Days ~ (Eth + Sex + Age + Lrn)^2", quine, "poisson")
    _assert_path(gf.step(start, k=np.log(len(quine))), R["step_quine_bic"])


def test_step_both_on_a_binomial(mtcars):
    esoph = gf.datasets.load("esoph")
    start = gf.glm("cbind(ncases, ncontrols) ~ agegp", esoph, "binomial")
    _assert_path(gf.step(start, scope="~ agegp + alcgp * tobgp", direction="both"), R["step_esoph_both"])


def test_step_refuses_models_without_an_aic(mtcars):
    with pytest.raises(gf.DataError, match="AIC is not defined"):
        gf.step(gf.glm("carb ~ wt + hp", mtcars, "quasipoisson"))
    with pytest.raises(gf.DataError, match="upper scope leaves out"):
        gf.step(gf.glm("mpg ~ wt + hp", mtcars), scope="~ wt + qsec", direction="both")


# -- predict(type="terms") ------------------------------------------------------------------------
def test_predict_terms_matches_r(mtcars):
    reference = R["terms_mtcars"]
    fit = gf.glm("mpg ~ wt * am + factor(cyl) + poly(hp, 2)", mtcars)
    terms = fit.predict(type="terms", se=True)
    assert [c.replace("C(", "factor(") for c in terms.fit.columns] == reference["labels"]
    np.testing.assert_allclose(terms.fit.to_numpy(), r_array(reference["fit"]), rtol=RTOL, atol=1e-10)
    np.testing.assert_allclose(terms.se_fit.to_numpy(), r_array(reference["se"]), rtol=RTOL)
    np.testing.assert_allclose(terms.constant, reference["constant"], rtol=RTOL)
    new = pd.DataFrame({"wt": [2.5, 3.5, 3], "am": [0, 1, 1], "cyl": [4, 8, 6], "hp": [100, 200, 150]})
    at_new = fit.predict(new, type="terms", se=True)
    np.testing.assert_allclose(at_new.fit.to_numpy(), r_array(reference["new_fit"]), rtol=RTOL)
    np.testing.assert_allclose(at_new.se_fit.to_numpy(), r_array(reference["new_se"]), rtol=RTOL)
    plain = fit.predict(new, type="terms")
    np.testing.assert_allclose(plain.sum(axis=1) + plain.attrs["constant"], fit.predict(new, type="link"))


def test_predict_terms_with_an_offset_and_without_an_intercept(mtcars):
    insurance = gf.datasets.load("insurance")
    fit = gf.glm("Claims ~ C(District) + Group + Age + offset(log(Holders))", insurance, "poisson")
    terms = fit.predict(type="terms")
    reference = R["terms_insurance"]  # centred terms do not depend on the level order
    np.testing.assert_allclose(terms.to_numpy(), r_array(reference["fit"]), rtol=RTOL, atol=1e-10)
    np.testing.assert_allclose(terms.attrs["constant"], reference["constant"], rtol=RTOL)
    eta = terms.sum(axis=1) + terms.attrs["constant"] + fit.model_data.offset
    np.testing.assert_allclose(eta, fit.linear_predictor, rtol=1e-12)
    bare = gf.glm("mpg ~ 0 + wt + hp", mtcars).predict(type="terms")
    np.testing.assert_allclose(bare.to_numpy(), r_array(R["terms_no_intercept"]["fit"]), rtol=RTOL)
    assert bare.attrs["constant"] == R["terms_no_intercept"]["constant"] == 0


# -- confint (R) and conf_int (statsmodels) ---------------------------------------------------------
def _assert_intervals(ours: pd.DataFrame, reference: dict, rtol: float = 1e-5) -> None:
    assert list(ours.columns) == list(reference["columns"])
    assert [r_name(n) for n in ours.index] == reference["rows"]
    expected = np.column_stack([r_array(v) for v in reference["columns"].values()])
    np.testing.assert_allclose(ours.to_numpy(), expected, rtol=rtol)


def test_confint_is_profile_by_default_as_mass(mtcars):
    """R's figures use a profile grid 10x finer than MASS's default, so its spline is exact to ~1e-7."""
    fit = gf.glm("am ~ wt + hp", mtcars, "binomial")
    _assert_intervals(fit.confint(), R["confint_logit"])
    _assert_intervals(fit.confint(level=0.9), R["confint_logit_90"])
    _assert_intervals(fit.confint(method="wald"), R["confint_logit_wald"], rtol=1e-8)
    clotting = gf.datasets.load("clotting")
    _assert_intervals(gf.glm("lot1 ~ log(u)", clotting, "Gamma").confint(), R["confint_gamma"])
    assert list(fit.confint(["wt"]).index) == ["wt"]


def test_conf_int_is_wald_with_statsmodels_columns(mtcars):
    fit = gf.glm("am ~ wt + hp", mtcars, "binomial")
    theirs = smf.glm("am ~ wt + hp", mtcars, family=sm.families.Binomial()).fit(tol=1e-12)
    ours = fit.conf_int()
    assert list(ours.columns) == [0, 1] == list(theirs.conf_int().columns)
    np.testing.assert_allclose(ours.to_numpy(), theirs.conf_int().loc[ours.index].to_numpy(), rtol=1e-6)
    assert list(fit.conf_int(method="profile").columns) == [0, 1]


# -- vcovCL ---------------------------------------------------------------------------------------
def _assert_vcov(ours: pd.DataFrame, reference: dict) -> None:
    order = [list(map(r_name, ours.index)).index(name) for name in reference["names"]]
    np.testing.assert_allclose(ours.to_numpy()[np.ix_(order, order)], r_array(reference["matrix"]), rtol=RTOL)


@pytest.mark.parametrize(("key", "cluster", "kind"), [
    ("vcovCL_subject_HC0", "subject", "HC0"),
    ("vcovCL_subject_HC1", "subject", "HC1"),
    ("vcovCL_twoway_HC0", ["subject", "period"], "HC0"),
    ("vcovCL_twoway_HC1", ["subject", "period"], "HC1"),
    ("vcovCL_rows", None, "HC0"),
])
def test_vcovcl_matches_sandwich(epil, key, cluster, kind):
    fit = gf.glm("y ~ lbase * trt + lage + V4", epil, "poisson")
    _assert_vcov(fit.vcovCL(cluster, type=kind), R[key])
    if cluster is not None:
        robust = fit.with_cov("cluster", cluster=cluster, cluster_type=kind)
        np.testing.assert_allclose(robust.cov_params(), fit.vcovCL(cluster, type=kind), rtol=1e-12)


@pytest.mark.parametrize(("key", "cluster", "kind"), [
    ("vcovCL_mtcars_twoway_HC0", ["cyl", "gear"], "HC0"),
    ("vcovCL_mtcars_twoway_HC1", ["cyl", "gear"], "HC1"),
    ("vcovCL_mtcars_threeway", ["cyl", "gear", "am"], "HC0"),
])
def test_multiway_clusters_on_a_gaussian(mtcars, key, cluster, kind):
    fit = gf.glm("mpg ~ wt + hp", mtcars)
    _assert_vcov(fit.vcovCL(cluster, type=kind), R[key])
    labels = mtcars[cluster].to_numpy()  # the labels as an (n, m) array give the same
    _assert_vcov(fit.vcovCL(labels, type=kind), R[key])


def test_two_way_clusters_from_glm(epil):
    """Two-way clustering can give negative variances (here trt's), in R as here: sandwich's fix=FALSE."""
    fit = gf.glm("y ~ lbase * trt + lage + V4", epil, "poisson", cov_type="cluster", cluster=["subject", "period"])
    _assert_vcov(fit.cov_params(), R["vcovCL_twoway_HC0"])
    with pytest.raises(gf.DataError, match="'HC0'"):
        fit.vcovCL("subject", type="HC3")


# -- statsmodels: prediction, tests, residuals, pseudo R-squared, summary2 ------------------------
@pytest.fixture(scope="module")
def logit_pair(mtcars):
    ours = gf.glm("am ~ wt + hp", mtcars, "binomial", tol=1e-12)
    theirs = smf.glm("am ~ wt + hp", mtcars, family=sm.families.Binomial()).fit(tol=1e-12)
    return ours, theirs


@pytest.fixture(scope="module")
def gaussian_pair(mtcars):
    ours = gf.glm("mpg ~ wt + hp + qsec", mtcars)
    theirs = smf.glm("mpg ~ wt + hp + qsec", mtcars).fit(use_t=True)  # statsmodels' t, as R when phi is estimated
    return ours, theirs


@pytest.mark.parametrize("pair", ["logit_pair", "gaussian_pair"])
def test_get_prediction_summary_frame_matches_statsmodels(request, mtcars, pair):
    ours, theirs = request.getfixturevalue(pair)
    new = mtcars.iloc[[0, 5, 17]]
    for which in (None, "linear"):  # statsmodels' default names its columns mean, mean_se, ...
        frame = ours.get_prediction(new, **({"which": which} if which else {})).summary_frame(alpha=0.1)
        expected = theirs.get_prediction(new, **({"which": which} if which else {})).summary_frame(alpha=0.1)
        assert list(frame.columns) == list(expected.columns)
        np.testing.assert_allclose(frame.to_numpy(), expected.to_numpy(), rtol=1e-6)
    prediction = ours.get_prediction(new)
    np.testing.assert_allclose(prediction.predicted_mean, ours.predict(new), rtol=1e-12)
    np.testing.assert_allclose(prediction.se_mean, ours.predict(new, se=True)["se"], rtol=1e-12)


@pytest.mark.parametrize("pair", ["logit_pair", "gaussian_pair"])
def test_t_f_and_wald_tests_match_statsmodels(request, pair):
    ours, theirs = request.getfixturevalue(pair)
    for constraints in ("wt = 0", "wt = 0, hp = 0", "2*wt - hp = 1", "wt = hp, Intercept = 3"):
        mine, expected = ours.t_test(constraints), theirs.t_test(constraints)
        np.testing.assert_allclose(mine.effect, np.ravel(expected.effect), rtol=1e-6)
        np.testing.assert_allclose(mine.sd, np.ravel(expected.sd), rtol=1e-6)
        np.testing.assert_allclose(mine.pvalue, np.ravel(expected.pvalue), rtol=1e-6)
        frame, their_frame = mine.summary_frame(), expected.summary_frame()
        assert list(frame.columns) == list(their_frame.columns)
        np.testing.assert_allclose(frame.to_numpy(), their_frame.to_numpy(), rtol=1e-6)
        for name in ("f_test", "wald_test"):
            mine, expected = getattr(ours, name)(constraints), getattr(theirs, name)(constraints, scalar=True) \
                if name == "wald_test" else getattr(theirs, name)(constraints)
            np.testing.assert_allclose(mine.statistic, np.squeeze(expected.statistic), rtol=1e-6, err_msg=name)
            np.testing.assert_allclose(mine.pvalue, expected.pvalue, rtol=1e-6, err_msg=name)
            assert mine.df_num == getattr(expected, "df_num", expected.df_denom)  # statsmodels' chi2: df_denom


def test_constraints_as_matrices(logit_pair):
    ours, theirs = logit_pair
    R_matrix = np.array([[0.0, 1, 0], [0, 1, -1]])
    np.testing.assert_allclose(ours.t_test(R_matrix).statistic, np.ravel(theirs.t_test(R_matrix).statistic))
    with_q = (R_matrix, np.array([1.0, 0.5]))
    np.testing.assert_allclose(ours.wald_test(with_q).statistic,
                               theirs.wald_test(with_q, scalar=True).statistic, rtol=1e-6)
    np.testing.assert_allclose(ours.wald_test(with_q).statistic, ours.wald_test("wt = 1, wt - hp = 0.5").statistic)


def test_constraint_errors_name_the_problem(logit_pair):
    ours, _ = logit_pair
    with pytest.raises(gf.DataError, match="'qsec' in a constraint is not a coefficient"):
        ours.t_test("qsec = 0")
    with pytest.raises(gf.DataError, match="not linear"):
        ours.t_test("wt * hp = 0")
    with pytest.raises(gf.DataError, match="4 columns but the model has 3"):
        ours.t_test(np.ones((1, 4)))


def test_constraints_on_factor_and_interaction_names(mtcars):
    fit = gf.glm("mpg ~ wt * hp + C(cyl)", mtcars)
    vector = np.zeros(len(fit.params))
    vector[list(fit.params.index).index("C(cyl)[T.6]")] = 1
    vector[list(fit.params.index).index("wt:hp")] = -2
    np.testing.assert_allclose(fit.t_test("C(cyl)[T.6] - 2*wt:hp = 0").effect, vector @ fit.params.to_numpy())


@pytest.mark.parametrize(("formula", "family", "sm_family"), [
    ("carb ~ wt + hp", "poisson", sm.families.Poisson()),
    ("am ~ wt + hp", "binomial", sm.families.Binomial()),
    ("mpg ~ wt + hp", gf.family("Gamma", link="log"), sm.families.Gamma(sm.families.links.Log())),
])
def test_residual_attributes_match_statsmodels(mtcars, formula, family, sm_family):
    ours = gf.glm(formula, mtcars, family, tol=1e-12)
    theirs = smf.glm(formula, mtcars, family=sm_family).fit(tol=1e-12)
    for kind in ("deviance", "pearson", "response", "working"):
        np.testing.assert_allclose(getattr(ours, f"resid_{kind}"), getattr(theirs, f"resid_{kind}"), rtol=1e-6,
                                   atol=1e-9, err_msg=kind)


@pytest.mark.parametrize(("formula", "family", "sm_family", "exposure"), [
    ("carb ~ wt + hp", "poisson", sm.families.Poisson(), None),
    ("am ~ wt + hp", "binomial", sm.families.Binomial(), None),
    ("carb ~ wt", "poisson", sm.families.Poisson(), "disp"),  # the null model is refitted with the offset
])
def test_pseudo_rsquared_matches_statsmodels(mtcars, formula, family, sm_family, exposure):
    ours = gf.glm(formula, mtcars, family, exposure=exposure, tol=1e-12)
    theirs = smf.glm(formula, mtcars, family=sm_family, exposure=None if exposure is None else mtcars[exposure]
                     ).fit(tol=1e-12)
    np.testing.assert_allclose(ours.llnull, theirs.llnull, rtol=1e-8)
    for kind in ("mcf", "cs"):
        np.testing.assert_allclose(ours.pseudo_rsquared(kind), theirs.pseudo_rsquared(kind), rtol=1e-8)


def test_llnull_of_a_gaussian_is_r_null_model(mtcars):
    fit = gf.glm("mpg ~ wt + hp", mtcars)
    np.testing.assert_allclose(fit.llnull, gf.glm("mpg ~ 1", mtcars).llf, rtol=1e-12)
    with pytest.raises(ValueError, match="'mcf'"):
        fit.pseudo_rsquared("nagelkerke")


@pytest.mark.parametrize("pair", ["logit_pair", "gaussian_pair"])
def test_summary2_coefficients_match_statsmodels(request, pair):
    ours, theirs = request.getfixturevalue(pair)
    table, expected = ours.summary2().tables[1], theirs.summary2().tables[1]
    assert list(table.columns) == list(expected.columns)
    np.testing.assert_allclose(table.to_numpy(), expected.loc[table.index].to_numpy(), rtol=1e-6)
    info = ours.summary2().tables[0]
    assert {"No. Observations:", "Df Residuals:"} <= set(info[0]) and {"AIC:", "LL-Null:"} <= set(info[2])
    assert "Coef." in str(ours.summary2())


# -- freq_weights and var_weights -------------------------------------------------------------------
@pytest.fixture(scope="module")
def weighted_data():
    rng = np.random.default_rng(17)
    n = 60
    data = pd.DataFrame({"x": rng.normal(size=n), "g": rng.choice(["a", "b", "c"], n)})
    data["count"] = rng.poisson(np.exp(0.5 + 0.3 * data.x))
    mean = np.exp(1 + 0.3 * data.x)
    data["overdispersed"] = rng.negative_binomial(2, 2 / (2 + mean))
    data["hit"] = rng.binomial(1, 0.4, n)
    data["size"] = np.exp(1 + 0.2 * data.x + rng.normal(scale=0.3, size=n))
    data["f"] = rng.integers(1, 4, n)
    data["v"] = rng.integers(1, 5, n).astype(float)
    return data


WEIGHT_CASES = [
    ("count", "poisson", sm.families.Poisson()),
    ("hit", "binomial", sm.families.Binomial()),
    ("size", "gaussian", sm.families.Gaussian()),
    ("size", gf.family("Gamma", link="log"), sm.families.Gamma(sm.families.links.Log())),
]


def _aligned(ours: pd.Series, theirs: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    renamed = theirs.rename(lambda name: re.sub(r"^g\[T\.", "g[T.", name))
    return ours.to_numpy(), renamed.loc[ours.index].to_numpy()


@pytest.mark.parametrize(("response", "family", "sm_family"), WEIGHT_CASES)
def test_freq_weights_are_the_fit_of_the_expanded_rows(weighted_data, response, family, sm_family):
    formula = f"{response} ~ x + g"
    ours = gf.glm(formula, weighted_data, family, freq_weights="f", tol=1e-12)
    expanded = weighted_data.loc[weighted_data.index.repeat(weighted_data.f)].reset_index(drop=True)
    long = gf.glm(formula, expanded, family, tol=1e-12)
    for name in ("params", "bse", "deviance", "null_deviance", "scale", "llf", "aic", "bic", "pearson_chi2"):
        np.testing.assert_allclose(getattr(ours, name), getattr(long, name), rtol=1e-9, err_msg=name)
    assert (ours.nobs, ours.df_resid, ours.df_null) == (long.nobs, long.df_resid, long.df_null) == (
        int(weighted_data.f.sum()), int(weighted_data.f.sum()) - 4, int(weighted_data.f.sum()) - 1)
    for cov in ("HC0", "HC1", "HC2", "HC3"):
        np.testing.assert_allclose(ours.with_cov(cov).bse, long.with_cov(cov).bse, rtol=1e-9, err_msg=cov)
    for kind in ("HC0", "HC1"):
        np.testing.assert_allclose(ours.vcovCL("g", type=kind), long.vcovCL("g", type=kind), rtol=1e-9)
    rows = np.repeat(np.arange(len(weighted_data)), weighted_data.f)
    for kind in ("deviance", "pearson", "response", "working"):
        np.testing.assert_allclose(ours.resid(kind).to_numpy()[rows], long.resid(kind), rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize(("response", "family", "sm_family"), WEIGHT_CASES)
def test_freq_weights_match_statsmodels(weighted_data, response, family, sm_family):
    formula = f"{response} ~ x + g"
    ours = gf.glm(formula, weighted_data, family, freq_weights="f", tol=1e-12)
    theirs = smf.glm(formula, weighted_data, family=sm_family, freq_weights=weighted_data.f).fit(tol=1e-12)
    for name in ("params", "bse"):
        np.testing.assert_allclose(*_aligned(getattr(ours, name), getattr(theirs, name)), rtol=1e-6, err_msg=name)
    for name in ("deviance", "null_deviance", "scale", "df_resid", "pearson_chi2"):
        np.testing.assert_allclose(getattr(ours, name), getattr(theirs, name), rtol=1e-6, err_msg=name)
    assert ours.nobs == theirs.model.wnobs  # statsmodels' nobs counts rows, wnobs observations
    if ours.family.name != "gamma":  # statsmodels' gamma llf uses the Pearson dispersion, R's the ML one
        np.testing.assert_allclose(ours.llf, theirs.llf, rtol=1e-8)
    for kind in ("deviance", "pearson", "response", "working"):  # both stop at a relative change of 1e-12
        np.testing.assert_allclose(getattr(ours, f"resid_{kind}"), getattr(theirs, f"resid_{kind}"), rtol=1e-6,
                                   atol=1e-7, err_msg=kind)


@pytest.mark.parametrize(("response", "family", "sm_family"), WEIGHT_CASES)
def test_var_weights_match_statsmodels_and_r_weights(weighted_data, response, family, sm_family):
    formula = f"{response} ~ x + g"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gf.NonIntegerResponseWarning)
        ours = gf.glm(formula, weighted_data, family, var_weights="v", tol=1e-12)
        as_r = gf.glm(formula, weighted_data, family, weights="v", tol=1e-12)
    theirs = smf.glm(formula, weighted_data, family=sm_family, var_weights=weighted_data.v).fit(tol=1e-12)
    for name in ("params", "bse"):
        np.testing.assert_allclose(*_aligned(getattr(ours, name), getattr(theirs, name)), rtol=1e-6, err_msg=name)
        np.testing.assert_allclose(getattr(ours, name), getattr(as_r, name), rtol=1e-12)
    for name in ("deviance", "scale", "df_resid", "nobs"):
        np.testing.assert_allclose(getattr(ours, name), getattr(theirs, name), rtol=1e-6, err_msg=name)
    if ours.family.name in ("poisson", "gaussian"):
        np.testing.assert_allclose(ours.llf, theirs.llf, rtol=1e-8)
    for kind in ("deviance", "pearson"):  # both stop at a relative change of 1e-12
        np.testing.assert_allclose(getattr(ours, f"resid_{kind}"), getattr(theirs, f"resid_{kind}"), rtol=1e-6,
                                   atol=1e-7, err_msg=kind)
    # a variance weight is not a count of rows: the expanded data give the same estimates, other df
    expanded = weighted_data.loc[weighted_data.index.repeat(weighted_data.v.astype(int))]
    long = gf.glm(formula, expanded, family, tol=1e-12)
    np.testing.assert_allclose(ours.params, long.params, rtol=1e-8)
    np.testing.assert_allclose(ours.deviance, long.deviance, rtol=1e-8)
    assert ours.df_resid < long.df_resid


def test_freq_weights_with_the_negative_binomial_and_missing_rows(weighted_data):
    data = weighted_data.copy()
    data.loc[[3, 10], "x"] = np.nan
    ours = gf.glm("overdispersed ~ x + g", data, "negative_binomial", freq_weights="f")
    complete = data.dropna()
    long = gf.glm("overdispersed ~ x + g", complete.loc[complete.index.repeat(complete.f)].reset_index(drop=True),
                  "negative_binomial")
    for name in ("params", "bse", "theta", "llf", "aic", "deviance"):
        np.testing.assert_allclose(getattr(ours, name), getattr(long, name), rtol=1e-6, err_msg=name)
    assert ours.n_dropped == 2 and ours.nobs == long.nobs


def test_weights_of_every_kind_multiply(weighted_data):
    both = gf.glm("count ~ x", weighted_data, "poisson", weights="v", freq_weights="f")
    product = gf.glm("count ~ x", weighted_data, "poisson", weights=weighted_data.v * weighted_data.f)
    np.testing.assert_allclose(both.params, product.params, rtol=1e-10)
    assert both.nobs == weighted_data.f.sum() and product.nobs == len(weighted_data)
    with pytest.raises(gf.DataError, match="freq_weights must be non-negative"):
        gf.glm("count ~ x", weighted_data, "poisson", freq_weights=-weighted_data.f)
    with pytest.raises(gf.DataError, match="in-memory, unpenalised"):
        gf.glm("count ~ x", weighted_data, "poisson", freq_weights="f", penalty="l2", alpha=0.1)
    with pytest.raises(gf.DataError, match="expand the rows"):
        gf.glm("count ~ x", weighted_data, "poisson", freq_weights="f").influence()
