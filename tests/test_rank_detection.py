"""Rank detection (``engine.linalg.aliased_columns``): R's dqrdc2 rule, checked against figures found
without it: collinearities known by construction, residual ratios set in closed form, and two slower
implementations of the same rule (the former one QR per aliased column, and dqrdc2 transcribed)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import lapack

from glmformula.engine.linalg import aliased_columns

#: glm.fit's rank tolerance with the default epsilon (min(1e-7, 1e-8 / 1000)), and lm's / qr()'s default.
GLM_TOL, QR_TOL = 1e-11, 1e-7


def aliased_by_repeated_qr(x: np.ndarray, tol: float) -> np.ndarray:
    """The former implementation: a LAPACK QR of the kept columns, dropping the first column whose
    |r_jj| is below tol times its norm, until none is."""
    n_columns = x.shape[1]
    largest = np.max(np.abs(x), axis=0) if len(x) else np.ones(n_columns)
    x = x / np.where(largest > 0, largest, 1.0)
    norms = np.linalg.norm(x, axis=0)
    norms = np.where(norms == 0, 1.0, norms)
    aliased = np.zeros(n_columns, dtype=bool)
    while True:
        kept = np.flatnonzero(~aliased)
        if kept.size == 0:
            return aliased
        r = lapack.dgeqrf(x[:, kept])[0]
        diagonal = np.abs(np.diag(r))
        diagonal = np.concatenate([diagonal, np.zeros(kept.size - diagonal.size)])
        deficient = np.flatnonzero(diagonal < tol * norms[kept])
        if deficient.size == 0:
            return aliased
        aliased[kept[deficient[0]]] = True


def aliased_by_dqrdc2(x: np.ndarray, tol: float) -> np.ndarray:
    """R's src/appl/dqrdc2.f transcribed statement by statement (columns really rotated to the end),
    after the same scaling of each column by its largest absolute value."""
    n, p = x.shape
    x = x / np.where(np.max(np.abs(x), axis=0) > 0, np.max(np.abs(x), axis=0), 1.0) if n else x.copy()
    jpvt = list(range(p))
    qraux = np.sqrt(np.sum(x**2, axis=0))
    work = np.column_stack([qraux, np.where(qraux == 0, 1.0, qraux)])
    k = p + 1
    for l in range(1, min(n, p) + 1):  # noqa: E741 - Fortran's name
        c = l - 1
        while not (l >= k or qraux[c] >= work[c, 1] * tol):
            x[:, c:] = np.roll(x[:, c:], -1, axis=1)
            jpvt[c:] = jpvt[c + 1:] + [jpvt[c]]
            qraux[c:] = np.roll(qraux[c:], -1)
            work[c:] = np.roll(work[c:], -1, axis=0)
            k -= 1
        if l == n:
            continue
        nrmxl = np.sqrt(np.sum(x[c:, c] ** 2))
        if nrmxl == 0:
            continue
        if x[c, c] != 0:
            nrmxl = np.copysign(nrmxl, x[c, c])
        x[c:, c] /= nrmxl
        x[c, c] += 1.0
        for j in range(l, p):
            t = -np.dot(x[c:, c], x[c:, j]) / x[c, c]
            x[c:, j] += t * x[c:, c]
            if qraux[j] != 0:
                tt = max(1.0 - (abs(x[c, j]) / qraux[j]) ** 2, 0.0)
                if tt >= 1e-6:
                    qraux[j] *= np.sqrt(tt)
                else:
                    qraux[j] = np.sqrt(np.sum(x[c + 1:, j] ** 2))
        qraux[c] = x[c, c]
        x[c, c] = -nrmxl
    rank = min(k - 1, n)
    aliased = np.ones(p, dtype=bool)
    aliased[jpvt[:rank]] = False
    return aliased


def mask(p: int, aliased: list[int]) -> list[bool]:
    return [j in aliased for j in range(p)]


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240607)


# --- collinearities known by construction: the later column of each dependent set is aliased -------------

def test_duplicates_and_multiples_alias_the_later_column(rng):
    a, b, c = rng.standard_normal((3, 30))
    x = np.column_stack([a, b, a, c, -3 * b, c])
    assert aliased_columns(x, QR_TOL).tolist() == mask(6, [2, 4, 5])


def test_a_sum_of_earlier_columns_is_aliased_in_column_order(rng):
    a, b, c = rng.standard_normal((3, 30))
    assert aliased_columns(np.column_stack([a, b, a + b, c]), GLM_TOL).tolist() == mask(4, [2])
    # the same span in another order: it is always the last column of the dependent set that goes
    assert aliased_columns(np.column_stack([a + b, a, c, b]), GLM_TOL).tolist() == mask(4, [3])


def test_zero_columns_are_aliased(rng):
    a, b = rng.standard_normal((2, 12))
    zero = np.zeros(12)
    assert aliased_columns(np.column_stack([zero, a, zero, b, zero]), QR_TOL).tolist() == mask(5, [0, 2, 4])
    assert aliased_columns(np.zeros((5, 3)), QR_TOL).all()


def test_columns_after_the_rank_reaches_the_number_of_rows_are_aliased(rng):
    x = rng.standard_normal((10, 25))
    assert aliased_columns(x, GLM_TOL).tolist() == mask(25, list(range(10, 25)))
    x[:, 3] = x[:, 1] - x[:, 0]  # one dependent column among the first ten: the eleventh takes its place
    assert aliased_columns(x, GLM_TOL).tolist() == mask(25, [3, *range(11, 25)])


def test_a_zero_tolerance_still_stops_at_the_number_of_rows(rng):
    """dqrdc2 rotates nothing with tol = 0, but the rank cannot exceed n (R: qr(x, tol = 0)$rank is n)."""
    x = rng.standard_normal((3, 6))
    x[:, 1] = x[:, 0]
    assert aliased_columns(x, 0.0).tolist() == mask(6, [3, 4, 5])


def test_extreme_scales_do_not_hide_or_fake_a_dependence(rng):
    a, b, c = rng.standard_normal((3, 20))
    x = np.column_stack([1e200 * a, 1e-200 * b, 1e-200 * a, c, 1e250 * (a - b)])
    assert aliased_columns(x, GLM_TOL).tolist() == mask(5, [2, 4])


def test_degenerate_shapes():
    assert aliased_columns(np.zeros((0, 3)), QR_TOL).tolist() == [True] * 3  # no row: rank 0
    assert aliased_columns(np.zeros((4, 0)), QR_TOL).shape == (0,)
    assert aliased_columns(np.ones((1, 3)), QR_TOL).tolist() == [False, True, True]


def test_a_nan_column_is_aliased_and_leaves_the_others_alone(rng):
    """dqrdc2 keeps a column only when its norm passes ``norm >= tol * original``, false for NaN."""
    a, b = rng.standard_normal((2, 10))
    x = np.column_stack([a, np.full(10, np.nan), b, a])
    assert aliased_columns(x, QR_TOL).tolist() == mask(4, [1, 3])


def test_dependences_across_block_boundaries(rng):
    """Dependent columns far apart and on both sides of the blocks the factorisation works in."""
    x = rng.standard_normal((300, 150))
    x[:, 9] = x[:, 2] + x[:, 3]
    x[:, 64] = 0.0
    x[:, 70] = 2 * x[:, 5]
    x[:, 130] = x[:, 65] - x[:, 8] + x[:, 71]
    x[:, 149] = x[:, 9]
    assert aliased_columns(x, GLM_TOL).tolist() == mask(150, [9, 64, 70, 130, 149])


@pytest.mark.parametrize("n_columns", [800, 1600])
def test_wide_random_design_keeps_its_first_n_columns(rng, n_columns):
    """100 rows: any 100 random columns are independent, so R keeps the first 100 and aliases the rest."""
    x = rng.standard_normal((100, n_columns))
    x = np.column_stack([np.ones(100), x])  # with an intercept, as in y ~ .
    assert aliased_columns(x, GLM_TOL).tolist() == mask(n_columns + 1, list(range(100, n_columns + 1)))


# --- nearly collinear: aliased exactly when the residual ratio is below tol ------------------------------

@pytest.mark.parametrize(("tol", "margin"), [(QR_TOL, 1e-3), (GLM_TOL, 1e-2), (1e-4, 1e-6)])
@pytest.mark.parametrize("side", [-1, 1])
def test_nearly_collinear_column_is_aliased_only_below_tol(rng, tol, margin, side):
    """Columns z1, z2, z3 spanning an orthonormal q1..q3 (random mixtures), then u + d q4 with u a unit
    vector of that span: its residual on them is d and its norm sqrt(1 + d^2), so the ratio the rule
    compares with tol is d / sqrt(1 + d^2), set here to tol (1 -+ margin).  The margins are far above
    rounding (about 1e-16 absolute on the residual)."""
    q = np.linalg.qr(rng.standard_normal((50, 5)))[0]
    z = q[:, :3] @ rng.standard_normal((3, 3))
    u = q[:, :3] @ rng.standard_normal(3)
    u /= np.linalg.norm(u)
    ratio = tol * (1 + side * margin)
    d = ratio / np.sqrt(1 - ratio**2)
    x = np.column_stack([z, u + d * q[:, 3], q[:, 4]])
    assert aliased_columns(x, tol).tolist() == mask(5, [3] if side < 0 else [])


# --- the same rule computed by slower, independent implementations ------------------------------------

def random_rank_deficient(rng: np.random.Generator, n: int, p: int) -> np.ndarray:
    """Random columns of a random rank, with duplicates, multiples, sums and zero columns mixed in."""
    rank = int(rng.integers(min(n, p) // 2, min(n, p) + 1))
    x = rng.standard_normal((n, rank)) @ rng.standard_normal((rank, p))
    x[:, rng.permutation(p)[: p // 8]] = rng.standard_normal((n, p // 8))  # some independent columns too
    for _ in range(int(rng.integers(1, 6))):
        i, j, k = rng.integers(0, p, 3)
        x[:, j] = rng.choice([1.0, -3.0, 1e-100, 1e100]) * x[:, i]
        x[:, k] = x[:, i] + x[:, j] if i != k and j != k else x[:, k]
    if rng.random() < 0.5:
        x[:, rng.integers(0, p)] = 0.0
    return x


@pytest.mark.parametrize("seed", range(6))
def test_matches_the_repeated_qr_implementation(seed):
    """The former implementation costs one QR per aliased column: designs with a few dozen of them."""
    rng = np.random.default_rng(seed)
    for n, p in [(150, 60), (30, 45), (100, 70)]:
        x = random_rank_deficient(rng, n, p)
        for tol in (QR_TOL, GLM_TOL):
            expected = aliased_by_repeated_qr(x, tol)
            assert expected.any()
            assert aliased_columns(x, tol).tolist() == expected.tolist()


@pytest.mark.parametrize("seed", range(6))
def test_matches_dqrdc2_transcribed(seed):
    rng = np.random.default_rng(100 + seed)
    for n, p in [(60, 45), (25, 40), (12, 12)]:
        x = random_rank_deficient(rng, n, p)
        for tol in (QR_TOL, GLM_TOL):
            assert aliased_columns(x, tol).tolist() == aliased_by_dqrdc2(x, tol).tolist()


def test_the_input_is_left_unchanged(rng):
    x = random_rank_deficient(rng, 80, 100)
    before = x.copy()
    aliased_columns(x, GLM_TOL)
    np.testing.assert_array_equal(x, before)
