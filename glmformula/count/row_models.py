"""Per-row log-likelihoods of the two-part models and their first and second derivatives.

A row model is evaluated on a slice of rows at the linear predictors of its parts (eta_0 = count
part a, eta_1 = zero part b, as the model orders them) and log theta (tau).  It returns a dict of
per-row arrays (or a list of (row positions in the slice, dict) pieces, the zero-inflated model's
zero and positive rows apart): ``loglik``; the scores ``s0``, ``s1``, ``st`` (d l / d eta_i, d l / d tau); and the
second derivatives ``h00``, ``h01``, ``h11``, ``h0t``, ``h1t``, ``htt`` (a missing key is zero).
With f the count density, L0 = log f(0), pi = g^{-1}(b), pi', pi'' its derivatives:

Zero-inflated, y = 0: l = log D, D = pi + (1 - pi) f(0), and with r = (1 - pi) f(0) / D (the posterior
probability that the zero came from the count part):
    l_a = r L0_a,  l_t = r L0_t,  l_b = pi' (1 - f(0)) / D
    l_aa = r L0_aa + r (1 - r) L0_a^2   (and so for at, tt)
    l_bb = pi'' (1 - f(0)) / D - l_b^2,   l_ab = -pi' f(0) L0_a / D - l_a l_b   (and so for bt)
Zero-inflated, y > 0: l = log(1 - pi) + log f(y): the count and zero parts separate, with
    l_b = -pi' / (1 - pi),  l_bb = -pi'' / (1 - pi) - l_b^2.
Zero-truncated count (a hurdle's positive rows): l = log f(y) - log(1 - f(0)); with o = f(0) / (1 - f(0)),
    l_x = (log f)_x + o L0_x,   l_xy = (log f)_xy + o L0_xy + o (1 + o) L0_x L0_y.
Binary (a hurdle's zero part, u = 1{y > 0}): l = u log pi + (1 - u) log(1 - pi),
    l_b = u pi'/pi - (1 - u) pi'/(1 - pi),
    l_bb = u (pi''/pi - (pi'/pi)^2) - (1 - u) (pi''/(1 - pi) + (pi'/(1 - pi))^2).
"""

from __future__ import annotations

import numpy as np

from glmformula.count.link_derivatives import inverse_and_mu_eta, mu_eta_derivative
from glmformula.families.links import Link


def count_derivatives(dist, y: np.ndarray, mu: np.ndarray, theta, order: int) -> dict[str, np.ndarray]:
    """log f(y) and, up to ``order``, its derivatives in eta (a) and tau (t): keys loglik, s0, st, h00, h0t, htt."""
    return dist.derivatives(y, mu, theta, order)


def zero_derivatives(dist, mu: np.ndarray, theta, order: int) -> dict[str, np.ndarray]:
    """L0 = log f(0) and, up to ``order``, its derivatives (keys as ``count_derivatives``)."""
    return dist.zero_derivatives(mu, theta, order)


_PAIRS = (("h00", "s0", "s0"), ("h0t", "s0", "st"), ("htt", "st", "st"))


