"""Coefficient names show what the user wrote, as R names them: R's dotted keywords (``Boundary.knots``) and
the levels of a factor of a numeric column (``factor(x)1``, not ``1.0``), the same on formulaic's path and on
the categorical blocks' path, and prediction on new data replays them."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import glmformula as gf
from glmformula import settings
from glmformula.formula.levels import level_labels, r_character
from glmformula.formula.lexer import keyword_placeholders, restore_keywords
from glmformula.formula.terms import check_term_count
from glmformula.report.r_deparse import r_coefficient_names

#: ``as.character()`` of doubles in R 4.2.2 (``Rscript -e 'cat(as.character(x), sep="\n")'``).
R_AS_CHARACTER = [
    (1.0, "1"), (2.0, "2"), (0.5, "0.5"), (1e-20, "1e-20"), (1e5, "1e+05"), (123456.0, "123456"), (1e15, "1e+15"),
    (1e-5, "1e-05"), (1e-4, "1e-04"), (0.001, "0.001"), (1 / 3, "0.333333333333333"), (0.1 + 0.2, "0.3"),
    (1234567.1, "1234567.1"), (100.0, "100"), (-2.5, "-2.5"), (1e22, "1e+22"),
    (123456789012345678.0, "123456789012345680"), (0.0001234, "0.0001234"), (2.0**60, "1152921504606846976"),
    (3e5, "3e+05"), (1e-300, "1e-300"), (5e-324, "4.94065645841247e-324"), (1.5e300, "1.5e+300"), (-0.0, "0"),
    (1e16, "1e+16"), (12345678901234567.0, "12345678901234568"), (99999999999999999.0, "1e+17"),
    (0.1234567890123456, "0.123456789012346"),
]


def _fit(formula: str, data: pd.DataFrame, *, blocks: bool, **kwargs):
    """The fit on the categorical blocks' path (``blocks``) or on formulaic's dense one."""
    with settings.override(dense_cells=0 if blocks else 10**12), warnings.catch_warnings():
        warnings.simplefilter("ignore", gf.GLMWarning)
        return gf.glm(formula, data, "poisson", **kwargs)


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    n = 2000
    frame = pd.DataFrame({
        "x": rng.uniform(0, 10, n),
        "g": rng.choice([1.0, 2.0, 3.0], n),
        "h": rng.choice([1e-20, 0.5, 1e5], n),
        "k": rng.choice([1, 2, 3], n),
    })
    frame["y"] = rng.poisson(np.exp(0.1 * frame["x"])).astype(float)
    return frame


# --- R's dotted keywords ----------------------------------------------------------------------------------

def test_dotted_keywords_keep_their_spelling_in_the_names_on_both_paths(data):
    formula = "y ~ bs(x, df = 5, Boundary.knots = c(0, 10)) + C(g)"
    expected = [f"bs(x, df=5, Boundary.knots=c(0, 10))[{i}]" for i in range(1, 6)]
    dense, blocks = _fit(formula, data, blocks=False), _fit(formula, data, blocks=True)
    assert type(blocks.model_data.design).__name__ == "CategoricalDesign"
    assert type(dense.model_data.design).__name__ == "DenseDesign"
    for fit in (dense, blocks):
        assert list(fit.params.index) == ["Intercept", *expected, "C(g)[T.2]", "C(g)[T.3]"]
    np.testing.assert_allclose(blocks.params.to_numpy(), dense.params.to_numpy(), rtol=1e-8)
    python = _fit("y ~ bs(x, df=5, boundary_knots=[0, 10]) + C(g)", data, blocks=False)
    np.testing.assert_allclose(dense.params.to_numpy(), python.params.to_numpy(), rtol=1e-12)


def test_dotted_keywords_predict_on_new_data(data):
    formula = "y ~ ns(x, df = 3, Boundary.knots = c(0, 10)):C(g) + bs(x, 4, Boundary.knots=c(-1, 11))"
    newdata = data.iloc[::7].reset_index(drop=True)
    for blocks in (False, True):
        fit = _fit(formula, data, blocks=blocks)
        assert "ns(x, df=3, Boundary.knots=c(0, 10))[1]:C(g)[1]" in fit.params.index
        assert "bs(x, 4, Boundary.knots=c(-1, 11))[4]" in fit.params.index
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # rank deficient: ns:C(g) spans bs's columns' space
            np.testing.assert_allclose(fit.predict(newdata), fit.fittedvalues.to_numpy()[::7], rtol=1e-9)


def test_r_summary_deparses_the_keywords_as_r(data):
    fit = _fit("y ~ bs(x, df = 3, Boundary.knots = c(0, 10)) + factor(h)", data, blocks=False)
    names = r_coefficient_names(list(fit.params.index), fit.formula)
    assert names == ["(Intercept)", *(f"bs(x, df = 3, Boundary.knots = c(0, 10)){i}" for i in (1, 2, 3)),
                     "factor(h)0.5", "factor(h)1e+05"]
    assert "bs(x, df = 3, Boundary.knots = c(0, 10))1" in str(fit.summary(style="r"))


def test_keyword_placeholders_round_trip():
    text = "bs(x, Boundary.knots = c(0, 1), a.b.c=2) + f(`Boundary.knots` = 1, s='Boundary.knots=3', _rkw0_=4)"
    source, placeholders = keyword_placeholders(text)
    assert "Boundary.knots =" not in source.split("`")[0]
    assert all(name not in text for name in placeholders)  # never a name of the text
    assert sorted(placeholders.values()) == ["Boundary.knots", "a.b.c"]
    assert restore_keywords(source, placeholders) == text
    assert keyword_placeholders("y ~ x + log(z)") == ("y ~ x + log(z)", {})


def test_the_term_bound_reads_dotted_keywords():
    check_term_count("(a + b + bs(x, Boundary.knots = c(0, 1)))^2")


def test_dotted_keywords_in_a_trusted_formula(data):
    fit = _fit("y ~ ns(x, df = 3, Boundary.knots = c(0, 10))", data, blocks=False, trusted=True)
    untrusted = _fit("y ~ ns(x, df = 3, Boundary.knots = c(0, 10))", data, blocks=False)
    assert list(fit.params.index) == list(untrusted.params.index)
    np.testing.assert_allclose(fit.params.to_numpy(), untrusted.params.to_numpy(), rtol=1e-10)
    newdata = data.iloc[::5].reset_index(drop=True)  # the spec's text is evaluated again, keywords and all
    np.testing.assert_allclose(fit.predict(newdata), fit.fittedvalues.to_numpy()[::5], rtol=1e-9)


# --- levels of factors of numeric columns -------------------------------------------------------------------

@pytest.mark.parametrize(("value", "expected"), R_AS_CHARACTER)
def test_r_character_is_rs_as_character(value, expected):
    assert r_character(value) == expected


def test_doubles_printing_alike_keep_distinct_labels():
    labels = level_labels([0.3, 0.1 + 0.2, 1.0, "a", 2])
    assert labels == {0.3: "0.3", 0.1 + 0.2: "0.30000000000000004", 1.0: "1"}


@pytest.mark.parametrize("spelling", ["C", "factor", "as.factor"])
def test_factor_of_a_double_column_names_levels_as_r(data, spelling):
    for blocks in (False, True):
        fit = _fit(f"y ~ {spelling}(g) + {spelling}(h)", data, blocks=blocks)
        assert list(fit.params.index) == ["Intercept", "C(g)[T.2]", "C(g)[T.3]", "C(h)[T.0.5]", "C(h)[T.1e+05]"]
        newdata = data.iloc[:40].assign(g=data["g"].iloc[:40].astype(int))  # integers match the levels too
        np.testing.assert_allclose(fit.predict(newdata), fit.fittedvalues.to_numpy()[:40], rtol=1e-9)


def test_a_categorical_column_of_doubles_names_levels_as_r(data):
    """A pandas Categorical of doubles, without C(): the same labels on both paths, trusted or not, and
    prediction matches new data's levels by value (a different order of categories, a plain float column)."""
    frame = data.assign(g=pd.Categorical(data["g"]), h=pd.Categorical(data["h"], ordered=True))
    newdata = frame.iloc[::7].reset_index(drop=True)
    reordered = newdata.assign(g=pd.Categorical(newdata["g"].astype(float), categories=[3.0, 1.0, 2.0]))
    expected = {"y ~ g + x:g": ["Intercept", "g[T.2]", "g[T.3]", "x:g[1]", "x:g[2]", "x:g[3]"],
                "y ~ 0 + g": ["g[1]", "g[2]", "g[3]"],
                "y ~ 0 + h": ["h[1e-20]", "h[0.5]", "h[1e+05]"]}
    for formula, names in expected.items():
        fits = [_fit(formula, frame, blocks=blocks, trusted=trusted) for blocks in (False, True)
                for trusted in (False, True)]
        if formula != "y ~ 0 + h":  # an ordered factor (contr.poly) is coded on formulaic's path
            assert type(fits[2].model_data.design).__name__ == "CategoricalDesign"
        for fit in fits:
            assert list(fit.params.index) == names
            np.testing.assert_allclose(fit.params.to_numpy(), fits[0].params.to_numpy(), rtol=1e-8)
            for new in (newdata, reordered):
                np.testing.assert_allclose(fit.predict(new), fit.fittedvalues.to_numpy()[::7], rtol=1e-9)
    assert r_coefficient_names(expected["y ~ g + x:g"], "y ~ g + x:g")[1:3] == ["g2", "g3"]


