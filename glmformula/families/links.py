"""Link functions g(mu) = eta, with inverse and derivative d mu / d eta.

Each link is a small object with three vectorised methods and a validity check
on eta, mirroring R's ``make.link``: ``link`` (g), ``inverse`` (g^{-1}),
``mu_eta`` (d mu / d eta) and ``valid_eta``.  The numerical guards (clamping the
inverse away from 0 and 1, flooring the derivative at machine epsilon) are R's,
so that fits agree with ``glm`` to the last digits.
"""

from __future__ import annotations

import numpy as np
from scipy import special, stats

from glmformula.families.ranges import within

EPS = np.finfo(float).eps
_LOGIT_THRESHOLD = 30.0
_PROBIT_THRESHOLD = -stats.norm.ppf(EPS)
_CAUCHIT_THRESHOLD = -stats.cauchy.ppf(EPS)


class Link:
    """Base class: subclasses implement ``link``, ``inverse`` and ``mu_eta``."""

    name: str = "link"

    def link(self, mu: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def inverse(self, eta: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def mu_eta(self, eta: np.ndarray) -> np.ndarray:
        """Derivative d mu / d eta of the inverse link."""
        raise NotImplementedError

    def inverse_into(self, eta: np.ndarray, out: np.ndarray) -> np.ndarray:
        """``inverse(eta)`` written into ``out`` (IRLS reuses one buffer across iterations)."""
        out[...] = self.inverse(eta)
        return out

    def valid_eta(self, eta: np.ndarray) -> bool:
        return within(eta)

    def mu_eta_at(self, eta: np.ndarray, mu: np.ndarray) -> np.ndarray:
        """d mu / d eta when mu = inverse(eta) is already known (links may reuse it)."""
        return self.mu_eta(eta)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.__dict__ == other.__dict__

    def __hash__(self) -> int:
        return hash((type(self), tuple(sorted(self.__dict__.items()))))


class Identity(Link):
    name = "identity"

    def link(self, mu):
        return np.asarray(mu, dtype=float)

    def inverse(self, eta):
        return np.asarray(eta, dtype=float)

    def inverse_into(self, eta, out):
        np.copyto(out, eta)
        return out

    def mu_eta(self, eta):
        return np.ones_like(eta, dtype=float)


class Log(Link):
    """eta = log(mu); the inverse is floored at machine epsilon as in R."""

    name = "log"

    def link(self, mu):
        return np.log(mu)

    def inverse(self, eta):
        mu = np.exp(eta)
        return np.maximum(mu, EPS, out=mu) if isinstance(mu, np.ndarray) else np.maximum(mu, EPS)

    def inverse_into(self, eta, out):
        np.exp(eta, out=out)
        return np.maximum(out, EPS, out=out)

    def mu_eta(self, eta):
        return self.inverse(eta)

    def mu_eta_at(self, eta, mu):
        return mu  # exp(eta) floored at eps, exactly the inverse


class Logit(Link):
    """eta = log(mu / (1 - mu)); exp(eta) is clamped to [eps, 1/eps] as in R."""

    name = "logit"

    def link(self, mu):
        return special.logit(mu)

    def inverse(self, eta):
        eta = np.asarray(eta, dtype=float)
        expeta = np.exp(np.clip(eta, -_LOGIT_THRESHOLD, _LOGIT_THRESHOLD))
        expeta = np.where(eta < -_LOGIT_THRESHOLD, EPS, expeta)
        expeta = np.where(eta > _LOGIT_THRESHOLD, 1.0 / EPS, expeta)
        return expeta / (1.0 + expeta)

    def mu_eta(self, eta):
        eta = np.asarray(eta, dtype=float)
        expeta = np.exp(np.clip(eta, -_LOGIT_THRESHOLD, _LOGIT_THRESHOLD))
        out = expeta / (1.0 + expeta) ** 2
        return np.where(np.abs(eta) > _LOGIT_THRESHOLD, EPS, out)


class Probit(Link):
    """eta = Phi^{-1}(mu), the standard normal quantile."""

    name = "probit"

    def link(self, mu):
        return special.ndtri(mu)

    def inverse(self, eta):
        return special.ndtr(np.clip(eta, -_PROBIT_THRESHOLD, _PROBIT_THRESHOLD))

    def mu_eta(self, eta):
        return np.maximum(stats.norm.pdf(eta), EPS)


class Cauchit(Link):
    """eta = tan(pi (mu - 1/2)), the standard Cauchy quantile."""

    name = "cauchit"

    def link(self, mu):
        return stats.cauchy.ppf(mu)

    def inverse(self, eta):
        return stats.cauchy.cdf(np.clip(eta, -_CAUCHIT_THRESHOLD, _CAUCHIT_THRESHOLD))

    def mu_eta(self, eta):
        return np.maximum(stats.cauchy.pdf(eta), EPS)


class CLogLog(Link):
    """eta = log(-log(1 - mu)), the complementary log-log link."""

    name = "cloglog"

    def link(self, mu):
        return np.log(-np.log1p(-np.asarray(mu, dtype=float)))

    def inverse(self, eta):
        mu = -np.expm1(-np.exp(eta))
        return np.clip(mu, EPS, 1.0 - EPS)

    def mu_eta(self, eta):
        eta = np.minimum(eta, 700.0)
        return np.maximum(np.exp(eta) * np.exp(-np.exp(eta)), EPS)


class LogLog(Link):
    """eta = -log(-log(mu)), the log-log link (mirror image of cloglog)."""

    name = "loglog"

    def link(self, mu):
        return -np.log(-np.log(mu))

    def inverse(self, eta):
        mu = np.exp(-np.exp(-np.asarray(eta, dtype=float)))
        return np.clip(mu, EPS, 1.0 - EPS)

    def mu_eta(self, eta):
        eta = np.maximum(eta, -700.0)
        return np.maximum(np.exp(-eta) * np.exp(-np.exp(-eta)), EPS)


class Inverse(Link):
    """eta = 1 / mu, canonical for the gamma family."""

    name = "inverse"

    def link(self, mu):
        return 1.0 / np.asarray(mu, dtype=float)

    def inverse(self, eta):
        return 1.0 / np.asarray(eta, dtype=float)

    def mu_eta(self, eta):
        return -1.0 / np.asarray(eta, dtype=float) ** 2

    def valid_eta(self, eta):
        return bool(np.all(np.isfinite(eta)) and np.all(eta != 0))


class InverseSquared(Link):
    """eta = 1 / mu^2, canonical for the inverse Gaussian family (R's "1/mu^2")."""

    name = "inverse_squared"

    def link(self, mu):
        return 1.0 / np.asarray(mu, dtype=float) ** 2

    def inverse(self, eta):
        return 1.0 / np.sqrt(eta)

    def mu_eta(self, eta):
        return -1.0 / (2.0 * np.asarray(eta, dtype=float) ** 1.5)

    def valid_eta(self, eta):
        return within(eta, 0.0)


class Sqrt(Link):
    name = "sqrt"

    def link(self, mu):
        return np.sqrt(mu)

    def inverse(self, eta):
        return np.asarray(eta, dtype=float) ** 2

    def mu_eta(self, eta):
        return 2.0 * np.asarray(eta, dtype=float)

    def valid_eta(self, eta):
        return within(eta, 0.0)


class Power(Link):
    """eta = mu^p (R's ``power(lambda)``); p = 0 is the log link, p = 1 identity."""

    def __init__(self, power: float = 1.0):
        try:
            power = float(power)
        except (TypeError, ValueError):
            from glmformula.exceptions import FamilyError

            raise FamilyError(f"power link needs a number, got {power!r}") from None
        if not np.isfinite(power):
            raise ValueError(f"power link needs a finite exponent, got {power!r}")
        self.power = power

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"power({self.power:g})"

    def link(self, mu):
        return np.asarray(mu, dtype=float) ** self.power

    def inverse(self, eta):
        return np.maximum(np.asarray(eta, dtype=float) ** (1.0 / self.power), EPS)

    def mu_eta(self, eta):
        p = self.power
        return np.maximum((1.0 / p) * np.asarray(eta, dtype=float) ** (1.0 / p - 1.0), EPS)

    def valid_eta(self, eta):
        return within(eta, 0.0)

    def __repr__(self) -> str:
        return f"Power({self.power:g})"


def power(p: float = 1.0) -> Link:
    """R's ``power(lambda)``: ``log`` for p = 0, ``identity`` for p = 1."""
    try:
        p = float(p)
    except (TypeError, ValueError):
        from glmformula.exceptions import FamilyError

        raise FamilyError(f"power link needs a number, got {p!r}") from None
    if p == 0.0:
        return Log()
    if p == 1.0:
        return Identity()
    return Power(p)
