"""Second derivatives of inverse links, d^2 pi / d eta^2, for the observed information of the zero part.

With pi = g^{-1}(eta) and pi' = ``link.mu_eta(eta)``:

    logit     pi'' = pi' (1 - 2 pi)
    probit    pi'' = -eta phi(eta)
    cauchit   pi'' = -2 eta / (pi_c (1 + eta^2)^2)        (pi_c = 3.14159...)
    cloglog   pi'' = pi' (1 - exp(eta))
    loglog    pi'' = pi' (exp(-eta) - 1)
    log       pi'' = exp(eta)
    identity  pi'' = 0

Any other link gets central differences of its ``mu_eta`` (step 1e-5 max(1, |eta|)).

``inverse_and_mu_eta`` gives (pi, pi') together: for the logit from one exp, e = exp(clip(eta, -30, 30)),
pi = e / (1 + e) and pi' = e / (1 + e)^2 (beyond |eta| > 30 R's clamps: pi = eps / (1 + eps) or
(1 / eps) / (1 + 1 / eps), pi' = eps), the same numbers as ``Logit.inverse`` and ``Logit.mu_eta``.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from glmformula.families import links as _links
from glmformula.families.links import Link


def inverse_and_mu_eta(link: Link, eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(pi, pi') = (g^{-1}(eta), d pi / d eta), for the logit from one exp (see the module docstring)."""
    if link.name != "logit":
        return link.inverse(eta), link.mu_eta(eta)
    threshold, eps = _links._LOGIT_THRESHOLD, _links.EPS
    expeta = np.exp(np.clip(eta, -threshold, threshold))
    total = 1.0 + expeta
    mu_eta = expeta / total**2
    pi = np.divide(expeta, total, out=expeta)
    outside = np.abs(eta) > threshold
    if outside.any():
        pi[eta < -threshold] = eps / (1.0 + eps)
        pi[eta > threshold] = (1.0 / eps) / (1.0 + 1.0 / eps)
        mu_eta[outside] = eps
    return pi, mu_eta


def _logit(link: Link, eta: np.ndarray, mu: np.ndarray, mu_eta: np.ndarray) -> np.ndarray:
    return mu_eta * (1 - 2 * mu)


def _probit(link: Link, eta: np.ndarray, mu: np.ndarray, mu_eta: np.ndarray) -> np.ndarray:
    return -eta * stats.norm.pdf(eta)


def _cauchit(link: Link, eta: np.ndarray, mu: np.ndarray, mu_eta: np.ndarray) -> np.ndarray:
    return -2 * eta / (np.pi * (1 + eta**2) ** 2)


def _cloglog(link: Link, eta: np.ndarray, mu: np.ndarray, mu_eta: np.ndarray) -> np.ndarray:
    return mu_eta * -np.expm1(np.minimum(eta, 700.0))


def _loglog(link: Link, eta: np.ndarray, mu: np.ndarray, mu_eta: np.ndarray) -> np.ndarray:
    return mu_eta * np.expm1(-np.maximum(eta, -700.0))


def _log(link: Link, eta: np.ndarray, mu: np.ndarray, mu_eta: np.ndarray) -> np.ndarray:
    return np.exp(eta)


def _identity(link: Link, eta: np.ndarray, mu: np.ndarray, mu_eta: np.ndarray) -> np.ndarray:
    return np.zeros_like(eta)


_CLOSED_FORMS = {"logit": _logit, "probit": _probit, "cauchit": _cauchit, "cloglog": _cloglog,
                 "loglog": _loglog, "log": _log, "identity": _identity}


def mu_eta_derivative(link: Link, eta: np.ndarray, mu: np.ndarray | None = None,
                      mu_eta: np.ndarray | None = None) -> np.ndarray:
    """d^2 pi / d eta^2 at ``eta`` (see the module docstring); ``mu`` = pi and ``mu_eta`` = pi' there when the
    caller has them."""
    eta = np.asarray(eta, dtype=float)
    closed_form = _CLOSED_FORMS.get(link.name)
    if closed_form is not None:
        mu = link.inverse(eta) if mu is None else mu
        return closed_form(link, eta, mu, link.mu_eta(eta) if mu_eta is None else mu_eta)
    step = 1e-5 * np.maximum(1.0, np.abs(eta))
    return (link.mu_eta(eta + step) - link.mu_eta(eta - step)) / (2 * step)
