"""Count distributions for zero-inflated and hurdle models, with log link derivatives.

Each distribution gives, for means mu = exp(eta) (and theta = exp(tau), tau = log theta, for the
negative binomial):

* ``log_pmf(y, mu, theta)``        log f(y) = log P(Y = y)
* ``log_p0(mu, theta)``            L0 = log P(Y = 0)
* ``score_eta``, ``hess_eta``      d log f / d eta, d^2 log f / d eta^2
* ``dlogp0_deta``, ``d2logp0_deta2``   the same derivatives of L0
* with theta: ``score_log_theta``, ``hess_eta_log_theta``, ``hess_log_theta`` (d/d tau, d^2/d eta d tau,
  d^2/d tau^2 of log f) and ``dlogp0_dlog_theta``, ``d2logp0_deta_dlog_theta``, ``d2logp0_dlog_theta2``

Poisson: log f = y log mu - mu - log y!, so d/d eta = y - mu and d^2/d eta^2 = -mu (L0 = -mu).

Negative binomial (NB2): log f = lgamma(y + theta) - lgamma(theta) - log y! + theta log(theta / (theta + mu))
+ y log(mu / (theta + mu)), with

    d/d eta          = theta (y - mu) / (mu + theta)
    d^2/d eta^2      = -theta mu (theta + y) / (mu + theta)^2
    d/d tau          = theta g,
                       g = psi(y + theta) - psi(theta) + log(theta / (theta + mu)) + 1 - (y + theta) / (mu + theta)
    d^2/d eta d tau  = theta mu (y - mu) / (mu + theta)^2
    d^2/d tau^2      = theta g + theta^2 g',  g' = psi1(y + theta) - psi1(theta) + 1/theta - 1/(theta + mu)
                                                   - (mu - y) / (mu + theta)^2

(the differences lgamma(y + theta) - lgamma(theta), psi(y + theta) - psi(theta) and psi1(y + theta) -
psi1(theta) of whole y are sums over k < y of log(theta + k), 1 / (theta + k), -1 / (theta + k)^2,
taken from a table of partial sums for one theta)

and L0 and its derivatives are these at y = 0.  The geometric is the negative binomial with theta = 1.
"""

from __future__ import annotations

import numpy as np
from scipy import special

#: Counts up to this size take the sums below from tables of partial sums.
_TABLE_MAX_COUNT = 1_000_000


def _whole_counts(y) -> np.ndarray | None:
    """y as integers when every value is a whole number in [0, _TABLE_MAX_COUNT], else None."""
    y = np.asarray(y)
    if y.size == 0 or y.min() < 0 or y.max() > _TABLE_MAX_COUNT:
        return None
    counts = y.astype(np.intp)
    return counts if np.array_equal(counts, y) else None


def _partial_sums(counts: np.ndarray, terms) -> np.ndarray:
    """sum_{k=0}^{y-1} terms(k) for each count y, from one cumulative sum up to max(y)."""
    table = np.concatenate([[0.0], np.cumsum(terms(np.arange(int(counts.max()), dtype=float)))])
    return table[counts]


def lgamma_difference(y, theta):
    """lgamma(y + theta) - lgamma(theta) = sum_{k<y} log(theta + k) for whole y (a table), else scipy."""
    counts = _whole_counts(y) if np.ndim(theta) == 0 else None
    if counts is None:
        return special.gammaln(y + theta) - special.gammaln(theta)
    return _partial_sums(counts, lambda k: np.log(theta + k))


def digamma_difference(y, theta):
    """psi(y + theta) - psi(theta) = sum_{k<y} 1 / (theta + k) for whole y (a table), else scipy."""
    counts = _whole_counts(y) if np.ndim(theta) == 0 else None
    if counts is None:
        return special.digamma(y + theta) - special.digamma(theta)
    return _partial_sums(counts, lambda k: 1.0 / (theta + k))


def trigamma_difference(y, theta):
    """psi1(y + theta) - psi1(theta) = -sum_{k<y} (theta + k)^-2 for whole y (a table; scipy's
    ``polygamma(1, .)`` costs ~1 us a row), else scipy."""
    counts = _whole_counts(y) if np.ndim(theta) == 0 else None
    if counts is None:
        return special.polygamma(1, y + theta) - special.polygamma(1, theta)
    return -_partial_sums(counts, lambda k: 1.0 / (theta + k) ** 2)


class Poisson:
    name = "poisson"
    has_theta = False

    @staticmethod
    def log_pmf(y, mu, theta=None):
        return special.xlogy(y, mu) - mu - lgamma_difference(y, 1.0)

    @staticmethod
    def log_p0(mu, theta=None):
        return -mu

    @staticmethod
    def score_eta(y, mu, theta=None):
        return y - mu

    @staticmethod
    def hess_eta(y, mu, theta=None):
        return -mu

    @staticmethod
    def dlogp0_deta(mu, theta=None):
        return -mu

    @staticmethod
    def d2logp0_deta2(mu, theta=None):
        return -mu

    @staticmethod
    def derivatives(y, mu, theta, order: int) -> dict:
        """log f(y) and its derivatives up to ``order``, keyed loglik, s0, h00 (``row_models``)."""
        out = {"loglik": special.xlogy(y, mu) - mu - lgamma_difference(y, 1.0)}
        if order >= 1:
            out["s0"] = y - mu
        if order >= 2:
            out["h00"] = -mu
        return out

    @staticmethod
    def zero_derivatives(mu, theta, order: int) -> dict:
        """L0 = log f(0) and its derivatives up to ``order`` (keys as ``derivatives``)."""
        out = {"loglik": -mu}
        if order >= 1:
            out["s0"] = -mu
        if order >= 2:
            out["h00"] = -mu
        return out


