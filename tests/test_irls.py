"""The IRLS engine: R's warnings, step-halving, rank detection, the WLS solve paths."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import load_as_read_csv

import glmformula as gf
from glmformula import settings
from glmformula.design.dense import DenseDesign
from glmformula.engine import linalg
from glmformula.engine.fused_step import FusedLogStep
from glmformula.engine.unit_weights import unit_weights


def test_non_convergence_warns_and_is_reported():
    mtcars = gf.datasets.load("mtcars")
    with pytest.warns(gf.ConvergenceWarning, match="did not converge in 2 iterations"):
        res = gf.glm("am ~ hp + wt", mtcars, "binomial", maxiter=2)
    assert not res.converged and res.n_iter == 2
    assert "did not converge" in str(res.summary())


def test_perfect_separation_warns_and_names_the_terms():
    data = pd.DataFrame({"y": [0.0, 0, 0, 0, 1, 1, 1, 1], "x": [1.0, 2, 3, 4, 5, 6, 7, 8]})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = gf.glm("y ~ x", data, "binomial")
    messages = [str(w.message) for w in caught if issubclass(w.category, gf.PerfectSeparationWarning)]
    assert any("fitted probabilities numerically 0 or 1 occurred in" in m for m in messages)
    assert any(m.startswith("separation: the fit is driven to the boundary by Intercept, x") for m in messages)
    assert np.isfinite(res.params).all() and np.isfinite(res.bse).all()


def test_non_integer_counts_warn():
    data = pd.DataFrame({"y": [0.5, 1.0, 2.0, 3.5, 4.0], "x": [1.0, 2, 3, 4, 5]})
    with pytest.warns(gf.NonIntegerResponseWarning, match=r"non-integer counts in a poisson fit in 2 row"):
        gf.glm("y ~ x", data, "poisson")
    gf.glm("y ~ x", data, "quasipoisson")  # no warning: quasi families accept any non-negative y


def test_non_integer_binomial_successes_warn():
    data = pd.DataFrame({"p": [0.1, 0.5, 0.7], "n": [3.0, 4.0, 10.0], "x": [1.0, 2.0, 3.0]})
    with pytest.warns(gf.NonIntegerResponseWarning, match="successes"):
        gf.glm("p ~ x", data, "binomial", weights="n")


def log_binomial_data(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 1, 60)
    return pd.DataFrame({"x": x, "y": rng.binomial(1, np.exp(-1.2 + 1.15 * x)).astype(float)})


def test_step_halving_matches_r():
    """A log-binomial fit whose Fisher steps leave (0, 1) and are halved back, as R does.

    R 4.2.2 on the same data (written to CSV from ``log_binomial_data(13)``):
    ``glm(y ~ x, binomial(link = "log"), d, start = c(-1, 0))`` gives 7 iterations,
    coefficients -0.862271418584, 0.671062370138, deviance 77.9106695569,
    standard errors 0.2451601965, 0.3443693208 and ``boundary`` FALSE.
    """
    with pytest.warns(gf.BoundaryWarning, match="step size truncated: out of bounds") as caught:
        res = gf.glm("y ~ x", log_binomial_data(13), "binomial(link=log)", start=[-1.0, 0.0])
    assert res.n_iter == 7
    assert not any("stopped at a boundary value" in str(w.message) for w in caught)  # boundary FALSE
    np.testing.assert_allclose(res.params.to_numpy(), [-0.862271418584, 0.671062370138], rtol=1e-9)
    np.testing.assert_allclose(res.deviance, 77.9106695569, rtol=1e-9)
    np.testing.assert_allclose(res.bse.to_numpy(), [0.2451601965, 0.3443693208], rtol=1e-8)


def test_first_step_out_of_bounds_without_start_is_an_error_as_in_r():
    with pytest.raises(gf.FitError, match="no valid set of coefficients.*start="):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", gf.NonIntegerResponseWarning)
            gf.glm("y ~ x", log_binomial_data(3), "binomial(link=log)")


def test_no_valid_start_gives_a_clear_error():
    data = pd.DataFrame({"y": [1.0, 2.0, 3.0], "x": [1.0, 2.0, 3.0]})
    with pytest.raises(gf.FitError, match="starting values"):
        gf.glm("y ~ x", data, "gamma", start=[-1.0, -1.0])


def test_start_values_reach_the_same_fit():
    dobson = gf.datasets.load("dobson")
    default = gf.glm("counts ~ outcome + treatment", dobson, "poisson")
    started = gf.glm("counts ~ outcome + treatment", dobson, "poisson", start=default.params.to_numpy() + 0.1)
    np.testing.assert_allclose(started.params.to_numpy(), default.params.to_numpy(), atol=1e-7)


def test_aliasing_follows_column_order_like_r():
    """R's dqrdc2 keeps earlier columns: the later of two collinear columns is aliased."""
    mtcars = gf.datasets.load("mtcars")
    with pytest.warns(gf.RankDeficiencyWarning):
        first = gf.glm("mpg ~ hpwt + hp + wt", mtcars)
    assert first.aliased == ["wt"]
    with pytest.warns(gf.RankDeficiencyWarning):
        duplicated = gf.glm("mpg ~ C(cyl) + I(cyl == 4) + wt", mtcars)
    assert duplicated.aliased == ["I(cyl == 4)"]
    assert duplicated.df_resid == 32 - 4


