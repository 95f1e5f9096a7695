"""Invariances every fit must have, checked with hypothesis on random data."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import glmformula as gf

FAMILIES = ["poisson", "binomial", "gamma(link=log)", "gaussian", "negative_binomial(theta=2)"]


def make_data(seed: int, n: int, family: str) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x, z = rng.normal(size=n), rng.uniform(0, 2, size=n)
    g = rng.choice(["a", "b", "c"], n)
    eta = 0.3 + 0.4 * x - 0.3 * z + (g == "b") * 0.2
    if family == "binomial":
        y = rng.binomial(1, 1 / (1 + np.exp(-eta))).astype(float)
    elif family.startswith("gamma"):
        y = rng.gamma(4.0, np.exp(eta) / 4.0)
    elif family == "gaussian":
        y = eta + rng.normal(size=n)
    else:
        y = rng.poisson(np.exp(eta)).astype(float)
    return pd.DataFrame({"y": y, "x": x, "z": z, "g": g, "e": rng.uniform(0.5, 3, n)})


FORMULA = "y ~ x + z + g"
common = settings(max_examples=15, deadline=None)
draws = {"seed": st.integers(0, 10**6), "n": st.integers(40, 150), "family": st.sampled_from(FAMILIES)}


def quiet_fit(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error", gf.GLMWarning)
        try:
            return gf.glm(*args, tol=1e-12, **kwargs)
        except (gf.GLMWarning, gf.GLMFormulaError):
            assume(False)


@common
@given(**draws, permutation_seed=st.integers(0, 1000))
def test_row_order_does_not_matter(seed, n, family, permutation_seed):
    data = make_data(seed, n, family)
    shuffled = data.sample(frac=1, random_state=permutation_seed)
    a, b = quiet_fit(FORMULA, data, family), quiet_fit(FORMULA, shuffled, family)
    np.testing.assert_allclose(a.params, b.params, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(a.bse, b.bse, rtol=1e-6)
    np.testing.assert_allclose(a.fittedvalues.sort_index(), b.fittedvalues.sort_index(), rtol=1e-8)


@common
@given(**draws)
def test_duplicated_rows_equal_frequency_weights_of_two(seed, n, family):
    data = make_data(seed, n, family)
    doubled = pd.concat([data, data], ignore_index=True)
    a = quiet_fit(FORMULA, doubled, family)
    b = quiet_fit(FORMULA, data, family, weights=np.full(n, 2.0))
    np.testing.assert_allclose(a.params, b.params, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(a.deviance, b.deviance, rtol=1e-8)


@common
@given(**draws, factor=st.floats(0.01, 100))
def test_rescaling_a_covariate_rescales_its_coefficient(seed, n, family, factor):
    data = make_data(seed, n, family)
    a = quiet_fit(FORMULA, data, family)
    b = quiet_fit(FORMULA, data.assign(x=data.x * factor), family)
    np.testing.assert_allclose(b.params["x"] * factor, a.params["x"], rtol=1e-7)
    np.testing.assert_allclose(b.deviance, a.deviance, rtol=1e-9)


@common
@given(seed=st.integers(0, 10**6), n=st.integers(40, 150),
       family=st.sampled_from(["poisson", "negative_binomial(theta=2)", "gamma(link=log)"]))
def test_exposure_equals_log_offset(seed, n, family):
    data = make_data(seed, n, family)
    a = quiet_fit(FORMULA, data, family, exposure="e")
    b = quiet_fit(FORMULA + " + offset(log(e))", data, family)
    np.testing.assert_allclose(a.params, b.params, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(a.null_deviance, b.null_deviance, rtol=1e-12)


@common
@given(**draws)
def test_refitting_is_bit_identical(seed, n, family):
    data = make_data(seed, n, family)
    a, b = quiet_fit(FORMULA, data, family), quiet_fit(FORMULA, data.copy(), family)
    assert a.params.equals(b.params) and a.bse.equals(b.bse) and a.deviance == b.deviance


@common
@given(**draws)
def test_predict_on_training_data_equals_fitted_values(seed, n, family):
    data = make_data(seed, n, family)
    res = quiet_fit(FORMULA + " + offset(0.1 * z)", data, family)
    np.testing.assert_allclose(res.predict(data), res.fittedvalues, rtol=1e-10)
    np.testing.assert_allclose(res.predict(data, type="link"), res.linear_predictor, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("family", FAMILIES)
def test_invariances_hold_on_a_fixed_example(family):
    """The same properties once without hypothesis, so a failure is easy to read."""
    data = make_data(1, 80, family)
    a = quiet_fit(FORMULA, data, family)
    b = quiet_fit(FORMULA, data.iloc[::-1], family)
    np.testing.assert_allclose(a.params, b.params, rtol=1e-8, atol=1e-10)
