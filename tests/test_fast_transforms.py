"""Numeric transforms beside factors on the fast path (``formula.numeric_terms``), against R 4.2 and formulaic.

``tests/data/reference/fast_transforms.R`` generates the data and fits each formula with R's glm (splines,
``poly``, ``ns``, ``log``, ``I()`` next to a 200-level factor, a factor crossed with ``log(z)`` and with a
spline), with the knots R learns from the full data and predictions on new rows.  Each case is fitted on
the block design (``dense_cells=0``: a ``CategoricalDesign`` whose factors are codes, no dummy columns)
and on formulaic's own dense design.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import REFERENCE_DIR

import glmformula as gf
from glmformula import settings
from glmformula.design.categorical import CategoricalDesign
from glmformula.design.dense import DenseDesign

REFERENCE = json.loads((REFERENCE_DIR / "fast_transforms.json").read_text())
KNOTS = REFERENCE.pop("knots")
TIGHT = 1e-12  # R's fits used glm.control(epsilon = 1e-12)


@pytest.fixture(scope="module")
def data():
    return pd.read_csv(REFERENCE_DIR / "fast_transforms_data.csv")


@pytest.fixture(scope="module")
def newdata():
    return pd.read_csv(REFERENCE_DIR / "fast_transforms_newdata.csv")


def _fit(formula, data, tol=1e-8, **overrides):
    with settings.override(**overrides), warnings.catch_warnings():
        warnings.simplefilter("ignore", gf.RankDeficiencyWarning)
        return gf.glm(formula, data, "poisson", tol=tol)


def _assert_blocks(fit, n_factor_columns: int) -> None:
    """The design keeps the factors as codes: a dense block of the numeric columns only, blocks of codes."""
    design = fit.model_data.design
    assert isinstance(design, CategoricalDesign)
    assert design.dense.shape[1] == design.n_columns - n_factor_columns
    assert sum(block.size for block in design.blocks) == n_factor_columns
    assert all(block.codes.dtype == np.int32 and block.codes.ndim == 1 for block in design.blocks)


def _factor_columns(names) -> int:
    return sum(1 for name in names if "[T." in name or name.startswith(("g[", "h[")) or ":g[" in name)


@pytest.mark.parametrize("case", sorted(REFERENCE))
def test_transforms_beside_factors_reproduce_r(case, data, newdata):
    expected = REFERENCE[case]
    fit = _fit(expected["formula"], data, tol=TIGHT, dense_cells=0)
    _assert_blocks(fit, _factor_columns(fit.params.index))
    assert fit.deviance == pytest.approx(expected["deviance"], rel=1e-10)
    assert fit.null_deviance == pytest.approx(expected["null_deviance"], rel=1e-10)
    assert len(fit.params) == len(expected["names"])
    r_params = np.array(expected["coefficients"], dtype=float)
    r_se = np.array(expected["se"], dtype=float)
    np.testing.assert_allclose(fit.params.to_numpy(), r_params, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(fit.bse.to_numpy(), r_se, rtol=1e-8)
    predicted = fit.predict(newdata, type="link").to_numpy()
    np.testing.assert_allclose(predicted, expected["predict_link"], rtol=1e-9, atol=1e-10)


def test_spline_knots_are_learned_from_the_full_data(data):
    """bs() and ns() take their knots from every row used, as R's do, not from the rows the spec is named on."""
    fit = _fit("y ~ bs(x, df=5) + ns(x, df=3) + h", data, dense_cells=0)
    assert isinstance(fit.model_data.design, CategoricalDesign)
    state = fit.model_data.spec.model_spec.transform_state
    bs_state, ns_state = state["bs(x, df=5)"], state["ns(x, df=3)"]
    np.testing.assert_allclose(bs_state["knots"][4:-4], KNOTS["bs_x_df5"]["knots"], rtol=1e-12)
    np.testing.assert_allclose([bs_state["lower_bound"], bs_state["upper_bound"]], KNOTS["bs_x_df5"]["boundary"],
                               rtol=1e-12)
    np.testing.assert_allclose(ns_state["knots"], KNOTS["ns_x_df3"]["knots"], rtol=1e-12)
    np.testing.assert_allclose(ns_state["boundary_knots"], KNOTS["ns_x_df3"]["boundary"], rtol=1e-12)