def test_aliased_columns_matches_a_sequential_projection():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 4))
    x = np.column_stack([x[:, 0], x[:, 1], x[:, 0] - 2 * x[:, 1], x[:, 2], np.zeros(50), x[:, 3]])
    assert linalg.aliased_columns(x, 1e-7).tolist() == [False, False, True, False, True, False]


def test_ill_conditioned_design_uses_qr_and_matches_statsmodels():
    """Raw polynomials of a large covariate: the normal equations would lose ~12 digits."""
    sm = pytest.importorskip("statsmodels.api")
    rng = np.random.default_rng(5)
    x = rng.uniform(1000, 1010, 80)
    data = pd.DataFrame({"x": x, "y": rng.poisson(np.exp(1 + 0.01 * (x - 1005))).astype(float)})
    design = DenseDesign(np.column_stack([np.ones(80), x, x**2]))
    gram = design.gram(np.ones(80))
    scale = np.sqrt(np.diag(gram))
    assert np.linalg.cond(gram / np.outer(scale, scale)) > linalg.NORMAL_EQUATIONS_MAX_CONDITION
    ours = gf.glm("y ~ x + I(x^2)", data, "poisson", tol=1e-12)
    X = np.column_stack([np.ones(80), x, x**2])
    theirs = sm.GLM(data.y, X, family=sm.families.Poisson()).fit(tol=1e-12)
    np.testing.assert_allclose(ours.fittedvalues.to_numpy(), theirs.fittedvalues, rtol=1e-6)
    np.testing.assert_allclose(ours.deviance, theirs.deviance, rtol=1e-8)


def test_solve_paths_agree_on_a_well_conditioned_problem():
    rng = np.random.default_rng(2)
    X = np.column_stack([np.ones(100), rng.normal(size=(100, 3))])
    w, z = rng.uniform(0.5, 2, 100), rng.normal(size=100)
    design = DenseDesign(X)
    cholesky = linalg.solve_wls(design, w, z)
    # X'Wz that overflowed sends the solve to the QR of sqrt(W) X (R's path), which keeps no factor to reuse
    qr = linalg.solve_wls(design, w, z, products=(design.gram(w), np.full(4, np.inf)))
    assert cholesky.with_rhs(X.T @ (w * z)) is not None and qr.with_rhs(X.T @ (w * z)) is None
    np.testing.assert_allclose(cholesky.coefficients, qr.coefficients, rtol=1e-10)
    np.testing.assert_allclose(cholesky.unscaled_covariance(), qr.unscaled_covariance(), rtol=1e-10)
    np.testing.assert_allclose(cholesky.unscaled_covariance(), np.linalg.inv(X.T @ (w[:, None] * X)), rtol=1e-10)


def test_zero_weight_rows_are_left_out_but_kept_in_fitted_values():
    dobson = gf.datasets.load("dobson")
    weights = np.ones(9)
    weights[4] = 0
    res = gf.glm("counts ~ outcome + treatment", dobson, "poisson", weights=weights)
    dropped = gf.glm("counts ~ outcome + treatment", dobson.drop(index=4), "poisson")
    # atol: the treatment effects are 0 in theory (about 1e-15 in floating point)
    np.testing.assert_allclose(res.params.to_numpy(), dropped.params.to_numpy(), rtol=1e-10, atol=1e-12)
    assert res.nobs == 8 and res.df_resid == 8 - 5 and len(res.fittedvalues) == 9


def test_progress_callback_receives_each_iteration():
    seen = []
    control = gf.IRLSControl(callback=lambda iteration, deviance, elapsed: seen.append((iteration, deviance)))
    res = gf.glm("counts ~ outcome + treatment", gf.datasets.load("dobson"), "poisson", control=control)
    assert [i for i, _ in seen] == list(range(1, res.n_iter + 1))
    assert seen[-1][1] == pytest.approx(res.deviance)


