"""The categorical-aware design: its products against the dense matrix, and fits against formulaic's path."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pandas as pd
import pytest

import glmformula as gf
from glmformula import settings
from glmformula.design import kernels
from glmformula.design.categorical import CategoricalBlock, CategoricalDesign
from glmformula.design.dense import DenseDesign
from glmformula.engine import linalg


@pytest.fixture
def design():
    rng = np.random.default_rng(7)
    n = 500
    dense = np.column_stack([np.ones(n), rng.normal(size=n), rng.normal(size=n)])
    a = CategoricalBlock(rng.integers(-1, 4, n), np.array([3, 4, 5, 6]))
    b = CategoricalBlock(rng.integers(-1, 2, n), np.array([7, 8]))
    names = [f"c{j}" for j in range(9)]
    return CategoricalDesign(dense, np.array([0, 1, 2]), [a, b], names)


@pytest.fixture(params=["kernels", "numpy"])
def row_pass(request):
    """Run a test with the compiled row-pass kernels and again with the numpy path."""
    if request.param == "kernels" and not kernels.AVAILABLE:
        pytest.skip("the compiled kernels are not built")
    with settings.override(design_kernels=request.param == "kernels"):
        yield request.param


def test_kernels_are_built_where_a_compiler_is():
    if not (shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")):
        pytest.skip("no C compiler: the numpy path is used")
    assert kernels.AVAILABLE or os.environ.get("GLMFORMULA_NO_KERNELS")


def test_products_equal_the_dense_matrix(design, row_pass):
    rng = np.random.default_rng(1)
    X = design.to_dense()
    w, z, beta = rng.uniform(0.1, 2, X.shape[0]), rng.normal(size=X.shape[0]), rng.normal(size=X.shape[1])
    np.testing.assert_allclose(design.gram(w), X.T @ (w[:, None] * X), rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(design.xtw(w, z), X.T @ (w * z), rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(design.dot(beta), X @ beta, rtol=1e-12)


def test_select_drops_columns_consistently(design):
    keep = np.ones(9, dtype=bool)
    keep[[2, 5, 8]] = False
    np.testing.assert_array_equal(design.select(keep).to_dense(), design.to_dense()[:, keep])


def test_rank_detection_on_the_cross_product_matches_qr():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(200, 4))
    X = np.column_stack([np.ones(200), x[:, 0], x[:, 1], x[:, 0] + 2 * x[:, 1], x[:, 2], np.zeros(200), x[:, 3]])
    w = rng.uniform(0.5, 1.5, 200)
    by_qr = linalg.aliased_columns(DenseDesign(X).weighted(w), 1e-11)
    by_gram = linalg.aliased_columns_from_gram(X.T @ (w[:, None] * X), 1e-7)
    assert by_qr.tolist() == by_gram.tolist() == [False, False, False, True, False, True, False]


@pytest.fixture
def claims():
    rng = np.random.default_rng(5)
    n = 3000
    frame = pd.DataFrame({
        "x1": rng.normal(size=n), "x2": rng.uniform(size=n),
        "region": pd.Categorical(rng.choice([f"r{i:02d}" for i in range(30)], n)),
        "kind": rng.choice(["a", "b", "c"], n),
        "exposure": rng.uniform(0.5, 2, n),
    })
    eta = 0.2 * frame.x1 - 0.5 * frame.x2 + frame.region.cat.codes / 30 + (frame.kind == "b") * 0.3
    frame["y"] = rng.poisson(np.exp(eta) * frame.exposure).astype(float)
    return frame


@pytest.mark.parametrize("formula", [
    "y ~ x1 + x2 + region + kind + offset(log(exposure))",
    "y ~ 0 + region + x1 + C(kind)",
    "y ~ C(region) + x2",
])
def test_fast_path_equals_formulaic_path(claims, formula, row_pass):
    with settings.override(fast_categorical_design=False):
        slow = gf.glm(formula, claims, "poisson")
    assert isinstance(slow.model_data.design, DenseDesign)
    with settings.override(dense_cells=0):
        fast = gf.glm(formula, claims, "poisson")
    assert isinstance(fast.model_data.design, CategoricalDesign)
    assert list(fast.params.index) == list(slow.params.index)
    np.testing.assert_allclose(fast.params, slow.params, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(fast.bse, slow.bse, rtol=1e-8)
    np.testing.assert_allclose(fast.deviance, slow.deviance, rtol=1e-12)
    np.testing.assert_allclose(fast.null_deviance, slow.null_deviance, rtol=1e-12)
    newdata = claims.iloc[:50]
    np.testing.assert_allclose(fast.predict(newdata, se=True), slow.predict(newdata, se=True), rtol=1e-8)
    for cov_type in ("HC0", "HC1", "HC3"):
        np.testing.assert_allclose(fast.with_cov(cov_type).bse, slow.with_cov(cov_type).bse, rtol=1e-8)


def test_fast_path_is_skipped_for_other_terms(claims):
    with settings.override(dense_cells=0):
        for formula in ("y ~ C(kind, contr.sum)", "y ~ C(kind, contr.sum):x1"):
            assert isinstance(gf.glm(formula, claims, "poisson").model_data.design, DenseDesign), formula


def test_small_designs_from_the_fast_path_are_dense(claims):
    assert isinstance(gf.glm("y ~ x1 + region", claims, "poisson").model_data.design, DenseDesign)


@pytest.mark.parametrize("dense_cells", [0, settings.DEFAULTS.dense_cells])
def test_unused_levels_are_dropped_as_in_r(claims, dense_cells):
    """R's model.frame drops levels absent from the rows used; an empty level never becomes the reference."""
    levels = ["aaa_unused", *claims.region.cat.categories, "zzz_unused"]
    padded = claims.assign(region=pd.Categorical(claims.region, categories=levels))
    with settings.override(dense_cells=dense_cells):
        reference = gf.glm("y ~ x1 + region", claims, "poisson")
        res = gf.glm("y ~ x1 + region", padded, "poisson")
    assert list(res.params.index) == list(reference.params.index) and not res.aliased
    np.testing.assert_allclose(res.params, reference.params, rtol=1e-12)
    assert list(padded.region.cat.categories) == levels  # the caller's frame keeps its levels