class ZeroInflatedRows:
    """Rows of a zero-inflated model (parts: count a, zero b; see the module docstring)."""

    def __init__(self, y: np.ndarray, dist, link: Link):
        self.y, self.dist, self.link = y, dist, link

    def __call__(self, rows: slice, etas: list[np.ndarray], theta, order: int) -> dict[str, np.ndarray]:
        y, a, b = self.y[rows], etas[0][rows], etas[1][rows]
        zero = y == 0
        zeros, positives = np.flatnonzero(zero), np.flatnonzero(~zero)
        return [(zeros, self._zero_rows(a[zeros], b[zeros], theta, order)),
                (positives, self._positive_rows(y[positives], a[positives], b[positives], theta, order))]

    def _positive_rows(self, y, a, b, theta, order: int) -> dict[str, np.ndarray]:
        """y > 0: log(1 - pi) + log f(y); the parts separate."""
        link = self.link
        pi, dpi = inverse_and_mu_eta(link, b)
        out = count_derivatives(self.dist, y, np.exp(a), theta, order)
        out["loglik"] = out["loglik"] + np.log1p(-pi)
        if order >= 1:
            out["s1"] = -dpi / (1 - pi)
        if order >= 2:
            out["h11"] = -mu_eta_derivative(link, b, pi, dpi) / (1 - pi) - out["s1"] ** 2
        return out

    def _zero_rows(self, a, b, theta, order: int) -> dict[str, np.ndarray]:
        """y = 0: log(pi + (1 - pi) f(0)) (see the module docstring)."""
        link = self.link
        pi, dpi = inverse_and_mu_eta(link, b)
        null = zero_derivatives(self.dist, np.exp(a), theta, order)
        p0 = np.exp(null["loglik"])
        density = pi + (1 - pi) * p0
        out = {"loglik": np.log(density)}
        if order == 0:
            return out
        r = (1 - pi) * p0 / density
        for key in ("s0", "st"):
            if key in null:
                out[key] = r * null[key]
        out["s1"] = dpi * (1 - p0) / density
        if order == 1:
            return out
        for key, first, second in _PAIRS:
            if key in null:
                out[key] = r * null[key] + r * (1 - r) * null[first] * null[second]
        out["h11"] = mu_eta_derivative(link, b, pi, dpi) * (1 - p0) / density - out["s1"] ** 2
        for key, score in (("h01", "s0"), ("h1t", "st")):
            if score in null:
                out[key] = -dpi * p0 * null[score] / density - out[score] * out["s1"]
        return out


class TruncatedRows:
    """Rows of a zero-truncated count model, y > 0 (one part, a; see the module docstring)."""

    def __init__(self, y: np.ndarray, dist):
        self.y, self.dist = y, dist

    def __call__(self, rows: slice, etas: list[np.ndarray], theta, order: int) -> dict[str, np.ndarray]:
        mu = np.exp(etas[0][rows])
        count = count_derivatives(self.dist, self.y[rows], mu, theta, order)
        null = zero_derivatives(self.dist, mu, theta, order)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = {"loglik": count["loglik"] - np.log(-np.expm1(null["loglik"]))}
            if order == 0:
                return out
            odds = 1 / np.expm1(-null["loglik"])  # f(0) / (1 - f(0))
        for key in ("s0", "st"):
            if key in count:
                out[key] = count[key] + odds * null[key]
        if order >= 2:
            for key, first, second in _PAIRS:
                if key in count:
                    out[key] = count[key] + odds * null[key] + odds * (1 + odds) * null[first] * null[second]
        return out


class BinaryRows:
    """Rows of a binary model of ``positive`` (u, 0 or 1) with the link g (one part, b)."""

    def __init__(self, positive: np.ndarray, link: Link):
        self.positive, self.link = positive, link

    def __call__(self, rows: slice, etas: list[np.ndarray], theta, order: int) -> dict[str, np.ndarray]:
        b, u = etas[0][rows], self.positive[rows]
        pi, dpi = inverse_and_mu_eta(self.link, b)
        with np.errstate(divide="ignore"):
            out = {"loglik": np.where(u, np.log(pi), np.log1p(-pi))}
        if order == 0:
            return out
        up, down = dpi / pi, dpi / (1 - pi)
        out["s0"] = np.where(u, up, -down)
        if order >= 2:
            d2pi = mu_eta_derivative(self.link, b, pi, dpi)
            out["h00"] = np.where(u, d2pi / pi - up**2, -d2pi / (1 - pi) - down**2)
        return out


class HurdleRows:
    """Rows of a hurdle model (parts: count a, zero b): a zero-truncated count on the positive rows plus
    a binary model of y > 0; the parts never share a second derivative."""

    def __init__(self, y: np.ndarray, dist, link: Link):
        self.positive = y > 0
        self.count = TruncatedRows(np.where(self.positive, y, 1.0), dist)
        self.binary = BinaryRows(self.positive, link)

    def __call__(self, rows: slice, etas: list[np.ndarray], theta, order: int) -> dict[str, np.ndarray]:
        positive = self.positive[rows]
        count = self.count(rows, etas[:1], theta, order)
        binary = self.binary(rows, etas[1:], theta, order)
        out = {"loglik": binary["loglik"] + np.where(positive, count["loglik"], 0.0)}
        for key, values in count.items():
            if key != "loglik":
                out[key] = np.where(positive, values, 0.0)
        for key, new_key in (("s0", "s1"), ("h00", "h11")):
            if key in binary:
                out[new_key] = binary[key]
        return out
