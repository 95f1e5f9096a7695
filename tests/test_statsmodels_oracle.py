"""Property tests against statsmodels' GLM on random designs, for every family/link pair both support.

Data are drawn from the model itself (so the fit is well posed), both libraries
converge tightly, and estimates, standard errors, deviance, Pearson chi2 and
log-likelihood must agree.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import glmformula as gf

L = sm.families.links
TOL = 1e-13

# (our family, our link, statsmodels family factory, eta range that keeps mu valid, sampler)
PAIRS = {
    "gaussian-identity": ("gaussian", "identity", lambda: sm.families.Gaussian(L.Identity()), (-2, 2)),
    "gaussian-log": ("gaussian", "log", lambda: sm.families.Gaussian(L.Log()), (1.0, 2.0)),
    "gaussian-inverse": ("gaussian", "inverse", lambda: sm.families.Gaussian(L.InversePower()), (0.3, 0.6)),
    "binomial-logit": ("binomial", "logit", lambda: sm.families.Binomial(L.Logit()), (-1.5, 1.5)),
    "binomial-probit": ("binomial", "probit", lambda: sm.families.Binomial(L.Probit()), (-1.0, 1.0)),
    "binomial-cauchit": ("binomial", "cauchit", lambda: sm.families.Binomial(L.Cauchy()), (-1.0, 1.0)),
    "binomial-cloglog": ("binomial", "cloglog", lambda: sm.families.Binomial(L.CLogLog()), (-1.5, 0.5)),
    "binomial-loglog": ("binomial", "loglog", lambda: sm.families.Binomial(L.LogLog()), (-0.5, 1.5)),
    "binomial-log": ("binomial", "log", lambda: sm.families.Binomial(L.Log()), (-2.5, -1.0)),
    "poisson-log": ("poisson", "log", lambda: sm.families.Poisson(L.Log()), (0.5, 2.5)),
    "poisson-identity": ("poisson", "identity", lambda: sm.families.Poisson(L.Identity()), (4.0, 9.0)),
    "poisson-sqrt": ("poisson", "sqrt", lambda: sm.families.Poisson(L.Sqrt()), (2.0, 3.0)),
    "gamma-inverse": ("gamma", "inverse", lambda: sm.families.Gamma(L.InversePower()), (0.2, 0.8)),
    "gamma-log": ("gamma", "log", lambda: sm.families.Gamma(L.Log()), (-1.0, 1.0)),
    "gamma-identity": ("gamma", "identity", lambda: sm.families.Gamma(L.Identity()), (2.0, 5.0)),
    "inverse_gaussian-1/mu^2": (
        "inverse_gaussian", "inverse_squared", lambda: sm.families.InverseGaussian(L.InverseSquared()), (0.3, 0.9),
    ),
    "inverse_gaussian-log": ("inverse_gaussian", "log", lambda: sm.families.InverseGaussian(L.Log()), (-0.5, 0.5)),
    "negative_binomial-log": (
        "negative_binomial", "log", lambda: sm.families.NegativeBinomial(L.Log(), alpha=0.5), (0.5, 2.5),
    ),
    "quasipoisson-log": ("quasipoisson", "log", lambda: sm.families.Poisson(L.Log()), (0.5, 2.5)),
    "quasibinomial-logit": ("quasibinomial", "logit", lambda: sm.families.Binomial(L.Logit()), (-1.5, 1.5)),
    "tweedie-log": ("tweedie", "log", lambda: sm.families.Tweedie(L.Log(), var_power=1.5), (0.0, 1.5)),
}


def simulate(family_name: str, link_name: str, eta_range, n: int, p: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    family_name = family_name.removeprefix("quasi")
    x = rng.uniform(0, 1, size=(n, p))
    low, high = eta_range
    coefficients = rng.uniform(-1, 1, size=p)
    span = x @ coefficients
    span = (span - span.min()) / max(np.ptp(span), 1e-9)
    eta = low + (high - low) * span
    mu = gf.link(link_name).inverse(eta)
    if family_name == "gaussian":
        y = mu + rng.normal(scale=0.1 * np.abs(mu).mean(), size=n)
    elif family_name == "binomial":
        y = rng.binomial(1, mu).astype(float)
    elif family_name == "poisson":
        y = rng.poisson(mu).astype(float)
    elif family_name == "gamma":
        y = rng.gamma(shape=5.0, scale=mu / 5.0)
    elif family_name == "inverse_gaussian":
        y = rng.wald(mu, 10.0)
    elif family_name == "negative_binomial":
        y = rng.negative_binomial(2.0, 2.0 / (2.0 + mu)).astype(float)
    else:  # tweedie 1.5: compound Poisson-gamma
        counts = rng.poisson(mu**0.5 / 0.5)
        y = np.array([rng.gamma(3.0, 0.5 * m**0.5 / 3.0 * 2, size=c).sum() if c else 0.0 for c, m in zip(counts, mu)])
    frame = pd.DataFrame(x, columns=[f"x{j}" for j in range(p)])
    frame["y"] = y
    frame["w"] = rng.integers(1, 4, size=n).astype(float)
    return frame


@pytest.mark.parametrize("pair", sorted(PAIRS))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(40, 200), p=st.integers(1, 3), seed=st.integers(0, 2**31), weighted=st.booleans())
def test_matches_statsmodels(pair, n, p, seed, weighted):
    family_name, link_name, sm_family, eta_range = PAIRS[pair]
    data = simulate(family_name, link_name, eta_range, n, p, seed)
    if family_name in ("binomial", "quasibinomial"):
        assume(0 < data.y.mean() < 1)
    formula = "y ~ " + " + ".join(f"x{j}" for j in range(p))
    family = gf.family(family_name, link=link_name, **(
        {"theta": 2.0} if family_name == "negative_binomial" else {"var_power": 1.5} if family_name == "tweedie" else {}
    ))
    weights = data.w.to_numpy() if weighted else None
    with warnings.catch_warnings():
        warnings.simplefilter("error", gf.GLMWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", sm.tools.sm_exceptions.DomainWarning)  # statsmodels' taste, not ours
        try:
            ours = gf.glm(formula, data, family, weights=weights, tol=TOL, maxiter=100)
            X = sm.add_constant(data[[f"x{j}" for j in range(p)]])
            theirs = sm.GLM(data.y, X, family=sm_family(), var_weights=weights).fit(
                tol=TOL, maxiter=200, scale="X2" if family_name.startswith("quasi") else None
            )
        except (gf.GLMWarning, gf.FitError, ValueError, np.linalg.LinAlgError):
            assume(False)
    assume(theirs.converged)
    # Both stop on a relative deviance change below TOL.  The deviance is quadratic at the optimum,
    # (dev(b) - dev(b_hat)) ~ ((b - b_hat) / se)^2, so a stopped fit is within ~sqrt(TOL * dev) standard
    # errors of the optimum: that, with a safety factor of 10, bounds how far two correct fits can differ.
    precision = 10 * np.sqrt(TOL * (abs(theirs.deviance) + 0.1))
    difference = np.abs(ours.params.to_numpy() - theirs.params.to_numpy())
    assert np.all(difference <= precision * theirs.bse.to_numpy() + 1e-10), difference / theirs.bse.to_numpy()
    # R's standard errors use the working weights of the last step, statsmodels' those at the final
    # estimate; the two differ by the size of the last step, bounded like the estimates above.
    np.testing.assert_allclose(ours.bse.to_numpy(), theirs.bse.to_numpy(), rtol=precision)
    np.testing.assert_allclose(ours.deviance, theirs.deviance, rtol=1e-8)
    np.testing.assert_allclose(ours.pearson_chi2, theirs.pearson_chi2, rtol=precision)
    if family_name in ("binomial", "poisson", "negative_binomial"):
        np.testing.assert_allclose(ours.llf, theirs.llf, rtol=1e-8)
