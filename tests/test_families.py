"""Property tests over the whole family and link registry, plus closed forms."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import glmformula as gf
from glmformula.families import links
from glmformula.families.registry import family_names, link_names

LINK_SAMPLES = {
    # link name: (mu values in the link's domain)
    "identity": np.array([-3.0, -0.5, 0.2, 4.0]),
    "log": np.array([0.01, 0.5, 2.0, 40.0]),
    "logit": np.array([0.001, 0.2, 0.5, 0.93]),
    "probit": np.array([0.001, 0.2, 0.5, 0.93]),
    "cauchit": np.array([0.01, 0.2, 0.5, 0.93]),
    "cloglog": np.array([0.001, 0.2, 0.5, 0.93]),
    "loglog": np.array([0.01, 0.2, 0.5, 0.93]),
    "inverse": np.array([0.1, 0.5, 2.0, 40.0]),
    "inverse_squared": np.array([0.1, 0.5, 2.0, 40.0]),
    "1/mu": np.array([0.1, 0.5, 2.0, 40.0]),
    "1/mu^2": np.array([0.1, 0.5, 2.0, 40.0]),
    "inverse_square": np.array([0.1, 0.5, 2.0, 40.0]),
    "sqrt": np.array([0.1, 0.5, 2.0, 40.0]),
    "power": np.array([0.1, 0.5, 2.0, 40.0]),
}


def test_every_registered_link_is_sampled():
    assert set(link_names()) == set(LINK_SAMPLES)


@pytest.mark.parametrize("name", sorted(LINK_SAMPLES))
def test_inverse_of_link_is_identity(name):
    link = gf.link(name) if name != "power" else gf.link("power(0.3)")
    mu = LINK_SAMPLES[name]
    np.testing.assert_allclose(link.inverse(link.link(mu)), mu, rtol=1e-10)


@pytest.mark.parametrize("name", sorted(LINK_SAMPLES))
def test_mu_eta_matches_finite_difference(name):
    link = gf.link(name) if name != "power" else gf.link("power(0.3)")
    eta = link.link(LINK_SAMPLES[name])
    step = 1e-6 * np.maximum(1.0, np.abs(eta))
    numeric = (link.inverse(eta + step) - link.inverse(eta - step)) / (2 * step)
    np.testing.assert_allclose(link.mu_eta(eta), numeric, rtol=1e-5)


def test_power_link_special_cases_follow_r():
    assert isinstance(gf.link("power(0)"), links.Log)
    assert isinstance(gf.link("power(1)"), links.Identity)
    assert gf.link("power", p=0.5).power == 0.5


def test_logit_inverse_is_clamped_like_r():
    link = gf.link("logit")
    eps = np.finfo(float).eps
    assert link.inverse(np.array([-1000.0]))[0] == pytest.approx(eps / (1 + eps))
    assert link.mu_eta(np.array([50.0]))[0] == eps


FAMILY_SAMPLES = {
    # family: (y, mu) pairs valid for it
    "gaussian": (np.array([-1.0, 0.0, 2.5]), np.array([0.5, -0.2, 2.0])),
    "binomial": (np.array([0.0, 0.3, 1.0]), np.array([0.2, 0.4, 0.9])),
    "quasibinomial": (np.array([0.0, 0.3, 1.0]), np.array([0.2, 0.4, 0.9])),
    "poisson": (np.array([0.0, 3.0, 10.0]), np.array([0.5, 2.0, 12.0])),
    "quasipoisson": (np.array([0.0, 3.0, 10.0]), np.array([0.5, 2.0, 12.0])),
    "gamma": (np.array([0.2, 3.0, 10.0]), np.array([0.5, 2.0, 12.0])),
    "inverse_gaussian": (np.array([0.2, 3.0, 10.0]), np.array([0.5, 2.0, 12.0])),
    "negative_binomial": (np.array([0.0, 3.0, 10.0]), np.array([0.5, 2.0, 12.0])),
    "tweedie": (np.array([0.0, 3.0, 10.0]), np.array([0.5, 2.0, 12.0])),
    "quasi": (np.array([-1.0, 0.0, 2.5]), np.array([0.5, -0.2, 2.0])),
}


def make_family(name):
    return gf.family(name, theta=2.0) if name == "negative_binomial" else gf.family(name)


def test_every_registered_family_is_sampled():
    assert set(family_names()) == set(FAMILY_SAMPLES)


@pytest.mark.parametrize("name", sorted(FAMILY_SAMPLES))
def test_unit_deviance_is_zero_at_y_and_positive_elsewhere(name):
    family = make_family(name)
    y, mu = FAMILY_SAMPLES[name]
    np.testing.assert_allclose(family.unit_deviance(y, y.copy()), 0.0, atol=1e-12)
    assert np.all(family.unit_deviance(y, mu) > 0)


@pytest.mark.parametrize("name", sorted(FAMILY_SAMPLES))
def test_unit_deviance_derivative_is_minus_two_residual_over_variance(name):
    """d/dmu d(y, mu) = -2 (y - mu) / V(mu) for every exponential-family deviance."""
    family = make_family(name)
    y, mu = FAMILY_SAMPLES[name]
    h = 1e-6 * np.maximum(1.0, np.abs(mu))
    numeric = (family.unit_deviance(y, mu + h) - family.unit_deviance(y, mu - h)) / (2 * h)
    np.testing.assert_allclose(numeric, -2 * (y - mu) / family.variance(mu), rtol=1e-5)


@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize("name", sorted(FAMILY_SAMPLES))
@pytest.mark.parametrize("link", ["log", None])
def test_deviance_function_equals_the_deviance(name, link, compiled):
    """IRLS's per-iteration deviance (log y once, log mu = eta under the log link) is the deviance,
    including where the log link floors mu at machine epsilon."""
    from glmformula.families import log_link

    if compiled and not log_link.AVAILABLE:
        pytest.skip("the compiled log-link pass is not built")
    family = make_family(name)
    if link is not None:
        family = gf.family(name, link=link, **({"theta": 2.0} if name == "negative_binomial" else {}))
    y, _ = FAMILY_SAMPLES[name]
    y = np.concatenate([y, y[-1:], [y[-1]]])
    weights = np.array([1.0, 2.0, 0.5, 0.0, 3.0])
    eta = family.link.link(np.abs(FAMILY_SAMPLES[name][1]) + 0.1)
    eta = np.concatenate([eta, eta[-1:], [-40.0 if family.link.name == "log" else eta[-1]]])
    mu = family.link.inverse(eta)
    expected = np.sum(weights * family.unit_deviance(y, mu))
    with gf.settings.override(log_link_kernels=compiled):
        deviance = family.deviance_function(y, weights)
    assert deviance(eta, mu) == pytest.approx(expected, rel=1e-13)


@pytest.mark.parametrize(
    ("name", "logpdf"),
    [
        ("poisson", lambda y, mu, phi: stats.poisson.logpmf(y, mu)),
        ("gaussian", lambda y, mu, phi: stats.norm.logpdf(y, mu, np.sqrt(phi))),
        ("gamma", lambda y, mu, phi: stats.gamma.logpdf(y, a=1 / phi, scale=mu * phi)),
        ("inverse_gaussian", lambda y, mu, phi: stats.invgauss.logpdf(y, mu * phi, scale=1 / phi)),
        ("negative_binomial", lambda y, mu, phi: stats.nbinom.logpmf(y, 2.0, 2.0 / (2.0 + mu))),
    ],
)
def test_loglik_matches_scipy_density(name, logpdf):
    """llf at the ML dispersion (deviance / n, as R's family$aic) equals the scipy log density."""
    family = make_family(name)
    y = np.array([1.0, 3.0, 10.0, 4.0])
    mu = np.array([0.5, 2.0, 12.0, 4.5])
    weights = np.ones_like(y)
    deviance = family.deviance(y, mu, weights)
    phi = deviance / len(y)
    expected = np.sum(logpdf(y, mu, phi))
    assert family.loglik(y, mu, weights, np.ones_like(y), deviance) == pytest.approx(expected, rel=1e-10)


def test_binomial_loglik_with_trials_matches_scipy():
    family = gf.family("binomial")
    successes, trials = np.array([3.0, 0.0, 7.0]), np.array([10.0, 5.0, 7.0])
    mu = np.array([0.3, 0.1, 0.8])
    response = family.initialize(np.column_stack([successes, trials - successes]), np.ones(3))
    value = family.loglik(response.y, mu, response.prior_weights, response.n_trials, 0.0)
    assert value == pytest.approx(stats.binom.logpmf(successes, trials, mu).sum(), rel=1e-12)


@pytest.mark.parametrize(
    "spec",
    ["binomial(link='probit')", "binomial(link=probit)", "binomial('probit')", "Binomial(link = 'probit')"],
)
def test_r_style_family_strings(spec):
    family = gf.family(spec)
    assert family.name == "binomial" and family.link.name == "probit"


def test_family_strings_with_parameters():
    assert gf.family("negative.binomial(theta=2)").theta == 2.0
    assert gf.family("tweedie(var_power=1.5, link='log')").var_power == 1.5
    assert gf.family("quasi(variance='mu^2', link=log)").variance_name == "mu^2"
    assert gf.family("Gamma(link=log)").link.name == "log"
    assert gf.family("inverse.gaussian").link.name == "inverse_squared"
    assert gf.family("poisson", link="sqrt").link.name == "sqrt"


def test_unknown_family_suggests_names():
    with pytest.raises(gf.FamilyError, match=r"unknown family 'poison'.*'poisson'"):
        gf.family("poison")


def test_unknown_link_lists_known_links():
    with pytest.raises(gf.FamilyError, match=r"unknown link 'logt'.*'logit'"):
        gf.family("binomial", link="logt")


def test_family_string_is_never_evaluated():
    with pytest.raises(gf.FamilyError, match="not a literal|must look like"):
        gf.family("binomial(link=__import__('os').getcwd())")
    with pytest.raises(gf.FamilyError, match="not a literal"):
        gf.family("negative_binomial(theta=__import__('os').getpid())")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: gf.family("tweedie", var_power=0.5), "var_power"),
        (lambda: gf.family("negative_binomial", theta=-1), "theta > 0"),
        (lambda: gf.family("quasi", variance="mu^4"), "quasi variance"),
        (lambda: gf.family("poisson", alpha=2), "does not take"),
    ],
)
def test_invalid_family_parameters(call, message):
    with pytest.raises(gf.FamilyError, match=message):
        call()


