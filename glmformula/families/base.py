"""The ``Family`` contract: everything the IRLS loop needs to know about a
distribution, so that the loop never asks which family it is fitting.

A family *holds* a link (composition).  It owns

* ``variance(mu)``              V(mu) in Var(Y) = phi V(mu) / w
* ``unit_deviance(y, mu)``      d(y, mu); the deviance is sum(w d(y, mu))
* ``initialize(y, weights)``    R's ``initialize``: checks the response and
                                returns it with the starting mu (``mustart``)
* ``valid_mu(mu)``              R's ``validmu``, used by step-halving
* ``loglik(...)``               the log-likelihood behind R's ``family$aic``

and declares whether its dispersion is fixed at 1 (``dispersion_fixed``) and
how many dispersion parameters AIC counts (``n_dispersion_params``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy import special

from glmformula import settings
from glmformula.exceptions import ResponseError
from glmformula.families.link_registry import get_link
from glmformula.families.links import Link
from glmformula.families.ranges import weighted_sum, within

if TYPE_CHECKING:
    from glmformula.families.log_link import LogVariance


@dataclass(frozen=True)
class Response:
    """The response as the family sees it after R's ``initialize`` step.

    Attributes
    ----------
    y : (n,) float array; proportions for binomial families.
    prior_weights : (n,) float array; for ``cbind`` responses multiplied by
        the number of trials, as R does.
    n_trials : (n,) float array of binomial totals (ones for other families).
    mustart : (n,) float array of starting fitted means.
    """

    y: np.ndarray
    prior_weights: np.ndarray
    n_trials: np.ndarray
    mustart: np.ndarray


_TINY = np.finfo(float).tiny
_LOG_EPS = float(np.log(np.finfo(float).eps))


#: Rows per chunk of elementwise work over the data: temporaries of a chunk stay in cache.
def chunk_rows() -> int:
    """Rows per chunk of the families' elementwise work (``settings.elementwise_chunk_rows``)."""
    return settings.current().elementwise_chunk_rows


def chunks(n: int, size: int | None = None):
    """Slices of ``size`` rows (default ``chunk_rows()``) covering range(n)."""
    size = chunk_rows() if size is None else size
    return (slice(start, start + size) for start in range(0, n, size))


def log_or_zero(y: np.ndarray) -> np.ndarray:
    """log(y) where y > 0, else 0: the factor of y log(y / mu) that depends on y alone."""
    out = np.where(y > 0, y, 1.0)  # cheaper than a log with where=: the masked loop does not vectorise
    return np.log(out, out=out)


def log_of_mean(eta: np.ndarray, out: np.ndarray) -> np.ndarray:
    """log(mu) for mu = max(exp(eta), eps), the log link's inverse: max(eta, log(eps)), into ``out``."""
    return np.maximum(eta, _LOG_EPS, out=out)


