"""Log-likelihoods and analytic gradients of zero-inflated and hurdle count models.

Parameters are stacked as (beta, gamma[, log theta]): beta for the count part
(log link, design X), gamma for the zero part (design Z, link g), log theta for
a negative binomial count part.  With mu = exp(X beta + offset_x) and
pi = g^{-1}(Z gamma + offset_z):

zero-inflated (pi = probability of a structural zero)
    y = 0:  log(pi + (1 - pi) P(0))
    y > 0:  log(1 - pi) + log P(y)

hurdle (pi = probability of crossing the hurdle, y > 0; the count part is
fitted to the positive counts, truncated at zero)
    y = 0:  log(1 - pi)
    y > 0:  log(pi) + log P(y) - log(1 - P(0))

Every function returns per-observation contributions (``per_row``) so that
the Vuong test can use them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from glmformula.families.links import Link


@dataclass(frozen=True)
class TwoPartData:
    """Response, designs, offsets and prior weights of a two-part count model."""

    y: np.ndarray
    X: np.ndarray
    Z: np.ndarray
    offset_x: np.ndarray
    offset_z: np.ndarray
    weights: np.ndarray

    @property
    def n_count(self) -> int:
        return self.X.shape[1]

    @property
    def n_zero(self) -> int:
        return self.Z.shape[1]


class TwoPartLikelihood:
    """Shared parameter handling; subclasses give ``per_row`` and ``gradient``."""

    def __init__(self, data: TwoPartData, dist, link: Link):
        self.data, self.dist, self.link = data, dist, link

    @property
    def n_params(self) -> int:
        return self.data.n_count + self.data.n_zero + int(self.dist.has_theta)

    def unpack(self, params: np.ndarray):
        d = self.data
        beta, gamma = params[: d.n_count], params[d.n_count : d.n_count + d.n_zero]
        theta = np.exp(params[-1]) if self.dist.has_theta else (1.0 if self.dist.name == "geometric" else None)
        mu = np.exp(d.X @ beta + d.offset_x)
        eta_zero = d.Z @ gamma + d.offset_z
        return mu, eta_zero, theta

    def loglik(self, params: np.ndarray) -> float:
        return float(np.sum(self.data.weights * self.per_row(params)))

    def per_row(self, params: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def gradient(self, params: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _stack(self, count_score, zero_score, theta_score) -> np.ndarray:
        d = self.data
        parts = [d.X.T @ (d.weights * count_score), d.Z.T @ (d.weights * zero_score)]
        if self.dist.has_theta:
            parts.append(np.array([np.sum(d.weights * theta_score)]))
        return np.concatenate(parts)


class ZeroInflated(TwoPartLikelihood):
    def per_row(self, params):
        mu, eta_zero, theta = self.unpack(params)
        y, dist = self.data.y, self.dist
        pi = self.link.inverse(eta_zero)
        with np.errstate(divide="ignore"):
            zero = np.logaddexp(np.log(pi), np.log1p(-pi) + dist.log_p0(mu, theta))
        positive = np.log1p(-pi) + dist.log_pmf(y, mu, theta)
        return np.where(y == 0, zero, positive)

    def gradient(self, params):
        mu, eta_zero, theta = self.unpack(params)
        y, dist = self.data.y, self.dist
        pi, dpi = self.link.inverse(eta_zero), self.link.mu_eta(eta_zero)
        p0 = np.exp(dist.log_p0(mu, theta))
        density0 = pi + (1 - pi) * p0
        is_zero = y == 0
        count = np.where(is_zero, (1 - pi) * p0 * dist.dlogp0_deta(mu, theta) / density0,
                         dist.score_eta(y, mu, theta))
        zero = np.where(is_zero, (1 - p0) * dpi / density0, -dpi / (1 - pi))
        theta_score = None
        if dist.has_theta:
            theta_score = np.where(is_zero, (1 - pi) * p0 * dist.dlogp0_dlog_theta(mu, theta) / density0,
                                   dist.score_log_theta(y, mu, theta))
        return self._stack(count, zero, theta_score)


class Hurdle(TwoPartLikelihood):
    def per_row(self, params):
        mu, eta_zero, theta = self.unpack(params)
        y, dist = self.data.y, self.dist
        pi = self.link.inverse(eta_zero)
        with np.errstate(divide="ignore", invalid="ignore"):
            truncated = dist.log_pmf(y, mu, theta) - np.log(-np.expm1(dist.log_p0(mu, theta)))
            return np.where(y == 0, np.log1p(-pi), np.log(pi) + truncated)

    def gradient(self, params):
        mu, eta_zero, theta = self.unpack(params)
        y, dist = self.data.y, self.dist
        pi, dpi = self.link.inverse(eta_zero), self.link.mu_eta(eta_zero)
        positive = y > 0
        p0 = np.exp(dist.log_p0(mu, theta))
        odds0 = p0 / (1 - p0)
        count = np.where(positive, dist.score_eta(y, mu, theta) + odds0 * dist.dlogp0_deta(mu, theta), 0.0)
        zero = np.where(positive, dpi / pi, -dpi / (1 - pi))
        theta_score = None
        if dist.has_theta:
            theta_score = np.where(
                positive, dist.score_log_theta(y, mu, theta) + odds0 * dist.dlogp0_dlog_theta(mu, theta), 0.0
            )
        return self._stack(count, zero, theta_score)