def test_factor_levels_in_interactions_and_contrasts(data):
    for blocks in (False, True):
        fit = _fit("y ~ C(h):x", data, blocks=blocks)
        assert list(fit.params.index) == ["Intercept", "C(h)[1e-20]:x", "C(h)[0.5]:x", "C(h)[1e+05]:x"]
    fit = _fit("y ~ C(g, contr.sum)", data, blocks=False)
    assert list(fit.params.index) == ["Intercept", "C(g, contr.sum)[S.1]", "C(g, contr.sum)[S.2]"]
    fit = _fit("y ~ C(g, contr.treatment, base = 2)", data, blocks=False)
    assert list(fit.params.index) == ["Intercept", "C(g, contr.treatment, base=2)[T.1]",
                                      "C(g, contr.treatment, base=2)[T.3]"]


def test_integer_and_text_levels_are_unchanged(data):
    frame = data.assign(s=np.where(data["k"] == 1, "1.0", "b"))
    for blocks in (False, True):
        fit = _fit("y ~ C(k) + C(s)", frame, blocks=blocks)
        assert list(fit.params.index) == ["Intercept", "C(k)[T.2]", "C(k)[T.3]", "C(s)[T.b]"]


def test_raw_polynomials_are_numbered_from_one(data):
    fit = _fit("y ~ poly(x, 2, raw = TRUE)", data, blocks=False)
    assert list(fit.params.index) == ["Intercept", "poly(x, 2, raw=TRUE)[1]", "poly(x, 2, raw=TRUE)[2]"]
    assert r_coefficient_names(list(fit.params.index), fit.formula)[1:] == [
        "poly(x, 2, raw = TRUE)1", "poly(x, 2, raw = TRUE)2"]
    np.testing.assert_allclose(fit.predict(data.iloc[:5]), fit.fittedvalues.to_numpy()[:5], rtol=1e-9)


