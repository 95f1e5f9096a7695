"""Results of zero-inflated and hurdle models (pscl's ``zeroinfl`` / ``hurdle`` objects).

``params`` holds the count part as ``count_<term>`` and the zero part as
``zero_<term>``; a negative binomial's theta is reported apart (``theta``,
``theta_se``, and log(theta) with its standard error), as pscl does.  Tests
are Wald z tests; AIC and BIC count every estimated parameter, theta included.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from glmformula.count.likelihoods import TwoPartLikelihood
from glmformula.count.optimize import Optimum
from glmformula.families.links import Link
from glmformula.formula.frame import FormulaSpec
from glmformula.results.information import InformationCriteria
from glmformula.results.prediction import as_frame, unseen_levels


@dataclass(frozen=True)
class TwoPartSpec:
    kind: str  # "zeroinfl" or "hurdle"
    dist: Any
    link: Link
    formula: str
    count_spec: FormulaSpec
    zero_spec: FormulaSpec
    count_names: list[str]
    zero_names: list[str]

    @property
    def label(self) -> str:
        short = {"poisson": "p", "negbin": "nb", "geometric": "geom"}[self.dist.name]
        return f"zi{short}" if self.kind == "zeroinfl" else f"hurdle-{self.dist.name}"


class CountModelResults(InformationCriteria):
    """A fitted zero-inflated or hurdle count model."""

    def __init__(self, spec: TwoPartSpec, likelihood: TwoPartLikelihood, optimum: Optimum, *,
                 row_labels: pd.Index, n_dropped: int, response_name: str):
        self.spec = spec
        self.formula = spec.formula
        self._likelihood = likelihood
        self._optimum = optimum
        self.row_labels = row_labels
        self.n_dropped = n_dropped
        self.response_name = response_name

    # -- estimates ---------------------------------------------------------------
    @property
    def _n_coef(self) -> int:
        return len(self.spec.count_names) + len(self.spec.zero_names)

    @cached_property
    def params(self) -> pd.Series:
        names = [f"count_{n}" for n in self.spec.count_names] + [f"zero_{n}" for n in self.spec.zero_names]
        return pd.Series(self._optimum.params[: self._n_coef], index=names, name="coef")

    def cov_params(self) -> pd.DataFrame:
        k = self._n_coef
        return pd.DataFrame(self._optimum.covariance[:k, :k], index=self.params.index, columns=self.params.index)

    @cached_property
    def bse(self) -> pd.Series:
        return pd.Series(np.sqrt(np.diag(self.cov_params())), index=self.params.index, name="std err")

    @property
    def tvalues(self) -> pd.Series:
        return (self.params / self.bse).rename("z")

    @property
    def pvalues(self) -> pd.Series:
        return pd.Series(2 * stats.norm.sf(np.abs(self.tvalues)), index=self.params.index, name="P>|z|")

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        q = stats.norm.ppf(1 - alpha / 2)
        return pd.DataFrame({f"{alpha / 2:g}": self.params - q * self.bse,
                             f"{1 - alpha / 2:g}": self.params + q * self.bse})

    @property
    def log_theta(self) -> float | None:
        return float(self._optimum.params[-1]) if self.spec.dist.has_theta else None

    @property
    def log_theta_se(self) -> float | None:
        return float(np.sqrt(self._optimum.covariance[-1, -1])) if self.spec.dist.has_theta else None

    @property
    def theta(self) -> float | None:
        """Negative binomial theta (1 for geometric, None for Poisson)."""
        if self.spec.dist.has_theta:
            return float(np.exp(self.log_theta))
        return 1.0 if self.spec.dist.name == "geometric" else None

    @property
    def theta_se(self) -> float | None:
        """SE of theta by the delta method, theta * SE(log theta)."""
        return self.theta * self.log_theta_se if self.spec.dist.has_theta else None

    # -- fit statistics ------------------------------------------------------------
    @property
    def llf(self) -> float:
        return self._optimum.loglik

    def loglik_obs(self) -> np.ndarray:
        """Per-observation log-likelihood contributions (weighted), for the Vuong test."""
        return self._likelihood.data.weights * self._likelihood.per_row(self._optimum.params)

    @property
    def df_loglik(self) -> int:
        return self._likelihood.n_params

    @property
    def nobs(self) -> int:
        return int(np.count_nonzero(self._likelihood.data.weights))

    @property
    def y(self) -> np.ndarray:
        """The response (counts) of the rows used, (n,)."""
        return self._likelihood.data.y

    @property
    def df_resid(self) -> int:
        return self.nobs - self.df_loglik

    @property
    def converged(self) -> bool:
        return self._optimum.converged

    @property
    def family(self) -> str:
        return self.spec.label

    # -- prediction ----------------------------------------------------------------
    def predict(self, newdata: Any = None,
                type: Literal["response", "count", "zero", "prob"] = "response",  # noqa: A002
                max_count: int | None = None) -> pd.Series | pd.DataFrame:
        """Predictions as pscl's ``predict``:

        response: E[Y];  count: the count mean mu;  zero: pi for zero-inflated models, and for
        hurdles the ratio pi / (1 - f(0));  prob: P(Y = k) for k = 0..max_count (default max(y)).
        """
        if type not in ("response", "count", "zero", "prob"):
            raise ValueError(f"type must be 'response', 'count', 'zero' or 'prob', got {type!r}")
        mu, pi, theta, index = self._means(newdata)
        dist = self.spec.dist
        p0 = np.exp(dist.log_p0(mu, theta))
        hurdle = self.spec.kind == "hurdle"
        if type == "count":
            return pd.Series(mu, index=index, name="count")
        if type == "zero":
            return pd.Series(pi / (1 - p0) if hurdle else pi, index=index, name="zero")
        if type == "response":
            mean = pi * mu / (1 - p0) if hurdle else (1 - pi) * mu
            return pd.Series(mean, index=index, name="response")
        top = int(self._likelihood.data.y.max()) if max_count is None else int(max_count)
        counts = np.arange(top + 1, dtype=float)
        pmf = np.exp(dist.log_pmf(counts[None, :], mu[:, None], theta))
        if hurdle:
            probabilities = pi[:, None] * pmf / (1 - p0[:, None])
            probabilities[:, 0] = 1 - pi
        else:
            probabilities = (1 - pi)[:, None] * pmf
            probabilities[:, 0] += pi
        return pd.DataFrame(probabilities, index=index, columns=counts.astype(int))

    def _means(self, newdata):
        data = self._likelihood.data
        params = self._optimum.params
        beta, gamma = params[: data.n_count], params[data.n_count : self._n_coef]
        theta = self.theta
        if newdata is None:
            eta_count, eta_zero = self._likelihood.etas(params)
            index = self.row_labels
        else:
            newdata = as_frame(newdata)
            for spec in (self.spec.count_spec, self.spec.zero_spec):
                unseen_levels(spec.model_spec, newdata, "error")
            X = self.spec.count_spec.design(newdata).to_numpy(dtype=float)
            Z = self.spec.zero_spec.design(newdata).to_numpy(dtype=float)
            eta_count = X @ beta + self.spec.count_spec.offset(newdata)
            eta_zero = Z @ gamma + self.spec.zero_spec.offset(newdata)
            index = newdata.index
        mu = np.exp(eta_count)
        pi = self.spec.link.inverse(eta_zero)
        return mu, pi, theta, index

    @property
    def fittedvalues(self) -> pd.Series:
        return self.predict(type="response")

    def resid(self, type: Literal["response", "pearson"] = "response") -> pd.Series:  # noqa: A002
        """Response residuals y - E[Y], or Pearson residuals (y - E[Y]) / sd(Y)."""
        y = self._likelihood.data.y
        mean = self.fittedvalues.to_numpy()
        if type == "response":
            return pd.Series(y - mean, index=self.row_labels, name="resid_response")
        if type != "pearson":
            raise ValueError(f"type must be 'response' or 'pearson', got {type!r}")
        probabilities = self.predict(type="prob", max_count=int(max(y.max(), 3 * mean.max()) + 50)).to_numpy()
        counts = np.arange(probabilities.shape[1])
        variance = probabilities @ counts**2 - (probabilities @ counts) ** 2
        return pd.Series((y - mean) / np.sqrt(variance), index=self.row_labels, name="resid_pearson")

    def plot(self, **kwargs):
        """Diagnostic panels: residuals vs fitted, Q-Q of randomized quantile residuals, scale-location and
        the rootogram (``glmformula.plots.count_diagnostics``); returns the matplotlib Figure."""
        from glmformula.plots import count_diagnostics

        return count_diagnostics(self, **kwargs)

    def plot_rootogram(self, **kwargs):
        """Hanging rootogram of observed and fitted count frequencies (``glmformula.plots.rootogram``)."""
        from glmformula.plots import rootogram

        return rootogram(self, **kwargs)

    # -- reporting -----------------------------------------------------------------
    def summary(self):
        from glmformula.report.summary import Summary, format_statistic

        intervals = self.conf_int()
        table = pd.DataFrame({"coef": self.params, "std err": self.bse, "z": self.tvalues, "P>|z|": self.pvalues,
                              "[0.025": intervals.iloc[:, 0], "0.975]": intervals.iloc[:, 1]})
        kind = "Zero-inflated" if self.spec.kind == "zeroinfl" else "Hurdle"
        header = [
            ("Dep. Variable", self.response_name),
            ("Model", f"{kind} {self.spec.dist.name}"),
            ("Zero part", f"binomial ({self.spec.link.name})"),
            ("Method", "maximum likelihood"),
            ("Converged", str(self.converged)),
            ("Rows dropped (NA)", str(self.n_dropped)),
            ("No. Observations", str(self.nobs)),
            ("Df Residuals", str(self.df_resid)),
            ("Log-Likelihood", format_statistic(self.llf)),
            ("AIC", format_statistic(self.aic)),
            ("BIC", format_statistic(self.bic)),
        ]
        notes = []
        if self.spec.dist.has_theta:
            header += [("Theta", f"{self.theta:.6g} (se {self.theta_se:.4g})"),
                       ("Log(theta)", f"{self.log_theta:.6g} (se {self.log_theta_se:.4g})")]
        part = "zero-inflation probability" if self.spec.kind == "zeroinfl" else "probability of a positive count"
        notes.append(f"count_ rows: log mean of the count part; zero_ rows: {self.spec.link.name} of the {part}.")
        return Summary(f"{kind} Count Model Results", header, table, notes, header_split=6)

    def __str__(self) -> str:
        return str(self.summary())

    def __repr__(self) -> str:
        return f"<CountModelResults {self.spec.label}: {self.formula!r}, n={self.nobs}>"

    def _repr_html_(self) -> str:
        return self.summary()._repr_html_()
