"""Count distributions for zero-inflated and hurdle models, with log link derivatives.

Each distribution gives, for means mu = exp(eta) (and theta = exp(log_theta)
for the negative binomial):

* ``log_pmf(y, mu, theta)``        log P(Y = y)
* ``log_p0(mu, theta)``            log P(Y = 0)
* ``score_eta(y, mu, theta)``      d log P(Y = y) / d eta
* ``dlogp0_deta(mu, theta)``       d log P(Y = 0) / d eta
* ``score_log_theta``, ``dlogp0_dlog_theta``  derivatives in log(theta)

Poisson: log P(y) = y log mu - mu - log y!;  negative binomial (NB2):
log P(y) = lgamma(y + theta) - lgamma(theta) - log y! + theta log(theta / (theta + mu))
+ y log(mu / (theta + mu));  geometric: the negative binomial with theta = 1.
"""

from __future__ import annotations

import numpy as np
from scipy import special


class Poisson:
    name = "poisson"
    has_theta = False

    @staticmethod
    def log_pmf(y, mu, theta=None):
        return special.xlogy(y, mu) - mu - special.gammaln(y + 1)

    @staticmethod
    def log_p0(mu, theta=None):
        return -mu

    @staticmethod
    def score_eta(y, mu, theta=None):
        return y - mu

    @staticmethod
    def dlogp0_deta(mu, theta=None):
        return -mu


class NegBin:
    name = "negbin"
    has_theta = True

    @staticmethod
    def log_pmf(y, mu, theta):
        return (special.gammaln(y + theta) - special.gammaln(theta) - special.gammaln(y + 1)
                + theta * (np.log(theta) - np.log(theta + mu)) + special.xlogy(y, mu) - special.xlogy(y, theta + mu))

    @staticmethod
    def log_p0(mu, theta):
        return theta * (np.log(theta) - np.log(theta + mu))

    @staticmethod
    def score_eta(y, mu, theta):
        return theta * (y - mu) / (mu + theta)

    @staticmethod
    def dlogp0_deta(mu, theta):
        return -theta * mu / (mu + theta)

    @staticmethod
    def score_log_theta(y, mu, theta):
        return theta * (special.digamma(y + theta) - special.digamma(theta) + np.log(theta)
                        - np.log(theta + mu) + 1 - (y + theta) / (mu + theta))

    @staticmethod
    def dlogp0_dlog_theta(mu, theta):
        return theta * (np.log(theta) - np.log(theta + mu) + 1 - theta / (theta + mu))


class Geometric(NegBin):
    """The negative binomial with theta fixed at 1."""

    name = "geometric"
    has_theta = False


DISTRIBUTIONS = {"poisson": Poisson, "negbin": NegBin, "geometric": Geometric}


def get_distribution(name: str):
    from glmformula.exceptions import FamilyError

    try:
        return DISTRIBUTIONS[name]
    except KeyError:
        raise FamilyError(f"dist must be one of {', '.join(DISTRIBUTIONS)}; got {name!r}") from None