def test_raw_polynomials_are_numbered_from_one_in_a_trusted_formula(data):
    formula = "y ~ poly(x, 2, raw = TRUE)"
    fit, untrusted = _fit(formula, data, blocks=False, trusted=True), _fit(formula, data, blocks=False)
    assert list(fit.params.index) == list(untrusted.params.index) == [
        "Intercept", "poly(x, 2, raw=TRUE)[1]", "poly(x, 2, raw=TRUE)[2]"]
    np.testing.assert_allclose(fit.params.to_numpy(), untrusted.params.to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(fit.predict(data.iloc[:5]), fit.fittedvalues.to_numpy()[:5], rtol=1e-9)


def test_a_trusted_formula_takes_rs_bs(data):
    """Trusted formulas call glmformula's bs (R's splines::bs basis and names), as untrusted ones do, not
    formulaic's."""
    formula = "y ~ bs(x, df = 4)"
    fit, untrusted = _fit(formula, data, blocks=False, trusted=True), _fit(formula, data, blocks=False)
    assert list(fit.params.index) == list(untrusted.params.index)
    np.testing.assert_allclose(fit.params.to_numpy(), untrusted.params.to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(fit.predict(data.iloc[:5]), fit.fittedvalues.to_numpy()[:5], rtol=1e-9)
