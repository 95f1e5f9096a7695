"""Working residuals computed when read: R's (y - mu) / mu_eta(eta), from the fit's y, eta, mu and link.

IRLS does not compute them at the end of every fit (``FitState.working_residuals`` is a function): a fit
that never reads them spends neither a pass over the rows nor an array on them, and each reader (the
Pearson dispersion, a sandwich covariance, working or partial residuals, Rao tests) computes them once.
Their numbers are those IRLS computed at its end before, bit for bit.
"""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest

import glmformula as gf
from glmformula.design.dense import DenseDesign
from glmformula.engine.irls import WorkingResiduals, irls
from glmformula.families.registry import get_family

# (family, response column): links whose mu_eta is mu (log) and ones where it is not
FAMILIES = [
    ("poisson", "count"), ("poisson(link=sqrt)", "count"), ("quasipoisson", "count"),
    ("binomial", "binary"), ("binomial(link=probit)", "binary"), ("binomial(link=cloglog)", "binary"),
    ("binomial(link=cauchit)", "binary"), ("Gamma", "positive"), ("Gamma(link=log)", "positive"),
    ("inverse_gaussian(link=log)", "positive"), ("tweedie(var_power=1.5)", "positive"),
    ("gaussian", "positive"), ("gaussian(link=log)", "positive"), ("negative_binomial(theta=2)", "count"),
]


def _frame(n: int = 2_000, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"x": rng.normal(size=n), "g": rng.choice(list("abcd"), n), "w": rng.uniform(0, 2, n)})
    frame.loc[:10, "w"] = 0.0  # rows of zero weight: their residuals are defined all the same
    eta = 0.3 * frame["x"] - 0.2
    frame["count"] = rng.poisson(np.exp(eta)).astype(float)
    frame["binary"] = rng.binomial(1, 1 / (1 + np.exp(-eta))).astype(float)
    frame["positive"] = rng.gamma(4.0, np.exp(eta) / 4.0) + 0.5
    return frame


def _eager(y: np.ndarray, eta: np.ndarray, mu: np.ndarray, link) -> np.ndarray:
    """The working residuals as IRLS computed them at its end before (into its z buffer)."""
    residuals = np.subtract(y, mu, out=np.empty_like(mu))
    residuals /= link.mu_eta_at(eta, mu)
    return residuals


