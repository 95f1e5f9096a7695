"""Results of a GLM fitted on Dask data: estimates and fit statistics, no per-row arrays.

The estimates, covariance and statistics follow ``GLMResults`` (R's
``summary.glm``); what needs every row (residuals, influence, robust
covariances) is not kept, because the rows live on the cluster.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from glmformula.distributed.detect import is_dask_dataframe
from glmformula.families.standard import Gaussian
from glmformula.results.information import InformationCriteria, NegativeBinomialTheta


class DaskGLMResults(InformationCriteria, NegativeBinomialTheta):
    """A GLM fitted by map-reduce IRLS over the partitions of a Dask DataFrame."""

    cov_type = "nonrobust"

    def __init__(self, *, formula, family, column_names, beta, aliased, covariance, final, null_deviance, n_iter,
                 converged, has_intercept, response_name, spec, passes, theta=None):
        """``covariance``: (X'WX)^{-1} of the kept columns at the last solve; ``theta``: the negative
        binomial's ``ThetaEstimate`` when theta was estimated (``glm.nb``), else None."""
        self.formula, self.family = formula, family
        self.theta_estimate = theta
        self._names = list(column_names)
        self._aliased = np.asarray(aliased)
        params = np.where(self._aliased, np.nan, beta)
        self.params = pd.Series(params, index=self._names, name="coef")
        kept = ~self._aliased
        self._cov_unscaled = np.full((len(params), len(params)), np.nan)
        self._cov_unscaled[np.ix_(kept, kept)] = covariance
        self._final = final
        self.deviance = float(final["deviance"])
        self.null_deviance = float(null_deviance)
        self.n_iter, self.converged = n_iter, converged
        self.nobs = int(final["nobs"])
        self._rows = int(final["rows"])
        self.n_dropped = int(final["dropped"])
        self.rank = int(kept.sum())
        self.df_resid = self.nobs - self.rank
        self.df_null = self.nobs - int(has_intercept)
        self.df_model = self.rank - int(has_intercept)
        self.pearson_chi2 = float(final["pearson_chi2"])
        self.model_data = SimpleNamespace(response_name=response_name, spec=spec)
        self.passes = passes

    @property
    def nobs_bic(self) -> int:
        """BIC's n as ``GLMResults.nobs_bic``: all rows (as R), ``nobs`` for the gaussian."""
        return self.nobs if isinstance(self.family, Gaussian) else self._rows

    @property
    def aliased(self) -> list[str]:
        return [name for name, flag in zip(self._names, self._aliased) if flag]

    @property
    def use_t(self) -> bool:
        return not self.family.dispersion_fixed

    @property
    def scale(self) -> float:
        if self.family.dispersion_fixed:
            return 1.0
        return self._final["pearson_working"] / self.df_resid if self.df_resid > 0 else float("nan")

    def cov_params(self) -> pd.DataFrame:
        return pd.DataFrame(self._cov_unscaled * self.scale, index=self._names, columns=self._names)

    @property
    def bse(self) -> pd.Series:
        return pd.Series(np.sqrt(np.diag(self._cov_unscaled) * self.scale), index=self._names, name="std err")

    @property
    def tvalues(self) -> pd.Series:
        return self.params / self.bse

    @property
    def pvalues(self) -> pd.Series:
        statistic = np.abs(self.tvalues.to_numpy())
        p = 2 * (stats.t.sf(statistic, self.df_resid) if self.use_t else stats.norm.sf(statistic))
        return pd.Series(p, index=self._names)

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        q = stats.t.ppf(1 - alpha / 2, self.df_resid) if self.use_t else stats.norm.ppf(1 - alpha / 2)
        lower, upper = self.params - q * self.bse, self.params + q * self.bse
        return pd.DataFrame({f"{alpha / 2:g}": lower, f"{1 - alpha / 2:g}": upper})

    @property
    def llf(self) -> float:
        return float(self._final["loglik"])

    @property
    def df_loglik(self) -> int:
        return self.rank + self.family.n_dispersion_params + int(self.theta_estimate is not None)

    def predict(self, newdata: Any, type: str = "response"):  # noqa: A002
        """Predictions for a pandas or Dask DataFrame (offset terms re-evaluated)."""
        if is_dask_dataframe(newdata):
            return newdata.map_partitions(lambda part: self.predict(part, type), meta=("fit", "f8"))
        spec = self.model_data.spec
        eta = spec.design(newdata).to_numpy(dtype=float) @ np.nan_to_num(self.params.to_numpy()) + spec.offset(newdata)
        return pd.Series(eta if type == "link" else self.family.link.inverse(eta), index=newdata.index, name="fit")

    def summary(self, alpha: float = 0.05):
        from glmformula.report.summary import glm_summary

        return glm_summary(self, alpha=alpha)

    def __str__(self) -> str:
        return str(self.summary())

    def __repr__(self) -> str:
        return f"<DaskGLMResults {self.family.name}({self.family.link.name}): {self.formula!r}, n={self.nobs}>"
