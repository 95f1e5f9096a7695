"""The standard exponential-family distributions, with R's conventions.

Variance functions, unit deviances, starting values and log-likelihoods follow
R's ``stats::family`` objects (and MASS's ``negative.binomial``) so that
deviance, AIC and log-likelihood agree with ``glm`` exactly.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import special, stats

from glmformula import settings
from glmformula.exceptions import FamilyError, NonIntegerResponseWarning
from glmformula.families import log_link
from glmformula.families.base import Family, Response, log_or_zero, y_log_y_over_mu
from glmformula.families.links import Link
from glmformula.families.ranges import within

_BOUNDARY_EPS = 10 * np.finfo(float).eps


#: Rows per chunk of the integer check: its temporaries stay in cache (three of the data's length cost 20 ms at 1M).
_CHECK_CHUNK_ROWS = 1 << 16


def _warn_non_integer(values: np.ndarray, what: str) -> None:
    count = 0
    for start in range(0, len(values), _CHECK_CHUNK_ROWS):
        part = values[start:start + _CHECK_CHUNK_ROWS]
        distance = np.round(part)
        distance -= part
        count += int(np.count_nonzero(np.abs(distance, out=distance) > 1e-3))
    if count:
        warnings.warn(
            f"non-integer {what} in {count} row(s); the likelihood is evaluated "
            "with its continuous extension",
            NonIntegerResponseWarning,
            stacklevel=4,
        )


class Gaussian(Family):
    """Normal distribution: V(mu) = 1, d(y, mu) = (y - mu)^2."""

    name = "gaussian"
    variance_power = 0.0
    default_link = "identity"
    n_dispersion_params = 1

    def anscombe(self, x):
        return np.asarray(x, dtype=float)

    def variance(self, mu):
        return np.ones_like(mu, dtype=float)

    def unit_deviance(self, y, mu):
        return (y - mu) ** 2

    def initialize(self, y, weights):
        """Any real response; the starting means are y itself (R's ``mustart <- y``).

        With the log link and some y <= 0 (or the inverse link and some y == 0)
        those means are outside the link's domain; as in R this is not an error
        of the response: the fit refuses only when no ``start=`` is given (the
        IRLS check of the starting values says so).
        """
        y = self._as_vector(y)
        return Response(y, weights, np.ones_like(y), y.copy())

    def ml_dispersion(self, deviance, n_positive, sum_weights):
        return deviance / n_positive

    def loglik_obs(self, y, mu, weights, n_trials, deviance, dispersion=None):
        """log N(y; mu, sigma^2 / w) with sigma^2 = deviance / n, the ML variance (R's gaussian aic).

        A row of zero prior weight has infinite variance: its term is -Inf, as the -sum(log(w)) of R's
        ``gaussian()$aic`` makes R's logLik -Inf (and AIC, BIC Inf).
        """
        used = weights > 0
        variance = dispersion if dispersion is not None else self.ml_dispersion(deviance, np.count_nonzero(used), 0)
        with np.errstate(divide="ignore"):
            return -0.5 * (np.log(2 * np.pi * variance) - np.log(weights) + weights * (y - mu) ** 2 / variance)


class Binomial(Family):
    """Binomial proportions: V(mu) = mu (1 - mu).

    The response may be 0/1 (or bool), a proportion with the number of trials
    as prior weights, or two columns ``cbind(successes, failures)``; in that
    case y becomes successes / trials and the weights are multiplied by the
    trials, exactly as R's ``binomial()$initialize``.
    """

    name = "binomial"
    default_link = "logit"
    dispersion_fixed = True

    def anscombe(self, x):
        return special.betainc(2 / 3, 2 / 3, x) * special.beta(2 / 3, 2 / 3)

    def variance(self, mu):
        return mu * (1.0 - mu)

    def unit_deviance(self, y, mu):
        return 2.0 * (y_log_y_over_mu(y, mu) + y_log_y_over_mu(1.0 - y, 1.0 - mu))

    def valid_mu(self, mu):
        return within(mu, 0.0, 1.0)

    def initialize(self, y, weights):
        y = np.asarray(y, dtype=float)
        if y.ndim == 2 and y.shape[1] == 2:
            self._refuse(np.any(y < 0, axis=1), "negative counts in cbind(successes, failures)")
            if self.dispersion_fixed:
                _warn_non_integer(y, "counts in a binomial fit")
            n_trials = y[:, 0] + y[:, 1]
            with np.errstate(invalid="ignore", divide="ignore"):
                proportion = np.where(n_trials == 0, 0.0, y[:, 0] / np.where(n_trials == 0, 1, n_trials))
            mustart = (n_trials * proportion + 0.5) / (n_trials + 1.0)
            return Response(proportion, weights * n_trials, n_trials, mustart)
        y = self._as_vector(y)
        y = np.where(weights == 0, 0.0, y)
        self._refuse((y < 0) | (y > 1), "outside [0, 1] (use cbind(successes, failures) for counts)")
        if self.dispersion_fixed:
            _warn_non_integer(weights * y, "numbers of successes (weights * y) in a binomial fit")
        mustart = (weights * y + 0.5) / (weights + 1.0)
        return Response(y, weights, np.ones_like(y), mustart)

    def boundary_message(self, mu):
        count = int(np.count_nonzero((mu > 1 - _BOUNDARY_EPS) | (mu < _BOUNDARY_EPS)))
        if not count:
            return None
        return (
            f"fitted probabilities numerically 0 or 1 occurred in {count} row(s): the data may be "
            "(quasi-)separated, and estimates and standard errors of the separating terms are not reliable"
        )

    def loglik_obs(self, y, mu, weights, n_trials, deviance, dispersion=None):
        m = n_trials if np.any(n_trials > 1) else weights
        with np.errstate(divide="ignore", invalid="ignore"):
            factor = np.where(m > 0, weights / np.where(m > 0, m, 1.0), 0.0)
            successes, trials = np.round(m * y), np.round(m)
            logpmf = (
                special.gammaln(trials + 1)
                - special.gammaln(successes + 1)
                - special.gammaln(trials - successes + 1)
                + special.xlogy(successes, mu)
                + special.xlog1py(trials - successes, -mu)
            )
        return np.where(m > 0, factor * logpmf, 0.0)


class _QuasiLikelihood:
    """Mixin turning a family into its quasi version: free dispersion, no likelihood."""

    dispersion_fixed = False

    def loglik_obs(self, y, mu, weights, n_trials, deviance, dispersion=None):
        return np.full(np.shape(y), np.nan)


class QuasiBinomial(_QuasiLikelihood, Binomial):
    """Binomial variance with a free dispersion parameter; no likelihood."""

    name = "quasibinomial"


class _LogLinkPasses:
    """The one-pass IRLS work of ``log_link`` and of the fused step, for Poisson (variance_power 1) and
    gamma (2) fits under the log link; other links take the generic path."""

    def _log_response(self, y):
        """log(y) as the unit deviance reads it."""
        raise NotImplementedError

    def deviance_function(self, y, weights, log_y=None):
        """Under the log link: log mu = eta, and log y given, or taken by the pass (see ``log_link``)."""
        if self.link.name != "log":
            return super().deviance_function(y, weights)
        return log_link.deviance_function(int(self.variance_power), y, log_y, weights, self._log_response)

    def working_function(self, y, prior_weights, offset):
        if self.link.name != "log":
            return None
        return log_link.working_function(int(self.variance_power), y, prior_weights, offset)

    def log_step_response(self, y):
        """(p, log y) under the log link while ``glmformula.settings`` allow the fused step (``kernels``,
        ``design_kernels`` and ``fused_log_step``), else None: the generic path takes every step.  log y is
        None when the compiled passes take it row by row themselves (``log_link.logs_in_pass``): a fit then
        keeps no array of it (a third of a poisson frame of a few columns)."""
        current = settings.current()
        if self.link.name != "log" or not (current.kernels and current.design_kernels and current.fused_log_step):
            return None
        log_y = None if log_link.logs_in_pass(y) else self._log_response(y)
        return log_link.LogVariance(int(self.variance_power)), log_y


class Poisson(_LogLinkPasses, Family):
    """Poisson counts: V(mu) = mu, d(y, mu) = 2 (y log(y/mu) - (y - mu))."""

    name = "poisson"
    variance_power = 1.0
    default_link = "log"
    dispersion_fixed = True

    def anscombe(self, x):
        return 1.5 * np.asarray(x, dtype=float) ** (2 / 3)

    def variance(self, mu):
        return np.asarray(mu, dtype=float)

    def unit_deviance(self, y, mu):
        return 2.0 * (y_log_y_over_mu(y, mu) - (y - mu))

    def _log_response(self, y):
        return log_or_zero(y)

    def valid_mu(self, mu):
        return within(mu, 0.0)

    def initialize(self, y, weights):
        y = self._as_vector(y)
        self._refuse(y < 0, "negative (counts must be >= 0)")
        if self.dispersion_fixed:
            _warn_non_integer(y, "counts in a poisson fit")
        return Response(y, weights, np.ones_like(y), y + 0.1)

    def boundary_message(self, mu):
        count = int(np.count_nonzero(mu < _BOUNDARY_EPS))
        return f"fitted rates numerically 0 occurred in {count} row(s)" if count else None

    def loglik_obs(self, y, mu, weights, n_trials, deviance, dispersion=None):
        return weights * (special.xlogy(y, mu) - mu - special.gammaln(y + 1.0))


class QuasiPoisson(_QuasiLikelihood, Poisson):
    """Poisson variance with a free dispersion parameter; no likelihood."""

    name = "quasipoisson"


class Gamma(_LogLinkPasses, Family):
    """Gamma: V(mu) = mu^2, d(y, mu) = -2 (log(y/mu) - (y - mu)/mu)."""

    name = "gamma"
    variance_power = 2.0
    default_link = "inverse"
    n_dispersion_params = 1

    def anscombe(self, x):
        return 3.0 * np.asarray(x, dtype=float) ** (1 / 3)

    def variance(self, mu):
        return np.asarray(mu, dtype=float) ** 2

    def unit_deviance(self, y, mu):
        ratio = np.asarray(y / mu, dtype=float)  # -2 (log r - (r - 1)) with r = y / mu; log 0 taken as 0, as R
        deviance = np.log(ratio, out=np.zeros_like(ratio), where=ratio != 0)
        np.subtract(ratio, deviance, out=deviance)
        deviance -= 1.0
        deviance *= 2.0
        return deviance

    def _log_response(self, y):
        return np.log(y)  # y > 0: initialize refuses the rest

    def valid_mu(self, mu):
        return within(mu, 0.0)

    def initialize(self, y, weights):
        y = self._as_vector(y)
        self._refuse(y <= 0, "non-positive (the gamma family needs y > 0)")
        return Response(y, weights, np.ones_like(y), y.copy())

    def ml_dispersion(self, deviance, n_positive, sum_weights):
        return deviance / sum_weights

    def loglik_obs(self, y, mu, weights, n_trials, deviance, dispersion=None):
        if dispersion is None:
            dispersion = self.ml_dispersion(deviance, 0, np.sum(weights))
        return weights * stats.gamma.logpdf(y, a=1.0 / dispersion, scale=mu * dispersion)


class InverseGaussian(Family):
    """Inverse Gaussian: V(mu) = mu^3, d(y, mu) = (y - mu)^2 / (y mu^2)."""

    name = "inverse_gaussian"
    variance_power = 3.0
    default_link = "inverse_squared"
    n_dispersion_params = 1

    def anscombe(self, x):
        return np.log(x)

    def variance(self, mu):
        return np.asarray(mu, dtype=float) ** 3

    def unit_deviance(self, y, mu):
        return (y - mu) ** 2 / (y * mu**2)

    def initialize(self, y, weights):
        y = self._as_vector(y)
        self._refuse(y <= 0, "non-positive (the inverse Gaussian family needs y > 0)")
        return Response(y, weights, np.ones_like(y), y.copy())

    def ml_dispersion(self, deviance, n_positive, sum_weights):
        return deviance / sum_weights

    def loglik_obs(self, y, mu, weights, n_trials, deviance, dispersion=None):
        """R's inverse.gaussian aic, row by row (the squared-residual term replaced by its mean, 1)."""
        if dispersion is None:
            dispersion = self.ml_dispersion(deviance, 0, np.sum(weights))
        return -0.5 * weights * (np.log(dispersion * 2 * np.pi) + 1 + 3 * np.log(y))


class NegativeBinomial(Family):
    """Negative binomial with known theta: V(mu) = mu + mu^2 / theta.

    d(y, mu) = 2 (y log(max(y, 1)/mu) - (y + theta) log((y + theta)/(mu + theta))),
    as MASS's ``negative.binomial(theta)``.  The dispersion is fixed at 1.
    """

    name = "negative_binomial"
    default_link = "log"
    dispersion_fixed = True

    def __init__(self, link: str | Link | None = None, theta: float | None = None):
        super().__init__(link)
        if theta is not None:
            try:
                theta = float(theta)
            except (TypeError, ValueError):
                raise FamilyError(f"negative_binomial needs a numeric theta, got {theta!r}") from None
            if np.isnan(theta) or theta <= 0:
                raise FamilyError(f"negative_binomial needs theta > 0, got {theta!r}")
        self.theta = theta

    def _theta(self) -> float:
        if self.theta is None:
            raise FamilyError(
                "negative_binomial without theta: pass theta=... (e.g. "
                "gf.family('negative_binomial', theta=2))"
            )
        return self.theta

    def anscombe(self, x):
        x = np.asarray(x, dtype=float)
        return 1.5 * x ** (2 / 3) * special.hyp2f1(1 / 3, 2 / 3, 5 / 3, -x / self._theta())

    def variance(self, mu):
        return mu + mu**2 / self._theta()

    def unit_deviance(self, y, mu):
        theta = self._theta()
        if np.isinf(theta):  # the Poisson limit
            return Poisson.unit_deviance(self, y, mu)
        with np.errstate(divide="ignore"):
            return 2.0 * (
                special.xlogy(y, np.maximum(y, 1.0) / mu) - (y + theta) * np.log((y + theta) / (mu + theta))
            )

    def valid_mu(self, mu):
        return within(mu, 0.0)

    def _log_passes(self) -> bool:
        """Whether the compiled log-link passes serve this family: the log link and theta finite."""
        return self.link.name == "log" and self.theta is not None and bool(np.isfinite(self.theta))

    def deviance_function(self, y, weights, log_y=None):
        """Under the log link: log y once and log mu = eta (see ``log_link``)."""
        if not self._log_passes():
            return super().deviance_function(y, weights)
        return log_link.nb_deviance_function(self.theta, y, log_y, weights)

    def working_function(self, y, prior_weights, offset):
        return log_link.nb_working_function(self.theta, y, prior_weights, offset) if self._log_passes() else None

    def log_step_response(self, y):
        """(mu + mu^2 / theta, None: the step sums y log y itself) under the log link while
        ``glmformula.settings`` allow the fused step (``kernels``, ``log_link_kernels`` and ``fused_log_step``),
        else None."""
        current = settings.current()
        if not (self._log_passes() and current.kernels and current.log_link_kernels and current.fused_log_step):
            return None
        return log_link.LogVariance(1, self.theta), None

    def initialize(self, y, weights):
        y = self._as_vector(y)
        self._refuse(y < 0, "negative (counts must be >= 0)")
        _warn_non_integer(y, "counts in a negative binomial fit")
        return Response(y, weights, np.ones_like(y), y + (y == 0) / 6.0)

    def loglik_obs(self, y, mu, weights, n_trials, deviance, dispersion=None):
        theta = self._theta()
        if np.isinf(theta):
            return Poisson.loglik_obs(self, y, mu, weights, n_trials, deviance, dispersion)
        logpmf = (
            special.gammaln(theta + y)
            - special.gammaln(theta)
            - special.gammaln(y + 1)
            + theta * np.log(theta)
            + special.xlogy(y, mu)
            - (theta + y) * np.log(theta + mu)
        )
        return weights * logpmf

    def __repr__(self) -> str:
        return f"NegativeBinomial(link={self.link!r}, theta={self.theta!r})"

    def __str__(self) -> str:
        return self.name if self.theta is None else f"{self.name}(theta={self.theta:.6g})"


class Tweedie(Family):
    """Tweedie with variance power p: V(mu) = mu^p (p <= 0 or p >= 1).

    d(y, mu) = 2 (y^{2-p}/((1-p)(2-p)) - y mu^{1-p}/(1-p) + mu^{2-p}/(2-p)),
    with the Poisson (p = 1) and gamma (p = 2) limits.  The density has no
    closed form, so the log-likelihood (and AIC) is NaN; the dispersion is
    estimated.  The default link is log.
    """

    name = "tweedie"
    default_link = "log"

    def __init__(self, link: str | Link | None = None, var_power: float = 1.5):
        super().__init__(link)
        try:
            var_power = float(var_power)
        except (TypeError, ValueError):
            raise FamilyError(f"tweedie needs a numeric var_power, got {var_power!r}") from None
        if not np.isfinite(var_power) or 0 < var_power < 1:
            raise FamilyError(f"tweedie var_power must be <= 0 or >= 1, got {var_power!r}")
        self.var_power = self.variance_power = var_power

    def anscombe(self, x):
        exponent = 1 - self.var_power / 3
        x = np.asarray(x, dtype=float)
        return np.log(x) if exponent == 0 else x**exponent / exponent

    def variance(self, mu):
        return np.asarray(mu, dtype=float) ** self.var_power

    def unit_deviance(self, y, mu):
        p = self.var_power
        if p == 0:
            return (y - mu) ** 2
        if p == 1:
            return 2.0 * (y_log_y_over_mu(y, mu) - (y - mu))
        if p == 2:
            return 2.0 * ((y - mu) / mu - np.log(y / mu))
        y_pos = np.maximum(y, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            cross = np.where(y == 0, 0.0, y * mu ** (1 - p))
        return 2.0 * (y_pos ** (2 - p) / ((1 - p) * (2 - p)) - cross / (1 - p) + mu ** (2 - p) / (2 - p))

    def valid_mu(self, mu):
        return within(mu, 0.0)

    def initialize(self, y, weights):
        y = self._as_vector(y)
        if self.var_power >= 2:
            self._refuse(y <= 0, f"non-positive (tweedie with var_power {self.var_power:g} needs y > 0)")
        elif self.var_power >= 1:
            self._refuse(y < 0, f"negative (tweedie with var_power {self.var_power:g} needs y >= 0)")
        return Response(y, weights, np.ones_like(y), y + 0.1 * (y == 0))

    def __repr__(self) -> str:
        return f"Tweedie(link={self.link!r}, var_power={self.var_power:g})"

    def __str__(self) -> str:
        return f"tweedie(var_power={self.var_power:g})"


_QUASI_VARIANCES = ("constant", "mu", "mu^2", "mu^3", "mu(1-mu)")


class Quasi(Family):
    """R's ``quasi(link, variance)``: a variance function and its deviance, no likelihood."""

    name = "quasi"
    default_link = "identity"

    def __init__(self, link: str | Link | None = None, variance: str = "constant"):
        super().__init__(link)
        normalised = str(variance).replace(" ", "")
        if normalised not in _QUASI_VARIANCES:
            raise FamilyError(
                f"quasi variance {variance!r} is not known; choose one of {', '.join(_QUASI_VARIANCES)}"
            )
        self.variance_name = normalised

    def variance(self, mu):
        mu = np.asarray(mu, dtype=float)
        return {
            "constant": lambda: np.ones_like(mu),
            "mu": lambda: mu,
            "mu^2": lambda: mu**2,
            "mu^3": lambda: mu**3,
            "mu(1-mu)": lambda: mu * (1 - mu),
        }[self.variance_name]()

    def unit_deviance(self, y, mu):
        kind = self.variance_name
        if kind == "constant":
            return (y - mu) ** 2
        if kind == "mu":
            return Poisson.unit_deviance(self, y, mu)
        if kind == "mu^2":
            with np.errstate(divide="ignore"):
                log_ratio = np.log(np.where(y == 0, 1.0, y) / mu)
            return np.maximum(-2.0 * (log_ratio - (y - mu) / mu), 0.0)
        if kind == "mu^3":
            return (y - mu) ** 2 / (y * mu**2)
        return Binomial.unit_deviance(self, y, mu)

    def valid_mu(self, mu):
        finite = bool(np.all(np.isfinite(mu)))
        if self.variance_name == "constant":
            return finite
        if self.variance_name == "mu(1-mu)":
            return finite and bool(np.all((mu > 0) & (mu < 1)))
        return finite and bool(np.all(mu > 0))

    def initialize(self, y, weights):
        y = self._as_vector(y)
        if self.variance_name == "constant":
            mustart = y.copy()
        elif self.variance_name == "mu(1-mu)":
            mustart = np.clip(y, 0.001, 0.999)
        else:
            mustart = y + 0.1 * (y == 0)
        return Response(y, weights, np.ones_like(y), mustart)

    def __repr__(self) -> str:
        return f"Quasi(link={self.link!r}, variance={self.variance_name!r})"

    def __str__(self) -> str:
        return f"quasi(variance='{self.variance_name}')"

