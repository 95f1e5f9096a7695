"""R's ordered aliasing on block designs whose deficiency goes beyond empty cells (``engine.ordered_aliasing``).

Checked against R's glm (``tests/data/reference/wide_aliasing.R``), against the rule transcribed column by column
(``ordered_rule_by_columns``, one triangular solve per column) and R's QR rule on sqrt(W) X
(``rank_qr.aliased_columns``) on random block designs; the dense route (``ordered_cholesky``) against the
transcription on random rank-deficient designs; and, beyond 5,000 columns, against the connected components
of two crossed factors (each component without the large factor's reference level aliases its last level), with
no p x p array allocated.
"""

from __future__ import annotations

import json
import re
import tracemalloc
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import REFERENCE_DIR
from scipy import linalg, sparse
from scipy.sparse import csgraph

import glmformula as gf
from glmformula import settings
from glmformula.design.categorical import CategoricalBlock, CategoricalDesign
from glmformula.engine import ordered_aliasing, rank
from glmformula.engine.block_gram import BlockGram
from glmformula.engine.ordered_aliasing import SUSPECT_PIVOT, within_rounding
from glmformula.engine.rank_qr import aliased_columns as aliased_by_qr
from glmformula.exceptions import FitError

REFERENCE = json.loads((REFERENCE_DIR / "wide_aliasing.json").read_text())
TOL = 1e-7  # the rank tolerance categorical designs take on X'WX (``CategoricalDesign.aliased_columns``)
#: dense_cells=0: a categorical-aware design, its X'WX dense with the largest block named; the lower
#: block_gram_min_columns hands IRLS a ``BlockGram`` (sparse rows, no k x k block) instead.
ROUTES = {"dense_gram": {"dense_cells": 0}, "block_gram": {"dense_cells": 0, "block_gram_min_columns": 64}}


@pytest.fixture(scope="module")
def data():
    return pd.read_csv(REFERENCE_DIR / "wide_aliasing_data.csv")


@pytest.fixture
def block_rule_calls(monkeypatch):
    """Each call of the block rule from ``aliased_columns_from_gram``: (rows were sparse, it settled the rule)."""
    calls = []
    original = rank.block_aliased_columns

    def spy(rest, rows, *args):
        result = original(rest, rows, *args)
        calls.append((sparse.issparse(rows), result is not None))
        return result

    monkeypatch.setattr(rank, "block_aliased_columns", spy)
    return calls


def _r_name(name: str) -> str:
    """glmformula's coefficient name as R spells it: b[T.b200] -> bb200, Intercept -> (Intercept)."""
    return "(Intercept)" if name == "Intercept" else re.sub(r"(\w+)\[T\.([^\]]+)\]", r"\1\2", name)


def _values(entries: list) -> np.ndarray:
    return np.array([np.nan if value is None else value for value in entries])


