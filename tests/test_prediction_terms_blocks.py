"""R's ``predict(type = "terms")`` on block designs (``CategoricalDesign``), computed by blocks: the centred
term contributions, the constant and the standard errors against R 4.2's ``predict(..., type = "terms",
se.fit = TRUE)`` (``tests/data/reference/prediction_terms_blocks.R``), against the dense computation on the
same fit, and without the dense design ever being written out.  Also the batched covariance solves of
``results.prediction_variance``.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import REFERENCE_DIR, fit_on_blocks

import glmformula as gf
from glmformula.design.categorical import CategoricalDesign
from glmformula.results.prediction_variance import (
    DenseCovariance,
    RowParts,
    SolvedCovariance,
    parts_variances,
)

REFERENCE = json.loads((REFERENCE_DIR / "prediction_terms_blocks.json").read_text())
CASES = sorted(name for name in REFERENCE if name != "rows")


def _terms(fit, newdata=None, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return fit.predict(newdata, type="terms", se=True, **kwargs)


def _dense_terms(fit, newdata=None):
    """R's algorithm on the dense design: X (less its column means, with an intercept) restricted to each
    term, times beta and V."""
    fitted = fit.model_data.design.to_dense()
    X = fitted if newdata is None else fit.model_data.spec.design(newdata).to_numpy(dtype=float)
    if fit.model_data.has_intercept:
        X = X - fitted.mean(axis=0)
    beta, V = np.nan_to_num(fit.params.to_numpy()), np.nan_to_num(fit.cov_params().to_numpy())
    fits, errors = [], []
    for name, columns in fit.term_slices.items():
        if name != "1":
            block = X[:, columns]
            fits.append(block @ beta[columns])
            errors.append(np.sqrt(np.einsum("ij,jk,ik->i", block, V[columns, columns], block)))
    return np.column_stack(fits), np.column_stack(errors)


@pytest.mark.parametrize("case", CASES)
def test_block_terms_match_r(case, blocks_frame, blocks_newdata):
    expected = REFERENCE[case]
    fit = fit_on_blocks(expected["formula"], blocks_frame)
    assert isinstance(fit.model_data.design, CategoricalDesign)
    fitted, new = _terms(fit), _terms(fit, blocks_newdata)
    assert len(fitted.fit.columns) == len(expected["labels"])
    np.testing.assert_allclose(fitted.constant, expected["constant"], rtol=1e-8, atol=1e-12)
    scale = np.abs(np.asarray(expected["fitted_fit"])).max()
    np.testing.assert_allclose(fitted.fit.to_numpy()[:100], expected["fitted_fit"], rtol=1e-8, atol=1e-10 * scale)
    np.testing.assert_allclose(fitted.se_fit.to_numpy()[:100], expected["fitted_se"], rtol=1e-8)
    np.testing.assert_allclose(new.fit.to_numpy(), expected["new_fit"], rtol=1e-8, atol=1e-10 * scale)
    np.testing.assert_allclose(new.se_fit.to_numpy(), expected["new_se"], rtol=1e-8)
    np.testing.assert_allclose(fitted.fit.sum().to_numpy(), expected["fitted_fit_sums"], atol=1e-9)
    np.testing.assert_allclose(fitted.se_fit.sum().to_numpy(), expected["fitted_se_sums"], rtol=1e-8)
    plain = fit.predict(blocks_newdata, type="terms")
    np.testing.assert_allclose(plain.to_numpy(), new.fit.to_numpy(), rtol=1e-14, atol=1e-14)
    eta = plain.sum(axis=1) + plain.attrs["constant"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        link = fit.predict(blocks_newdata, type="link") - fit.model_data.spec.offset(blocks_newdata)
    np.testing.assert_allclose(eta, link, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", CASES)
def test_block_terms_equal_the_dense_computation(case, blocks_frame, blocks_newdata):
    fit = fit_on_blocks(REFERENCE[case]["formula"], blocks_frame)
    for rows in (None, blocks_newdata):
        fits, errors = _dense_terms(fit, rows)
        terms = _terms(fit, rows)
        np.testing.assert_allclose(terms.fit.to_numpy(), fits, rtol=1e-11, atol=1e-12)
        np.testing.assert_allclose(terms.se_fit.to_numpy(), errors, rtol=1e-10, atol=1e-14)


def test_block_terms_never_write_the_dense_design(blocks_frame, blocks_newdata, monkeypatch):
    fit = fit_on_blocks("y ~ ns(x, df = 3) + h + k + x:g + a * b + offset(log(t))", blocks_frame)

    def refuse(self):
        raise AssertionError("the block design was written out as dense")

    monkeypatch.setattr(CategoricalDesign, "to_dense", refuse)
    for rows in (None, blocks_newdata):
        terms = _terms(fit, rows)
        assert np.isfinite(terms.se_fit.to_numpy()).all()


def test_block_terms_with_a_sandwich_covariance(blocks_frame, blocks_newdata):
    fit = fit_on_blocks("y ~ x * g + h", blocks_frame).with_cov("HC0")
    fits, errors = _dense_terms(fit, blocks_newdata)
    terms = _terms(fit, blocks_newdata)
    np.testing.assert_allclose(terms.fit.to_numpy(), fits, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(terms.se_fit.to_numpy(), errors, rtol=1e-10)


def test_block_terms_of_unseen_levels(blocks_frame, blocks_newdata):
    fit = fit_on_blocks("y ~ x + h + g:x", blocks_frame)
    rows = blocks_newdata.iloc[:4].copy()
    rows["h"] = rows["h"].astype(object)
    rows.iloc[1, rows.columns.get_loc("h")] = "never seen"
    terms = _terms(fit, rows, unseen="nan")
    assert terms.fit.isna().all(axis=1).tolist() == [False, True, False, False]
    assert terms.se_fit.isna().all(axis=1).tolist() == [False, True, False, False]
    kept = _terms(fit, rows.iloc[[0, 2, 3]])
    np.testing.assert_allclose(terms.se_fit.iloc[[0, 2, 3]], kept.se_fit, rtol=1e-14)
    with pytest.raises(gf.DataError, match="never seen"):
        _terms(fit, rows)


def test_row_parts_of_part_of_a_block_and_a_shift(blocks_frame):
    """A selection that cuts through blocks (some levels of h, some of x:g, one dense column) and a shift."""
    fit = fit_on_blocks("y ~ x + z + h + x:g", blocks_frame)
    design = fit.model_data.design
    rng = np.random.default_rng(3)
    selected = rng.random(design.shape[1]) < 0.5
    shift = np.where(selected, rng.normal(size=design.shape[1]), 0.0)
    rows = (design.to_dense() * selected + shift)
    V = np.nan_to_num(fit.cov_params().to_numpy())
    expected = np.einsum("ij,jk,ik->i", rows, V, rows)
    for covariance in (fit.column_covariance(), DenseCovariance(V)):
        got = parts_variances([RowParts.select(design, selected, shift)], covariance)[0]
        np.testing.assert_allclose(got, expected, rtol=1e-10)


class _CountingSolve:
    """A fit's solve that also takes a matrix of right-hand sides (column by column underneath), counting
    its calls."""

    def __init__(self, solve):
        self.solve, self.calls = solve, 0

    def with_rhs(self, rhs):
        return self.solve.with_rhs(rhs)

    def solve_columns(self, rhs):
        self.calls += 1
        return np.column_stack([self.solve.with_rhs(rhs[:, j]).coefficients for j in range(rhs.shape[1])])


def test_solved_covariance_columns_and_products(blocks_frame):
    fit = fit_on_blocks("y ~ a * b + x + h", blocks_frame)  # a:b has an empty cell: an aliased column
    covariance = fit.column_covariance()
    assert isinstance(covariance, SolvedCovariance)
    V = np.nan_to_num(fit.cov_params().to_numpy())
    positions = np.arange(0, V.shape[0], 3)
    np.testing.assert_allclose(covariance.columns(positions), V[:, positions], rtol=1e-10, atol=1e-15)
    matrix = np.random.default_rng(0).normal(size=(V.shape[0], 5))
    np.testing.assert_allclose(covariance.times(matrix), V @ matrix, rtol=1e-9, atol=1e-14)
    counting = _CountingSolve(fit._fit.standard_errors.solve)
    batched = SolvedCovariance(counting, fit._fit.aliased, fit.scale, fit.bse.to_numpy() ** 2)
    np.testing.assert_allclose(batched.columns(positions), V[:, positions], rtol=1e-10, atol=1e-15)
    assert counting.calls == 1  # one call for all the columns


def test_block_predictions_do_not_write_out_the_implicit_intercept(monkeypatch):
    """A block design built for the compiled passes keeps its intercept's 1s implicit; predict(se=True) and
    type="terms" read the dense part chunk by chunk (``dense_rows``, ``dense_times``), never the whole dense
    block written out (``dense``, a new array the data's length at each read)."""
    rng = np.random.default_rng(3)
    n = 4000
    data = pd.DataFrame({"x": rng.normal(size=n), "h": pd.Categorical(rng.integers(0, 60, n).astype(str))})
    data["y"] = rng.poisson(np.exp(0.3 * data.x)).astype(float)
    fit = fit_on_blocks("y ~ x + h", data)
    design = fit.model_data.design
    if design.intercept is None:
        pytest.skip("the compiled passes are not built: the 1s are stored")
    reads = []
    whole = CategoricalDesign.dense
    monkeypatch.setattr(CategoricalDesign, "dense", property(lambda self: reads.append(1) or whole.fget(self)))
    fit.predict(se=True)
    _terms(fit)
    assert not reads
    monkeypatch.undo()
    assert design.dense is not design.dense  # written out at each read, never kept
    np.testing.assert_array_equal(design.dense, np.column_stack([np.ones(n), data.x]))
    dense = np.column_stack([np.ones(n), data.x])
    np.testing.assert_array_equal(design.dense_rows(slice(10, 20)), dense[10:20])
    np.testing.assert_allclose(design.dense_times(np.eye(2)), dense, rtol=0, atol=0)
    np.testing.assert_array_equal(design.dense_means(), dense.mean(axis=0))
