"""The compiled pass of zero-inflated and binary logit likelihoods (count/_zero_kernels.c) against numpy's row models
and design products (the reference), EM's compiled per-row work against numpy's, and the subsample start of large
zero-inflated fits against the fit without it."""

from __future__ import annotations

import copy
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest

import glmformula as gf
from glmformula import settings
from glmformula.count import zero_kernels
from glmformula.count.distributions import get_distribution
from glmformula.count.em import em_step
from glmformula.count.fitting import _subsample_optimum
from glmformula.count.likelihoods import BlockLikelihood, TwoPartData, ZeroInflated
from glmformula.count.row_models import BinaryRows
from glmformula.families.registry import get_link
from glmformula.formula.frame import build_model_frame

pytestmark = pytest.mark.skipif(not zero_kernels.AVAILABLE, reason="the compiled count kernels are not built")


def _frame(n=3000, levels=40, seed=5):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"x": rng.normal(size=n), "z": rng.normal(size=n),
                          "g": pd.Categorical(rng.integers(0, levels, n).astype(str)),
                          "h": pd.Categorical(rng.integers(0, 6, n).astype(str)),
                          "t": rng.uniform(0.5, 2.0, n)})
    mu = np.exp(0.5 + 0.3 * frame.x + rng.normal(scale=0.3, size=levels)[frame.g.cat.codes] + np.log(frame.t))
    y = rng.negative_binomial(2.0, 2.0 / (2.0 + mu)).astype(float)
    y[rng.uniform(size=n) < 1 / (1 + np.exp(0.8 - 0.5 * frame.z))] = 0
    return frame.assign(y=y)


def _data(count_formula, zero_formula, weights=False, dense_cells=0):
    frame = _frame()
    with settings.override(dense_cells=dense_cells):
        count = build_model_frame(count_formula, frame)
        zero = build_model_frame(zero_formula, frame)
    w = np.random.default_rng(2).uniform(0.0, 2.0, len(frame)) if weights else count.weights
    return TwoPartData(count.y, count.design, zero.design, count.offset, zero.offset, w)


def _close(compiled, reference):
    """Equal to rounding: 1e-12 of the largest entry (sums over rows in another order)."""
    scale = max(1.0, float(np.max(np.abs(reference))))
    np.testing.assert_allclose(compiled, reference, rtol=0, atol=1e-12 * scale)


DESIGNS = {
    "categorical": ("y ~ x + g + offset(log(t))", "y ~ z + h", 0),
    "valued blocks": ("y ~ x + g + g:x", "y ~ z + h:z", 0),
    "dense": ("y ~ x + h + offset(log(t))", "y ~ z", 10**9),
}


@pytest.mark.parametrize("weights", [False, True])
@pytest.mark.parametrize("dist", ["negbin", "poisson", "geometric"])
@pytest.mark.parametrize("design", sorted(DESIGNS))
def test_zero_inflated_pass_equals_numpys(design, dist, weights):
    count_formula, zero_formula, dense_cells = DESIGNS[design]
    likelihood = ZeroInflated(_data(count_formula, zero_formula, weights, dense_cells), get_distribution(dist),
                              get_link("logit"))
    params = np.random.default_rng(0).normal(scale=0.2, size=likelihood.n_params)
    compiled = likelihood.derivatives(params)
    assert isinstance(likelihood._compiled_pass(), zero_kernels.CompiledPass)
    with settings.override(count_kernels=False):
        assert likelihood._compiled_pass() is None
        reference = likelihood.derivatives(params)
        reference_loglik, reference_gradient = likelihood.loglik(params), likelihood.gradient(params)
    assert compiled[0] == pytest.approx(reference[0], rel=1e-13)
    _close(compiled[1], reference[1])
    _close(compiled[2], reference[2])
    assert likelihood.loglik(params) == pytest.approx(reference_loglik, rel=1e-13)
    _close(likelihood.gradient(params), reference_gradient)
    with settings.override(rows_per_thread=400):  # row ranges on threads, each into its own accumulators
        threaded = likelihood.derivatives(params)
    assert threaded[0] == pytest.approx(reference[0], rel=1e-13)
    _close(threaded[1], reference[1])
    _close(threaded[2], reference[2])


def test_ranges_with_large_accumulators_are_merged():
    with settings.override(rows_per_thread=1000):
        assert len(zero_kernels._ranges(100_000)) > 2
        merged = zero_kernels._ranges(100_000, accumulated=zero_kernels.MAX_ACCUMULATED)
    assert len(merged) == 1 and merged[0] == (0, 100_000)