def y_log_y_over_mu(y: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """y * log(y / mu) with the convention 0 * log(0) = 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if np.min(mu) > 0 and np.min(y) >= 0:  # the usual case: y = 0 gives 0 * log(tiny / mu) = 0
            return y * np.log(np.maximum(y, _TINY) / mu)  # cheaper than xlogy
        return special.xlogy(y, y) - special.xlogy(y, mu)


class Family:
    """Base class of all families.  Subclasses set ``name`` and ``default_link``."""

    name: str = "family"
    default_link: str = "identity"
    dispersion_fixed: bool = False
    n_dispersion_params: int = 0
    #: p when V(mu) = mu^p exactly (gaussian 0, poisson 1, gamma 2, inverse gaussian 3, tweedie), else None
    variance_power: float | None = None

    def __init__(self, link: str | Link | None = None):
        self.link: Link = get_link(self.default_link if link is None else link)

    # -- distribution ------------------------------------------------------
    def variance(self, mu: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def unit_deviance(self, y: np.ndarray, mu: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def deviance_residuals(self, y, mu, weights) -> np.ndarray:
        """R's ``dev.resids``: the weighted unit deviances w_i d(y_i, mu_i)."""
        return weights * self.unit_deviance(y, mu)

    def deviance(self, y, mu, weights) -> float:
        """sum w_i d(y_i, mu_i), as one weighted sum (no array of weighted deviances)."""
        return weighted_sum(weights, self.unit_deviance(y, mu))

    def deviance_function(self, y: np.ndarray, weights: np.ndarray, log_y: np.ndarray | None = None
                          ) -> Callable[[np.ndarray, np.ndarray], float]:
        """The deviance of one response as a function of (eta, mu), for IRLS to call every iteration.

        By default it evaluates ``deviance(y, mu, weights)``, by row chunks (their
        temporaries stay in cache: for a million rows that is faster).  Families whose unit deviance
        has a log(y / mu) term override it: log(y) is taken once per fit, and under the log
        link log(mu) is eta itself (floored as the inverse link floors mu), which saves the
        two logarithms per row and iteration that dominate the elementwise work.
        ``log_y`` is log(y) (0 where y = 0) when the caller has it already.
        """
        def deviance(eta, mu):
            return sum(self.deviance(y[rows], mu[rows], weights[rows]) for rows in chunks(len(y)))

        return deviance

    def working_function(self, y: np.ndarray, prior_weights: np.ndarray, offset: np.ndarray):
        """A compiled (eta, mu, z_out, w_out) -> bool computing IRLS's working response and weights in
        one pass (False: take the generic path), or None for the generic path.  See ``log_link``."""
        return None

    def log_step_response(self, y: np.ndarray) -> tuple[LogVariance, np.ndarray | None] | None:
        """(variance, log y) for a log-link fit whose IRLS step after the solve a compiled pass can take
        (``engine.fused_step``): a variance mu^p, p = 1 or 2, or the negative binomial's mu + mu^2 / theta
        (``log_link.LogVariance``; its pass needs no log y: None); None otherwise."""
        return None

    def valid_mu(self, mu: np.ndarray) -> bool:
        return within(mu)

    def initialize(self, y: np.ndarray, weights: np.ndarray) -> Response:
        """Validate the response and choose starting values (R's ``mustart``)."""
        y = self._as_vector(y)
        return Response(y, weights, np.ones_like(y), y.copy())

    def loglik(self, y, mu, weights, n_trials, deviance: float, dispersion: float | None = None) -> float:
        """Log-likelihood at the fit (R's ``family$aic`` without the 2 p); NaN for quasi families.

        Families with a dispersion use its ML estimate from ``deviance`` (``ml_dispersion``)
        unless ``dispersion`` is given (as a fit split over data partitions does).
        """
        return float(np.sum(self.loglik_obs(y, mu, weights, n_trials, deviance, dispersion)))

    def loglik_obs(self, y, mu, weights, n_trials, deviance: float, dispersion: float | None = None) -> np.ndarray:
        """Per-observation log-likelihood contributions (weighted); NaN where there is no likelihood."""
        return np.full(np.shape(y), np.nan)

    def ml_dispersion(self, deviance: float, n_positive: int, sum_weights: float) -> float:
        """The dispersion R's ``family$aic`` plugs in (NaN for families without one)."""
        return float("nan")

    def anscombe(self, x: np.ndarray) -> np.ndarray:
        """A(x) = integral of V(t)^{-1/3} dt, the transform behind Anscombe residuals."""
        raise ValueError(f"Anscombe residuals are not available for the {self.name} family")

    def boundary_message(self, mu: np.ndarray) -> str | None:
        """A warning text when fitted values sit on the boundary of the mean space."""
        return None

    # -- helpers -----------------------------------------------------------
    def _as_vector(self, y: np.ndarray) -> np.ndarray:
        y = np.asarray(y, dtype=float)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1:
            raise ResponseError(
                f"the {self.name} family takes a single response column; "
                "cbind(successes, failures) is for the binomial families"
            )
        return y

    def _refuse(self, mask: np.ndarray, what: str) -> None:
        count = int(np.count_nonzero(mask))
        if count:
            raise ResponseError(
                f"{self.name} family: {count} row(s) of the response are {what}"
            )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(link={self.link!r})"

    def __str__(self) -> str:
        return self.name

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.__dict__ == other.__dict__

    def __hash__(self) -> int:
        return hash((type(self), self.link))
