"""Prediction from block designs (``CategoricalDesign``) on blocks: new rows encoded by the fast path's
builder (``formula.block_replay``), standard errors from a few columns of the covariance
(``results.prediction_variance``), against R 4.2's ``predict(..., se.fit = TRUE)``
(``tests/data/reference/prediction_blocks.R``) and against the dense computation x' V x on the same fit.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from conftest import REFERENCE_DIR, fit_on_blocks

from glmformula.design.categorical import CategoricalDesign
from glmformula.formula.block_replay import replay_blocks

REFERENCE = json.loads((REFERENCE_DIR / "prediction_blocks.json").read_text())
CASES = sorted(name for name in REFERENCE if name != "rows")


def _predict(fit, newdata=None, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "prediction from a rank-deficient fit", as R warns
        return fit.predict(newdata, se=True, **kwargs)


def _dense_answer(fit, newdata):
    """x' beta and sqrt(x' V x) from formulaic's dense encoding of the rows and the (p, p) covariance."""
    spec = fit.model_data.spec
    X = fit.model_data.design.to_dense() if newdata is None else spec.design(newdata).to_numpy(dtype=float)
    offset = fit.model_data.offset if newdata is None else fit.model_data.spec.offset(newdata)
    covariance = np.nan_to_num(fit.cov_params().to_numpy())
    eta = X @ np.nan_to_num(fit.params.to_numpy()) + offset
    return eta, np.sqrt(np.einsum("ij,jk,ik->i", X, covariance, X))


@pytest.mark.parametrize("case", CASES)
def test_block_prediction_matches_r(case, blocks_frame, blocks_newdata):
    expected = REFERENCE[case]
    fit = fit_on_blocks(expected["formula"], blocks_frame)
    assert isinstance(fit.model_data.design, CategoricalDesign)
    link = _predict(fit, blocks_newdata, type="link")
    response = _predict(fit, blocks_newdata)
    np.testing.assert_allclose(link["fit"], expected["link"], rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(link["se"], expected["link_se"], rtol=1e-7)
    np.testing.assert_allclose(response["fit"], expected["response"], rtol=1e-8)
    np.testing.assert_allclose(response["se"], expected["response_se"], rtol=1e-7)
    fitted = _predict(fit, type="link")
    np.testing.assert_allclose(fitted["se"].to_numpy()[:50], expected["fitted_link_se_head"], rtol=1e-7)


@pytest.mark.parametrize("case", CASES)
def test_block_prediction_equals_the_dense_computation(case, blocks_frame, blocks_newdata):
    fit = fit_on_blocks(REFERENCE[case]["formula"], blocks_frame)
    for rows in (blocks_newdata, None):
        eta, se = _dense_answer(fit, rows)
        out = _predict(fit, rows, type="link")
        np.testing.assert_allclose(out["fit"], eta, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(out["se"], se, rtol=1e-10)


def test_new_rows_are_encoded_in_blocks(blocks_frame, blocks_newdata):
    fit = fit_on_blocks("y ~ x + z + k + g:z + bs(x, df=4) + offset(log(t))", blocks_frame)
    design = replay_blocks(fit.model_data.spec.model_spec, blocks_newdata)
    assert isinstance(design, CategoricalDesign)
    expected = fit.model_data.spec.design(blocks_newdata).to_numpy(dtype=float)
    np.testing.assert_allclose(design.to_dense(), expected, rtol=1e-13, atol=1e-13)


def test_sandwich_covariance_on_blocks(blocks_frame, blocks_newdata):
    fit = fit_on_blocks("y ~ x + h + k", blocks_frame).with_cov("HC0")
    eta, se = _dense_answer(fit, blocks_newdata)
    out = _predict(fit, blocks_newdata, type="link")
    np.testing.assert_allclose(out["se"], se, rtol=1e-10)


def test_unseen_levels_and_missing_values_on_blocks(blocks_frame, blocks_newdata):
    fit = fit_on_blocks("y ~ x + h + g:x", blocks_frame)
    rows = blocks_newdata.iloc[:4].copy()
    rows["h"] = rows["h"].astype(object)
    rows.iloc[1, rows.columns.get_loc("h")] = "never seen"
    rows.iloc[2, rows.columns.get_loc("x")] = np.nan
    out = _predict(fit, rows, unseen="nan")
    assert out["fit"].isna().tolist() == [False, True, True, False]
    assert out["se"].isna().tolist() == [False, True, True, False]
    expected = _predict(fit, rows.iloc[[0, 3]])
    np.testing.assert_allclose(out.iloc[[0, 3]], expected, rtol=1e-12)


def test_get_prediction_on_blocks(blocks_frame, blocks_newdata):
    fit = fit_on_blocks("y ~ x + h + k", blocks_frame)
    frame = fit.get_prediction(blocks_newdata).summary_frame()
    eta, se = _dense_answer(fit, blocks_newdata)
    np.testing.assert_allclose(frame["mean"], np.exp(eta), rtol=1e-12)
    np.testing.assert_allclose(frame["mean_se"], np.exp(eta) * se, rtol=1e-10)
