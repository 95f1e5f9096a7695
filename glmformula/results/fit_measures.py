"""Log-likelihoods at given means, the null model's log-likelihood and pseudo R-squared.

``loglik_at(results, mu)`` is R's ``logLik.glm`` formula at the means mu: the family's
log-likelihood with its ML dispersion where it has one (deviance / n for the gaussian,
deviance / sum(w) for Gamma and inverse Gaussian).  With frequency weights f it is the
log-likelihood of the expanded data, sum f_i l_i(y_i, mu_i) with each row's own prior
weight and the dispersion of the expanded data.

``llnull`` is that of statsmodels' null model: an intercept (and the model's offset) only.
``pseudo_rsquared`` follows statsmodels' ``GLMResults.pseudo_rsquared``:

    McFadden:   1 - llf / llnull
    Cox-Snell:  1 - exp(2 (llnull - llf) / nobs)

For families with a fixed dispersion (poisson, binomial, negative binomial) llnull is
statsmodels' number; for families that estimate one statsmodels evaluates the null model at
the full model's Pearson dispersion, whereas here both llf and llnull are R's log-likelihoods
(each with its own ML dispersion), so llnull is ``logLik(glm(y ~ 1))``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np

from glmformula.results.refit import refit
from glmformula.results.residuals import row_weights

if TYPE_CHECKING:
    from glmformula.results.glm_results import GLMResults

PseudoR2 = Literal["mcf", "cs"]


def loglik_at(results: GLMResults, mu: np.ndarray) -> float:
    """The log-likelihood of the model's family at means ``mu`` (see the module docstring)."""
    data, family = results.model_data, results.family
    deviance = family.deviance(data.y, mu, data.prior_weights)
    if data.freq_weights is None:
        return family.loglik(data.y, mu, data.prior_weights, data.n_trials, deviance)
    freq = data.freq_weights
    expanded_n = float(np.sum(freq[data.prior_weights > 0]))
    dispersion = family.ml_dispersion(deviance, expanded_n, float(np.sum(data.prior_weights)))
    per_row = family.loglik_obs(data.y, mu, row_weights(data), data.n_trials, deviance,
                                None if np.isnan(dispersion) else dispersion)
    with np.errstate(invalid="ignore"):
        return float(np.sum(np.where(freq > 0, freq * per_row, 0.0)))  # a row of frequency 0 is not in the data


def null_means(results: GLMResults) -> np.ndarray:
    """Fitted means of the intercept-only model with the model's offset (statsmodels' ``null``)."""
    data = results.model_data
    if not data.has_offset:  # the ML mean of an intercept-only GLM is the weighted mean, whatever the link
        mean = np.sum(data.prior_weights * data.y) / np.sum(data.prior_weights)
        return np.full(len(data.y), mean)
    return refit(results, np.ones((len(data.y), 1))).mu


def llnull(results: GLMResults) -> float:
    return loglik_at(results, null_means(results))


def pseudo_rsquared(results: GLMResults, kind: PseudoR2 = "cs") -> float:
    """McFadden's (``"mcf"``) or Cox and Snell's (``"cs"``) pseudo R-squared, as statsmodels."""
    kind_lower = str(kind).lower()
    if kind_lower.startswith("mcf"):
        return 1 - results.llf / results.llnull
    if kind_lower.startswith("cox") or kind_lower in ("cs", "lr"):
        return float(1 - np.exp((results.llnull - results.llf) * (2 / results.nobs)))
    raise ValueError(f"kind must be 'mcf' (McFadden) or 'cs' (Cox-Snell), got {kind!r}")