def test_the_intercept_is_the_term_not_a_column_name():
    mtcars = gf.datasets.load("mtcars")
    res = gf.glm("mpg ~ 0 + Intercept", mtcars.assign(Intercept=mtcars.wt))
    reference = gf.glm("mpg ~ 0 + wt", mtcars)
    assert res.df_null == 32 and res.null_deviance == pytest.approx(reference.null_deviance)


@pytest.mark.parametrize("big_last", [False, True])
def test_block_elimination_equals_the_dense_solve(row_pass, big_last):
    """A categorical of >= BLOCK_ELIMINATION_MIN_COLUMNS levels is eliminated first (its X'WX block is
    diagonal): coefficients and (X'WX)^{-1} equal those of the dense normal equations, whether its columns
    come last (the inverse needs no reordering) or before others."""
    rng = np.random.default_rng(11)
    n, levels = 4000, 150
    dense = np.column_stack([np.ones(n), rng.normal(size=n), rng.uniform(size=n)])
    big_start, small_start = (6, 3) if big_last else (3, 2 + levels)
    big = CategoricalBlock(rng.integers(-1, levels - 1, n).astype(np.int32),
                           np.arange(big_start, big_start + levels - 1))
    small = CategoricalBlock(rng.integers(-1, 3, n).astype(np.int32), np.arange(small_start, small_start + 3))
    design = CategoricalDesign(dense, np.arange(3), [small, big], [f"c{j}" for j in range(5 + levels)])
    assert len(design.orthogonal_columns()) == levels - 1 >= linalg.BLOCK_ELIMINATION_MIN_COLUMNS
    w, z = rng.uniform(0.2, 3, n), rng.normal(size=n)
    X = design.to_dense()
    gram = X.T @ (w[:, None] * X)
    solve = linalg.solve_wls(design, w, z)
    np.testing.assert_allclose(solve.coefficients, np.linalg.solve(gram, X.T @ (w * z)), rtol=1e-9, atol=1e-12)
    # the standard errors' variances come from the factor without the levels x levels block of the inverse
    np.testing.assert_allclose(solve.unscaled_variances(), np.diag(np.linalg.inv(gram)), rtol=1e-9)
    np.testing.assert_allclose(solve.unscaled_covariance(), np.linalg.inv(gram), rtol=1e-9, atol=1e-14)