@pytest.mark.parametrize("route", sorted(ROUTES))
@pytest.mark.parametrize("case", sorted(REFERENCE))
def test_block_designs_alias_as_r(case, route, data, block_rule_calls):
    """Components of two crossed factors (levels last, or first with the other columns after them), a covariate
    constant within the levels, a combination of dummies, and g * h with empty cells: R's NA, coefficients
    and standard errors, through the block rule."""
    expected = REFERENCE[case]
    with settings.override(**ROUTES[route]), warnings.catch_warnings():
        warnings.simplefilter("ignore", gf.RankDeficiencyWarning)
        fit = gf.glm(expected["formula"], data, "poisson", tol=1e-12)
    assert isinstance(fit.model_data.design, CategoricalDesign)
    assert block_rule_calls == [(route == "block_gram", True)]
    assert [_r_name(name) for name in fit.params.index] == expected["names"]
    aliased = np.array(expected["aliased"])
    assert np.isnan(fit.params.to_numpy()).tolist() == aliased.tolist()
    assert fit.deviance == pytest.approx(expected["deviance"], rel=1e-10)
    np.testing.assert_allclose(fit.params.to_numpy()[~aliased], _values(expected["coefficients"])[~aliased],
                               rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(fit.bse.to_numpy()[~aliased], _values(expected["se"])[~aliased], rtol=1e-8)
    assert np.isnan(fit.bse.to_numpy()[aliased]).all()


# -- random block designs: the block rule against the dense rule and R's QR rule ---------------------------------

LAYOUTS = ("levels_last", "levels_first", "levels_between")


def _random_block_design(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(X, w, the large factor's columns): an intercept, numerics, a small factor and a large one (treatment
    coded, some levels unobserved), in a random layout, with 1-3 connected components and, at random, a
    combination of dummies, a covariate constant within the large factor's levels, or a duplicated column."""
    rng = np.random.default_rng(seed)
    n, small, large = 1500, int(rng.integers(8, 20)), int(rng.integers(80, 200))
    components = int(rng.integers(1, 4))
    component = rng.integers(0, components, n)
    a = component * (small // components) + rng.integers(0, small // components, n)
    b = component * (large // components) + rng.integers(0, large // components, n)
    d_small, d_large = np.eye(small)[a][:, 1:], np.eye(large)[b][:, 1:]
    numerics = [np.ones(n), rng.normal(size=n)]
    if rng.random() < 0.5:  # a combination of the large factor's dummies with random coefficients
        levels = rng.choice(np.arange(1, large), 3, replace=False)
        numerics.append(d_large[:, levels - 1] @ rng.uniform(-3, 3, 3))
    if rng.random() < 0.5:  # constant within the large factor's levels
        numerics.append(rng.integers(20, 60, large)[b].astype(float))
    if rng.random() < 0.3:
        numerics.append(d_small[:, 0].copy())  # duplicates the small factor's first dummy
    dense = np.column_stack(numerics)
    layout = LAYOUTS[seed % len(LAYOUTS)]
    parts = {"levels_last": [dense, d_small, d_large], "levels_first": [d_large, dense, d_small],
             "levels_between": [dense[:, :2], d_large, dense[:, 2:], d_small]}[layout]
    position = {"levels_last": dense.shape[1] + small - 1, "levels_first": 0, "levels_between": 2}[layout]
    x = np.column_stack(parts)
    return x, rng.gamma(2.0, 0.5, n), np.arange(position, position + large - 1)


def ordered_rule_by_columns(unit: np.ndarray, empty: np.ndarray, tol: float) -> np.ndarray:
    """R's ordered rule on a unit-diagonal X'WX, transcribed column by column (the former dense route): column j
    is aliased when its pivot 1 - ||L^-1 E[kept, j]||^2 on the kept columns before it is at most tol^2, or at
    most ``SUSPECT_PIVOT`` and within rounding of its coefficients x = L^-T L^-1 E[kept, j]; L is the kept
    columns' Cholesky factor, grown by one row per kept column."""
    aliased = empty.copy()
    lower = np.zeros((0, 0))
    kept: list[int] = []
    for j in np.flatnonzero(~empty):
        row = linalg.solve_triangular(lower, unit[kept, j], lower=True) if kept else np.zeros(0)
        pivot = unit[j, j] - row @ row
        x = linalg.solve_triangular(lower, row, lower=True, trans="T") if kept else np.zeros(0)
        if pivot <= tol**2 or (pivot <= SUSPECT_PIVOT and within_rounding(pivot, float(x @ x))):
            aliased[j] = True
            continue
        lower = np.block([[lower, np.zeros((len(kept), 1))], [row[None, :], np.sqrt(pivot)]])
        kept.append(j)
    return aliased


def _unit(gram: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    norms = np.sqrt(np.diag(gram))
    empty = norms == 0
    norms = np.where(empty, 1.0, norms)
    return gram / norms[:, None] / norms, norms, empty


@pytest.mark.parametrize("chunk", [(256, 2048), (7, 7)])
@pytest.mark.parametrize("seed", range(12))
def test_block_rule_equals_the_dense_rule_and_r_qr(seed, chunk, monkeypatch):
    monkeypatch.setattr(ordered_aliasing, "_CHUNK", chunk)  # (7, 7): many chunks, aliasing across their bounds
    x, w, orthogonal = _random_block_design(seed)
    gram = x.T @ (w[:, None] * x)
    unit, norms, empty = _unit(gram)
    dense_rule = ordered_rule_by_columns(unit.copy(), empty, TOL)
    assert dense_rule.tolist() == aliased_by_qr(x * np.sqrt(w)[:, None], TOL).tolist()
    rest, rows = rank.other_rows(gram, norms, orthogonal)
    for given in (rows, sparse.csr_matrix(rows)):
        by_blocks = ordered_aliasing.block_aliased_columns(rest, given, orthogonal, empty, TOL)
        assert by_blocks.tolist() == dense_rule.tolist()
    assert rank.aliased_columns_from_gram(gram, TOL, orthogonal=orthogonal).tolist() == dense_rule.tolist()
    block_gram = BlockGram(orthogonal, np.diag(gram)[orthogonal], rest, sparse.csr_matrix(gram[rest]))
    assert rank.aliased_columns_from_gram(block_gram, TOL).tolist() == dense_rule.tolist()


@pytest.mark.parametrize("panel", [512, 4])
@pytest.mark.parametrize("seed", range(6))
def test_ordered_cholesky_equals_the_column_by_column_rule(seed, panel, monkeypatch):
    """Dependent columns planted first, last and in runs: the same kept columns as ``ordered_rule_by_columns``,
    and the factor of the kept ones, whole or factored by panels after the first restart."""
    monkeypatch.setattr(ordered_aliasing, "_PANEL", panel)
    rng = np.random.default_rng(seed)
    n, p = 400, 60
    x = rng.normal(size=(n, p))
    dependent = np.unique(np.r_[rng.choice(np.arange(1, p - 1), 8, replace=False), p - 1, 20, 21, 22])
    for j in dependent:
        x[:, j] = x[:, :j] @ (rng.normal(size=j) * (rng.random(j) < 0.2))
    x[:, 0] = 0.0 if seed % 2 else x[:, 0]  # an empty first column
    unit, _, empty = _unit(x.T @ x)
    kept, factor = ordered_aliasing.ordered_cholesky(np.where(empty[:, None] | empty, 0.0, unit), TOL)
    expected = ordered_rule_by_columns(unit.copy(), empty, TOL)
    assert (~kept).tolist() == expected.tolist()
    chosen = np.flatnonzero(kept)
    np.testing.assert_allclose(factor @ factor.T, unit[np.ix_(chosen, chosen)], atol=1e-12)


def test_a_nearly_collinear_column_is_kept_as_r_does():
    """A residual of 1e-4 relative (pivot ~1e-8, within ``SUSPECT_PIVOT``) is far above X'WX's rounding: kept
    by the block rule and the dense rule, as by R's QR."""
    rng = np.random.default_rng(3)
    n, levels = 3000, 150
    codes = rng.integers(0, levels, n)
    x1 = rng.normal(size=n)
    x = np.column_stack([np.ones(n), x1, x1 + 1e-4 * rng.normal(size=n), np.eye(levels)[codes][:, 1:]])
    w = rng.gamma(2.0, 0.5, n)
    gram = x.T @ (w[:, None] * x)
    unit, norms, empty = _unit(gram)
    orthogonal = np.arange(3, 3 + levels - 1)
    rest, rows = rank.other_rows(gram, norms, orthogonal)
    assert not aliased_by_qr(x * np.sqrt(w)[:, None], TOL).any()
    assert not ordered_rule_by_columns(unit.copy(), empty, TOL).any()
    assert not ordered_aliasing.block_aliased_columns(rest, rows, orthogonal, empty, TOL).any()


@pytest.mark.parametrize("seed", range(4))
def test_the_dense_route_takes_the_same_rounding_rule(seed):
    """Without a large block (a Dask fit's X'WX, small factors): a covariate constant within a factor's levels
    is aliased as R's QR does, though its pivot on X'WX is ~1e-10 (not below tol^2); a near-collinear column
    whose pivot is as small, but far above its rounding, is kept by the factor's fast check."""
    rng = np.random.default_rng(seed)
    n, levels = 2000, 40
    codes = rng.integers(0, levels, n)
    x1 = rng.normal(size=n)
    dummies = np.eye(levels)[codes][:, 1:]
    w = rng.gamma(2.0, 0.5, n)
    constant = np.column_stack([np.ones(n), x1, rng.integers(1950, 2000, levels)[codes], dummies])
    near = np.column_stack([np.ones(n), x1, x1 + 1e-5 * rng.normal(size=n), dummies])
    for x, expect_aliased in ((constant, True), (near, False)):
        gram = x.T @ (w[:, None] * x)
        by_qr = aliased_by_qr(x * np.sqrt(w)[:, None], TOL)
        assert by_qr.any() == expect_aliased
        assert rank.aliased_columns_from_gram(gram, TOL).tolist() == by_qr.tolist()
        unit, _, empty = _unit(gram)
        assert ordered_rule_by_columns(unit, empty, TOL).tolist() == by_qr.tolist()


def _random_deficient_design(rng: np.random.Generator, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """(X, weights), X's columns: 1, then in shuffled order a (all its levels: the last aliased), x, z constant
    within a's levels, b, a:b cells (some empty), covariates; a few columns after the first two are then made exact
    combinations of earlier ones or nearly so, with a residual ratio of 0.3 or 3 times ``tol`` (log-uniform in
    [0.1, 10] times it when tol is large enough for the pivots' rounding to be far below tol^2)."""
    n, k_a, k_b = 400, int(rng.integers(3, 12)), int(rng.integers(2, 5))
    a, b = rng.integers(0, k_a, n), rng.integers(0, k_b, n)
    cells = np.eye(k_a * k_b)[a * k_b + b][:, rng.random(k_a * k_b) < 0.7]
    cells[:, rng.random(cells.shape[1]) < 0.1] = 0.0  # cells with no rows: empty columns
    blocks = [np.eye(k_a)[a], rng.normal(size=(n, 1)), rng.normal(size=k_a)[a][:, None], np.eye(k_b)[b], cells,
              rng.normal(size=(n, int(rng.integers(20, 120))))]
    x = np.column_stack([np.ones(n)] + [blocks[i] for i in rng.permutation(len(blocks))])
    w = rng.gamma(2.0, 0.5, n)
    for j in rng.choice(np.arange(2, x.shape[1]), x.shape[1] // 8, replace=False):
        combination = x[:, :j] @ (rng.normal(size=j) * (rng.random(j) < 0.3))
        x[:, j] = combination if rng.random() < 0.5 else _nearly(x[:, :j], combination, w, tol, rng)
    return x, w


def _nearly(earlier: np.ndarray, combination: np.ndarray, w: np.ndarray, tol: float, rng: np.random.Generator
            ) -> np.ndarray:
    """``combination`` plus noise orthogonal to the ``earlier`` columns (weights ``w``), sized so that the
    column's residual ratio on them is 0.3 or 3 (or between 0.1 and 10) times ``tol``."""
    ratio = rng.choice([0.3, 3.0]) if tol < 1e-6 else 10 ** rng.uniform(-1, 1)
    root = np.sqrt(w)
    noise = rng.normal(size=len(w)) * root
    noise -= root[:, None] * earlier @ np.linalg.lstsq(root[:, None] * earlier, noise, rcond=None)[0]
    size = ratio * tol * np.linalg.norm(root * combination) / np.sqrt(1 - (ratio * tol) ** 2)
    return combination + noise / root * size / np.linalg.norm(noise)


@pytest.mark.parametrize("panel", [512, 5])
@pytest.mark.parametrize("tol", [1e-7, 1e-4])
@pytest.mark.parametrize("seed", range(25))
def test_the_dense_route_equals_the_column_by_column_rule(seed, tol, panel, monkeypatch):
    """Exact and near dependencies, empty columns, a factor's full set of levels beside the intercept, a
    covariate constant within levels, interaction cells: ``aliased_columns_from_gram`` (``ordered_cholesky``)
    aliases exactly the columns ``ordered_rule_by_columns`` does, and leaves X'WX as it is.  Panels of 5: the
    restarts' factorisations end at panel bounds too, and aliased columns fall on them."""
    monkeypatch.setattr(ordered_aliasing, "_PANEL", panel)
    x, w = _random_deficient_design(np.random.default_rng(seed), tol)
    gram = x.T @ (w[:, None] * x)
    before = gram.copy()
    unit, _, empty = _unit(gram)
    expected = ordered_rule_by_columns(unit, empty, tol)
    assert expected.sum() > empty.sum()
    assert rank.aliased_columns_from_gram(gram, tol).tolist() == expected.tolist()
    assert np.array_equal(gram, before)
    assert rank.aliased_columns_from_gram(gram.copy(), tol, overwrite=True).tolist() == expected.tolist()


# -- beyond 5,000 columns --------------------------------------------------------------------------------------


def _crossed_factors(n: int, small: int, large: int, components: int, seed: int = 4):
    """(a CategoricalDesign of 1 + x0 + x1 + a + b, codes of a, codes of b), a and b's levels in ``components``
    connected sets."""
    rng = np.random.default_rng(seed)
    component = rng.integers(0, components, n)
    a = component * (small // components) + rng.integers(0, small // components, n)
    b = component * (large // components) + rng.integers(0, large // components, n)
    a, b = np.unique(a, return_inverse=True)[1], np.unique(b, return_inverse=True)[1]
    k_a, k_b = a.max() + 1, b.max() + 1
    blocks = [CategoricalBlock((a - 1).astype(np.int32), np.arange(3, 2 + k_a)),
              CategoricalBlock((b - 1).astype(np.int32), np.arange(2 + k_a, 1 + k_a + k_b))]
    p = 1 + k_a + k_b
    design = CategoricalDesign(np.column_stack([np.ones(n), rng.normal(size=(n, 2))]), np.arange(3), blocks,
                               [f"c{j}" for j in range(p)])
    return design, a, b


def _aliased_by_components(a: np.ndarray, b: np.ndarray) -> list[int]:
    """The columns of y ~ x0 + x1 + a + b that R aliases: the last level of b in each connected set of levels
    that holds neither reference level of b (level 0), as design columns (b's level j at 1 + k_a + j)."""
    k_a, k_b = a.max() + 1, b.max() + 1
    graph = sparse.coo_matrix((np.ones(len(a)), (a, k_a + b)), shape=(k_a + k_b, k_a + k_b))
    _, label = csgraph.connected_components(graph, directed=False)
    last = [np.flatnonzero(label[k_a:] == component).max() for component in np.unique(label)]
    return sorted(1 + k_a + int(level) for level in last if label[k_a + level] != label[k_a])


def test_wide_crossed_factors_alias_their_components_without_a_p_by_p_array():
    """8,000 columns (1,000 x 7,000 levels in three connected sets): the dense rule's FitError is gone, the
    aliased columns are the components', and the peak allocation stays far below one p x p array."""
    design, a, b = _crossed_factors(60_000, 1000, 7000, 3)
    rng = np.random.default_rng(5)
    gram, _ = design.gram_xtw(rng.gamma(3.0, 0.5, len(a)), rng.normal(size=len(a)))
    assert isinstance(gram, BlockGram)
    p = gram.shape[0]
    assert p > rank.ORDERED_RULE_MAX_COLUMNS
    tracemalloc.start()
    try:
        aliased = rank.aliased_columns_from_gram(gram, TOL)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert np.flatnonzero(aliased).tolist() == _aliased_by_components(a, b)
    assert peak < p * p * 8 / 4  # measured 80 MiB; one p x p array of doubles is 488 MiB


def test_wide_fit_continues_on_the_kept_columns():
    """gf.glm at 5,500 columns with three connected sets: NA at the components' columns, and the score
    equations X'(y - mu) = 0 hold for every column (the aliased ones are in the kept ones' span)."""
    rng = np.random.default_rng(6)
    n = 40_000
    design, a, b = _crossed_factors(n, 300, 5200, 3, seed=6)
    frame = pd.DataFrame({"x0": design.dense[:, 1], "x1": design.dense[:, 2],
                          "a": pd.Categorical.from_codes(a, [f"a{j:04d}" for j in range(a.max() + 1)]),
                          "b": pd.Categorical.from_codes(b, [f"b{j:04d}" for j in range(b.max() + 1)])})
    frame["y"] = rng.poisson(np.exp(0.2 * frame.x0 - 0.1 * frame.x1 + rng.normal(0, 0.3, b.max() + 1)[b]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gf.RankDeficiencyWarning)
        fit = gf.glm("y ~ x0 + x1 + a + b", frame, "poisson")
    assert fit.converged and len(fit.params) > rank.ORDERED_RULE_MAX_COLUMNS
    assert np.flatnonzero(fit.params.isna().to_numpy()).tolist() == _aliased_by_components(a, b)
    assert np.isfinite(fit.bse.dropna()).all()
    mu = fit.fittedvalues.to_numpy()
    score = fit.model_data.design.xtw(np.ones(n), frame.y.to_numpy() - mu)
    assert np.max(np.abs(score)) < 1e-6 * np.sum(frame.y)


def test_a_block_rule_that_cannot_settle_keeps_the_clear_error(monkeypatch):
    """When T_KK cannot be factored (columns dependent at the tolerance's edge) beyond 5,000 columns, the
    FitError says why instead of forming a dense p x p matrix."""
    monkeypatch.setattr(rank, "block_aliased_columns", lambda *args: None)
    design, a, b = _crossed_factors(30_000, 200, 5200, 2)
    gram, _ = design.gram_xtw(np.ones(len(a)), np.zeros(len(a)))
    with pytest.raises(FitError, match="block elimination of its largest categorical"):
        rank.aliased_columns_from_gram(gram, TOL)