class NegBin:
    name = "negbin"
    has_theta = True

    @staticmethod
    def log_pmf(y, mu, theta):
        log_total = np.log(theta + mu)
        return (lgamma_difference(y, theta) - lgamma_difference(y, 1.0) + theta * np.log(theta)
                + special.xlogy(y, mu) - (theta + y) * log_total)

    @staticmethod
    def log_p0(mu, theta):
        return theta * (np.log(theta) - np.log(theta + mu))

    @staticmethod
    def score_eta(y, mu, theta):
        return theta * (y - mu) / (mu + theta)

    @staticmethod
    def hess_eta(y, mu, theta):
        return -theta * mu * (theta + y) / (mu + theta) ** 2

    @staticmethod
    def dlogp0_deta(mu, theta):
        return -theta * mu / (mu + theta)

    @staticmethod
    def d2logp0_deta2(mu, theta):
        return -(theta**2) * mu / (mu + theta) ** 2

    @staticmethod
    def score_log_theta(y, mu, theta):
        return theta * (digamma_difference(y, theta) + np.log(theta)
                        - np.log(theta + mu) + 1 - (y + theta) / (mu + theta))

    @staticmethod
    def hess_eta_log_theta(y, mu, theta):
        return theta * mu * (y - mu) / (mu + theta) ** 2

    @staticmethod
    def hess_log_theta(y, mu, theta, score=None):
        """d^2 log f / d tau^2; ``score`` is d log f / d tau when the caller has it."""
        slope = (trigamma_difference(y, theta) + 1 / theta - 1 / (theta + mu)
                 - (mu - y) / (mu + theta) ** 2)
        return (NegBin.score_log_theta(y, mu, theta) if score is None else score) + theta**2 * slope

    @staticmethod
    def dlogp0_dlog_theta(mu, theta):
        return theta * (np.log(theta) - np.log(theta + mu) + 1 - theta / (theta + mu))

    @staticmethod
    def d2logp0_deta_dlog_theta(mu, theta):
        return -theta * mu**2 / (mu + theta) ** 2

    @staticmethod
    def d2logp0_dlog_theta2(mu, theta):
        return NegBin.dlogp0_dlog_theta(mu, theta) + theta * mu**2 / (mu + theta) ** 2


    @classmethod
    def derivatives(cls, y, mu, theta, order: int) -> dict:
        """log f(y) and its derivatives up to ``order`` with shared terms computed once, keyed loglik, s0,
        h00 and, for a free theta, st, h0t, htt (``row_models``)."""
        inverse = 1.0 / (mu + theta)
        log_total = np.log(mu + theta)
        log_theta = np.log(theta)
        out = {"loglik": (lgamma_difference(y, theta) - lgamma_difference(y, 1.0) + theta * log_theta
                          + special.xlogy(y, mu) - (theta + y) * log_total)}
        if order >= 1:
            out["s0"] = theta * (y - mu) * inverse
            if cls.has_theta:
                out["st"] = theta * (digamma_difference(y, theta) + log_theta - log_total + 1 - (y + theta) * inverse)
        if order >= 2:
            inverse2 = inverse**2
            out["h00"] = -theta * mu * (theta + y) * inverse2
            if cls.has_theta:
                out["h0t"] = theta * mu * (y - mu) * inverse2
                slope = trigamma_difference(y, theta) + 1 / theta - inverse - (mu - y) * inverse2
                out["htt"] = out["st"] + theta**2 * slope
        return out

    @classmethod
    def zero_derivatives(cls, mu, theta, order: int) -> dict:
        """L0 = log f(0) and its derivatives up to ``order`` (keys as ``derivatives``)."""
        inverse = 1.0 / (mu + theta)
        log_ratio = np.log(theta) - np.log(mu + theta)
        out = {"loglik": theta * log_ratio}
        if order >= 1:
            out["s0"] = -theta * mu * inverse
            if cls.has_theta:
                out["st"] = theta * (log_ratio + mu * inverse)
        if order >= 2:
            mu_inverse2 = mu * inverse**2
            out["h00"] = -(theta**2) * mu_inverse2
            if cls.has_theta:
                out["h0t"] = -theta * mu * mu_inverse2
                out["htt"] = out["st"] + theta * mu * mu_inverse2
        return out


class Geometric(NegBin):
    """The negative binomial with theta fixed at 1."""

    name = "geometric"
    has_theta = False


DISTRIBUTIONS = {"poisson": Poisson, "negbin": NegBin, "geometric": Geometric}


def get_distribution(name: str):
    """The distribution class of ``name`` (poisson, negbin or geometric)."""
    from glmformula.exceptions import FamilyError

    try:
        return DISTRIBUTIONS[name]
    except KeyError:
        raise FamilyError(f"dist must be one of {', '.join(DISTRIBUTIONS)}; got {name!r}") from None