def test_invalid_control():
    with pytest.raises(ValueError, match="maxiter"):
        gf.IRLSControl(maxiter=0)
    with pytest.raises(ValueError, match="tol"):
        gf.IRLSControl(tol=-1)


def test_refitting_is_bit_identical():
    insurance = gf.datasets.load("insurance")
    formula = "Claims ~ C(District) + Group + Age + offset(log(Holders))"
    a, b = gf.glm(formula, insurance, "poisson"), gf.glm(formula, insurance, "poisson")
    assert a.params.equals(b.params) and a.bse.equals(b.bse)
    assert str(a.summary()) == str(b.summary())


def test_huge_columns_are_not_mistaken_for_aliased_ones():
    """R estimates this coefficient (the QR's column norms do not overflow)."""
    mtcars = gf.datasets.load("mtcars")
    big = gf.glm("mpg ~ wt + big", mtcars.assign(big=mtcars.hp * 1e160))
    plain = gf.glm("mpg ~ wt + hp", mtcars)
    assert not big.aliased
    np.testing.assert_allclose(big.params.iloc[-1] * 1e160, plain.params["hp"], rtol=1e-8)


@pytest.mark.parametrize("family", ["gaussian", "poisson"])
def test_tiny_columns_are_estimated_as_accurately_as_plain_ones(family):
    """A column of ~1e-158 has a squared norm near underflow: the normal equations would lose digits."""
    mtcars = gf.datasets.load("mtcars")
    response = "mpg" if family == "gaussian" else "carb"
    tiny = gf.glm(f"{response} ~ wt + tiny", mtcars.assign(tiny=mtcars.hp * 1e-160), family)
    plain = gf.glm(f"{response} ~ wt + hp", mtcars, family)
    np.testing.assert_allclose(tiny.params.iloc[-1] * 1e-160, plain.params["hp"], rtol=1e-8)
    np.testing.assert_allclose(tiny.params.iloc[:2], plain.params.iloc[:2], rtol=1e-8)


LOG_LINK_DATA = pd.DataFrame({
    "x": [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1],
    "y": [-0.2, 0.0, 1.9, 1.6, 2.4, 2.1, 3.0, 3.4, 3.1, 4.2, 4.6],
    "yi": [0.0, 0.5, 0.6, 0.7, 0.9, 1.0, 1.2, 1.5, 1.9, 2.5, 3.9],
})


def test_gaussian_log_link_with_non_positive_response_fits_from_start():
    """R 4.2: f <- glm(y ~ x, family = gaussian(link = "log"), start = c(0.5, 1)) on LOG_LINK_DATA;
    coef(f) -0.0946704669663, 1.6805691270630; sqrt(diag(vcov(f))) 0.249250509184, 0.306601074635;
    deviance(f) 3.87038756793.  Without start R stops: "cannot find valid starting values"."""
    res = gf.glm("y ~ x", LOG_LINK_DATA, family="gaussian(link='log')", start=[0.5, 1])
    np.testing.assert_allclose(res.params, [-0.0946704669663, 1.6805691270630], rtol=1e-7)
    np.testing.assert_allclose(res.bse, [0.249250509184, 0.306601074635], rtol=1e-6)
    assert res.deviance == pytest.approx(3.87038756793, rel=1e-9)
    with pytest.raises(gf.FitError, match="cannot find valid starting values.*pass start="):
        gf.glm("y ~ x", LOG_LINK_DATA, family="gaussian(link='log')")


def test_gaussian_inverse_link_with_zero_response_fits_from_start():
    """R 4.2: g <- glm(yi ~ x, family = gaussian(link = "inverse"), start = c(2, -1.5));
    coef(g) 1.80919628092, -1.55616805554; deviance(g) 0.364745542138."""
    res = gf.glm("yi ~ x", LOG_LINK_DATA, family="gaussian(link='inverse')", start=[2, -1.5])
    np.testing.assert_allclose(res.params, [1.80919628092, -1.55616805554], rtol=1e-7)
    assert res.deviance == pytest.approx(0.364745542138, rel=1e-9)
    with pytest.raises(gf.FitError, match="cannot find valid starting values"):
        gf.glm("yi ~ x", LOG_LINK_DATA, family="gaussian(link='inverse')")