FORMULAS = [
    "y ~ bs(x, df=8) + poly(z, 2) + log(z) + h + offset(log(t))",
    "y ~ scale(x) + I(z**2) + g*x + h",
    "y ~ bs(x, df=4) + g + g:log(z) + h",
    "y ~ g:bs(x, 3) + h",
    "y ~ bs(x, 3):g + h",
    "y ~ ns(x, df=3) + center(z):x + h",
    "y ~ bs(x, 3):log(z) + np.sqrt(z) + h + g",
    "y ~ poly(x, 3) + log(z):g + h",
]


def _assert_coefficients_agree(fit, reference):
    """The same aliased coefficients, and the others within 1e-9 of their standard errors.

    In units of the standard errors, not relative to each coefficient: the two designs' products are summed
    in different orders, and a B-spline basis beside an intercept is ill-conditioned enough to carry those
    last-bit differences to ~1e-10 of a small coefficient's own size (~1e-10 of its standard error)."""
    aliased = reference.params.isna().to_numpy()
    np.testing.assert_array_equal(fit.params.isna().to_numpy(), aliased)
    difference = np.abs(fit.params - reference.params).to_numpy()[~aliased]
    assert np.all(difference <= 1e-9 * reference.bse.to_numpy()[~aliased])


@pytest.mark.parametrize("formula", FORMULAS)
def test_fast_transforms_equal_formulaics_design(formula, data, newdata):
    """The block design gives formulaic's coefficients, standard errors and predictions (the transform
    columns are formulaic's, computed once on the full data; the factors are codes)."""
    reference = _fit(formula, data, fast_categorical_design=False)
    assert isinstance(reference.model_data.design, DenseDesign)
    fit = _fit(formula, data, dense_cells=0)
    _assert_blocks(fit, _factor_columns(fit.params.index))
    assert list(fit.params.index) == list(reference.params.index)
    _assert_coefficients_agree(fit, reference)
    np.testing.assert_allclose(fit.bse, reference.bse, rtol=1e-10)
    assert fit.deviance == pytest.approx(reference.deviance, rel=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # scale(x) and x: x aliased, in both fits
        np.testing.assert_allclose(fit.predict(newdata), reference.predict(newdata), rtol=1e-10)
        with_se, reference_se = fit.predict(newdata, se=True), reference.predict(newdata, se=True)
    np.testing.assert_allclose(with_se["se"], reference_se["se"], rtol=1e-9)


def test_large_data_take_the_blocks_by_default(data):
    """With the default settings a design too large for a dense matrix is built of blocks."""
    big = pd.concat([data] * 4, ignore_index=True)  # 16,000 rows x 200 levels: over settings.dense_cells
    fit = _fit("y ~ bs(x, df=6) + log(z) + h + offset(log(t))", big)
    _assert_blocks(fit, 199)
    reference = _fit("y ~ bs(x, df=6) + log(z) + h + offset(log(t))", big, fast_categorical_design=False)
    np.testing.assert_allclose(fit.params, reference.params, rtol=1e-10, atol=1e-12)


def test_transform_state_is_not_reused_across_data(data):
    """The spec cache keys on the state learned: the same formula on other data learns its own knots."""
    formula = "y ~ bs(x, df=5) + poly(z, 2) + h"
    first = _fit(formula, data, dense_cells=0)
    other = data.assign(x=data["x"] * 2 + 1, z=data["z"] ** 2)
    second = _fit(formula, other, dense_cells=0)
    reference = _fit(formula, other, fast_categorical_design=False)
    first_state = first.model_data.spec.model_spec.transform_state
    second_state = second.model_data.spec.model_spec.transform_state
    assert second_state["bs(x, df=5)"]["knots"] != first_state["bs(x, df=5)"]["knots"]
    assert second_state == reference.model_data.spec.model_spec.transform_state
    np.testing.assert_allclose(second.params, reference.params, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(second.predict(other.iloc[:40]), reference.predict(other.iloc[:40]), rtol=1e-10)


def test_the_spec_replays_through_the_interpreter(data):
    """The spec prediction replays names glmformula's interpreter as its materializer (never formulaic's eval)."""
    fit = _fit("y ~ bs(x, df=5) + log(z):g + h", data, dense_cells=0)
    assert fit.model_data.spec.model_spec.materializer == "glmformula"


@pytest.mark.parametrize("formula", [
    "y ~ I(x > 0) + h",             # booleans: a categorical, encoded by formulaic
    "y ~ C(xi) + log(z) + h",       # C() of a numeric column: a categorical block beside log(z)
    "y ~ log(x) + h",               # missing values in some rows: formulaic drops and reports them
])
def test_factors_formulaic_must_encode_give_its_design(formula, data):
    frame = data.assign(xi=((data["x"] > 0).astype(int) + (data["x"] > 1)).astype(float))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        fit = _fit(formula, frame, dense_cells=0)
        reference = _fit(formula, frame, fast_categorical_design=False)
    assert list(fit.params.index) == list(reference.params.index)
    np.testing.assert_allclose(fit.params, reference.params, rtol=1e-10, atol=1e-12)
    assert fit.nobs == reference.nobs


def test_trusted_formulas_with_transforms_take_formulaics_path(data):
    fit = gf.glm("y ~ bs(x, df=4) + h", data, "poisson", trusted=True)
    reference = _fit("y ~ bs(x, df=4) + h", data, fast_categorical_design=False)
    np.testing.assert_allclose(fit.params, reference.params, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("formula, adopted", [
    ("y ~ bs(x, df=8) + poly(z, 2) + log(z) + h + offset(log(t))", True),
    ("y ~ scale(x) + I(z**2) + x:z + x + h", True),
    ("y ~ bs(x, df=4) + g + g:log(z) + h", False),  # log(z) is a block's values too: the dense block is new
])
def test_transform_columns_are_written_once_into_the_dense_block(formula, adopted, data, monkeypatch):
    """The numeric transform terms are written by formulaic into one buffer whose first columns are left for
    the 1s and the numeric columns, and that buffer is the dense block (no second copy of the columns);
    when it cannot be, the columns are copied into a new block.  Either way formulaic's fit."""
    from glmformula.formula import numeric_terms

    buffers = []
    learn = numeric_terms.learn

    def recording_learn(*args, **kwargs):
        learned = learn(*args, **kwargs)
        buffers.append(getattr(learned.values, "buffer", None))
        return learned

    monkeypatch.setattr(numeric_terms, "learn", recording_learn)
    fit = _fit(formula, data, dense_cells=0)
    assert len(buffers) == 1 and buffers[0] is not None  # every term's width was probed
    assert (fit.model_data.design.stored is buffers[0]) is adopted
    reference = _fit(formula, data, fast_categorical_design=False)
    _assert_coefficients_agree(fit, reference)
    np.testing.assert_allclose(fit.bse, reference.bse, rtol=1e-10)


def test_a_given_transform_state_is_replayed_on_the_blocks(data):
    """``build_model_frame(..., transform_state=)`` (a Dask partition with the whole data's state): the rows'
    design is built of blocks with the given knots, not this subset's, and equals formulaic's replay of the
    whole data's spec on those rows."""
    from glmformula.formula.frame import build_model_frame

    formula = "y ~ bs(x, df=5) + poly(z, 2) + h"
    whole = _fit(formula, data, dense_cells=0)
    spec = whole.model_data.spec
    half = data.iloc[::2].reset_index(drop=True)
    with settings.override(dense_cells=0):
        frame = build_model_frame(formula, half, transform_state=spec.model_spec.transform_state)
        own = build_model_frame(formula, half)
    assert isinstance(frame.design, CategoricalDesign)
    replayed = spec.design(half).to_numpy(dtype=float)
    np.testing.assert_allclose(frame.design.to_dense(), replayed, rtol=1e-12, atol=1e-12)
    assert not np.allclose(own.design.to_dense(), replayed)  # the half's own knots differ
