"""The formula vocabulary: each R construct against an equivalent spelled out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import glmformula as gf
from glmformula.formula.parse import parse_formula


@pytest.fixture
def mtcars():
    return gf.datasets.load("mtcars")


def assert_same_fit(a: gf.GLMResults, b: gf.GLMResults):
    np.testing.assert_allclose(a.fittedvalues.to_numpy(), b.fittedvalues.to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(a.deviance, b.deviance, rtol=1e-10)
    assert a.df_resid == b.df_resid


def test_parse_splits_response_offsets_and_rhs():
    parsed = parse_formula("cbind(s, f) ~ a + offset(log(n)) + b:c + offset(z)")
    assert parsed.response == ("s", "f")
    assert parsed.offsets == ("log(n)", "z")
    assert parsed.rhs.replace(" ", "") == "a+b:c"


def test_power_inside_calls_becomes_python_power():
    parsed = parse_formula("y ~ I(x^2) + (a + b)^2 + log(x^3)")
    assert "I(x**2)" in parsed.rhs and "(a + b)^2" in parsed.rhs and "log(x**3)" in parsed.rhs


def test_i_power_means_power(mtcars):
    with_i = gf.glm("mpg ~ wt + I(wt^2)", mtcars)
    by_hand = gf.glm("mpg ~ wt + wt2", mtcars.assign(wt2=mtcars.wt**2))
    np.testing.assert_allclose(with_i.params.to_numpy(), by_hand.params.to_numpy(), rtol=1e-10)
    assert_same_fit(gf.glm("mpg ~ wt + I(wt**2)", mtcars), with_i)


def test_factor_is_c(mtcars):
    a = gf.glm("mpg ~ factor(cyl) + wt", mtcars)
    b = gf.glm("mpg ~ C(cyl) + wt", mtcars)
    np.testing.assert_allclose(a.params.to_numpy(), b.params.to_numpy())
    assert list(a.params.index) == ["Intercept", "C(cyl)[T.6]", "C(cyl)[T.8]", "wt"]


def test_offsets_are_summed_and_equal_offset_argument(insurance):
    data = insurance.assign(d=insurance.District.astype(int))  # District is a factor, as in R
    two = gf.glm("Claims ~ Age + offset(log(Holders)) + offset(0.5 * d)", data, "poisson")
    arg = gf.glm("Claims ~ Age", data, "poisson", offset=np.log(data.Holders) + 0.5 * data.d)
    assert_same_fit(two, arg)
    assert "log(Holders)" not in " ".join(two.params.index)


def test_exposure_equals_log_offset(insurance):
    a = gf.glm("Claims ~ Group + Age", insurance, "poisson", exposure="Holders")
    b = gf.glm("Claims ~ Group + Age + offset(log(Holders))", insurance, "poisson")
    np.testing.assert_allclose(a.params.to_numpy(), b.params.to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(a.null_deviance, b.null_deviance, rtol=1e-12)


def test_exposure_requires_log_link(insurance):
    with pytest.raises(gf.DataError, match="log link"):
        gf.glm("Claims ~ Age", insurance, "poisson(link=identity)", exposure="Holders")


def test_cbind_equals_proportion_with_weights():
    budworm = gf.datasets.load("budworm")
    a = gf.glm("cbind(numdead, numalive) ~ sex + ldose", budworm, "binomial")
    b = gf.glm("prop ~ sex + ldose", budworm, "binomial", weights="total")
    np.testing.assert_allclose(a.params.to_numpy(), b.params.to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(a.bse.to_numpy(), b.bse.to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(a.llf, b.llf, rtol=1e-10)


@pytest.mark.parametrize("encode", [lambda s: s == 1, lambda s: np.where(s == 1, "manual", "auto")])
def test_bool_and_two_level_responses(mtcars, encode):
    reference = gf.glm("am ~ wt", mtcars, "binomial")
    res = gf.glm("am2 ~ wt", mtcars.assign(am2=encode(mtcars.am)), "binomial")
    np.testing.assert_allclose(res.params.to_numpy(), reference.params.to_numpy(), rtol=1e-10)


def test_categorical_response_uses_first_level_as_failure(mtcars):
    cat = pd.Categorical(np.where(mtcars.am == 1, "manual", "auto"), categories=["manual", "auto"])
    res = gf.glm("am2 ~ wt", mtcars.assign(am2=cat), "binomial")
    reference = gf.glm("am ~ wt", mtcars, "binomial")
    np.testing.assert_allclose(res.params.to_numpy(), -reference.params.to_numpy(), rtol=1e-8)


def test_interaction_operators(mtcars):
    star = gf.glm("mpg ~ wt * hp", mtcars)
    spelled = gf.glm("mpg ~ wt + hp + wt:hp", mtcars)
    np.testing.assert_allclose(star.params.to_numpy(), spelled.params.to_numpy())
    cube = gf.glm("mpg ~ (wt + hp + qsec)^2", mtcars)
    assert len(cube.params) == 1 + 3 + 3


def test_nesting_operator():
    quine = gf.datasets.load("quine")
    nested = gf.glm("Days ~ Sex/Age", quine, "poisson")
    spelled = gf.glm("Days ~ Sex + Sex:Age", quine, "poisson")
    assert_same_fit(nested, spelled)
    assert len(nested.params) == 2 + 2 * 3


def test_no_intercept(mtcars):
    for formula in ("mpg ~ wt - 1", "mpg ~ wt + 0", "mpg ~ 0 + wt"):
        res = gf.glm(formula, mtcars)
        assert list(res.params.index) == ["wt"]
        assert res.df_null == 32
    np.testing.assert_allclose(res.null_deviance, np.sum(mtcars.mpg**2))


def test_dot_expands_to_unused_columns():
    clotting = gf.datasets.load("clotting")
    a = gf.glm("lot1 ~ .", clotting, "gamma")
    b = gf.glm("lot1 ~ u + lot2", clotting, "gamma")
    np.testing.assert_allclose(a.params.to_numpy(), b.params.to_numpy())


def test_dot_excludes_weight_and_offset_columns(insurance):
    res = gf.glm("Claims ~ .", insurance.drop(columns="District"), "poisson", exposure="Holders")
    assert not any("Holders" in name for name in res.params.index)


def test_math_transforms(mtcars):
    res = gf.glm("mpg ~ log(wt) + sqrt(hp) + log1p(carb) + exp(drat / 10) + abs(qsec - 18)", mtcars)
    by_hand = gf.glm(
        "mpg ~ a + b + c + d + e",
        pd.DataFrame({
            "mpg": mtcars.mpg, "a": np.log(mtcars.wt), "b": np.sqrt(mtcars.hp), "c": np.log1p(mtcars.carb),
            "d": np.exp(mtcars.drat / 10), "e": np.abs(mtcars.qsec - 18),
        }),
    )
    np.testing.assert_allclose(res.params.to_numpy(), by_hand.params.to_numpy(), rtol=1e-10)


def test_transformed_response(mtcars):
    res = gf.glm("log(mpg) ~ wt", mtcars)
    by_hand = gf.glm("lmpg ~ wt", mtcars.assign(lmpg=np.log(mtcars.mpg)))
    np.testing.assert_allclose(res.params.to_numpy(), by_hand.params.to_numpy())


def test_poly_spans_the_raw_polynomial(mtcars):
    assert_same_fit(gf.glm("mpg ~ poly(wt, 3)", mtcars), gf.glm("mpg ~ wt + I(wt^2) + I(wt^3)", mtcars))


@pytest.mark.parametrize("spline", ["bs(wt, df=4)", "cr(wt, df=4, constraints='center')"])
def test_splines(mtcars, spline):
    res = gf.glm(f"mpg ~ {spline}", mtcars)
    assert len(res.params) == 5 and res.deviance < gf.glm("mpg ~ wt", mtcars).deviance


def test_unconstrained_cr_basis_is_aliased_with_the_intercept(mtcars):
    with pytest.warns(gf.RankDeficiencyWarning, match=r"cr\(wt, df=4\)\[4\]"):
        res = gf.glm("mpg ~ cr(wt, df=4)", mtcars)
    assert res.aliased == ["cr(wt, df=4)[4]"] and res.rank == 4


def test_contrasts_change_parametrisation_not_fit(mtcars):
    treatment = gf.glm("mpg ~ C(cyl)", mtcars)
    for spelling in ("C(cyl, contr.sum)", "C(cyl, contr.helmert)", "C(cyl, contr.treatment(8))",
                     "C(cyl, Treatment(reference=6))", "C(cyl, Sum)"):
        assert_same_fit(gf.glm(f"mpg ~ {spelling}", mtcars), treatment)


def test_treatment_reference_level(mtcars):
    res = gf.glm("mpg ~ C(cyl, contr.treatment(8))", mtcars)
    means = mtcars.groupby("cyl").mpg.mean()
    assert res.params.iloc[0] == pytest.approx(means[8])
    assert res.params.iloc[1] == pytest.approx(means[4] - means[8])


def test_sum_contrast_intercept_is_mean_of_group_means(mtcars):
    res = gf.glm("mpg ~ C(cyl, contr.sum)", mtcars)
    assert res.params.iloc[0] == pytest.approx(mtcars.groupby("cyl").mpg.mean().mean())


def test_backquoted_column_names(mtcars):
    renamed = mtcars.rename(columns={"wt": "car weight"})
    res = gf.glm("mpg ~ `car weight` + log(`car weight`)", renamed)
    reference = gf.glm("mpg ~ wt + log(wt)", mtcars)
    np.testing.assert_allclose(res.params.to_numpy(), reference.params.to_numpy())


def test_intercept_only_model(mtcars):
    res = gf.glm("mpg ~ 1", mtcars)
    assert res.params.iloc[0] == pytest.approx(mtcars.mpg.mean())
    assert res.deviance == pytest.approx(res.null_deviance)


def test_pyarrow_backed_frames_give_the_same_fit_and_predictions(insurance):
    formula = "Claims ~ C(District) + Group + Age + offset(log(Holders))"
    text = insurance.astype({"Group": str, "Age": str})  # text has no order: the same data as pyarrow strings
    arrow = text.astype({"Group": "string[pyarrow]", "Age": "string[pyarrow]"}).convert_dtypes(
        dtype_backend="pyarrow")
    res = gf.glm(formula, arrow, "poisson")
    np.testing.assert_allclose(res.params, gf.glm(formula, text, "poisson").params, rtol=1e-12)
    reference = gf.glm(formula, insurance, "poisson")  # ordered Group and Age: contr.poly, replayed on text
    np.testing.assert_allclose(reference.predict(arrow), reference.fittedvalues, rtol=1e-12)


def test_a_column_named_1_in_backquotes_is_the_column_not_the_intercept():
    """R 4.2, with d$`1` = 1:5, d$y = c(1, 3, 2, 5, 4): coef(glm(y ~ `1`, data = d)) gives (Intercept) 0.6,
    `1` 0.8, standard errors 1.148912529308, 0.346410161514; glm(y ~ 0 + `1`) gives 0.963636363636;
    predict on `1` = c(10, 0) gives 8.6, 0.6."""
    data = pd.DataFrame({"1": [1, 2, 3, 4, 5.0], "y": [1, 3, 2, 5, 4.0]})
    res = gf.glm("y ~ `1`", data)
    assert list(res.params.index) == ["Intercept", "`1`"]  # R's name for the column
    np.testing.assert_allclose(res.params, [0.6, 0.8], rtol=1e-12)
    np.testing.assert_allclose(res.bse, [1.148912529308, 0.346410161514], rtol=1e-10)
    assert gf.glm("y ~ 0 + `1`", data).params.iloc[0] == pytest.approx(0.963636363636, rel=1e-10)
    np.testing.assert_allclose(res.predict(pd.DataFrame({"1": [10.0, 0.0]})), [8.6, 0.6], rtol=1e-12)
    assert list(gf.glm("y ~ .", data).params.index) == ["Intercept", "`1`"]


@pytest.mark.parametrize("formula", ["y ~ Intercept", "y ~ `Intercept`", "y ~ .", "y ~ Intercept + I(x**2)"])
def test_a_column_named_intercept_keeps_a_coefficient_of_its_own(formula):
    """R 4.2: coef(glm(y ~ Intercept, data = d)) gives (Intercept) 0.6, Intercept 0.8.
    The intercept stays "Intercept"; the column is named in backquotes, as R names `1`."""
    data = pd.DataFrame({"Intercept": [1, 2, 3, 4, 5.0], "y": [1, 3, 2, 5, 4.0], "x": [0, 1, 0, 1, 0.0]})
    if formula == "y ~ .":
        data = data.drop(columns="x")
    res = gf.glm(formula, data)
    assert res.params.index.is_unique and res.bse.index.is_unique
    assert list(res.params.index[:2]) == ["Intercept", "`Intercept`"]
    if "I(x" not in formula:
        np.testing.assert_allclose(res.params, [0.6, 0.8], rtol=1e-12)
    assert "`Intercept`" in str(res.summary()) and "(Intercept)" in str(res.summary(style="r"))
    np.testing.assert_allclose(res.predict(data), res.fittedvalues, rtol=1e-12)


def test_a_function_of_a_column_named_intercept_is_unchanged():
    data = pd.DataFrame({"Intercept": [1, 2, 3, 4, 5.0], "y": [1, 3, 2, 5, 4.0]})
    assert list(gf.glm("y ~ log(Intercept)", data).params.index) == ["Intercept", "log(Intercept)"]


def test_two_design_columns_of_one_name_are_refused():
    """formulaic would keep only one of them; the error says how to write the column."""
    data = pd.DataFrame({"Intercept": [1, 2, 3, 4, 5.0], "y": [1, 3, 2, 5, 4.0]})
    with pytest.raises(gf.FormulaError, match="design columns named 'Intercept'.*`Intercept`"):
        gf.glm("y ~ {Intercept}", data)


# -- FrameColumns: each column read once, read-only --------------------------------------------------------------

def _mixed_frame():
    rng = np.random.default_rng(3)
    n = 30
    frame = pd.DataFrame({
        "y": rng.poisson(2.0, n).astype(float),
        "x": rng.normal(size=n),
        "n": rng.integers(0, 9, n),
        "g": pd.Categorical(rng.choice(list("abc"), n)),
        "s": pd.array(rng.choice(["u", "v"], n), dtype="string"),
        "o": np.array(rng.choice(["p", "q"], n), dtype=object),
    })
    frame.loc[1, "x"] = np.nan
    frame.loc[2, "s"] = None
    return frame


def test_frame_columns_arrays_are_read_only_views_of_the_frame():
    from glmformula.formula.columns import FrameColumns

    frame = _mixed_frame()
    columns = FrameColumns(frame)
    assert columns.names == list(frame.columns) and len(columns) == 6 and "x" in columns
    y = columns["y"]
    assert isinstance(y, np.ndarray) and not y.flags.writeable
    with pytest.raises(ValueError):
        y[0] = 10.0  # nothing downstream may write into the caller's frame
    assert frame["y"].iloc[0] == _mixed_frame()["y"].iloc[0]
    np.testing.assert_array_equal(columns["x"], frame["x"].to_numpy())
    assert list(columns["g"].categories) == ["a", "b", "c"]
    assert columns.series("s").isna().tolist() == frame["s"].isna().tolist()


def test_frame_columns_public_fallback_gives_the_same_arrays(monkeypatch):
    """Without pandas' private column accessor, the public route reads the same values."""
    from glmformula.formula import columns as columns_module

    frame = _mixed_frame()
    fast = columns_module.FrameColumns(frame)
    fit_fast = gf.glm("y ~ x + g + o", frame, "poisson")
    monkeypatch.setattr(pd.DataFrame, "_get_column_array", None, raising=False)
    slow = columns_module.FrameColumns(frame)
    for name in frame.columns:
        a, b = np.asarray(fast[name], dtype=object), np.asarray(slow[name], dtype=object)
        assert pd.isna(a).tolist() == pd.isna(b).tolist()
        assert [v for v in a if not pd.isna(v)] == [v for v in b if not pd.isna(v)]
    fit_slow = gf.glm("y ~ x + g + o", frame, "poisson")
    np.testing.assert_allclose(fit_fast.params, fit_slow.params, rtol=1e-12)