@pytest.mark.parametrize("family", ["poisson", "quasipoisson", "negative_binomial", "gaussian", "Gamma(link='log')"])
def test_a_response_too_large_for_double_precision_is_a_clear_error(family):
    """R 4.2 stops too: glm(y ~ x, family = poisson) with y = c(1, 2, 1e300, 3, 4) gives
    "NA/NaN/Inf in 'x'"; gaussian: "no valid set of coefficients has been found"."""
    data = pd.DataFrame({"x": [1, 2, 3, 4, 5.0], "y": [1, 2, 1e300, 3, 4]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no bare numpy overflow warnings on the way
        with pytest.raises(gf.FitError, match=r"overflow.*largest \|y\| = 1e\+300.*check the response"):
            gf.glm("y ~ x", data, family=family)


@pytest.mark.parametrize("family", ["gaussian", "poisson"])
def test_standard_errors_of_huge_columns_do_not_underflow(family):
    """The variance of a column of 1e160 (~1e-320) is subnormal; its standard error is not.
    R 4.2 on the unscaled column: sqrt(diag(vcov(glm(mpg ~ wt + hp, mtcars)))) gives hp 0.00902970967586,
    and glm(carb ~ wt + hp, mtcars, family = poisson) gives hp 0.00164414587828."""
    mtcars = gf.datasets.load("mtcars")
    response = "mpg" if family == "gaussian" else "carb"
    r_se = 0.00902970967586 if family == "gaussian" else 0.00164414587828
    plain = gf.glm(f"{response} ~ wt + hp", mtcars, family)
    big = gf.glm(f"{response} ~ wt + big", mtcars.assign(big=mtcars.hp * 1e160), family)
    assert big.bse["big"] * 1e160 == pytest.approx(plain.bse["hp"], rel=1e-8)
    assert big.bse["big"] * 1e160 == pytest.approx(r_se, rel=1e-7)
    np.testing.assert_allclose(big.bse.iloc[:2], plain.bse.iloc[:2], rtol=1e-8)
    assert big.tvalues["big"] == pytest.approx(plain.tvalues["hp"], rel=1e-8)


@pytest.mark.parametrize(("name", "family", "formula"), [
    ("insurance_poisson_offset", "poisson", "Claims ~ C(District) + Group + Age + offset(log(Holders))"),
    ("clotting_gamma_log", "Gamma(link='log')", "lot1 ~ log(u)"),
    ("mtcars_logit", "binomial", "am ~ hp + wt"),
    ("mtcars_gaussian", "gaussian", "mpg ~ wt + hp"),
])
def test_chunked_elementwise_work_equals_one_chunk(name, family, formula):
    """IRLS's working response and deviance go by row chunks; chunks of 7 rows give the same fit
    as one chunk (the reference data have 15 to 64 rows, so both paths are the same fit, checked)."""
    data = gf.datasets.load(name.split("_")[0])
    with settings.override(kernels=False):  # numpy's chunked path, not the compiled passes
        whole = gf.glm(formula, data, family)
        with settings.override(elementwise_chunk_rows=7):
            chunked = gf.glm(formula, data, family)
    assert chunked.n_iter == whole.n_iter
    np.testing.assert_allclose(chunked.params, whole.params, rtol=1e-12)
    np.testing.assert_allclose(chunked.bse, whole.bse, rtol=1e-12)
    assert chunked.deviance == pytest.approx(whole.deviance, rel=1e-13)


@pytest.mark.parametrize(("name", "family", "formula"), [
    ("insurance_poisson_offset", "poisson", "Claims ~ C(District) + Group + Age + offset(log(Holders))"),
    ("insurance_quasipoisson", "quasipoisson", "Claims ~ C(District) + Group + Age + offset(log(Holders))"),
    ("clotting_gamma_log", "Gamma(link='log')", "lot1 ~ log(u)"),
])
def test_compiled_log_link_pass_equals_numpy(name, family, formula):
    """The one-pass working response and deviance of poisson and gamma under the log link give numpy's fit."""
    from glmformula.families import log_link

    if not log_link.AVAILABLE:
        pytest.skip("the compiled log-link pass is not built")
    data = load_as_read_csv(name.split("_")[0])  # the data of the R reference case of that name
    compiled = gf.glm(formula, data, family)
    with settings.override(log_link_kernels=False, fused_log_step=False):
        numpy_path = gf.glm(formula, data, family)
    _assert_same_fit(compiled, numpy_path, rtol=1e-12)
    assert compiled.null_deviance == pytest.approx(numpy_path.null_deviance, rel=1e-13)


def test_compiled_log_link_pass_hands_zero_weights_and_overflow_to_numpy():
    """Rows of zero prior weight take the masked path; an overflowing response is still a FitError."""
    insurance = gf.datasets.load("insurance")
    weights = np.ones(len(insurance))
    weights[:3] = 0.0
    res = gf.glm("Claims ~ Group + Age + offset(log(Holders))", insurance, "poisson", weights=weights)
    reference = gf.glm("Claims ~ Group + Age + offset(log(Holders))", insurance.iloc[3:], "poisson")
    np.testing.assert_allclose(res.params, reference.params, rtol=1e-10)
    with pytest.raises(gf.FitError):
        gf.glm("y ~ x", pd.DataFrame({"y": [1e300, 1.0, 2.0, 3.0], "x": [1.0, 2.0, 3.0, 4.0]}), "poisson")


def _assert_same_fit(a, b, rtol: float) -> None:
    """Two paths to the same fit: the same iterations, coefficients, standard errors and deviance."""
    assert a.n_iter == b.n_iter
    np.testing.assert_allclose(a.params, b.params, rtol=rtol)
    np.testing.assert_allclose(a.bse, b.bse, rtol=rtol)
    assert a.deviance == pytest.approx(b.deviance, rel=rtol / 10)


def _numpy_log_step(eta_dot, offset, y, log_y, prior, power):
    """The fused step's outputs by numpy, as IRLS's generic path computes them."""
    eps = np.finfo(float).eps
    eta = eta_dot + offset
    mu = np.maximum(np.exp(eta), eps)
    log_mu = np.maximum(eta, np.log(eps))
    unit = (log_y - log_mu) * y - y + mu if power == 1 else log_mu - log_y + y / mu - 1.0
    z = (y - mu) / mu + eta - offset
    w = prior * mu**2 / (mu if power == 1 else mu**2)
    return eta, mu, z, w, 2 * np.sum(prior * unit)


@pytest.mark.parametrize("power", [1, 2])
def test_fused_log_step_kernel_equals_numpy(power):
    """X beta (dense block and codes), exp, deviance and the next working response in one pass, on threads."""
    from glmformula.design import kernels

    if not kernels.AVAILABLE:
        pytest.skip("the compiled kernels are not built")
    with settings.override(rows_per_thread=700):  # row ranges on threads
        rng = np.random.default_rng(power)
        n = 3001
        dense = np.column_stack([np.ones(n), rng.normal(size=(n, 3))])
        codes = [rng.integers(-1, 7, n).astype(np.int32), rng.integers(-1, 3, n).astype(np.int32)]
        beta_dense, beta_blocks = rng.normal(size=4), [rng.normal(size=7), rng.normal(size=3)]
        offset = rng.normal(size=n)
        offset[:5] = [-80.0, -37.5, 30.0, 300.0, -36.0]  # mu floored at eps, near the floor, large means
        y = rng.poisson(2.0, n).astype(float) if power == 1 else rng.gamma(2.0, size=n)
        log_y = np.log(np.where(y > 0, y, 1.0))
        prior = rng.uniform(0.5, 2.0, n)
        outputs = [np.empty(n) for _ in range(4)]
        deviance = kernels.log_step(dense, beta_dense, codes, beta_blocks, offset, y, log_y, prior, power, *outputs)
        eta_dot = dense @ beta_dense + sum(np.concatenate([b, [0.0]])[c] for b, c in zip(beta_blocks, codes))
        expected = _numpy_log_step(eta_dot, offset, y, log_y, prior, power)
        for got, want in zip(outputs, expected[:4]):  # X beta is summed in another order than numpy's
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)
        assert deviance == pytest.approx(expected[4], rel=1e-12)
        assert outputs[1][0] == np.finfo(float).eps
        # bound to a fit's buffers, the step writes its weights into the buffer it is given; without log_y it
        # takes log y itself (a vectorised log, within an ulp of numpy's)
        eta, mu, z, *weights = (np.empty(n) for _ in range(5))
        for given_log_y in (log_y, None):
            step = kernels.LogStep(offset, y, given_log_y, prior, power, eta, mu, z, tuple(weights))
            for buffer in (weights[1], weights[0]):
                buffer[:] = np.nan
                assert step(dense, beta_dense, codes, beta_blocks, buffer) == pytest.approx(expected[4], rel=1e-12)
                np.testing.assert_allclose(buffer, expected[3], rtol=1e-12)
                np.testing.assert_allclose(z, expected[2], rtol=1e-12, atol=1e-13)
            assert np.isnan(weights[1]).sum() == 0
        with pytest.raises(ValueError, match="C-contiguous float64"):
            step(dense, beta_dense, codes, beta_blocks, np.empty(n + 1))
        with pytest.raises(ValueError, match="C-contiguous float64"):
            kernels.LogStep(offset, y, log_y, prior, power, eta, mu, z, (weights[0], np.empty(n + 1)))
        # poisson without prior weights: the means are the weights, written into the given buffer alone
        unit = unit_weights(n)
        expected_unit = _numpy_log_step(eta_dot, offset, y, log_y, unit, power)
        if power == 1:
            mu[:] = np.nan
            step = kernels.LogStep(offset, y, None, unit, power, eta, None, z, tuple(weights))
            assert step(dense, beta_dense, codes, beta_blocks, weights[0]) == pytest.approx(expected_unit[4],
                                                                                            rel=1e-12)
            np.testing.assert_allclose(weights[0], expected_unit[1], rtol=1e-12)
            np.testing.assert_allclose(weights[0], expected_unit[3], rtol=1e-12)  # mu^2 / mu is mu
            assert np.isnan(mu).all()
        with pytest.raises(ValueError, match="power 1 without prior weights"):
            kernels.LogStep(offset, y, None, prior if power == 1 else unit, power, eta, None, z, tuple(weights))
        # exp would overflow, mu^2 in the weights overflows (as in R), or eta is not finite: not usable
        for bad in (709.5, 400.0, np.inf, -np.inf, np.nan):
            offset[7] = bad
            assert kernels.log_step(dense, beta_dense, codes, beta_blocks, offset, y, log_y, prior, power,
                                    *outputs) is None
            if power == 1:  # the means as weights: refused alike (mu^2 is still formed, to overflow as R's)
                step = kernels.LogStep(offset, y, None, unit, power, eta, None, z, tuple(weights))
                assert step(dense, beta_dense, codes, beta_blocks, weights[0]) is None


@pytest.mark.parametrize(("family", "response"), [("poisson", "count"), ("Gamma(link='log')", "positive"),
                                                  ("quasipoisson", "count")])
def test_fused_log_step_gives_the_generic_fit(family, response):
    """IRLS with the fused step equals IRLS without it: same iterations, coefficients, deviance; on a
    categorical-aware design (codes) and on a dense one."""
    from glmformula.design import kernels

    if not kernels.AVAILABLE:
        pytest.skip("the compiled kernels are not built")
    rng = np.random.default_rng(4)
    n = 4000
    data = pd.DataFrame({"x": rng.normal(size=n), "g": rng.choice(list("abcdefgh"), n),
                         "t": rng.uniform(1, 3, n)})
    mean = np.exp(0.3 + 0.4 * data.x + (data.g == "b") * 0.5) * data.t
    data["count"] = rng.poisson(mean).astype(float)
    data["positive"] = rng.gamma(2.0, mean / 2.0)
    formula = f"{response} ~ x + g + offset(log(t))"
    for dense_cells in (settings.DEFAULTS.dense_cells, 0):
        with settings.override(dense_cells=dense_cells):
            fused = gf.glm(formula, data, family)
            with settings.override(fused_log_step=False):
                generic = gf.glm(formula, data, family)
        _assert_same_fit(fused, generic, rtol=1e-11)
        np.testing.assert_allclose(fused.fittedvalues, generic.fittedvalues, rtol=1e-12)


@pytest.mark.parametrize("categorical_aware", [True, False])
def test_gamma_log_forms_the_cross_product_once(categorical_aware, monkeypatch):
    """Gamma's working weights under the log link are the prior weights at every iteration: X'WX and its
    factor come from the first iteration, later ones take X'Wz alone, and the fit equals the one that forms
    X'WX at every iteration (on a categorical-aware design and on a dense one)."""
    from glmformula.design import kernels
    from glmformula.design.categorical import CategoricalDesign

    if not kernels.AVAILABLE:
        pytest.skip("the compiled kernels are not built")
    rng = np.random.default_rng(12)
    n = 3000
    data = pd.DataFrame({"x": rng.normal(size=n), "g": rng.choice(list("abcdef"), n),
                         "w": rng.uniform(0.2, 3.0, n)})
    data["y"] = rng.gamma(2.0, np.exp(0.5 + 0.3 * data.x + (data.g == "c") * 0.4) / 2.0)
    calls = {"gram_xtw": 0, "xtw": 0}
    design_class = CategoricalDesign if categorical_aware else DenseDesign
    for name in calls:
        original = getattr(design_class, name)

        def counted(self, *args, _original=original, _name=name, **keywords):
            calls[_name] += 1
            return _original(self, *args, **keywords)

        monkeypatch.setattr(design_class, name, counted)
    dense_cells = 0 if categorical_aware else settings.DEFAULTS.dense_cells
    with settings.override(dense_cells=dense_cells):
        reused = gf.glm("y ~ x + g", data, "Gamma(link='log')", weights="w")
        assert reused.n_iter >= 4 and calls == {"gram_xtw": 1, "xtw": reused.n_iter - 1}
        monkeypatch.setattr(FusedLogStep, "weights_are_prior", property(lambda self: False))
        formed = gf.glm("y ~ x + g", data, "Gamma(link='log')", weights="w")
    assert calls["gram_xtw"] == 1 + formed.n_iter
    _assert_same_fit(reused, formed, rtol=1e-12)
    np.testing.assert_allclose(reused.cov_params(), formed.cov_params(), rtol=1e-12)
    np.testing.assert_array_equal(reused.working_weights, data["w"])


def test_gamma_log_reuses_its_factor_with_aliased_columns_and_after_a_generic_step(monkeypatch):
    """With a column aliased (the factor of the kept columns), and when the fused pass hands one step to the
    generic path (whose solve forms X'WX again), reusing the factor gives the fit that forms X'WX each time."""
    from glmformula.design import kernels

    if not kernels.AVAILABLE:
        pytest.skip("the compiled kernels are not built")
    rng = np.random.default_rng(14)
    n = 2000
    data = pd.DataFrame({"x": rng.normal(size=n), "g": rng.choice(list("abcd"), n)})
    data["x2"] = 2 * data.x
    data["y"] = rng.gamma(2.0, np.exp(0.3 + 0.4 * data.x) / 2.0)
    original = FusedLogStep.__call__
    calls = {"n": 0}

    def failing_once(self, *args):
        calls["n"] += 1
        return None if calls["n"] == 2 else original(self, *args)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gf.RankDeficiencyWarning)
        for patch_call in (False, True):
            with monkeypatch.context() as patch:
                if patch_call:
                    patch.setattr(FusedLogStep, "__call__", failing_once)
                reused = gf.glm("y ~ x + x2 + g", data, "Gamma(link='log')")
                calls["n"] = 0
                patch.setattr(FusedLogStep, "weights_are_prior", property(lambda self: False))
                formed = gf.glm("y ~ x + x2 + g", data, "Gamma(link='log')")
                calls["n"] = 0
            assert reused.params.isna().sum() == 1
            _assert_same_fit(reused, formed, rtol=1e-12)


