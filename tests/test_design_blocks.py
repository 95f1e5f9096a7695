"""Design blocks for interactions (``g:x``, ``a:b``, ``a/b``, ``x:z``) against R 4.2 and formulaic's dense design.

``tests/data/reference/blocks.R`` generates the data and fits each formula with R's glm.  Each case is
fitted on the block design (``dense_cells=0``: a ``CategoricalDesign``, no dummy columns), on the fast
path's small dense matrix (the default for this size), and on formulaic's own design.
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

REFERENCE = json.loads((REFERENCE_DIR / "blocks.json").read_text())


@pytest.fixture(scope="module")
def data():
    return pd.read_csv(REFERENCE_DIR / "blocks_data.csv")


def _fit(formula, data, **overrides):
    with settings.override(**overrides), warnings.catch_warnings():
        warnings.simplefilter("ignore", gf.RankDeficiencyWarning)  # the empty cell of a x b, as R's NA
        return gf.glm(formula, data, "poisson")


@pytest.mark.parametrize("case", sorted(REFERENCE))
def test_blocks_reproduce_r(case, data):
    expected = REFERENCE[case]
    blocks = _fit(expected["formula"], data, dense_cells=0)
    assert isinstance(blocks.model_data.design, CategoricalDesign)
    assert blocks.deviance == pytest.approx(expected["deviance"], rel=1e-10)
    assert blocks.null_deviance == pytest.approx(expected["null_deviance"], rel=1e-10)
    np.testing.assert_allclose(blocks.fittedvalues.to_numpy()[:20], expected["fitted_head"], rtol=1e-8)
    if len(blocks.params) == len(expected["names"]):  # R and formulaic parametrise a:b alone differently
        aliased = np.array(expected["aliased"])
        assert np.array_equal(np.isnan(blocks.params.to_numpy()), aliased)
        r_params = np.array([np.nan if v is None else v for v in expected["coefficients"]])
        r_se = np.array([np.nan if v is None else v for v in expected["se"]])
        np.testing.assert_allclose(blocks.params.to_numpy()[~aliased], r_params[~aliased], rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(blocks.bse.to_numpy()[~aliased], r_se[~aliased], rtol=1e-7)
    else:
        assert case in ("cells_only", "mixed")


@pytest.mark.parametrize("case", sorted(REFERENCE))
def test_blocks_equal_formulaics_design(case, data):
    formula = REFERENCE[case]["formula"]
    reference = _fit(formula, data, fast_categorical_design=False)
    for overrides in ({"dense_cells": 0}, {}):
        fit = _fit(formula, data, **overrides)
        assert list(fit.params.index) == list(reference.params.index)
        np.testing.assert_allclose(fit.params, reference.params, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(fit.bse, reference.bse, rtol=1e-8)
        np.testing.assert_allclose(fit.predict(data.iloc[:30]), reference.predict(data.iloc[:30]), rtol=1e-10)


def test_block_products_equal_the_dense_design(data):
    """X'WX, X'Wz and X beta of the block design, numpy's path, equal those of its dense matrix."""
    fit = _fit("y ~ x * g + a / b + x:z + h", data, dense_cells=0)
    design = fit.model_data.design
    assert isinstance(design, CategoricalDesign) and any(b.values is not None for b in design.blocks)
    dense = design.to_dense()
    rng = np.random.default_rng(0)
    w, z, beta = rng.uniform(0.5, 2, len(data)), rng.normal(size=len(data)), rng.normal(size=dense.shape[1])
    gram, xtw = design.gram_xtw(w, z)
    np.testing.assert_allclose(gram, dense.T @ (dense * w[:, None]), rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(xtw, dense.T @ (w * z), rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(design.xtw(w, z), xtw, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(design.dot(beta), dense @ beta, rtol=1e-12, atol=1e-12)
    keep = np.ones(dense.shape[1], dtype=bool)
    keep[[3, 30, 45]] = False
    np.testing.assert_allclose(design.select(keep).to_dense(), dense[:, keep])


def test_an_interaction_with_other_contrasts_takes_formulaics_path(data):
    fit = _fit("y ~ C(a, contr.sum):x", data, dense_cells=0)
    assert not isinstance(fit.model_data.design, CategoricalDesign)


def test_a_million_row_interaction_builds_no_dummies():
    """S6's shape at 200,000 rows: a 20-level factor crossed with a number and a 1,000-level factor
    (formulaic's dense design would hold 1,045 columns of the data's length)."""
    rng = np.random.default_rng(1)
    n = 200_000
    frame = pd.DataFrame({"x": rng.normal(size=n), "g": rng.integers(0, 20, n).astype(str),
                          "h": rng.integers(0, 1000, n).astype(str)})
    frame["y"] = rng.poisson(np.exp(0.2 * frame.x))
    fit = gf.glm("y ~ x * g + h", frame, "poisson")
    design = fit.model_data.design
    assert isinstance(design, CategoricalDesign) and design.dense.shape[1] == 2
    assert fit.converged


@pytest.mark.parametrize("case", ["two_large_factors", "crossed_numeric", "mixed"])
def test_block_gram_solves_as_the_full_cross_product(case, data):
    """IRLS on X'WX without the largest block's k x k part (``BlockGram``) gives R's fit."""
    expected = REFERENCE[case]
    fit = _fit(expected["formula"], data, dense_cells=0, block_gram_min_columns=1)
    full = _fit(expected["formula"], data, dense_cells=0)
    assert fit.deviance == pytest.approx(expected["deviance"], rel=1e-10)
    np.testing.assert_allclose(fit.params, full.params, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fit.bse, full.bse, rtol=1e-10)


def test_block_gram_matches_the_dense_cross_product(data):
    from glmformula.engine.block_gram import BlockGram

    fit = _fit("y ~ x * g + h + k", data, dense_cells=0)
    design = fit.model_data.design
    rng = np.random.default_rng(2)
    w, z = rng.uniform(0.5, 2, len(data)), rng.normal(size=len(data))
    with settings.override(block_gram_min_columns=1):
        block, xtw = design.gram_xtw(w, z)
    assert isinstance(block, BlockGram)
    dense, dense_xtw = design.gram_xtw(w, z)
    np.testing.assert_allclose(block.to_dense(), dense, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(block.diagonal(), np.diag(dense), rtol=1e-12)
    np.testing.assert_allclose(xtw, dense_xtw, rtol=1e-12, atol=1e-12)