def test_missing_values_found_in_every_kind_of_column():
    frame = _mixed_frame()
    fit = gf.glm("y ~ x + n + g + s", frame, "poisson")
    assert fit.nobs == 28 and fit.n_dropped == 2  # x is NaN in row 1, s is missing in row 2
    with pytest.raises(gf.DataError, match=r"x \(1\), s \(1\)"):
        gf.glm("y ~ x + n + g + s", frame, "poisson", na_action="raise")


def test_offsets_are_summed_into_an_array_of_their_own():
    """One offset column is copied (never a view of the caller's frame), several are added, and a constant
    is broadcast to the rows."""
    from glmformula.formula.frame import build_model_frame

    frame = pd.DataFrame({"y": [1.0, 2.0, 3.0, 4.0], "x": [0.5, 1.0, 2.0, 3.0], "t": [1.0, 2.0, 4.0, 8.0]})
    column = build_model_frame("y ~ x + offset(t)", frame).offset
    np.testing.assert_array_equal(column, frame.t)
    assert not np.shares_memory(column, frame.t.to_numpy()) and column.flags.writeable
    np.testing.assert_allclose(build_model_frame("y ~ x + offset(log(t))", frame).offset, np.log(frame.t))
    np.testing.assert_allclose(build_model_frame("y ~ x + offset(t) + offset(log(t))", frame).offset,
                               frame.t + np.log(frame.t))
    np.testing.assert_array_equal(build_model_frame("y ~ x + offset(2)", frame).offset, np.full(4, 2.0))
    np.testing.assert_array_equal(build_model_frame("y ~ x", frame).offset, np.zeros(4))