@pytest.mark.parametrize("weights", [False, True])
def test_binary_logit_pass_equals_numpys(weights):
    data = _data("y ~ x + g", "y ~ z + h", weights)
    likelihood = BlockLikelihood([data.Z], [data.offset_z], data.weights, BinaryRows(data.y == 0, get_link("logit")))
    params = np.random.default_rng(1).normal(scale=0.3, size=likelihood.n_params)
    compiled = likelihood.derivatives(params)
    assert likelihood._compiled_pass() is not None
    with settings.override(kernels=False):
        reference = likelihood.derivatives(params)
    assert compiled[0] == pytest.approx(reference[0], rel=1e-13)
    _close(compiled[1], reference[1])
    _close(compiled[2], reference[2])


@pytest.mark.parametrize("dist", ["negbin", "poisson", "geometric"])
def test_em_step_compiled_equals_numpys(dist):
    likelihood = ZeroInflated(_data("y ~ x + g + offset(log(t))", "y ~ z + h", weights=True),
                              get_distribution(dist), get_link("logit"))
    params = np.random.default_rng(3).normal(scale=0.2, size=likelihood.n_params)
    compiled = em_step(likelihood, params)
    with settings.override(count_kernels=False):
        reference = em_step(likelihood, params)
    np.testing.assert_allclose(compiled, reference, rtol=1e-11, atol=1e-12)


def test_other_links_and_fractional_counts_take_numpys_path():
    data = _data("y ~ x + g", "y ~ z + h")
    probit = ZeroInflated(data, get_distribution("negbin"), get_link("probit"))
    assert probit._compiled_pass() is None
    fractional = TwoPartData(data.y + 0.5 * (data.y > 0), data.X, data.Z, data.offset_x, data.offset_z, data.weights)
    assert ZeroInflated(fractional, get_distribution("poisson"), get_link("logit"))._compiled_pass() is None


def test_a_likelihood_with_its_pass_copies_and_pickles():
    likelihood = ZeroInflated(_data("y ~ x + g", "y ~ z"), get_distribution("negbin"), get_link("logit"))
    params = np.zeros(likelihood.n_params)
    value = likelihood.loglik(params)
    for other in (copy.deepcopy(likelihood), pickle.loads(pickle.dumps(likelihood))):
        assert other.loglik(params) == value


def test_the_switch_and_the_flag():
    assert zero_kernels.in_use()
    for changes in ({"kernels": False}, {"count_kernels": False}):
        with settings.override(**changes):
            assert not zero_kernels.in_use() and zero_kernels.AVAILABLE


@pytest.mark.parametrize("dist", ["negbin", "poisson"])
def test_the_subsample_start_reaches_the_same_optimum(dist):
    """A fit started from a subsample's optimum (on many rows; here made small) equals the fit without it."""
    frame = _frame(n=6000, levels=20)
    formula = "y ~ x + g + offset(log(t)) | z + h"
    with settings.override(zeroinfl_subsample_min_rows=0):
        plain = gf.zeroinfl(formula, frame, dist)
    with settings.override(zeroinfl_subsample_min_rows=1000, zeroinfl_subsample_rows=1500):
        started = gf.zeroinfl(formula, frame, dist)
        likelihood = started._likelihood
        assert _subsample_optimum(likelihood.data, likelihood.dist, likelihood.link) is not None  # it was used
    assert plain.converged and started.converged
    np.testing.assert_allclose(started.params, plain.params, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(started.bse, plain.bse, rtol=1e-5)
    assert started.llf == pytest.approx(plain.llf, rel=1e-12)


def test_a_subsample_that_misses_a_level_is_not_used():
    data = _data("y ~ x + g", "y ~ z + h")
    with settings.override(zeroinfl_subsample_rows=30):  # every 100th row: some of the 40 levels missing
        assert _subsample_optimum(data, get_distribution("negbin"), get_link("logit")) is None
    with settings.override(zeroinfl_subsample_rows=1500), warnings.catch_warnings():
        warnings.simplefilter("error")  # the subsample's own warnings are not the user's
        assert _subsample_optimum(data, get_distribution("negbin"), get_link("logit")) is not None


def test_the_orthogonal_block_check_reads_runs_in_place_and_other_positions_by_index():
    """``block_solve.is_diagonal_block`` (the information's check too): a run of columns is read as a view,
    other positions by fancy indexing; both see an off-diagonal entry."""
    from glmformula.engine.block_solve import is_diagonal_block as _is_diagonal

    matrix = np.eye(6) * 2.0
    matrix[0, 1] = matrix[1, 0] = 0.5
    assert _is_diagonal(matrix, np.arange(2, 6))
    assert not _is_diagonal(matrix, np.arange(0, 3))
    assert _is_diagonal(matrix, np.array([0, 2, 4]))
    assert not _is_diagonal(matrix, np.array([1, 5, 0]))
