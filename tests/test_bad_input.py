"""Bad input gets a clear error naming what is wrong; the caller's data are never modified."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import glmformula as gf


@pytest.fixture
def counts():
    rng = np.random.default_rng(1)
    n = 40
    return pd.DataFrame({
        "y": rng.poisson(3, n).astype(float),
        "x": rng.normal(size=n),
        "group": rng.choice(["a", "b", "c"], n),
        "exposure": rng.uniform(1, 3, n),
    })


def frame_hash(df: pd.DataFrame) -> int:
    return int(pd.util.hash_pandas_object(df, index=True).sum()) ^ hash(tuple(map(str, df.dtypes)))


@pytest.mark.parametrize(
    ("formula", "message"),
    [
        ("y ~ xx", r"column 'xx' is not in the data\. Did you mean 'x'"),
        ("y ~ X", r"column 'X' is not in the data\. Did you mean 'x'"),
        ("y ~ log(expsure)", r"column 'expsure'.*'exposure'"),
        ("yy ~ x", r"column 'yy'.*'y'"),
        ("y ~ x + offset(log(exposur))", r"column 'exposur'.*'exposure'"),
        ("y ~ C(grop)", r"column 'grop'.*'group'"),
    ],
)
def test_missing_columns_are_named_with_suggestions(counts, formula, message):
    with pytest.raises(gf.MissingColumnError, match=message):
        gf.glm(formula, counts, "poisson")


@pytest.mark.parametrize(
    ("formula", "message"),
    [
        ("", "empty"),
        ("y x", "exactly one '~'"),
        ("~ x", "no response"),
        ("y ~", "nothing right of"),
        ("y ~ x ~ z", "exactly one '~'"),
        ("y ~ (x", "unbalanced"),
        ("y ~ x + offset()", "empty offset"),
        ("y ~ x:offset(exposure)", "term of its own"),
        ("cbind(y) ~ x", "exactly two columns"),
    ],
)
def test_malformed_formulas(counts, formula, message):
    with pytest.raises(gf.FormulaError, match=message):
        gf.glm(formula, counts, "poisson")


@pytest.mark.parametrize("formula", [None, 3, ["y ~ x"]])
def test_formula_must_be_a_string(counts, formula):
    with pytest.raises(gf.FormulaError, match="must be a string"):
        gf.glm(formula, counts)


@pytest.mark.parametrize(
    ("family", "response", "message"),
    [
        ("poisson", -1.0, r"poisson family: 2 row\(s\) of the response are negative"),
        ("negative_binomial(theta=1)", -1.0, r"negative_binomial family: 2 row\(s\)"),
        ("gamma", 0.0, r"gamma family: 2 row\(s\) of the response are non-positive"),
        ("inverse_gaussian", -3.0, r"inverse_gaussian family: 2 row\(s\)"),
        ("binomial", 1.5, r"binomial family: 2 row\(s\) of the response are outside \[0, 1\]"),
    ],
)
def test_response_invalid_for_family(counts, family, response, message):
    data = counts.assign(y=(counts.y > 3).astype(float) if family == "binomial" else counts.y + 1.0)
    data.loc[[3, 7], "y"] = response
    with pytest.raises(gf.ResponseError, match=message):
        gf.glm("y ~ x", data, family)


def test_response_error_names_the_response(counts):
    with pytest.raises(gf.ResponseError, match="response 'y'"):
        gf.glm("y ~ x", counts.assign(y=-counts.y - 1), "poisson")


def test_non_numeric_response_needs_binomial(counts):
    with pytest.raises(gf.ResponseError, match="not numeric"):
        gf.glm("group ~ x", counts, "poisson")
    with pytest.raises(gf.ResponseError, match="3 levels"):
        gf.glm("group ~ x", counts, "binomial")


def test_missing_values_are_dropped_and_counted(counts):
    data = counts.copy()
    data.loc[[1, 2], "x"] = np.nan
    data.loc[5, "group"] = None
    res = gf.glm("y ~ x + group", data, "poisson")
    assert res.n_dropped == 3 and res.nobs == len(data) - 3
    assert "Rows dropped (NA):                  3" in str(res.summary())
    reference = gf.glm("y ~ x + group", data.drop(index=[1, 2, 5]), "poisson")
    np.testing.assert_allclose(res.params.to_numpy(), reference.params.to_numpy())
    assert list(res.fittedvalues.index) == list(reference.fittedvalues.index)


def test_missing_values_in_unused_columns_do_not_drop_rows(counts):
    res = gf.glm("y ~ x", counts.assign(unused=np.nan), "poisson")
    assert res.n_dropped == 0


def test_na_action_raise_names_the_columns(counts):
    data = counts.copy()
    data.loc[[1, 2], "x"] = np.nan
    with pytest.raises(gf.DataError, match=r"missing values in x \(2\)"):
        gf.glm("y ~ x", data, "poisson", na_action="raise")


def test_nothing_left_after_dropping(counts):
    with pytest.raises(gf.DataError, match="no rows left"):
        gf.glm("y ~ x", counts.assign(x=np.nan), "poisson")


def test_non_finite_offset_names_rows(counts):
    data = counts.copy()
    data.loc[[4, 9], "exposure"] = 0.0
    with pytest.raises(gf.DataError, match=r"offset is not finite.*2 row\(s\), first rows: 4, 9"):
        gf.glm("y ~ x + offset(log(exposure))", data, "poisson")
    with pytest.raises(gf.DataError, match=r"exposure must be positive: 2 row\(s\)"):
        gf.glm("y ~ x", data, "poisson", exposure="exposure")


@pytest.mark.parametrize("argument", ["weights", "offset", "exposure"])
def test_wrong_length_arrays(counts, argument):
    with pytest.raises(gf.DataError, match=rf"{argument} has 39 values but data has 40 rows"):
        gf.glm("y ~ x", counts, "poisson", **{argument: np.ones(39)})


def test_negative_weights(counts):
    with pytest.raises(gf.DataError, match=r"non-negative: 1 row"):
        gf.glm("y ~ x", counts, "poisson", weights=np.r_[-1.0, np.ones(39)])


def test_weights_column_must_exist(counts):
    with pytest.raises(gf.MissingColumnError, match="'exposure'"):
        gf.glm("y ~ x", counts, "poisson", weights="exposre")


def test_unknown_options(counts):
    with pytest.raises(gf.DataError, match="na_action"):
        gf.glm("y ~ x", counts, "poisson", na_action="omit")
    with pytest.raises(gf.DataError, match="scale"):
        gf.glm("y ~ x", counts, "quasipoisson", scale="pearsn")


def test_data_must_be_a_dataframe():
    with pytest.raises(gf.DataError, match="DataFrame"):
        gf.glm("y ~ x", [[1, 2], [3, 4]])
    res = gf.glm("y ~ x", {"y": [1.0, 2.0, 4.0], "x": [0.0, 1.0, 2.0]})
    assert res.nobs == 3


def test_duplicate_column_names():
    data = pd.DataFrame([[1.0, 2.0, 3.0]] * 5, columns=["y", "x", "x"])
    with pytest.raises(gf.DataError, match="duplicate column names: x"):
        gf.glm("y ~ x", data)


def test_infinite_predictor_is_named(counts):
    data = counts.assign(x=counts.x.where(counts.index != 3, np.inf))
    with pytest.raises(gf.DataError, match="design column.*x.*infinite"):
        gf.glm("y ~ x", data, "poisson")


def test_infinite_predictor_is_named_on_the_categorical_aware_design():
    """The design's finiteness is proved from its columns' sums; an infinity still fails that proof."""
    rng = np.random.default_rng(2)
    data = pd.DataFrame({"x": rng.normal(size=300), "z": rng.normal(size=300), "g": rng.choice(list("abc"), 300),
                         "y": rng.poisson(2.0, 300).astype(float)})
    data.loc[7, "z"] = -np.inf
    with pytest.raises(gf.DataError, match="design column.*z.*infinite"), gf.settings.override(dense_cells=0):
        gf.glm("y ~ x + g + z", data, "poisson")


def test_transform_producing_nan_drops_rows_with_warning(counts):
    with pytest.warns(UserWarning, match="transforms in the formula produced missing values"):
        res = gf.glm("y ~ log(x)", counts, "poisson")
    assert res.n_dropped == int((counts.x <= 0).sum())


def test_gaussian_log_link_needs_positive_response(counts):
    with pytest.raises(gf.FitError, match="starting values"):
        gf.glm("y ~ x", counts.assign(y=counts.y - 10), "gaussian(link=log)")


def test_start_of_wrong_length(counts):
    with pytest.raises(gf.FitError, match="start has 1 values but the design has 2 columns"):
        gf.glm("y ~ x", counts, "poisson", start=[0.0])


@pytest.mark.parametrize(
    "formula",
    ["y ~ x + group", "y ~ C(group) * x + offset(log(exposure))", "y ~ log(exposure) + I(x^2)", "y ~ ."],
)
def test_callers_dataframe_is_never_modified(counts, formula):
    data = counts.copy()
    data["group"] = data["group"].astype("category")
    data.loc[3, "x"] = np.nan
    before = frame_hash(data)
    columns, dtypes, index = list(data.columns), list(data.dtypes), data.index.copy()
    gf.glm(formula, data, "poisson")
    assert frame_hash(data) == before
    assert list(data.columns) == columns and list(data.dtypes) == dtypes and data.index.equals(index)


@pytest.mark.parametrize(
    ("formula", "data"),
    [
        ("y ~ x", pd.DataFrame({"y": [1.0], "x": [2.0]})),
        ("y ~ x + z", pd.DataFrame({"y": [1.0, 2.0, 3.0], "x": [1.0, 1.0, 1.0], "z": [0.0, 0.0, 0.0]})),
        ("y ~ x", pd.DataFrame({"y": [0.0, 0.0, 0.0, 0.0], "x": [1.0, 2.0, 3.0, 4.0]})),
    ],
)
def test_degenerate_data_never_leak_numpy_errors(formula, data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            res = gf.glm(formula, data, "poisson")
        except gf.GLMFormulaError:
            return
    assert res.rank <= len(data)
