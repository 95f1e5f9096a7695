"""``GLMResults``: estimates, inference and fit statistics of a fitted GLM.

Names follow statsmodels (``params``, ``bse``, ``pvalues``, ``conf_int``,
``cov_params``, ``llf``, ``scale`` ...); the numbers follow R's ``glm`` and
``summary.glm``:

* dispersion phi = 1 for poisson/binomial/negative binomial, otherwise the
  Pearson estimate sum(w_i r_i^2) / df_resid with the working weights and
  working residuals of the final IRLS step (R's ``summary.glm``);
* Cov(beta) = phi (X'WX)^{-1} with W the working weights of the last step;
* z tests when phi is fixed, t tests on df_resid when it is estimated;
* AIC = -2 llf + 2 (rank + number of dispersion parameters), as R's
  ``family$aic`` + 2 rank; BIC with log(nobs) in place of 2.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

from glmformula.engine.irls import FitState
from glmformula.families.base import Family
from glmformula.formula.frame import FormulaSpec

ResidualType = Literal["deviance", "pearson", "working", "response"]


@dataclass(frozen=True)
class ModelData:
    """The data a fit was computed from, in the family's terms (after ``initialize``).

    y : (n,) response (proportions for binomial); prior_weights, n_trials,
    offset : (n,); row_labels : the caller's index labels of the rows used;
    n_dropped : rows dropped for missing values.
    """

    y: np.ndarray
    prior_weights: np.ndarray
    n_trials: np.ndarray
    offset: np.ndarray
    row_labels: pd.Index
    n_dropped: int
    response_name: str
    column_names: list[str]
    spec: FormulaSpec | None
    has_intercept: bool
    has_offset: bool


class GLMResults:
    """A fitted generalized linear model.

    Created by :func:`glmformula.glm`.  Estimates are pandas objects indexed by
    the design column names; aliased (non-estimable) coefficients are NaN and
    listed in ``aliased``.
    """

    def __init__(
        self,
        formula: str,
        family: Family,
        data: ModelData,
        fit: FitState,
        null_deviance: float,
        scale: float | str = "pearson",
    ):
        self.formula = formula
        self.family = family
        self.model_data = data
        self._fit = fit
        self.null_deviance = float(null_deviance)
        self._scale_option = scale

    # -- estimates ---------------------------------------------------------
    @cached_property
    def params(self) -> pd.Series:
        return pd.Series(self._fit.params, index=self._names, name="coef")

    @property
    def _names(self) -> list[str]:
        return self.model_data.column_names

    @property
    def aliased(self) -> list[str]:
        """Names of the coefficients that are not estimable (NaN in ``params``)."""
        return [name for name, flag in zip(self._names, self._fit.aliased) if flag]

    @property
    def rank(self) -> int:
        return self._fit.rank

    def cov_params(self) -> pd.DataFrame:
        """Covariance matrix of the estimates: scale * (X'WX)^{-1}."""
        return pd.DataFrame(self._fit.cov_unscaled * self.scale, index=self._names, columns=self._names)

    @cached_property
    def bse(self) -> pd.Series:
        return pd.Series(np.sqrt(np.diag(self._fit.cov_unscaled) * self.scale), index=self._names, name="std err")

    @cached_property
    def tvalues(self) -> pd.Series:
        return (self.params / self.bse).rename("z" if not self.use_t else "t")

    @property
    def use_t(self) -> bool:
        """True when the dispersion is estimated, so tests use t on df_resid."""
        return not (self.family.dispersion_fixed or isinstance(self._scale_option, (int, float)))

    @cached_property
    def pvalues(self) -> pd.Series:
        statistic = np.abs(self.tvalues.to_numpy())
        if self.use_t:
            p = 2 * stats.t.sf(statistic, self.df_resid) if self.df_resid > 0 else np.full_like(statistic, np.nan)
        else:
            p = 2 * stats.norm.sf(statistic)
        return pd.Series(p, index=self._names, name="P>|t|" if self.use_t else "P>|z|")

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        """Wald intervals params ± q * bse, q from t(df_resid) when the scale is estimated, else normal."""
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must be between 0 and 1, got {alpha!r}")
        q = stats.t.ppf(1 - alpha / 2, self.df_resid) if self.use_t else stats.norm.ppf(1 - alpha / 2)
        lower, upper = self.params - q * self.bse, self.params + q * self.bse
        return pd.DataFrame({f"{alpha / 2:g}": lower, f"{1 - alpha / 2:g}": upper}, index=self._names)

    # -- fit statistics ----------------------------------------------------
    @property
    def deviance(self) -> float:
        return self._fit.deviance

    @property
    def nobs(self) -> int:
        """Number of observations with non-zero prior weight."""
        return int(np.count_nonzero(self.model_data.prior_weights))

    @property
    def df_resid(self) -> int:
        return self.nobs - self.rank

    @property
    def df_null(self) -> int:
        return self.nobs - int(self.model_data.has_intercept)

    @property
    def df_model(self) -> int:
        return self.rank - int(self.model_data.has_intercept)

    @property
    def converged(self) -> bool:
        return self._fit.converged

    @property
    def n_iter(self) -> int:
        return self._fit.n_iter

    @property
    def n_dropped(self) -> int:
        """Rows of the data dropped for missing values."""
        return self.model_data.n_dropped

    @cached_property
    def pearson_chi2(self) -> float:
        """sum w (y - mu)^2 / V(mu) at the final fit."""
        d = self.model_data
        mu = self._fit.mu
        return float(np.sum(d.prior_weights * (d.y - mu) ** 2 / self.family.variance(mu)))

    @cached_property
    def scale(self) -> float:
        """The dispersion phi used for standard errors (see the module docstring)."""
        option = self._scale_option
        if isinstance(option, (int, float)) and not isinstance(option, bool):
            return float(option)
        if self.family.dispersion_fixed:
            return 1.0
        if self.df_resid <= 0:
            return float("nan")
        if option == "deviance":
            return self.deviance / self.df_resid
        weights, residuals = self._fit.working_weights, self._fit.working_residuals
        used = weights > 0
        return float(np.sum(weights[used] * residuals[used] ** 2) / self.df_resid)

    @cached_property
    def llf(self) -> float:
        """Log-likelihood (NaN for quasi families), as R's ``logLik.glm``."""
        d = self.model_data
        return self.family.loglik(d.y, self._fit.mu, d.prior_weights, d.n_trials, self.deviance)

    @property
    def df_loglik(self) -> int:
        """Parameters counted by AIC/BIC: rank plus estimated dispersion parameters."""
        return self.rank + self.family.n_dispersion_params

    @property
    def aic(self) -> float:
        return -2 * self.llf + 2 * self.df_loglik

    @property
    def bic(self) -> float:
        return -2 * self.llf + np.log(self.nobs) * self.df_loglik

    # -- fitted values and residuals --------------------------------------
    @cached_property
    def fittedvalues(self) -> pd.Series:
        """Fitted means mu (proportions for binomial), indexed like the data rows used."""
        return pd.Series(self._fit.mu, index=self.model_data.row_labels, name="fitted")

    @cached_property
    def linear_predictor(self) -> pd.Series:
        """eta = X beta + offset."""
        return pd.Series(self._fit.eta, index=self.model_data.row_labels, name="linear_predictor")

    @property
    def working_weights(self) -> pd.Series:
        return pd.Series(self._fit.working_weights, index=self.model_data.row_labels, name="working_weights")

    def resid(self, type: ResidualType = "deviance") -> pd.Series:  # noqa: A002 - statsmodels/R name
        """Residuals of the given type (R's ``residuals.glm``).

        deviance: sign(y - mu) sqrt(w d(y, mu)); pearson: (y - mu) sqrt(w / V(mu));
        working: (y - mu) / mu_eta(eta); response: y - mu.
        """
        d, mu = self.model_data, self._fit.mu
        if type == "deviance":
            unit = self.family.deviance_residuals(d.y, mu, d.prior_weights)
            values = np.sign(d.y - mu) * np.sqrt(np.maximum(unit, 0))
        elif type == "pearson":
            values = (d.y - mu) * np.sqrt(d.prior_weights) / np.sqrt(self.family.variance(mu))
        elif type == "working":
            values = self._fit.working_residuals
        elif type == "response":
            values = d.y - mu
        else:
            raise ValueError(f"unknown residual type {type!r}; choose deviance, pearson, working or response")
        return pd.Series(values, index=d.row_labels, name=f"resid_{type}")

    # -- reporting ---------------------------------------------------------
    def summary(self, alpha: float = 0.05):
        """A ``Summary`` (header and coefficient table) that prints like statsmodels'."""
        from glmformula.report.summary import glm_summary

        return glm_summary(self, alpha=alpha)

    def __str__(self) -> str:
        return str(self.summary())

    def __repr__(self) -> str:
        return f"<GLMResults {self.family.name}({self.family.link.name}): {self.formula!r}, n={self.nobs}>"

    def _repr_html_(self) -> str:
        return self.summary()._repr_html_()