def test_fast_path_with_a_large_factor_equals_formulaic_path(row_pass):
    rng = np.random.default_rng(13)
    n = 5000
    frame = pd.DataFrame({"x": rng.normal(size=n), "shop": rng.choice([f"s{i:03d}" for i in range(120)], n),
                          "kind": rng.choice(["a", "b", "c"], n)})
    frame["y"] = rng.poisson(np.exp(0.3 * frame.x + (frame.kind == "b") * 0.2)).astype(float)
    formula = "y ~ x + kind + shop"
    with settings.override(fast_categorical_design=False):
        slow = gf.glm(formula, frame, "poisson")
    with settings.override(dense_cells=0):
        fast = gf.glm(formula, frame, "poisson")
    assert isinstance(fast.model_data.design, CategoricalDesign)
    np.testing.assert_allclose(fast.params, slow.params, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(fast.bse, slow.bse, rtol=1e-8)
    np.testing.assert_allclose(fast.cov_params(), slow.cov_params(), rtol=1e-7, atol=1e-14)
    assert fast.n_iter == slow.n_iter


@pytest.mark.parametrize("rows_per_thread", [settings.DEFAULTS.rows_per_thread, 500])
def test_kernels_with_many_blocks_zero_weights_and_no_dense_columns(row_pass, rows_per_thread):
    """Three blocks (three pair tables), rows of weight 0, a design of categoricals only, row ranges
    summed over threads."""
    with settings.override(rows_per_thread=rows_per_thread):
        rng = np.random.default_rng(17)
        n = 3001  # not a multiple of the kernel's four-row step
        blocks = [CategoricalBlock(rng.integers(-1, size, n), np.arange(start, start + size))
                  for start, size in ((0, 5), (5, 3), (8, 7))]
        for dense, positions in ((np.empty((n, 0)), np.array([], dtype=int)),
                                 (rng.normal(size=(n, 2)), np.array([15, 16]))):
            design = CategoricalDesign(dense, positions, blocks, [f"c{j}" for j in range(15 + len(positions))])
            X = design.to_dense()
            w, z, beta = rng.uniform(0, 2, n), rng.normal(size=n), rng.normal(size=X.shape[1])
            w[::7] = 0.0
            gram, xtw = design.gram_xtw(w, z)
            np.testing.assert_allclose(gram, X.T @ (w[:, None] * X), rtol=1e-12, atol=1e-10)
            np.testing.assert_allclose(xtw, X.T @ (w * z), rtol=1e-12, atol=1e-10)
            np.testing.assert_allclose(design.xtw(w, z), X.T @ (w * z), rtol=1e-12, atol=1e-10)
            np.testing.assert_allclose(design.dot(beta), X @ beta, rtol=1e-12, atol=1e-12)
            for same in (design, DenseDesign(X)):  # into a buffer holding anything: IRLS reuses one
                buffer = np.full_like(gram, np.nan)
                into, xtw_into = same.gram_xtw(w, z, out=buffer)
                assert into is buffer
                np.testing.assert_allclose(into, X.T @ (w[:, None] * X), rtol=1e-12, atol=1e-10)
                np.testing.assert_allclose(xtw_into, X.T @ (w * z), rtol=1e-12, atol=1e-10)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_kernel_threads_survive_a_fork():
    """A fit in a forked child after the parent used the thread pool must not wait on the parent's threads."""
    import multiprocessing

    if not kernels.AVAILABLE:
        pytest.skip("the compiled kernels are not built")
    rng = np.random.default_rng(3)
    n = 4000
    block = CategoricalBlock(rng.integers(-1, 6, n), np.arange(1, 7))
    design = CategoricalDesign(np.ones((n, 1)), np.array([0]), [block], [f"c{j}" for j in range(7)])
    w = rng.uniform(0.5, 2, n)
    with settings.override(rows_per_thread=500):  # the child inherits the settings
        expected = design.gram(w)
        context = multiprocessing.get_context("fork")
        with context.Pool(1) as pool:
            child = pool.apply_async(design.gram, (w,)).get(timeout=60)
    np.testing.assert_allclose(child, expected, rtol=1e-12)


def test_full_rank_certificate_agrees_with_the_ordered_rule():
    """The block bound proves full rank where the design is, and never hides an aliased column."""
    rng = np.random.default_rng(21)
    n, levels = 5000, 90
    codes = rng.integers(-1, levels - 1, n).astype(np.int32)
    big = CategoricalBlock(codes, np.arange(3, 3 + levels - 1))
    x = rng.normal(size=n)
    for third, expect_aliased in ((rng.uniform(size=n), None), ((codes == 4).astype(float), 3 + 4)):
        dense = np.column_stack([np.ones(n), x, third])
        design = CategoricalDesign(dense, np.arange(3), [big], [f"c{j}" for j in range(2 + levels)])
        w = rng.uniform(0.5, 2, n)
        X = design.to_dense()
        by_qr = linalg.aliased_columns(DenseDesign(X).weighted(w), 1e-7)
        by_block = design.aliased_columns(w, 1e-7)
        assert by_block.tolist() == by_qr.tolist()
        assert np.flatnonzero(by_block).tolist() == ([] if expect_aliased is None else [expect_aliased])
        gram = X.T @ (w[:, None] * X)
        given = gram.copy()
        assert design.aliased_columns(w, 1e-7, gram=given).tolist() == by_qr.tolist()
        np.testing.assert_array_equal(given, gram)  # IRLS solves with the cross-product it handed over
        orthogonal = design.orthogonal_columns()
        rest, rows = linalg.other_rows(gram, np.sqrt(np.diag(gram)), orthogonal)
        unit = gram / np.sqrt(np.outer(np.diag(gram), np.diag(gram)))
        np.testing.assert_allclose(rows, unit[rest], rtol=1e-15)
        assert linalg.certainly_full_rank(rest, rows, orthogonal, 1e-7) == (expect_aliased is None)


def test_dense_rank_certificate_never_hides_an_aliased_column():
    """X'WX proves full rank for an ordinary design; a column dependent up to R's tolerance (or a tolerance set
    high) is left to the QR rule, which then decides as R does."""
    rng = np.random.default_rng(8)
    n = 2000
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    w = rng.uniform(0.5, 2, n)
    ordinary = np.column_stack([np.ones(n), x1, x2])
    assert linalg.certainly_full_rank_by_gram(ordinary.T @ (w[:, None] * ordinary), n, 1e-11)
    assert not DenseDesign(ordinary).aliased_columns(w, 1e-11).any()
    # residual of 1e-12 relative on the earlier columns: R's rule (tol 1e-11) aliases it
    nearly = np.column_stack([ordinary, x1 + 2 * x2 + 1e-12 * rng.normal(size=n)])
    assert not linalg.certainly_full_rank_by_gram(nearly.T @ (w[:, None] * nearly), n, 1e-11)
    by_rule = linalg.aliased_columns(DenseDesign(nearly).weighted(w), 1e-11)
    assert by_rule.tolist() == [False, False, False, True]
    assert DenseDesign(nearly).aliased_columns(w, 1e-11).tolist() == by_rule.tolist()
    # residual 1e-6 relative: kept at R's tolerance, though too close for the certificate at tol 1e-3
    close = np.column_stack([ordinary, x1 + 1e-6 * rng.normal(size=n)])
    gram = close.T @ (w[:, None] * close)
    assert not linalg.certainly_full_rank_by_gram(gram, n, 1e-3)
    assert DenseDesign(close).aliased_columns(w, 1e-11).tolist() == [False] * 4
    assert DenseDesign(close).aliased_columns(w, 1e-3).tolist() == [False, False, False, True]
    # an empty (all-zero) column is never certified
    empty = np.column_stack([ordinary, np.zeros(n)])
    assert not linalg.certainly_full_rank_by_gram(empty.T @ (w[:, None] * empty), n, 1e-11)


@pytest.mark.parametrize("rows", [5, 6000])  # columns of a few rows, and of more than 20,000
@pytest.mark.parametrize("values", [
    np.array(list("dbadcbd"), dtype=object),
    pd.array(["b", None, "a", "b", "c", None], dtype="string"),
    pd.Series(["z", "y", None, "z"], dtype="str").array,
    np.array([3, 1.5, 2, 3, None], dtype=object),
    np.array(["x", 1, "y", 1], dtype=object),  # levels of mixed types: pandas' own ordering
    np.array([True, False, True], dtype=object),
    np.array([], dtype=object),
])
def test_fast_design_codes_text_columns_as_formulaic_does(values, rows):
    """A text or object column's codes on the fast path: levels sorted as formulaic sorts them (the same
    reference level and column names), missing values dropped as rows, the same indicators."""
    frame = pd.DataFrame({"g": pd.concat([pd.Series(values)] * rows, ignore_index=True)})
    frame["y"] = np.arange(len(frame), dtype=float) % 3
    frame["x"] = np.linspace(0, 1, len(frame))
    if not len(frame):  # no rows: both paths refuse the data alike
        for fast in (True, False):
            with settings.override(fast_categorical_design=fast), pytest.raises(gf.DataError, match="no rows"):
                gf.glm("y ~ x + g", frame)
        return
    with settings.override(dense_cells=0):
        fast = gf.glm("y ~ x + g", frame)
    assert isinstance(fast.model_data.design, CategoricalDesign)
    with settings.override(fast_categorical_design=False):
        slow = gf.glm("y ~ x + g", frame)
    assert fast.model_data.design.column_names == slow.model_data.design.column_names
    assert fast.nobs == slow.nobs == frame.g.notna().sum()
    np.testing.assert_array_equal(fast.model_data.design.to_dense(), slow.model_data.design.to_dense())


# in cache; blocks of 100 rows; blocks of 1 row
@pytest.mark.parametrize("cached_cells", [settings.DEFAULTS.dense_cached_cells, 800, 0])
def test_dense_gram_xtw_in_cache_and_beyond(cached_cells):
    """Both ways of the dense X'WX and X'Wz (scaled rows twice, or blocks of the augmented product, the
    last one short) give the products."""
    rng = np.random.default_rng(3)
    X, w, z = rng.normal(size=(501, 7)), rng.uniform(0, 2, 501), rng.normal(size=501)
    with settings.override(dense_cached_cells=cached_cells):
        gram, xtw = DenseDesign(X).gram_xtw(w, z)
    np.testing.assert_allclose(gram, X.T @ (w[:, None] * X), rtol=1e-13, atol=1e-12)
    np.testing.assert_allclose(xtw, X.T @ (w * z), rtol=1e-13, atol=1e-12)
    np.testing.assert_array_equal(gram, gram.T)


def test_gather_columns_writes_the_row_major_block():
    """Columns into any positions of a row-major block, with or without a column of 1s, over threads."""
    if not kernels.AVAILABLE:
        pytest.skip("the compiled kernels are not built")
    with settings.override(rows_per_thread=300):
        rng = np.random.default_rng(30)
        n = 2501  # not a multiple of the kernel's tile
        columns = [rng.normal(size=n) for _ in range(4)]
        for positions, intercept in (([1, 2, 3, 4], 0), ([4, 0, 3, 1], 2), ([0, 1, 2, 3], None)):
            width = 4 if intercept is None else 5
            out = np.full((n, width), np.nan)
            kernels.gather_columns(columns, positions, intercept, out)
            expected = np.ones((n, width))
            for column, position in zip(columns, positions):
                expected[:, position] = column
            np.testing.assert_array_equal(out, expected)
        with pytest.raises(ValueError, match="C-contiguous float64"):
            kernels.gather_columns([columns[0][::2]], [0], None, np.empty((n // 2 + 1, 1)))
        with pytest.raises(ValueError, match="outside"):
            kernels.gather_columns(columns[:1], [5], None, np.empty((n, 2)))


def test_fast_design_reads_integer_and_single_precision_columns(row_pass):
    """Numeric columns of any numeric dtype give the categorical-aware design formulaic's dense one gives."""
    rng = np.random.default_rng(31)
    n = 3000
    frame = pd.DataFrame({"i": rng.integers(-5, 5, n), "f": rng.normal(size=n).astype(np.float32),
                          "d": rng.normal(size=n), "g": rng.choice(list("abcd"), n)})
    with settings.override(dense_cells=0):
        fast = gf.glm("y ~ d + g + i + f", frame.assign(y=rng.poisson(1.0, n).astype(float)), "poisson")
    assert isinstance(fast.model_data.design, CategoricalDesign)
    with settings.override(fast_categorical_design=False):
        slow = gf.glm("y ~ d + g + i + f", frame.assign(y=fast.model_data.y), "poisson")
    assert fast.model_data.design.column_names == slow.model_data.design.column_names
    np.testing.assert_array_equal(fast.model_data.design.to_dense(), slow.model_data.design.to_dense())