def test_fused_log_step_starts_from_log_y_only_when_the_starting_means_are_y():
    """The step holds no log y when its pass takes log y row by row (every y 0 or positive and normal); with a
    y outside that range it holds log y, and the gamma family, which starts at mu = y, then starts from it
    (bitwise log(mustart)).  Poisson's starting means (y + 0.1 where y = 0) are not y, nor are y's with a
    zero."""
    from glmformula.design import kernels

    if not kernels.AVAILABLE:
        pytest.skip("the compiled kernels are not built")
    rng = np.random.default_rng(8)
    y = rng.gamma(2.0, size=500)
    buffers = (*(np.empty(500) for _ in range(3)), (np.empty(500), np.empty(500)))
    ones, zeros = np.ones(500), np.zeros(500)
    gamma = gf.family("Gamma(link='log')")
    step = FusedLogStep.for_fit(gamma, y, ones, zeros, buffers)
    assert step.log_y is None and not step.starts_at_y(y)
    y[3] = 1e-310  # subnormal: outside the pass's vectorised log
    step = FusedLogStep.for_fit(gamma, y, ones, zeros, buffers)
    mustart = gamma.initialize(y, ones).mustart
    assert step.starts_at_y(mustart)
    np.testing.assert_array_equal(step.log_y, np.log(mustart))
    nearby = mustart.copy()
    nearby[499] = np.nextafter(nearby[499], np.inf)  # one value one ulp off, after the first 64
    assert not step.starts_at_y(nearby)
    counts = rng.poisson(1.0, 500).astype(float)
    poisson = gf.family("poisson")
    step = FusedLogStep.for_fit(poisson, counts, ones, zeros, buffers)
    assert not step.starts_at_y(poisson.initialize(counts, ones).mustart)
    assert not step.starts_at_y(counts)  # y itself, but with zeros: log y is 0 there, log(mustart) is -inf


