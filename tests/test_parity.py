"""R's defaults and spellings (issue 17), each against R 4.2.

The figures in ``tests/data/reference/parity.json`` come from ``parity.R`` beside it, fitted on R's own
datasets (R's factor types and level orders), which the bundled CSVs hold value for value.  R's fits use
the default ``glm.control()``, as do these.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import REFERENCE_DIR, r_name

import glmformula as gf

R = json.loads((REFERENCE_DIR / "parity.json").read_text())
RTOL = 1e-8


def _values(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in np.atleast_1d(values)], dtype=float)


def _names(values) -> list[str]:
    return [values] if isinstance(values, str) else list(values)


def assert_fit(res: gf.GLMResults, ref: dict, *, names: bool = True, rtol: float = RTOL) -> None:
    """Coefficients, standard errors, deviances, residual df and dispersion as R's (names as R's, matched by
    ``conftest.r_name``, unless ``names`` is False)."""
    if names:
        assert [r_name(name) for name in res.params.index] == _names(ref["names"])
    np.testing.assert_allclose(res.params.to_numpy(), _values(ref["coef"]), rtol=rtol, atol=1e-10)
    np.testing.assert_allclose(res.bse.to_numpy(), _values(ref["se"]), rtol=rtol)
    np.testing.assert_allclose([res.deviance, res.null_deviance], [ref["deviance"], ref["null_deviance"]],
                               rtol=rtol)
    assert res.df_resid == ref["df_residual"]
    np.testing.assert_allclose(res.scale, ref["dispersion"], rtol=rtol)


# -- 1. ordered factors: contr.poly, with R's column names, replayed on new data ------------------------------
@pytest.fixture(scope="module")
def esoph():
    return gf.datasets.load("esoph")


def test_ordered_factors_get_contr_poly_with_r_names(esoph):
    res = gf.glm("cbind(ncases, ncontrols) ~ agegp + tobgp + alcgp", esoph, "binomial")
    assert_fit(res, R["esoph_poly"])
    assert list(res.params.index[1:4]) == ["agegp.L", "agegp.Q", "agegp.C"]
    assert res.params["agegp.L"] == pytest.approx(3.9966256, abs=5e-8)  # the figure


def test_prediction_replays_the_poly_coding_on_text_columns(esoph):
    ref = R["esoph_poly"]
    res = gf.glm("cbind(ncases, ncontrols) ~ agegp + tobgp + alcgp", esoph, "binomial")
    rows = esoph.iloc[ref["rows"]]
    text = rows.astype({column: str for column in ("agegp", "tobgp", "alcgp")})  # no order in new data
    for newdata in (rows, text):
        np.testing.assert_allclose(res.predict(newdata, type="link"), ref["predict_link"], rtol=RTOL)


def test_ordered_factor_interactions_and_full_rank_coding(esoph):
    assert_fit(gf.glm("cbind(ncases, ncontrols) ~ agegp + tobgp * alcgp", esoph, "binomial"),
               R["esoph_interaction"])
    assert_fit(gf.glm("cbind(ncases, ncontrols) ~ agegp - 1", esoph, "binomial"), R["esoph_no_intercept"])


def test_factor_of_an_ordered_factor_stays_ordered_as_in_r(esoph):
    res = gf.glm("cbind(ncases, ncontrols) ~ factor(agegp) + tobgp", esoph, "binomial")
    assert [r_name(n).replace("C(", "factor(") for n in res.params.index] == R["esoph_factor_call"]["names"]
    assert_fit(res, R["esoph_factor_call"], names=False)


def test_unordered_factors_keep_treatment_contrasts(esoph):
    unordered = esoph.astype({"agegp": pd.CategoricalDtype(esoph.agegp.cat.categories, ordered=False)})
    res = gf.glm("cbind(ncases, ncontrols) ~ agegp", unordered, "binomial")
    assert list(res.params.index[1:3]) == ["agegp[T.35-44]", "agegp[T.45-54]"]
    asked = gf.glm("cbind(ncases, ncontrols) ~ C(agegp, Treatment)", esoph, "binomial")  # an ordered one, asked
    np.testing.assert_allclose(asked.params, res.params, rtol=1e-12)


# -- 2. the bundled datasets carry R's factor types and level orders ----------------------------------------------
@pytest.mark.parametrize("name", sorted(R["r_types"]))
def test_datasets_have_r_factor_types(name):
    frame = gf.datasets.load(name)
    for column, expected in R["r_types"][name].items():
        values = frame[column]
        assert isinstance(values.dtype, pd.CategoricalDtype), column
        assert [str(level) for level in values.cat.categories] == _names(expected["levels"]), column
        assert values.cat.ordered == expected["ordered"], column
    factors = {column for column in frame.columns if isinstance(frame[column].dtype, pd.CategoricalDtype)}
    assert factors == set(R["r_types"][name])


def test_readme_model_gives_r_coefficients():
    res = gf.glm("Claims ~ C(District) + Group + Age + offset(log(Holders))", gf.datasets.load("insurance"),
                 "poisson")
    assert_fit(res, R["insurance_readme"])
    assert "Group.L" in res.params.index


def test_textbook_fits_use_r_reference_levels():
    assert_fit(gf.glm("breaks ~ wool * tension", gf.datasets.load("warpbreaks"), "poisson"),
               R["warpbreaks_r_levels"])
    ref = R["biochemists_nb"]
    res = gf.glm("art ~ fem + mar + kid5 + phd + ment", gf.datasets.load("biochemists"), "negative_binomial")
    assert res.theta == pytest.approx(ref["theta"], rel=1e-6)
    assert "mar[T.Married]" in res.params.index  # pscl's reference level is Single
    assert_fit(res, ref, rtol=1e-6)


# -- 3. negative binomial with a fixed theta: an explicit scale is respected ----------------------------------------
def test_fixed_theta_negative_binomial_with_pearson_scale_is_rs_summary():
    ref = R["nb_fixed_theta"]
    family = gf.family("negative_binomial", theta=ref["theta"])
    res = gf.glm(ref["formula"], gf.datasets.load("quine"), family, scale="pearson")
    np.testing.assert_allclose(res.scale, ref["dispersion"], rtol=RTOL)
    np.testing.assert_allclose(res.bse, ref["se"], rtol=RTOL)
    np.testing.assert_allclose(res.tvalues, ref["statistic"], rtol=RTOL)
    np.testing.assert_allclose(res.pvalues, ref["pvalue"], rtol=1e-6)
    assert res.use_t


def test_negative_binomial_keeps_dispersion_one_by_default():
    ref = R["nb_fixed_theta"]
    quine = gf.datasets.load("quine")
    fixed = gf.glm(ref["formula"], quine, gf.family("negative_binomial", theta=ref["theta"]))
    assert fixed.scale == 1.0 and not fixed.use_t
    np.testing.assert_allclose(fixed.bse, ref["se_dispersion_1"], rtol=RTOL)
    estimated = gf.glm(ref["formula"], quine, "negative_binomial")  # glm.nb's dispersion 1
    assert estimated.scale == 1.0 and not estimated.use_t
    assert gf.glm("Days ~ Eth", quine, "poisson", scale="pearson").scale > 1


# -- 4. anova of negative binomial fits ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def nb_fits():
    ref = R["anova_negbin"]
    quine = gf.datasets.load("quine")
    return (gf.glm(ref["small"], quine, "negative_binomial"), gf.glm(ref["large"], quine, "negative_binomial"),
            quine)


def test_anova_of_negbin_fits_is_masss_likelihood_ratio_test(nb_fits):
    ref = R["anova_negbin"]
    small, large, _ = nb_fits
    for models in ((small, large), (large, small)):  # sorted by residual df, as MASS sorts them
        table = gf.anova(*models)
        np.testing.assert_allclose(table["theta"], ref["theta"], rtol=1e-6)
        np.testing.assert_array_equal(table["Resid. df"], ref["resid_df"])
        np.testing.assert_allclose(table["2 x log-lik."], ref["twice_loglik"], rtol=1e-9)
        assert table["df"].iloc[1] == ref["df"] and table["Test"].iloc[1] == "1 vs 2"
        np.testing.assert_allclose(table["LR stat."].iloc[1], ref["lr_stat"], rtol=1e-6)
        np.testing.assert_allclose(table["Pr(Chi)"].iloc[1], ref["p_value"], rtol=1e-6)
    assert table["LR stat."].iloc[1] == pytest.approx(2.5017, abs=1e-4)  # the figures
    assert table["Pr(Chi)"].iloc[1] == pytest.approx(0.1137, abs=1e-4)


def test_anova_refuses_fits_of_different_families(nb_fits):
    small, large, quine = nb_fits
    poisson = gf.glm(R["anova_negbin"]["large"], quine, "poisson")
    with pytest.raises(gf.DataError, match="gf.lrtest"):
        gf.anova(poisson, large)
    thetas = [gf.glm(R["anova_negbin"]["small"], quine, gf.family("negative_binomial", theta=t)) for t in (1, 2)]
    with pytest.raises(gf.DataError, match="deviances are not comparable"):
        gf.anova(*thetas)
    fixed = gf.family("negative_binomial", theta=1.25)
    same_theta = gf.anova(gf.glm(R["anova_negbin"]["small"], quine, fixed),
                          gf.glm(R["anova_negbin"]["large"], quine, fixed), test="Chisq")
    assert same_theta["Df"].iloc[1] == 1 and same_theta["Deviance"].iloc[1] > 0


def test_sequential_anova_of_negbin_fit_warns_theta_is_not_reestimated(nb_fits):
    ref = R["anova_negbin_sequential"]
    with pytest.warns(UserWarning, match=ref["warning"]):
        table = nb_fits[1].anova()  # Chisq by default, as MASS's anova.negbin
    assert list(table.index) == ref["terms"]
    np.testing.assert_allclose(table["Df"], _values(ref["df"]), rtol=0)
    np.testing.assert_allclose(table["Deviance"], _values(ref["deviance"]), rtol=1e-6)
    np.testing.assert_allclose(table["Resid. Dev"], ref["resid_dev"], rtol=1e-6)
    np.testing.assert_allclose(table["Pr(>Chi)"], _values(ref["p_value"]), rtol=1e-5)


# -- 5. gaussian log-likelihood with zero prior weights --------------------------------------------------------------
def test_gaussian_loglik_with_zero_weights_is_minus_infinity():
    ref = R["gaussian_zero_weights"]
    res = gf.glm("y ~ x", pd.DataFrame(ref["data"]), weights="w")
    assert [res.llf, res.aic, res.bic] == [float(ref["loglik"]), float(ref["aic"]), float(ref["bic"])]


# -- 6. %in% ---------------------------------------------------------------------------------------------------------
def _terms(labels) -> set[frozenset[str]]:
    return {frozenset(label.split(":")) for label in _names(labels) if label not in ("1", "Intercept")}


@pytest.mark.parametrize("case", sorted(R["in_operator"]))
def test_in_operator_gives_the_cells_as_r(case):
    ref = R["in_operator"][case]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gf.RankDeficiencyWarning)  # R's NA for the cell the intercept covers
        res = gf.glm(ref["formula"], gf.datasets.load("warpbreaks"), "poisson")
    assert _terms(res.term_slices) == _terms(ref["term_labels"])
    assert res.deviance == pytest.approx(ref["deviance"], rel=RTOL) and res.df_resid == ref["df_residual"]
    np.testing.assert_allclose(res.fittedvalues.to_numpy()[:10], ref["fitted_head"], rtol=RTOL)
    np.testing.assert_array_equal(res.anova()["Df"].to_numpy()[1:], _values(ref["anova_df"]))


@pytest.mark.parametrize("formula", sorted(R["in_terms"]))
def test_in_operator_terms_as_r(formula):
    rng = np.random.default_rng(17)
    data = pd.DataFrame({"y": rng.poisson(5, 48) + 1.0, "x": rng.normal(size=48),
                         **{name: rng.choice(list("pqr"), 48) for name in "abc"}})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gf.GLMWarning)
        res = gf.glm(formula, data, "poisson")
    assert _terms(res.term_slices) == _terms(R["in_terms"][formula])


# -- 7. R spellings ------------------------------------------------------------------------------------------------
NS_FORMULAS = {"df4": "mpg ~ ns(wt, df=4)", "two": "mpg ~ ns(wt, df=3) + ns(hp, df=2)",
               "knots": "mpg ~ ns(hp, knots=[100, 150, 200])", "intercept": "mpg ~ ns(wt, df=3, intercept=True)"}


@pytest.mark.parametrize("case", sorted(NS_FORMULAS))
def test_natural_splines_are_rs(case):
    ref = R["ns"][case]
    mtcars = gf.datasets.load("mtcars")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gf.RankDeficiencyWarning)  # intercept=True: aliased, as R's NA
        res = gf.glm(NS_FORMULAS[case], mtcars)
    assert_fit(res, ref, names=False)
    newdata = pd.DataFrame({"wt": R["ns_basis"]["new_x"], "hp": [60, 80, 120, 150, 200, 250, 300]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # prediction from a rank-deficient fit, as R warns
        np.testing.assert_allclose(res.predict(newdata, type="link"), ref["predict_link"], rtol=RTOL)


def test_natural_spline_basis_and_knots_are_rs_to_1e8():
    ref = R["ns_basis"]
    res = gf.glm("mpg ~ ns(wt, df=4)", gf.datasets.load("mtcars"))
    np.testing.assert_allclose(res.model_data.design.to_dense()[:, 1:], ref["basis"], rtol=0, atol=1e-8)
    beyond = res.model_data.spec.design(pd.DataFrame({"wt": ref["new_x"]})).to_numpy()[:, 1:]  # extrapolated
    np.testing.assert_allclose(beyond, ref["new_basis"], rtol=0, atol=1e-8)
    state = next(iter(res.model_data.spec.model_spec.transform_state.values()))
    np.testing.assert_allclose(state["knots"], ref["knots"], rtol=1e-12)
    np.testing.assert_allclose(state["boundary_knots"], ref["boundary_knots"], rtol=1e-12)


def test_unsupported_function_is_not_called_unsafe():
    mtcars = gf.datasets.load("mtcars")
    with pytest.raises(gf.FormulaError, match="'relevel' is not supported.*contr.treatment") as info:
        gf.glm("mpg ~ relevel(cyl, 2)", mtcars)
    assert not isinstance(info.value, gf.UnsafeFormulaError)
    with pytest.raises(gf.UnsafeFormulaError, match="the function 'eval' is not allowed"):
        gf.glm("mpg ~ eval('wt')", mtcars)


@pytest.mark.parametrize("family", ["Gamma(link=power(1/3))", "gamma(link='power(1/3)')"])
def test_power_link_with_an_arithmetic_exponent(family):
    res = gf.glm("lot1 ~ log(u)", gf.datasets.load("clotting"), family)
    assert_fit(res, R["gamma_power_third"], names=False)
    same = gf.glm("lot1 ~ log(u)", gf.datasets.load("clotting"), gf.family("Gamma", link="power(1/3)"))
    np.testing.assert_allclose(same.params, res.params, rtol=1e-12)


def test_power_link_arithmetic_is_literal_only():
    assert gf.link("power(-1/2)").name == gf.link("power(-0.5)").name
    for spec in ("power(10**10**10)", "power(1/0)", "power(x/2)"):
        with pytest.raises(gf.FamilyError):
            gf.link(spec)


def test_trusted_formulas_replay_ns_and_ordered_codings():
    esoph, mtcars = gf.datasets.load("esoph"), gf.datasets.load("mtcars")
    res = gf.glm("cbind(ncases, ncontrols) ~ C(agegp) + tobgp", esoph, "binomial", trusted=True)
    assert res.params.index[1] == "C(agegp).L"
    np.testing.assert_allclose(res.predict(esoph.astype({"agegp": str})), res.fittedvalues, rtol=1e-12)
    splines = gf.glm("mpg ~ ns(wt, df=4)", mtcars, trusted=True)
    np.testing.assert_allclose(splines.params, gf.glm("mpg ~ ns(wt, df=4)", mtcars).params, rtol=1e-12)
    np.testing.assert_allclose(splines.predict(mtcars), splines.fittedvalues, rtol=1e-12)


@pytest.mark.parametrize("spelling", ["C(tension, contr.treatment, base=3)", "C(tension, contr.treatment(base=3))",
                                      "C(tension, contr.treatment('H'))"])
def test_treatment_base_is_rs_one_based_level_position(spelling):
    res = gf.glm(f"breaks ~ {spelling}", gf.datasets.load("warpbreaks"), "poisson")
    assert_fit(res, R["treatment_base_3"], names=False)
    assert [name.rsplit("[T.", 1)[1][:-1] for name in res.params.index[1:]] == ["L", "M"]  # H: the reference


def test_contr_sas_takes_the_last_level_as_reference():
    assert_fit(gf.glm("breaks ~ C(tension, contr.SAS)", gf.datasets.load("warpbreaks"), "poisson"),
               R["contr_sas"], names=False)


def test_contrast_base_errors_name_the_problem():
    warpbreaks = gf.datasets.load("warpbreaks")
    with pytest.raises(gf.FormulaError, match="only 3 levels"):
        gf.glm("breaks ~ C(tension, contr.treatment(base=4))", warpbreaks, "poisson")
    with pytest.raises(gf.FormulaError, match="goes with contr.treatment"):
        gf.glm("breaks ~ C(tension, contr.sum, base=2)", warpbreaks, "poisson")


def test_subset_expression_and_mask_are_rs_subset():
    ships = gf.datasets.load("ships")
    formula = "incidents ~ type + C(year) + C(period) + offset(log(service))"
    res = gf.glm(formula, ships, "poisson", subset="service > 0")
    assert_fit(res, R["subset_ships"])
    assert res.n_dropped == 0 and res.nobs == 34 and res.model_data.row_labels.equals(ships.index[ships.service > 0])
    for mask in (ships.service > 0, (ships.service > 0).to_numpy()):
        np.testing.assert_allclose(gf.glm(formula, ships, "poisson", subset=mask).params, res.params, rtol=1e-12)
    quine = gf.datasets.load("quine")
    assert_fit(gf.glm("Days ~ Eth + Age + Lrn", quine, "poisson", subset="(Sex == 'F') & (Age != 'F3')"),
               R["subset_quine"])


def test_subset_keeps_weight_arrays_aligned_and_refits_on_its_rows():
    ships = gf.datasets.load("ships")
    weights = np.where(ships.service > 0, 1.0, 5.0)
    res = gf.glm("incidents ~ type + offset(log(service))", ships, "poisson", weights=weights,
                 subset="service > 0")
    direct = gf.glm("incidents ~ type + offset(log(service))", ships[ships.service > 0], "poisson")
    np.testing.assert_allclose(res.params, direct.params, rtol=1e-12)
    added = res.add1("~ . + C(period)")
    assert added["Deviance"].iloc[0] == pytest.approx(direct.deviance, rel=1e-12)


@pytest.mark.parametrize(("subset", "message"), [
    ("service", "true or false"), (np.ones(3, dtype=bool), "3 values"), ("service < 0", "selects none"),
])
def test_subset_errors_name_the_problem(subset, message):
    with pytest.raises(gf.DataError, match=message):
        gf.glm("incidents ~ type", gf.datasets.load("ships"), "poisson", subset=subset)