def test_registering_a_custom_family_and_link():
    class HalfPoisson(gf.families.Poisson):
        name = "half_poisson"

    gf.register_family("half_poisson", HalfPoisson)
    gf.register_link("log_again", links.Log)
    family = gf.family("half_poisson", link="log_again")
    assert isinstance(family, HalfPoisson) and isinstance(family.link, links.Log)
    df = gf.datasets.load("dobson")
    res = gf.glm("counts ~ outcome + treatment", df, family=family)
    reference = gf.glm("counts ~ outcome + treatment", df, family="poisson")
    np.testing.assert_allclose(res.params, reference.params)


def test_range_check_catches_nan_infinity_and_the_bounds():
    from glmformula.families.ranges import within

    assert within(np.array([0.5, 2.0]), 0.0) and within(np.array([]), 0.0, 1.0)
    assert not within(np.array([0.5, np.nan, 2.0]))
    assert not within(np.array([np.nan, 0.5]), 0.0)
    assert not within(np.array([0.5, np.inf]))
    assert not within(np.array([0.0, 0.5]), 0.0)
    assert not within(np.array([0.5, 1.0]), 0.0, 1.0)


def test_weighted_sum_equals_the_dot_product():
    from glmformula.families.ranges import weighted_sum

    rng = np.random.default_rng(2)
    w, v = rng.uniform(size=1001), rng.normal(size=1001)
    assert weighted_sum(w, v) == pytest.approx(float(np.dot(w, v)), rel=1e-13)
    assert weighted_sum(np.array([]), np.array([])) == 0.0