@pytest.mark.parametrize("dtype", ["float64", "Float64"])
@pytest.mark.parametrize(("formula", "weights"), [("y ~ x", "w"), ("y ~ x + offset(t)", None),
                                                  ("y ~ x + g + offset(t)", "w")])
def test_a_fit_does_not_change_when_the_caller_writes_into_the_frame_afterwards(formula, weights, dtype):
    """The response (read as a view of a float column, or of a nullable one's own buffer), offset, weights
    and design are the fit's own."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=200), "g": rng.choice(list("abc"), 200),
                          "t": rng.uniform(1, 2, 200), "w": rng.uniform(0.5, 2, 200)})
    frame["y"] = rng.poisson(2.0, 200).astype(float)
    frame = frame.astype({"x": dtype, "t": dtype, "w": dtype, "y": dtype})
    res = gf.glm(formula, frame, "poisson", weights=weights)
    before = (res.resid("response").copy(), res.llf, res.model_data.y.copy(), res.model_data.design.to_dense().copy(),
              res.model_data.offset.copy(), res.model_data.prior_weights.copy())
    for column in ("y", "x", "t", "w"):
        frame.loc[0, column] = 1000.0
    after = (res.resid("response"), res.llf, res.model_data.y, res.model_data.design.to_dense(),
             res.model_data.offset, res.model_data.prior_weights)
    pd.testing.assert_series_equal(after[0], before[0])
    assert after[1] == before[1]
    for old, new in zip(before[2:], after[2:]):
        np.testing.assert_array_equal(new, old)


@pytest.mark.parametrize("formula", ["y ~ C(k) + x", "y ~ factor(k)", "y ~ C(k):x", "y ~ C(k) + I(x**2)",
                                     "y ~ C(kn)", "y ~ C(`k`) * x"])
def test_factor_of_an_integer_column_is_named_by_its_integers_on_both_paths(formula):
    """``C(k)`` of an integer column (numpy or nullable) has levels 0, 1, ... (``C(k)[T.1]``, as R prints
    ``factor(k)1``), never 1.0, on the fast path and on formulaic's, with the same fit and predictions."""
    from glmformula import settings

    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"x": rng.normal(size=200), "k": rng.integers(0, 4, 200),
                          "kn": pd.array(rng.integers(0, 4, 200), dtype="Int64")})
    frame["y"] = rng.poisson(2, 200)
    fast = gf.glm(formula, frame, "poisson")
    with settings.override(fast_categorical_design=False):
        formulaic_path = gf.glm(formula, frame, "poisson")
    names = list(formulaic_path.params.index)
    assert list(fast.params.index) == names
    assert not any(".0]" in name for name in names)
    assert any("[T.1]" in name or "[1]:" in name for name in names)
    np.testing.assert_allclose(fast.params, formulaic_path.params, rtol=1e-10)
    np.testing.assert_allclose(fast.predict(frame.iloc[:7]), formulaic_path.predict(frame.iloc[:7]), rtol=1e-10)
