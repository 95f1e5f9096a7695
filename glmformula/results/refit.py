"""Refits of a model's family to other columns, as R's ``glm.fit`` calls in anova, drop1, add1 and profile.

A refit keeps the model's family, prior weights, offset and IRLS settings.  With no columns at all (the
empty model, which a formula without an intercept reaches: the NULL row of ``anova(fit)`` for ``y ~ x - 1``,
or ``drop1`` of its only term) nothing is estimated, and the fit is glm.fit's ``EMPTY`` branch:

    eta = offset,   mu = linkinv(eta),   deviance = sum of the unit deviances at mu,
    working weights   w = prior * mu.eta(eta)^2 / variance(mu)   (every row),
    working residuals r = (y - mu) / mu.eta(eta),

which a Rao score test of the first term is computed against, as R's ``anova.glm`` does.  R stops with
"invalid linear predictor values in empty model" (or "invalid fitted means") when eta or mu is outside the
link's or the family's domain (an inverse link with no offset: eta = 0); so does ``empty_refit``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from glmformula.design.dense import DenseDesign
from glmformula.engine.design_protocol import Design
from glmformula.engine.irls import WorkingResiduals, irls
from glmformula.exceptions import FitError, NonIntegerResponseWarning

if TYPE_CHECKING:
    from glmformula.families.base import Family
    from glmformula.results.glm_results import GLMResults


@dataclass(frozen=True)
class Refit:
    """What a refit gives the tables; ``working_residuals`` computes them when called (Rao tests only)."""

    deviance: float
    rank: int
    aic: float
    working_residuals: Callable[[], np.ndarray]
    working_weights: np.ndarray
    mu: np.ndarray | None = None
    eta: np.ndarray | None = None


def refit(results: GLMResults, matrix: np.ndarray | Design, y=None, weights=None, offset=None,
          etastart=None) -> Refit:
    """Fit the model's family to other columns (or another response), as R's ``glm.fit`` calls (from
    ``etastart``, a linear predictor, when given: profiles start each refit near the fit).  ``matrix`` is a
    dense array or a design (columns of the fit's own design, ``design.select(mask)``: a categorical
    block stays codes, so a refit of a large model costs what the fit cost).  No columns: ``empty_refit``."""
    data, family = results.model_data, results.family
    y = data.y if y is None else y
    weights = data.prior_weights if weights is None else weights
    offset = data.offset if offset is None else offset
    design = DenseDesign(matrix) if isinstance(matrix, np.ndarray) else matrix
    if design.n_columns == 0:
        return empty_refit(family, y, weights, offset, data.n_trials)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NonIntegerResponseWarning)
        response = family.initialize(y, weights)
    fit = irls(
        design, response.y, family, prior_weights=response.prior_weights, offset=offset,
        mustart=response.mustart, control=results.control, etastart=etastart,
    )
    loglik = family.loglik(response.y, fit.mu, response.prior_weights, data.n_trials, fit.deviance)
    aic = -2 * loglik + 2 * (fit.rank + family.n_dispersion_params)
    return Refit(fit.deviance, fit.rank, aic, fit.working_residuals, fit.working_weights, fit.mu, fit.eta)


def empty_refit(family: Family, y: np.ndarray, weights: np.ndarray, offset: np.ndarray,
                n_trials: np.ndarray) -> Refit:
    """The model with no columns, as glm.fit's ``EMPTY`` branch: eta = offset, mu = linkinv(eta), and the
    working weights prior * mu_eta^2 / variance(mu) and residuals (y - mu) / mu_eta at that mu (see the module
    docstring); a FitError, as R's error, when eta or mu is invalid."""
    eta = np.array(offset, dtype=float)
    if not family.link.valid_eta(eta):
        raise FitError(f"invalid linear predictor values in the empty model (no columns, eta = the offset): the "
                       f"{family.link.name} link is not defined there; refit with an intercept or an offset inside "
                       "the link's domain")
    mu = family.link.inverse(eta)
    if not family.valid_mu(mu):
        raise FitError(f"invalid fitted means in the empty model (no columns, mu = linkinv(offset)): outside the "
                       f"{family.name} family's range; refit with an intercept or another offset")
    deviance = family.deviance(y, mu, weights)
    loglik = family.loglik(y, mu, weights, n_trials, deviance)
    mu_eta = family.link.mu_eta_at(eta, mu)
    working_weights = weights * mu_eta**2 / family.variance(mu)
    return Refit(deviance, 0, -2 * loglik + 2 * family.n_dispersion_params, WorkingResiduals(y, eta, mu, family.link),
                 working_weights, mu, eta)
