"""Block elimination of several orthogonal blocks, sparse cross-products between blocks, the lazily formed
covariance and the compiled kernels of valued blocks (``g:x``), against dense linear algebra, numpy's path,
formulaic's design and R.

The designs are small, but each categorical block has at least ``linalg.BLOCK_ELIMINATION_MIN_COLUMNS``
columns and ``block_gram_min_columns=1`` hands the solve a ``BlockGram``, so that every path of the large
designs (S7: a factor and the cells nested in it; S8: two crossed factors) runs here.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import glmformula as gf
from glmformula import settings
from glmformula.design import kernels
from glmformula.design.categorical import CategoricalBlock, CategoricalDesign
from glmformula.design.dense import DenseDesign
from glmformula.design.pairs import pair_cells
from glmformula.engine import linalg, schur_pcg
from glmformula.engine.block_gram import BlockGram
from glmformula.engine.block_solve import BlockFactor
from glmformula.engine.block_solve import cholesky as block_solve_cholesky

N = 6000


def _codes(rng: np.random.Generator, levels: int, n: int = N) -> np.ndarray:
    """Treatment codes of a factor of ``levels`` levels: -1 for the first (the reference)."""
    return (rng.integers(0, levels, n) - 1).astype(np.int32)


def _design(kind: str, seed: int = 0) -> CategoricalDesign:
    """A design of an intercept and a numeric column beside categorical blocks of the named kind."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=N)
    dense = np.column_stack([np.ones(N), x])
    if kind == "nested":  # f (90 levels) and the cells of g (3 levels) within each level of f: S7's shape
        f = rng.integers(0, 90, N)
        g = rng.integers(0, 3, N)
        cells = np.where(g > 0, f * 2 + g - 1, -1).astype(np.int32)
        specs = [((f - 1).astype(np.int32), 89, None), (cells, 180, None)]
    elif kind == "crossed":  # two crossed factors: S8's shape
        specs = [(_codes(rng, 80), 79, None), (_codes(rng, 130), 129, None)]
    elif kind == "wide_nested":  # tables above pairs.CELL_TABLE_MIN_ENTRIES: accumulated by observed cells
        f = rng.integers(0, 200, N)
        g = rng.integers(0, 3, N)
        specs = [((f - 1).astype(np.int32), 199, None), (np.where(g > 0, f * 2 + g - 1, -1).astype(np.int32), 400,
                                                         None)]
    elif kind == "wide_crossed":
        specs = [(_codes(rng, 300), 299, None), (_codes(rng, 250), 249, x)]
    elif kind == "wide_rest":  # a Schur complement of more than 256 columns: S8's certificate and factor paths
        specs = [(_codes(rng, 290), 289, None), (_codes(rng, 320), 319, None)]
    elif kind == "three":
        specs = [(_codes(rng, 70), 69, None), (_codes(rng, 90), 89, None), (_codes(rng, 150), 149, None)]
    else:  # "valued": a slope per level of a 100-level factor (beside x's) and an 80-level factor
        specs = [(_codes(rng, 80), 79, None), (_codes(rng, 100), 99, x)]
    blocks, start = [], 2
    for codes, size, values in specs:
        blocks.append(CategoricalBlock(codes, np.arange(start, start + size), values))
        start += size
    return CategoricalDesign(dense, np.arange(2), blocks, [f"c{j}" for j in range(start)])


def _block_gram(design: CategoricalDesign, w: np.ndarray, z: np.ndarray):
    """The design's X'WX as a ``BlockGram`` and X'Wz, the columns' scales, and the other columns' rows of the
    equilibrated X'WX (``other_rows``), as the solve forms them."""
    with settings.override(block_gram_min_columns=1):
        gram, xtw = design.gram_xtw(w, z)
    scale = np.sqrt(gram.diagonal())
    rest, rows = linalg.other_rows(gram, scale, gram.orthogonal)
    return gram, xtw, scale, rest, rows


KINDS = ["nested", "crossed", "three", "valued", "wide_nested", "wide_crossed", "wide_rest"]