@pytest.mark.parametrize("family, response", FAMILIES)
@pytest.mark.parametrize("weighted", [False, True])
def test_irls_residuals_when_read_equal_the_eager_ones(family, response, weighted):
    """Bit for bit the eager computation at the fit's final point; R's definition to rounding; a new array at
    every call (the caller may write into it)."""
    frame = _frame()
    fitted_family = get_family(family)
    n = len(frame)
    X = np.column_stack([np.ones(n), frame["x"], frame["g"] == "b"])
    weights = frame["w"].to_numpy() if weighted else np.ones(n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # non-integer successes of a weighted binomial fit
        start = fitted_family.initialize(frame[response].to_numpy(), weights)
        fit = irls(DenseDesign(X, ["a", "b", "c"]), start.y, fitted_family, prior_weights=start.prior_weights,
                   offset=np.zeros(n), mustart=start.mustart)
    assert isinstance(fit.working_residuals, WorkingResiduals)
    residuals = fit.working_residuals()
    np.testing.assert_array_equal(residuals, _eager(start.y, fit.eta, fit.mu, fitted_family.link))
    np.testing.assert_allclose(residuals, (start.y - fit.mu) / fitted_family.link.mu_eta(fit.eta), rtol=1e-12)
    residuals[:] = 0.0
    again = fit.working_residuals()
    assert again is not residuals
    np.testing.assert_array_equal(again, _eager(start.y, fit.eta, fit.mu, fitted_family.link))


@pytest.mark.parametrize("family, response", [*FAMILIES, ("negative_binomial", "count")])
@pytest.mark.parametrize("weights", [None, "w"])
def test_every_reader_gets_the_residuals_of_the_fit(family, response, weights):
    """Through ``gf.glm`` (theta estimated too: the residuals of glm.nb's last IRLS fit), with a Pearson or a
    fixed dispersion: working and partial residuals and sandwich covariances are those of the eager residuals,
    and so is the Pearson dispersion (to rounding: its sum takes another path)."""
    frame = _frame()
    formula = f"{response} ~ x + g"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pearson = gf.glm(formula, frame, family, weights=weights, scale="pearson")
        fixed = gf.glm(formula, frame, family, weights=weights, scale=2.0)
    fit = pearson._fit
    eager = _eager(pearson.model_data.y, fit.eta, fit.mu, pearson.family.link)
    np.testing.assert_array_equal(pearson.resid("working").to_numpy(), eager)
    np.testing.assert_array_equal(fixed.resid("working").to_numpy(), eager)
    np.testing.assert_array_equal(fixed.resid("partial"), pearson.resid("partial"))
    np.testing.assert_array_equal(fixed.with_cov("HC0").cov_params(), pearson.with_cov("HC0").cov_params())
    np.testing.assert_array_equal(fixed.with_cov("HC3").cov_params(), pearson.with_cov("HC3").cov_params())
    used = fit.working_weights > 0
    expected_scale = np.sum(fit.working_weights[used] * eager[used] ** 2) / pearson.df_resid
    assert pearson.scale == pytest.approx(expected_scale, rel=1e-12)


@pytest.fixture
def calls(monkeypatch):
    """The number of times working residuals are computed (``WorkingResiduals.__call__``)."""
    counted = [0]
    original = WorkingResiduals.__call__

    def counting(self):
        counted[0] += 1
        return original(self)

    monkeypatch.setattr(WorkingResiduals, "__call__", counting)
    return counted


@pytest.mark.parametrize("family", ["poisson", "binomial", "negative_binomial"])
def test_a_fit_that_never_reads_them_never_computes_them(calls, family):
    """A fit with a fixed dispersion (glm.nb's alternating fits and the null deviance's included), its standard
    errors, summary and a Chisq table compute no working residuals; a sandwich covariance computes them once."""
    frame = _frame()
    response = "binary" if family == "binomial" else "count"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = gf.glm(f"{response} ~ x + g", frame, family, weights="w")
        res.bse, res.summary(), res.anova(test="Chisq")
    assert calls[0] == 0
    assert np.isfinite(res.with_cov("HC0").bse).all()
    assert calls[0] == 1


def test_the_pearson_dispersion_computes_them_once(calls):
    """A family with a free dispersion reads them at once (the Pearson estimate, which ``fit_glm`` checks):
    computed once, by the results, not by IRLS as well; read again, the dispersion is not recomputed."""
    frame = _frame()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = gf.glm("positive ~ x + g", frame, "Gamma(link=log)", weights="w")
    assert calls[0] == 1
    res.bse, res.summary()
    assert calls[0] == 1


def test_rao_tests_compute_them_for_their_refits_only(calls):
    """anova, drop1 and add1 refit without computing working residuals unless the test is Rao's."""
    frame = _frame()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = gf.glm("count ~ x + g", frame, "poisson")
        res.anova(test="Chisq"), res.drop1(test="Chisq"), res.add1("~ . + I(x**2)", test="LRT")
        assert calls[0] == 0
        rao = res.anova(test="Rao")
    assert calls[0] == 2  # the intercept-only fit's, then x's: the last term's score needs no full-model refit
    assert np.isfinite(rao["Rao"].to_numpy()[1:]).all()


def test_results_and_fits_pickle_with_their_residuals_unread():
    """The results (and the fit alone) pickle before the residuals are read, and give the same ones after."""
    frame = _frame()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = gf.glm("binary ~ x + g", frame, "binomial(link=probit)", weights="w")
    expected = res.resid("working").to_numpy()
    copy = pickle.loads(pickle.dumps(res))
    np.testing.assert_array_equal(copy.resid("working").to_numpy(), expected)
    np.testing.assert_array_equal(copy.with_cov("HC1").cov_params(), res.with_cov("HC1").cov_params())
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(res._fit)).working_residuals(), expected)