def test_fused_log_step_hands_an_overflowing_step_to_the_generic_path():
    """A first step whose linear predictor overflows exp is halved by the generic path, as R does."""
    from glmformula.design import kernels

    if not kernels.AVAILABLE:
        pytest.skip("the compiled kernels are not built")
    data = pd.DataFrame({"y": [0.0, 1.0, 0.0, 2.0, 1.0, 3.0], "x": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]})
    start = np.array([0.0, 300.0])  # eta up to 1500 at the start: exp overflows
    with pytest.raises(gf.FitError):
        gf.glm("y ~ x", data, "poisson", start=start)


@pytest.mark.parametrize("p", [128, 300])
def test_the_packed_factor_by_the_blocked_route_equals_lapacks_packed_one(p):
    """``PackedCholeskyFactor(blocked=True)`` (dpotrf, then U packed: after scipy's BLAS formed the matrix) has
    the pivots and solves of dpptrf's factor, and refuses a matrix that is not positive definite alike."""
    from glmformula.engine.cholesky import PackedCholeskyFactor

    rng = np.random.default_rng(p)
    a = rng.normal(size=(p, 2 * p))
    gram = a @ a.T
    unit = gram / np.sqrt(np.outer(np.diag(gram), np.diag(gram)))
    packed, blocked = PackedCholeskyFactor(unit), PackedCholeskyFactor(unit, blocked=True)
    np.testing.assert_allclose(blocked.pivots, packed.pivots, rtol=1e-12)
    rhs = rng.normal(size=p)
    np.testing.assert_allclose(blocked.solve(rhs), np.linalg.solve(unit, rhs), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(blocked.inverse_diagonal(), np.diag(np.linalg.inv(unit)), rtol=1e-10)
    indefinite = unit.copy()
    indefinite[:, -1] = indefinite[-1, :] = indefinite[0]
    indefinite[-1, -1] = 0.5
    for route in (False, True):
        with pytest.raises(np.linalg.LinAlgError):
            PackedCholeskyFactor(indefinite, blocked=route)


@pytest.mark.parametrize("p", [128, 201])
def test_mid_sized_solves_equal_numpy(p):
    """Cross-products of 128 to 1024 columns take the packed Cholesky (``linalg.PACKED_CHOLESKY_COLUMNS``): its
    solution, (X'WX)^{-1} and variances are numpy's, it keeps its factor for another right-hand side, and a
    cross-product that is not positive definite is refused (the solve takes the QR of sqrt(W) X instead)."""
    low, high = linalg.PACKED_CHOLESKY_COLUMNS
    assert low <= p <= high
    rng = np.random.default_rng(p)
    n = 3 * p
    X = rng.normal(size=(n, p)) @ np.diag(rng.uniform(0.1, 10, p))
    w, z = rng.uniform(0.5, 2, n), rng.normal(size=n)
    design = DenseDesign(X)
    gram = X.T @ (w[:, None] * X)
    solve = linalg.solve_wls(design, w, z)
    np.testing.assert_allclose(solve.coefficients, np.linalg.solve(gram, X.T @ (w * z)), rtol=1e-9, atol=1e-12)
    inverse = np.linalg.inv(gram)
    scale = np.sqrt(np.diag(inverse))
    covariance = solve.unscaled_covariance()
    np.testing.assert_allclose(covariance / np.outer(scale, scale), inverse / np.outer(scale, scale),
                               rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(covariance, covariance.T, rtol=1e-15, atol=0)
    np.testing.assert_allclose(solve.unscaled_variances(), np.diag(inverse), rtol=1e-10)
    rhs = rng.normal(size=p)
    again = solve.with_rhs(rhs)  # the factor, kept: not the QR path
    assert again is not None
    np.testing.assert_allclose(again.coefficients, np.linalg.solve(gram, rhs), rtol=1e-9, atol=1e-12)
    unit = gram / np.sqrt(np.outer(np.diag(gram), np.diag(gram)))
    indefinite = unit.copy()
    indefinite[:, -1] = indefinite[-1, :] = indefinite[0]  # the last column repeats the first,
    indefinite[-1, -1] = 0.5  # with a smaller norm: the last pivot's square is negative
    refused = linalg.solve_wls(design, w, z, products=(indefinite, rhs))
    assert refused.with_rhs(rhs) is None  # the QR path: its solution is that of the data, not of the products
    root_w = np.sqrt(w)
    np.testing.assert_allclose(refused.coefficients, np.linalg.lstsq(X * root_w[:, None], root_w * z)[0],
                               rtol=1e-9, atol=1e-12)