def _weights(seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(0.2, 3.0, N), rng.normal(size=N)


@pytest.mark.parametrize("kind", KINDS)
def test_block_gram_equals_the_dense_cross_product(kind):
    design = _design(kind)
    w, z = _weights()
    X = design.to_dense()
    with settings.override(block_gram_min_columns=1):
        gram, xtw = design.gram_xtw(w, z)
    assert isinstance(gram, BlockGram)
    np.testing.assert_allclose(gram.to_dense(), X.T @ (w[:, None] * X), rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(gram.diagonal(), np.einsum("ij,ij,i->j", X, X, w), rtol=1e-12)
    np.testing.assert_allclose(xtw, X.T @ (w * z), rtol=1e-12, atol=1e-10)


@pytest.mark.parametrize("keep", [0, None])
@pytest.mark.parametrize("kind", ["crossed", "wide_crossed", "three"])
def test_the_kept_sparse_structure_follows_cells_that_empty_and_fill_again(kind, keep, monkeypatch):
    """The other rows' CSR structure is kept between passes (``rows_pattern``; with ``keep`` None, at these sizes,
    sorted again instead); a cell whose rows all weigh 0 leaves it and comes back, and each pass still equals the
    dense X'WX, with no entry stored for the empty cell."""
    from glmformula.design import rows_pattern

    if keep is not None:
        monkeypatch.setattr(rows_pattern, "KEEP_MIN_ENTRIES", keep)
    design = _design(kind)
    w, z = _weights()
    X = design.to_dense()
    first, second = design.blocks[0].codes, design.blocks[1].codes
    cell = (first == first[0]) & (second == second[0]) & (first >= 0) & (second >= 0)
    cell = cell if cell.any() else (first == first[1]) & (second == second[1])
    emptied = np.where(cell, 0.0, w * 1.5)
    stored = []
    for weights in (w, emptied, w * 0.5, w):
        with settings.override(block_gram_min_columns=1):
            gram, xtw = design.gram_xtw(weights, z)
        np.testing.assert_allclose(gram.to_dense(), X.T @ (weights[:, None] * X), rtol=1e-12, atol=1e-10)
        np.testing.assert_allclose(xtw, X.T @ (weights * z), rtol=1e-12, atol=1e-10)
        assert gram.rest_rows.has_canonical_format
        stored.append(gram.rest_rows.nnz)
    assert stored[1] < stored[0] == stored[2] == stored[3]


@pytest.mark.parametrize("kind", KINDS)
def test_eliminating_every_orthogonal_block_equals_the_dense_solve(kind):
    """Coefficients, diag((X'WX)^-1) (the standard errors' source) and the full inverse, to 1e-10."""
    design = _design(kind)
    w, z = _weights()
    X = design.to_dense()
    gram = X.T @ (w[:, None] * X)
    expected = np.linalg.solve(gram, X.T @ (w * z))
    inverse = np.linalg.inv(gram)
    with settings.override(block_gram_min_columns=1):
        result = linalg.solve_wls(design, w, z)
    np.testing.assert_allclose(result.coefficients, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(result.unscaled_variances(), np.diag(inverse), rtol=1e-10)
    np.testing.assert_allclose(result.unscaled_covariance(), inverse, rtol=1e-9, atol=1e-13)


def test_a_nested_block_is_eliminated_after_the_largest():
    """S7's shape: the factor's block of the Schur complement stays diagonal, and is eliminated in turn."""
    w, z = _weights()
    gram, xtw, scale, rest, rows = _block_gram(_design("nested"), w, z)
    factor = linalg._factor(rows, rest, gram.orthogonal, gram.groups)
    assert isinstance(factor._schur, linalg._ScaledFactor)  # the nested factor's levels eliminated too
    gram, _, _, rest, rows = _block_gram(_design("crossed"), w, z)
    assert not isinstance(linalg._factor(rows, rest, gram.orthogonal, gram.groups)._schur, linalg._ScaledFactor)


def test_pair_cells_of_nested_and_crossed_blocks():
    rng = np.random.default_rng(3)
    f = rng.integers(-1, 50, 2000).astype(np.int32)
    nested = np.where(f >= 0, f * 2 + rng.integers(0, 2, 2000), -1).astype(np.int32)
    crossed = rng.integers(-1, 70, 2000).astype(np.int32)
    for second, size in ((nested, 100), (crossed, 70)):
        cells = pair_cells(f, second, size)
        both = (f >= 0) & (second >= 0)
        assert np.array_equal(cells.index >= 0, both)
        assert np.array_equal(cells.rows[cells.index[both]], f[both])
        assert np.array_equal(cells.columns[cells.index[both]], second[both])


def test_pair_cells_by_marking_equal_sorting():
    """The observed cells found by marking a table of the levels (small tables) and by sorting the joint codes
    (large ones) are numpy's unique cells in order, each row indexing its own."""
    rng = np.random.default_rng(8)
    first, second = rng.integers(-1, 40, 3000).astype(np.int32), rng.integers(-1, 60, 3000).astype(np.int32)
    both = (first >= 0) & (second >= 0)
    unique, inverse = np.unique(first[both].astype(np.int64) * 60 + second[both], return_inverse=True)
    for marked_limit in (1 << 23, 0):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr("glmformula.design.pairs.MARKED_TABLE_MAX_ENTRIES", marked_limit)
            cells = pair_cells(first, second, 60)
        assert np.array_equal(cells.rows, unique // 60) and np.array_equal(cells.columns, unique % 60)
        assert np.array_equal(cells.index[both], inverse) and np.all(cells.index[~both] == -1)


def test_the_rank_certificates_factor_serves_the_first_solve():
    """A full-rank design whose Schur complement is wide: the certificate proves it full rank with the block
    factor, which the solve of the same X'WX then takes (no second factorisation) with the dense solve's
    coefficients and inverse diagonal."""
    design = _design("wide_rest")
    w, z = _weights()
    X = design.to_dense()
    gram_dense = X.T @ (w[:, None] * X)
    with settings.override(block_gram_min_columns=1):
        gram, xtw = design.gram_xtw(w, z)
        assert not design.aliased_columns(w, 1e-11, gram=gram).any()
        assert gram._kept_factor is not None
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(linalg, "_factor", lambda *args: pytest.fail("the kept factor was not used"))
            result = linalg.solve_wls(design, w, z, (gram, xtw))
    assert gram._kept_factor is None  # taken, not kept through the fit
    np.testing.assert_allclose(result.coefficients, np.linalg.solve(gram_dense, X.T @ (w * z)), rtol=1e-10)
    np.testing.assert_allclose(result.unscaled_variances(), np.diag(np.linalg.inv(gram_dense)), rtol=1e-10)


def test_a_kept_factor_of_other_weights_is_not_used():
    """The kept factor is checked against the equilibration of the X'WX solved: another X'WX is factored."""
    design = _design("wide_rest")
    w, z = _weights()
    with settings.override(block_gram_min_columns=1):
        gram, xtw = design.gram_xtw(w, z)
        other, _ = design.gram_xtw(w * 1.5, z)
        design.aliased_columns(w * 1.5, 1e-11, gram=other)
        gram._kept_factor = other._kept_factor  # a factor of another X'WX
        result = linalg.solve_wls(design, w, z, (gram, xtw))
    X = design.to_dense()
    np.testing.assert_allclose(result.coefficients, np.linalg.solve(X.T @ (w[:, None] * X), X.T @ (w * z)),
                               rtol=1e-10)


@pytest.mark.parametrize("kind", ["nested", "crossed"])
def test_empty_cells_are_the_only_aliased_columns(kind):
    """Columns without rows are aliased (R's rule: a zero column) without the ordered rule, as the QR says."""
    design = _design(kind)
    empty = design.blocks[-1].positions[[3, 17, 40]]
    block = design.blocks[-1]
    codes = np.where(np.isin(block.positions[np.maximum(block.codes, 0)], empty) & (block.codes >= 0), -1,
                     block.codes)
    blocks = [*design.blocks[:-1], CategoricalBlock(codes.astype(np.int32), block.positions, block.values)]
    design = CategoricalDesign(design.dense, design.dense_positions, blocks, design.column_names)
    w, z = _weights()
    with settings.override(block_gram_min_columns=1):
        gram, _ = design.gram_xtw(w, z)
        by_blocks = design.aliased_columns(w, 1e-7, gram=gram)
    by_qr = linalg.aliased_columns(DenseDesign(design.to_dense()).weighted(w), 1e-7)
    assert np.flatnonzero(by_blocks).tolist() == np.flatnonzero(by_qr).tolist() == sorted(empty.tolist())


@pytest.mark.parametrize("kind", KINDS)
def test_the_kernels_accumulate_as_numpys_path(kind):
    """Valued blocks and the observed cells of large pairs, compiled and by numpy (``design_kernels``)."""
    if not kernels.AVAILABLE:
        pytest.skip("the compiled kernels are not built")
    design = _design(kind)
    assert any(cell is not None for cell in design._pair_cells()) == kind.startswith("wide")
    w, z = _weights()
    fast = design._accumulators(w, z)
    with settings.override(design_kernels=False):
        slow = design._accumulators(w, z)
    for mine, theirs in zip(fast, slow):
        for a, b in zip(mine if isinstance(mine, list) else [mine], theirs if isinstance(theirs, list) else [theirs]):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-11)


def test_valued_blocks_in_the_kernels_equal_numpys_path():
    if not kernels.AVAILABLE:
        pytest.skip("the compiled kernels are not built")
    design = _design("valued")
    w, z = _weights()
    beta = np.random.default_rng(4).normal(size=design.n_columns)
    assert design._use_kernels and design.kernel_parts(beta) is None  # the fused log step reads indicators only
    fast = design._products(w, z), design.xtw(w, z), design.dot(beta)
    with settings.override(design_kernels=False):
        assert not design._use_kernels
        slow = design._products(w, z), design.xtw(w, z), design.dot(beta)
    np.testing.assert_allclose(fast[0][0], slow[0][0], rtol=1e-12, atol=1e-11)
    np.testing.assert_allclose(fast[0][1], slow[0][1], rtol=1e-12, atol=1e-11)
    np.testing.assert_allclose(fast[1], slow[1], rtol=1e-12, atol=1e-11)
    np.testing.assert_allclose(fast[2], slow[2], rtol=1e-12, atol=1e-12)


def test_an_implicit_intercept_is_read_alike_by_the_kernels_and_numpys_path():
    """A design whose intercept's 1s are implicit (not stored) gives the same X'WX, X'Wz and X beta by the
    compiled passes and by numpy's path (which writes the 1s out by chunks, ``dense_rows``), and equals the same
    design with the 1s stored."""
    if not kernels.AVAILABLE:
        pytest.skip("the compiled kernels are not built")
    stored = _design("valued")
    implicit = CategoricalDesign(stored.stored[:, 1:], [1], stored.blocks, stored.column_names, intercept=0)
    w, z = _weights()
    beta = np.random.default_rng(4).normal(size=stored.n_columns)
    expected = stored._products(w, z), stored.xtw(w, z), stored.dot(beta)
    for use in (True, False):
        with settings.override(design_kernels=use):
            assert implicit._use_kernels == use
            got = implicit._products(w, z), implicit.xtw(w, z), implicit.dot(beta)
        np.testing.assert_allclose(got[0][0], expected[0][0], rtol=1e-12, atol=1e-11)
        np.testing.assert_allclose(got[0][1], expected[0][1], rtol=1e-12, atol=1e-11)
        np.testing.assert_allclose(got[1], expected[1], rtol=1e-12, atol=1e-11)
        np.testing.assert_allclose(got[2], expected[2], rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(implicit.dense, stored.stored)


def _crossed_frame(n: int, seed: int = 5, g_levels: int = 20, h_levels: int = 40) -> pd.DataFrame:
    """S7's data at a small scale: two factors crossed (some cells empty when n is small)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "x": rng.normal(size=n), "t": rng.uniform(0.5, 2.0, n),
        "g": pd.Categorical.from_codes(rng.integers(0, g_levels, n), [f"g{j:02d}" for j in range(g_levels)]),
        "h": pd.Categorical.from_codes(rng.integers(0, h_levels, n), [f"h{j:02d}" for j in range(h_levels)])})
    frame["y"] = rng.poisson(5 * np.exp(0.2 * frame.x) * frame.t).astype(float)  # no cell of only zeros
    return frame


def _fit(formula: str, frame: pd.DataFrame, family: str = "poisson", **overrides):
    """The fit converged tightly (tol=1e-12), so that paths are compared at the same point, not at
    iterates that each stopped near it."""
    with settings.override(**overrides), warnings.catch_warnings():
        warnings.simplefilter("ignore", gf.RankDeficiencyWarning)
        return gf.glm(formula, frame, family, tol=1e-12)


@pytest.mark.parametrize(("n", "g_levels", "h_levels"), [(1500, 5, 70), (10_000, 20, 40)])
def test_crossed_cells_equal_formulaics_design(n, g_levels, h_levels):
    """``y ~ x + g:h``: the block design (cells nested in h, eliminated after them) equals formulaic's dense
    design, with the empty cells aliased alike (1,500 rows leave some of the 350 cells empty)."""
    frame = _crossed_frame(n, g_levels=g_levels, h_levels=h_levels)
    formula = "y ~ x + g:h + offset(log(t))"
    reference = _fit(formula, frame, fast_categorical_design=False)
    blocks = _fit(formula, frame, dense_cells=0, block_gram_min_columns=1)
    assert isinstance(blocks.model_data.design, CategoricalDesign)
    assert list(blocks.params.index) == list(reference.params.index)
    aliased = np.isnan(reference.params.to_numpy())
    assert np.array_equal(np.isnan(blocks.params.to_numpy()), aliased)
    assert aliased.any() == (n == 1500)
    # coefficients of order 1 agree to the rounding of the two solves (normal equations of 800 columns)
    np.testing.assert_allclose(blocks.params[~aliased], reference.params[~aliased], rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(blocks.bse[~aliased], reference.bse[~aliased], rtol=1e-9)
    assert blocks.deviance == pytest.approx(reference.deviance, rel=1e-12)


def test_standard_errors_are_the_inverse_diagonal_times_the_dispersion():
    """bse = sqrt(diag((X'WX)^-1) phi) at the final weights, computed without the full inverse, and
    ``cov_params()`` (formed when asked for) is (X'WX)^-1 phi."""
    frame = _crossed_frame(20_000, seed=6)
    fit = _fit("y ~ x + g + h + g:h", frame, "quasipoisson", dense_cells=0, block_gram_min_columns=1)
    kept = ~np.isnan(fit.params.to_numpy())
    X = fit.model_data.design.to_dense()[:, kept]
    w = fit._fit.working_weights
    inverse = np.linalg.inv(X.T @ (w[:, None] * X))
    assert fit.scale != 1.0
    np.testing.assert_allclose(fit.bse.to_numpy()[kept], np.sqrt(np.diag(inverse) * fit.scale), rtol=1e-10)
    np.testing.assert_allclose(fit.cov_params().to_numpy()[np.ix_(kept, kept)], inverse * fit.scale, rtol=1e-8,
                               atol=1e-14)


def test_nested_blocks_reproduce_r():
    """``y ~ x + k / b`` (R 4.2, ``tests/data/reference/blocks.R``): k's 99 columns and the 200 cells of b
    within k, both eliminated (``block_gram_min_columns=1``), give R's coefficients and standard errors."""
    import json

    from conftest import REFERENCE_DIR

    expected = json.loads((REFERENCE_DIR / "blocks.json").read_text())["nested_large"]
    data = pd.read_csv(REFERENCE_DIR / "blocks_data.csv")
    with settings.override(dense_cells=0, block_gram_min_columns=1):
        fit = gf.glm(expected["formula"], data, "poisson")
    design = fit.model_data.design
    assert isinstance(design, CategoricalDesign) and [b.size for b in design.blocks] == [99, 200]
    assert len(fit.params) == len(expected["names"])
    assert fit.deviance == pytest.approx(expected["deviance"], rel=1e-10)
    np.testing.assert_allclose(fit.params.to_numpy(), expected["coefficients"], rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(fit.bse.to_numpy(), expected["se"], rtol=1e-7)


def test_cells_of_zero_counts_are_solved_without_densifying(monkeypatch):
    """Cells whose counts are all 0 send their coefficients off (as R's glm.fit lets them) and the normal
    equations' condition past the Cholesky's limit: the block design refines the Cholesky solution from the
    data (corrected semi-normal equations) instead of a QR of its dense dummies, and gives the QR path's
    fit (formulaic's dense design)."""
    rng = np.random.default_rng(7)
    n = 4000
    data = pd.DataFrame({"x": rng.normal(size=n), "g": pd.Categorical(rng.integers(0, 5, n).astype(str)),
                         "h": pd.Categorical([f"h{v:02d}" for v in rng.integers(0, 40, n)])})
    mu = np.exp(0.3 + 0.2 * data.x.to_numpy())
    zero_cells = (data.g.astype(str).isin(["0", "3"]) & data.h.astype(str).isin(["h05", "h17", "h30"])).to_numpy()
    mu[zero_cells] = 0.0
    data["y"] = rng.poisson(mu)
    calls = []
    refine = linalg._corrected_solve
    monkeypatch.setattr(linalg, "_corrected_solve", lambda *args: calls.append(1) or refine(*args))
    with settings.override(dense_cells=0, block_gram_min_columns=1):
        fast = gf.glm("y ~ x + g:h", data, "poisson")
        assert isinstance(fast.model_data.design, CategoricalDesign)
    assert calls, "the refined solve was not exercised"
    with settings.override(fast_categorical_design=False):
        dense = gf.glm("y ~ x + g:h", data, "poisson")
    assert fast.n_iter == dense.n_iter and list(fast.params.index) == list(dense.params.index)
    np.testing.assert_allclose(fast.deviance, dense.deviance, rtol=1e-10)
    # the coefficients that converge agree to a millionth of their standard errors: the ones running off are
    # determined only to the condition's precision (~1e-6 relative), and the cells coupled to them inherit it
    finite = np.abs(dense.params.to_numpy()) < 10
    assert finite.sum() > 150 and (~finite).sum() >= 2
    difference = np.abs(fast.params[finite] - dense.params[finite])
    assert (difference <= 1e-5 * dense.bse[finite]).all(), (difference / dense.bse[finite]).max()
    np.testing.assert_allclose(fast.bse[finite], dense.bse[finite], rtol=1e-6)


# -- conjugate gradients preconditioned by an earlier factor (``schur_pcg``) ---------------------------------

def _cg_design(dense_gram: bool = False):
    """A fresh wide_rest design (its Schur complement above ``schur_pcg.PCG_MIN_COLUMNS``) and the settings under
    which its X'WX is a ``BlockGram`` (sparse rows) or, with ``dense_gram``, a dense (p, p) array."""
    design = _design("wide_rest")
    assert len(design.blocks[0].positions) + 2 >= schur_pcg.PCG_MIN_COLUMNS
    return design, settings.override(block_gram_min_columns=10**9 if dense_gram else 1)


def _assert_normwise_close(actual: np.ndarray, desired: np.ndarray, tolerance: float) -> None:
    """max |actual - desired| <= tolerance max |desired|: solutions of one system agree to the solves' rounding
    relative to the whole vector (a small entry of it carries the absolute error of the large ones)."""
    assert np.max(np.abs(actual - desired)) <= tolerance * np.max(np.abs(desired))


def _dense_solve(design, w, z):
    X = design.to_dense()
    gram = X.T @ (w[:, None] * X)
    return np.linalg.solve(gram, X.T @ (w * z)), np.linalg.inv(gram)


@pytest.mark.parametrize("dense_gram", [False, True])
def test_a_solve_with_changed_weights_takes_cg_and_equals_the_factor_solve(dense_gram):
    """The second solve of a design runs CG preconditioned by the first one's factor: its coefficients equal
    the factor's solve of the same system to 1e-12, and the factor formed afterwards (standard errors, the
    covariance, other right-hand sides) is that of the system solved."""
    design, overrides = _cg_design(dense_gram)
    w, z = _weights()
    rng = np.random.default_rng(11)
    w2, z2 = w * rng.uniform(0.5, 2.0, N), z + rng.normal(scale=0.1, size=N)
    with overrides:
        first = linalg.solve_wls(design, w, z)
        assert isinstance(first._factor, BlockFactor)
        assert schur_pcg.preconditioner_for(design) is not None
        second = linalg.solve_wls(design, w2, z2)
        assert isinstance(second._factor, schur_pcg.DeferredBlockFactor)
        del schur_pcg._PRECONDITIONERS[design]  # the same system, solved by its own factor
        direct = linalg.solve_wls(design, w2, z2)
    assert isinstance(direct._factor, BlockFactor)
    _assert_normwise_close(second.coefficients, direct.coefficients, 1e-12)
    expected, inverse = _dense_solve(design, w2, z2)
    np.testing.assert_allclose(second.coefficients, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(second.unscaled_variances(), np.diag(inverse), rtol=1e-10)
    np.testing.assert_allclose(second.unscaled_covariance(), inverse, rtol=1e-9, atol=1e-13)
    rhs = np.arange(len(expected), dtype=float)
    np.testing.assert_allclose(second.with_rhs(rhs).coefficients, np.linalg.solve(np.linalg.inv(inverse), rhs),
                               rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("spread", [1.0, 3.0])
def test_weights_that_vary_a_lot_are_solved_alike(spread):
    """Weights multiplied by exp(N(0, spread^2)) (a factor of e^9 either way at 3): CG either converges to the
    factor's solve or the solve falls back to a fresh factor; the coefficients are the dense solve's."""
    design, overrides = _cg_design()
    w, z = _weights()
    w2 = w * np.exp(spread * np.random.default_rng(12).normal(size=N))
    with overrides:
        linalg.solve_wls(design, w, z)
        second = linalg.solve_wls(design, w2, z)
        del schur_pcg._PRECONDITIONERS[design]
        direct = linalg.solve_wls(design, w2, z)
    assert spread > 1 or isinstance(second._factor, schur_pcg.DeferredBlockFactor)  # at 3: a fresh factor
    _assert_normwise_close(second.coefficients, direct.coefficients, 1e-12)
    expected, inverse = _dense_solve(design, w2, z)
    np.testing.assert_allclose(second.coefficients, expected, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(second.unscaled_variances(), np.diag(inverse), rtol=1e-9)


@pytest.mark.parametrize("setting", [("PCG_MAX_ITERATIONS", 2), ("CONDITION_MARGIN", 1e12)])
def test_a_cg_that_does_not_settle_the_solve_falls_back_to_a_fresh_factor(monkeypatch, setting):
    """A CG that does not converge in its steps, or whose bound on the pivots does not clearly pass, leaves
    the solve to a fresh factor, which then preconditions the next solves."""
    design, overrides = _cg_design()
    w, z = _weights()
    w2 = w * np.random.default_rng(13).uniform(0.5, 2.0, N)
    monkeypatch.setattr(schur_pcg, *setting)
    with overrides:
        linalg.solve_wls(design, w, z)
        second = linalg.solve_wls(design, w2, z)
    assert isinstance(second._factor, BlockFactor)
    assert schur_pcg.preconditioner_for(design).factor is second._factor.schur
    np.testing.assert_allclose(second.coefficients, _dense_solve(design, w2, z)[0], rtol=1e-10, atol=1e-12)


def test_preconditioned_cg_converges_stops_and_estimates_the_spectrum():
    rng = np.random.default_rng(14)
    q, _ = np.linalg.qr(rng.normal(size=(60, 60)))
    values = np.linspace(0.5, 40.0, 60)
    matrix = (q * values) @ q.T
    c = rng.normal(size=60)
    exact = np.linalg.solve(matrix, c)
    plain = schur_pcg.preconditioned_cg(lambda v: matrix @ v, lambda v: v, c, float(np.linalg.norm(c)),
                                        max_steps=300)
    _assert_normwise_close(plain.solution, exact, 1e-12)
    assert plain.ritz == pytest.approx((0.5, 40.0), rel=1e-6)  # the Lanczos matrix's extremes
    inverse = np.linalg.inv(matrix)
    at_once = schur_pcg.preconditioned_cg(lambda v: matrix @ v, lambda v: inverse @ v, c, float(np.linalg.norm(c)))
    assert at_once.steps <= 2 and at_once.ritz == pytest.approx((1.0, 1.0), rel=1e-8)
    from_solution = schur_pcg.preconditioned_cg(lambda v: matrix @ v, lambda v: v, c, 1.0, start=exact)
    assert from_solution.steps <= 1
    assert schur_pcg.preconditioned_cg(lambda v: matrix @ v, lambda v: v, c, 1.0, max_steps=3) is None
    indefinite = matrix - 20.0 * np.eye(60)
    assert schur_pcg.preconditioned_cg(lambda v: indefinite @ v, lambda v: v, c, 1.0) is None


def test_the_pivots_of_a_matrix_are_bounded_through_a_preconditioner():
    """a M <= S <= b M (a, b the extremes of eig(M^-1 S)) bounds each squared Cholesky pivot of S by a and b
    times M's: the bound ``schur_pcg`` puts on the pivots it does not compute."""
    rng = np.random.default_rng(15)
    a_root = rng.normal(size=(80, 40))
    m = a_root.T @ a_root
    s = m + 0.3 * np.diag(rng.uniform(size=40)) @ m @ np.diag(rng.uniform(size=40)) * 0.1
    s = (s + s.T) / 2
    spectrum = linalg_eigh(s, m)
    pivots_s = np.diag(np.linalg.cholesky(s)) ** 2
    pivots_m = np.diag(np.linalg.cholesky(m)) ** 2
    assert np.all(pivots_s >= spectrum[0] * pivots_m * (1 - 1e-12))
    assert np.all(pivots_s <= spectrum[-1] * pivots_m * (1 + 1e-12))


def linalg_eigh(s, m):
    from scipy.linalg import eigh

    return eigh(s, m, eigvals_only=True)


def test_a_cg_solve_pickles_with_its_deferred_factor():
    import pickle

    design, overrides = _cg_design()
    w, z = _weights()
    with overrides:
        linalg.solve_wls(design, w, z)
        second = linalg.solve_wls(design, w * 1.3 + 0.1, z)
    assert isinstance(second._factor, schur_pcg.DeferredBlockFactor)
    copy = pickle.loads(pickle.dumps(second))
    np.testing.assert_allclose(copy.unscaled_variances(), second.unscaled_variances(), rtol=1e-14)


def _wide_crossed_frame(n: int = 15_000, seed: int = 16) -> pd.DataFrame:
    """S8's shape, small: two crossed factors whose smaller one leaves a Schur complement of 300 columns."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "x": rng.normal(size=n), "t": rng.uniform(0.5, 2.0, n),
        "g": pd.Categorical.from_codes(rng.integers(0, 300, n), [f"g{j:03d}" for j in range(300)]),
        "h": pd.Categorical.from_codes(rng.integers(0, 500, n), [f"h{j:03d}" for j in range(500)])})
    effect = rng.normal(scale=0.3, size=300)[frame.g.cat.codes] + rng.normal(scale=0.3, size=500)[frame.h.cat.codes]
    overdispersion = rng.gamma(4.0, 0.25, n)  # negative binomial counts with theta = 4
    frame["y"] = rng.poisson(3 * np.exp(0.2 * frame.x + effect) * frame.t * overdispersion).astype(float)
    return frame


@pytest.mark.parametrize("family", ["poisson", "negative_binomial", "gamma(link=log)"])
def test_a_fit_with_cg_solves_equals_the_factored_fit(monkeypatch, family):
    """A whole fit whose later iterations take CG gives the fit that factors every iteration: coefficients (to
    1e-10 of the largest) and standard errors to 1e-10, the same deviance and iterations."""
    frame = _wide_crossed_frame()
    if family.startswith("gamma"):
        frame["y"] += 0.5
    formula = "y ~ x + g + h + offset(log(t))"
    solved = []
    iterative = schur_pcg.iterative_block_solve
    monkeypatch.setattr(schur_pcg, "iterative_block_solve", lambda *a: solved.append(iterative(*a)) or solved[-1])
    with_cg = _fit(formula, frame, family, block_gram_min_columns=1)
    if not family.startswith("gamma"):  # gamma's weights are its prior weights: the first factor serves every iteration
        assert any(result is not None for result in solved)
    solved.clear()
    factored = _fit(formula, frame, family, block_gram_min_columns=1, schur_pcg=False)
    assert not solved  # settings.schur_pcg=False: a fresh factor at every iteration
    assert with_cg.n_iter == factored.n_iter
    assert with_cg.deviance == pytest.approx(factored.deviance, rel=1e-12)
    _assert_normwise_close(with_cg.params.to_numpy(), factored.params.to_numpy(), 1e-10)
    np.testing.assert_allclose(with_cg.bse, factored.bse, rtol=1e-10)


def test_a_failed_trace_bound_takes_the_exact_eigenvalue_from_the_same_factorisation(monkeypatch):
    """A tolerance between the certificate's two bounds (1 / trace(S^-1), then lambda_min(S) exactly): the
    trace bound fails, the exact one proves full rank, and S is formed and factored once."""
    from glmformula.engine import block_solve, rank

    w, z = _weights()
    gram, _, norms, rest, rows = _block_gram(_design("wide_rest"), w, z)
    factor = BlockFactor(rest, rows, gram.orthogonal, gram.groups, keep_schur_matrix=True)
    schur = factor.release_schur_matrix()
    scale = (1.0 + np.sqrt(factor.coupling)) ** 2
    by_trace, exact = min(1.0, 1.0 / factor.schur_inverse_trace()) / scale, np.linalg.eigvalsh(schur)[0] / scale
    assert by_trace < exact
    tol = np.sqrt(np.sqrt(by_trace * exact))  # tol^2 between the two bounds
    built = []
    monkeypatch.setattr(block_solve.BlockFactor, "__init__",
                        lambda self, *a, **k: built.append(1) or factor_init(self, *a, **k))
    monkeypatch.setattr(rank, "outer_rows", lambda *a: pytest.fail("S formed a second time"))
    assert rank._certainly_only_empty_aliased(gram, norms, np.zeros(len(norms), dtype=bool), gram.orthogonal, tol,
                                              gram.groups)
    assert len(built) == 1 and gram._kept_factor is None  # proved by the exact eigenvalue: no factor kept
    assert not rank.certainly_full_rank(rest, rows, gram.orthogonal, np.sqrt(exact) * 1.01, gram.groups)


factor_init = BlockFactor.__init__


def test_the_in_place_products_equal_numpys():
    """B B' mirrored in place, S -= B B' from a sparse B B', and the row sums by blocks, against numpy."""
    from scipy import sparse

    from glmformula.engine import matrix_products

    rng = np.random.default_rng(17)
    b = rng.normal(size=(600, 700))
    upper = np.triu(b @ b.T)
    np.testing.assert_array_equal(matrix_products.symmetrize_upper(upper.copy()), upper + np.triu(upper, 1).T)
    outer = matrix_products.outer_rows(b)
    np.testing.assert_allclose(outer, b @ b.T, rtol=1e-12, atol=1e-10)
    assert np.array_equal(outer, outer.T)
    b_sparse = sparse.random(600, 700, density=0.01, random_state=3, format="csr")
    target, expected = b.copy()[:, :600], b.copy()[:, :600] - (b_sparse @ b_sparse.T).toarray()
    matrix_products.subtract_from(target, matrix_products.outer_rows(b_sparse, keep_sparse=True))
    np.testing.assert_array_equal(target, expected)
    b_filled = sparse.random(600, 700, density=0.2, random_state=4, format="csr")  # BLAS by chunks of columns
    for entries in (matrix_products._OUTER_CHUNK_ENTRIES, 600 * 64):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(matrix_products, "_OUTER_CHUNK_ENTRIES", entries)
            outer = matrix_products.outer_rows(b_filled)
        np.testing.assert_allclose(outer, (b_filled @ b_filled.T).toarray(), rtol=1e-12, atol=1e-12)
        assert isinstance(outer, np.ndarray) and np.array_equal(outer, outer.T)
    assert matrix_products.largest_absolute_row_sum(b) == pytest.approx(np.abs(b).sum(axis=1).max(), rel=1e-14)
    assert matrix_products.largest_absolute_row_sum(b_sparse) == pytest.approx(
        np.abs(b_sparse.toarray()).sum(axis=1).max(), rel=1e-14)


def _factor_and_dense_inverse(kind: str):
    """The block factor of the kind's equilibrated X'WX (as the solve forms it) and E^-1 by numpy."""
    w, z = _weights()
    gram, _, scale, rest, rows = _block_gram(_design(kind), w, z)
    factor = linalg._factor(rows, rest, gram.orthogonal, gram.groups)
    unit = gram.to_dense() / np.outer(scale, scale)
    return factor, np.linalg.inv(unit)


def test_the_inverse_diagonal_by_whitening_equals_the_dense_inverses_for_each_factor_kind(monkeypatch):
    """diag(E^-1) and b' E^-1 b (dense and sparse b) of every factor kind (plain and packed Cholesky of S, a nested
    block's scaled block factor of S; dense and sparse E_rd), by chunks of one and of many columns, to 1e-12."""
    from scipy import sparse

    from glmformula.engine import cholesky

    rng = np.random.default_rng(5)
    seen = set()
    for kind in KINDS:
        factor, inverse = _factor_and_dense_inverse(kind)
        schur = factor.schur
        seen.add((type(schur).__name__, type(getattr(schur, "_unit", None)).__name__,
                  sparse.issparse(factor._e_rd)))
        schur_inverse = inverse[np.ix_(factor.rest, factor.rest)]  # S^-1 = (E^-1)_rr
        b, c = rng.normal(size=(len(inverse), 7)), rng.normal(size=(len(factor.rest), 5))
        b_sparse = sparse.random(len(inverse), 40, density=0.05, random_state=rng, format="csr")
        expected_sparse = np.einsum("ik,ik->k", b_sparse.toarray(), inverse @ b_sparse.toarray())
        for entries in (cholesky.FORM_CHUNK_ENTRIES, 1):  # one chunk, and a chunk for each column
            monkeypatch.setattr(cholesky, "FORM_CHUNK_ENTRIES", entries)
            np.testing.assert_allclose(factor.inverse_diagonal(), np.diag(inverse), rtol=1e-12)
            np.testing.assert_allclose(schur.inverse_diagonal(), np.diag(schur_inverse), rtol=1e-12)
            np.testing.assert_allclose(schur.quadratic_forms(c), np.einsum("ik,ik->k", c, schur_inverse @ c),
                                       rtol=1e-12)
            np.testing.assert_allclose(factor.quadratic_forms(b), np.einsum("ik,ik->k", b, inverse @ b), rtol=1e-12)
            np.testing.assert_allclose(factor.quadratic_forms(b_sparse), expected_sparse, rtol=1e-12)
    assert {("CholeskyFactor", "NoneType", False), ("PackedCholeskyFactor", "NoneType", False),
            ("ScaledFactor", "BlockFactor", False), ("ScaledFactor", "BlockFactor", True)} <= seen


def test_a_filled_coupling_block_takes_blas_by_chunks_and_the_blocked_factor(monkeypatch):
    """S8's route at a small size: two crossed factors whose table is about a fifth filled, so that E_rd stays
    sparse, B B' runs in dsyrk on chunks of its columns and the Schur complement is factored by the blocked
    dpotrf (``outer_route`` "blas"); the solve, diag(E^-1) and the pivots equal numpy's on the dense X'WX."""
    from scipy import sparse

    from glmformula.engine import block_solve, matrix_products

    rng = np.random.default_rng(8)
    n = 20_000
    x = rng.normal(size=n)
    blocks = [CategoricalBlock(_codes(rng, 300, n), np.arange(2, 301)),
              CategoricalBlock(_codes(rng, 320, n), np.arange(301, 620))]
    design = CategoricalDesign(np.column_stack([np.ones(n), x]), np.arange(2), blocks,
                               [f"c{j}" for j in range(620)])
    w, z = rng.uniform(0.2, 3.0, n), rng.normal(size=n)
    gram, xtw, scale, rest, rows = _block_gram(design, w, z)
    routes = []
    monkeypatch.setattr(block_solve, "cholesky", lambda unit, blocked=False: routes.append(blocked) or
                        block_solve_cholesky(unit, blocked))
    monkeypatch.setattr(matrix_products, "_OUTER_CHUNK_ENTRIES", 300 * 64)  # several chunks
    factor = linalg._factor(rows, rest, gram.orthogonal, gram.groups)
    assert sparse.issparse(factor._e_rd) and routes == [True]
    unit = gram.to_dense() / np.outer(scale, scale)
    rhs = xtw / scale
    np.testing.assert_allclose(factor.solve(rhs), np.linalg.solve(unit, rhs), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(factor.inverse_diagonal(), np.diag(np.linalg.inv(unit)), rtol=1e-10)
    pivots = np.sort(factor.pivots)
    expected = np.linalg.cholesky(unit[np.ix_(np.concatenate([gram.orthogonal, rest]),
                                              np.concatenate([gram.orthogonal, rest]))])
    np.testing.assert_allclose(pivots, np.sort(np.abs(np.diag(expected))), rtol=1e-10)
