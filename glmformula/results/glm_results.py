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
  ``family$aic`` + 2 rank; BIC with log(n) in place of 2, n as R's ``BIC``
  (the rows of the fit, zero prior weights included; see ``nobs_bic``).

Zero prior weights: those rows add nothing to the log-likelihood, as in R.  The
gaussian is the exception in R, whose ``gaussian()$aic`` takes -sum(log(w)) and
n = all rows, so that its logLik is -Inf and AIC/BIC Inf; here the gaussian
llf, AIC and BIC are those of the fit without the zero-weight rows (finite, and
what R gives on ``subset = w > 0``).

Prediction, analysis of deviance, robust covariances, influence and profile
intervals live in their own modules; the methods here only delegate to them.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import special

from glmformula.engine.design_protocol import Design
from glmformula.engine.irls import FitState, IRLSControl
from glmformula.engine.negbin import ThetaEstimate
from glmformula.exceptions import DataError
from glmformula.families.base import Family
from glmformula.families.standard import Gaussian
from glmformula.formula.frame import FormulaSpec
from glmformula.results import anova as _anova
from glmformula.results import covariance as _covariance
from glmformula.results.influence import influence as _influence
from glmformula.results.information import InformationCriteria
from glmformula.results.prediction import predict as _predict
from glmformula.results.profile import profile_conf_int

ResidualType = Literal["deviance", "pearson", "working", "response", "anscombe", "partial"]


@dataclass(frozen=True)
class ModelData:
    """The data a fit was computed from, in the family's terms (after ``initialize``).

    y : (n,) response (proportions for binomial); prior_weights, n_trials,
    offset : (n,); row_labels : the caller's index labels of the rows used;
    n_dropped : rows dropped for missing values; design : the (n, p) design the fit used
    (``engine.design_protocol.Design``).
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
    design: Design


@dataclass(frozen=True)
class FitCall:
    """The arguments of the ``glm()`` call, kept to refit related models (add1, with_cov clusters)."""

    data: Any
    weights: Any = None
    offset: Any = None
    exposure: Any = None
    na_action: str = "drop"
    control: IRLSControl = field(default_factory=IRLSControl)
    trusted: bool = False


class GLMResults(InformationCriteria):
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
        *,
        call: FitCall,
        scale: float | str = "pearson",
        cov_type: _covariance.CovType = "nonrobust",
        cluster: Any = None,
        theta: ThetaEstimate | None = None,
        loglik: float | None = None,
    ):
        self.formula = formula
        self.family = family
        self.model_data = data
        self._fit = fit
        self.null_deviance = float(null_deviance)
        self.call = call
        self._scale_option = scale
        _covariance.validate_cov_type(cov_type)
        self.cov_type = cov_type
        self._cluster = self._cluster_labels(cluster) if cov_type == "cluster" else None
        self.theta_estimate = theta
        self._loglik = loglik

    @property
    def theta(self) -> float | None:
        """Negative binomial theta (estimated, or as given); None for other families."""
        if self.theta_estimate is not None:
            return self.theta_estimate.theta
        return getattr(self.family, "theta", None)

    @property
    def theta_se(self) -> float | None:
        """Standard error of an estimated theta (from its observed information, as MASS)."""
        return self.theta_estimate.se if self.theta_estimate is not None else None

    @property
    def alpha(self) -> float | None:
        """statsmodels' negative binomial parameter alpha = 1 / theta."""
        return None if self.theta is None else 1.0 / self.theta

    @property
    def control(self) -> IRLSControl:
        return self.call.control

    @property
    def term_slices(self) -> dict[str, slice]:
        """Design columns of each formula term (``"1"`` is the intercept)."""
        if self.model_data.spec is None:
            return {name: slice(j, j + 1) for j, name in enumerate(self._names)}
        return dict(self.model_data.spec.term_slices)  # a copy: the spec's own is cached

    def _cluster_labels(self, cluster: Any) -> np.ndarray:
        if cluster is None:
            raise DataError("cov_type='cluster' needs cluster= (a column name or an array of group labels)")
        rows = self.model_data.row_labels
        source_index = getattr(self.call.data, "index", None)
        if source_index is not None and not source_index.is_unique:
            raise DataError("cluster-robust covariance needs a data index without duplicate labels; "
                            "call data.reset_index(drop=True) before fitting")
        if isinstance(cluster, str):
            source = self.call.data
            if not isinstance(source, pd.DataFrame) or cluster not in source.columns:
                raise DataError(f"cluster column {cluster!r} is not in the data")
            return source.loc[rows, cluster].to_numpy()
        values = np.asarray(cluster)
        if len(values) == len(rows):
            return values
        if isinstance(self.call.data, pd.DataFrame) and len(values) == len(self.call.data):
            return values[self.call.data.index.get_indexer(rows)]
        raise DataError(f"cluster has {len(values)} values but the model uses {len(rows)} rows")

    def with_cov(self, cov_type: _covariance.CovType, cluster: Any = None) -> GLMResults:
        """The same fit with another covariance type (no refitting)."""
        other = copy.copy(self)
        for name in ("bse", "tvalues", "pvalues", "_cov"):
            other.__dict__.pop(name, None)
        _covariance.validate_cov_type(cov_type)
        other.cov_type = cov_type
        other._cluster = other._cluster_labels(cluster) if cov_type == "cluster" else None
        return other

    # -- estimates ---------------------------------------------------------
    @cached_property
    def params(self) -> pd.Series:
        return pd.Series(self._fit.params, index=self._index, name="coef")

    @property
    def _names(self) -> list[str]:
        return self.model_data.column_names

    @property
    def coefficient_names(self) -> list[str]:
        """The coefficients' names in order (``params.index`` as a list, without building the Series)."""
        return list(self._names)

    @cached_property
    def _index(self) -> pd.Index:
        """The coefficient names as one Index, shared by every Series and frame of estimates
        (building an Index from a list of strings costs more than the numbers in it)."""
        return pd.Index(self._names, dtype=object)

    @property
    def aliased(self) -> list[str]:
        """Names of the coefficients that are not estimable (NaN in ``params``)."""
        return [name for name, flag in zip(self._names, self._fit.aliased) if flag]

    @property
    def rank(self) -> int:
        return self._fit.rank

    @cached_property
    def _cov(self) -> np.ndarray:
        fit = self._fit
        if self.cov_type == "nonrobust":
            return fit.cov_unscaled * self.scale
        return _covariance.sandwich(
            self.model_data.design, fit.working_weights, fit.working_residuals, fit.cov_unscaled,
            self.cov_type, self._cluster,
        )

    def cov_params(self) -> pd.DataFrame:
        """Covariance of the estimates: scale * (X'WX)^{-1}, or the sandwich of ``cov_type``."""
        return pd.DataFrame(self._cov, index=self._index, columns=self._index)

    @cached_property
    def _se(self) -> np.ndarray:
        if self.cov_type == "nonrobust":
            return self._fit.se_unscaled * np.sqrt(self.scale)
        return np.sqrt(np.diag(self._cov))

    @cached_property
    def _statistic(self) -> np.ndarray:
        return self._fit.params / self._se

    @cached_property
    def _p(self) -> np.ndarray:
        statistic = np.abs(self._statistic)
        if self.use_t:
            # special.stdtr / ndtr are the functions behind scipy.stats' t.sf and norm.sf, without their overhead
            return 2 * special.stdtr(self.df_resid, -statistic) if self.df_resid > 0 else np.full_like(statistic,
                                                                                                     np.nan)
        return 2 * special.ndtr(-statistic)

    @cached_property
    def bse(self) -> pd.Series:
        """Standard errors; model-based ones come from the engine's scale-safe sqrt(diag((X'WX)^{-1}))."""
        return pd.Series(self._se, index=self._index, name="std err")

    @cached_property
    def tvalues(self) -> pd.Series:
        return pd.Series(self._statistic, index=self._index, name="z" if not self.use_t else "t")

    @property
    def use_t(self) -> bool:
        """True when the dispersion is estimated, so tests use t on df_resid."""
        return not (self.family.dispersion_fixed or isinstance(self._scale_option, (int, float)))

    @cached_property
    def pvalues(self) -> pd.Series:
        return pd.Series(self._p, index=self._index, name="P>|t|" if self.use_t else "P>|z|")

    def conf_int(self, alpha: float = 0.05, method: Literal["wald", "profile"] = "wald") -> pd.DataFrame:
        """Confidence intervals at level 1 - alpha.

        ``"wald"``: params ± q bse, q from t(df_resid) when the scale is estimated, else normal;
        ``"profile"``: profile-likelihood intervals (see ``glmformula.results.profile``).
        """
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must be between 0 and 1, got {alpha!r}")
        if method == "profile":
            return profile_conf_int(self, alpha)
        if method != "wald":
            raise ValueError(f"method must be 'wald' or 'profile', got {method!r}")
        return pd.DataFrame(self._wald_bounds(alpha), index=self._index,
                            columns=pd.Index([f"{alpha / 2:g}", f"{1 - alpha / 2:g}"], dtype=object))

    def _wald_bounds(self, alpha: float) -> np.ndarray:
        """(p, 2) Wald interval bounds params -/+ q bse."""
        q = special.stdtrit(self.df_resid, 1 - alpha / 2) if self.use_t else special.ndtri(1 - alpha / 2)
        params, se = self._fit.params, self._se
        return np.column_stack([params - q * se, params + q * se])

    def coefficient_values(self, alpha: float = 0.05) -> np.ndarray:
        """The numbers of the coefficient table as one (p, 6) float array: params, bse, statistic, p-value
        and the Wald interval bounds at level 1 - alpha, in ``coefficient_names`` order (numpy arrays
        throughout: the summary of a small fit should not pay for pandas objects)."""
        return np.column_stack([self._fit.params, self._se, self._statistic, self._p, self._wald_bounds(alpha)])

    # -- fit statistics ----------------------------------------------------
    @property
    def deviance(self) -> float:
        return self._fit.deviance

    @cached_property
    def nobs(self) -> int:
        """Number of observations with non-zero prior weight."""
        weights = self.model_data.prior_weights
        if len(weights) and weights.min() > 0:  # the usual case: a reduction, cheaper than the count
            return len(weights)
        return int(np.count_nonzero(weights))

    @property
    def nobs_bic(self) -> int:
        """n in BIC's log(n): every row of the fit, zero prior weights included, as R's ``BIC(glm)``
        (which takes logLik's "nobs", not ``nobs()``); for the gaussian, whose llf leaves the
        zero-weight rows out (see the module docstring), ``nobs``."""
        if isinstance(self.family, Gaussian):
            return self.nobs
        return len(self.model_data.y)

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
        if np.min(weights) > 0:  # every row used: no masks
            # sum w r^2 by numpy's loop in one pass (not BLAS: see weighted_sum), no array of squares
            return float(np.einsum("i,i,i->", weights, residuals, residuals)) / self.df_resid
        used = weights > 0
        return float(np.sum(weights[used] * residuals[used] ** 2) / self.df_resid)

    @cached_property
    def llf(self) -> float:
        """Log-likelihood (NaN for quasi families), as R's ``logLik.glm`` (``glm.nb``'s with estimated theta)."""
        if self._loglik is not None:
            return self._loglik
        d = self.model_data
        return self.family.loglik(d.y, self._fit.mu, d.prior_weights, d.n_trials, self.deviance)

    def loglik_obs(self) -> np.ndarray:
        """Per-observation log-likelihood contributions (for Vuong tests); NaN for quasi families."""
        d = self.model_data
        family = self.family
        if self.theta_estimate is not None:
            from glmformula.families.standard import NegativeBinomial

            family = NegativeBinomial(family.link, theta=self.theta)
        return family.loglik_obs(d.y, self._fit.mu, d.prior_weights, d.n_trials, self.deviance)

    @property
    def df_loglik(self) -> int:
        """Parameters counted by AIC/BIC: rank plus estimated dispersion parameters (and theta)."""
        return self.rank + self.family.n_dispersion_params + int(self.theta_estimate is not None)

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
        elif type == "anscombe":
            values = np.sqrt(d.prior_weights) * (self.family.anscombe(d.y) - self.family.anscombe(mu)) / (
                self.family.variance(mu) ** (1 / 6)
            )
        elif type == "partial":
            return self._partial_residuals()
        else:
            raise ValueError(
                f"unknown residual type {type!r}; choose deviance, pearson, working, response, anscombe or partial"
            )
        return pd.Series(values, index=d.row_labels, name=f"resid_{type}")

    def _partial_residuals(self) -> pd.DataFrame:
        """Working residuals plus each term's centred contribution (R's ``residuals(fit, "partial")``)."""
        X = self.model_data.design.to_dense()
        beta = np.nan_to_num(self.params.to_numpy())
        centred = X - X.mean(axis=0) if self.model_data.has_intercept else X
        columns = {}
        for name, columns_of_term in self.term_slices.items():
            if name != "1":
                columns[name] = self._fit.working_residuals + centred[:, columns_of_term] @ beta[columns_of_term]
        return pd.DataFrame(columns, index=self.model_data.row_labels)

    # -- questions to the model -----------------------------------------------
    def predict(self, newdata: Any = None, type: Literal["response", "link"] = "response",  # noqa: A002
                se: bool = False, level: float = 0.95, offset: Any = None, exposure: Any = None,
                unseen: Literal["error", "nan"] = "error"):
        """Predicted means (``type="response"``) or linear predictors (``"link"``).

        ``newdata=None`` predicts the fitted rows.  With ``se=True`` a DataFrame with
        ``fit``, ``se``, ``lower``, ``upper`` (interval at ``level`` built on the link scale).
        Categorical levels not seen in fitting raise an error naming the column and level,
        or give NaN with ``unseen="nan"``.  See ``glmformula.results.prediction``.
        """
        return _predict(self, newdata, type=type, se=se, level=level, offset=offset, exposure=exposure,
                        unseen=unseen)

    def anova(self, test: _anova.Test = None) -> pd.DataFrame:
        """R's sequential analysis of deviance; ``test`` is "Chisq"/"LRT", "F", "Rao" or None."""
        return _anova.sequential_anova(self, test)

    def drop1(self, scope: list[str] | None = None, test: _anova.Test = None) -> pd.DataFrame:
        """R's ``drop1``: deviance and AIC after dropping each term (marginal terms by default)."""
        return _anova.drop1(self, scope, test)

    def add1(self, scope: str | list[str], test: _anova.Test = None) -> pd.DataFrame:
        """R's ``add1``: deviance and AIC after adding each term of ``scope`` (``"~ x + z"`` or a list)."""
        return _anova.add1(self, scope, test)

    def wald_test_terms(self) -> pd.DataFrame:
        """A joint Wald test for each term (all columns of a categorical at once)."""
        return _anova.wald_test_terms(self)

    def dispersion_test(self, trafo=None, alternative: str = "greater"):
        """Cameron-Trivedi test of Poisson overdispersion (as ``AER::dispersiontest``); see
        ``glmformula.results.dispersion``."""
        from glmformula.results.dispersion import dispersion_test

        return dispersion_test(self, trafo, alternative)

    def influence(self) -> pd.DataFrame:
        """Hat values, Cook's distances, standardised and studentised residuals, dfbetas (R's definitions)."""
        return _influence(self)

    def plot(self, **kwargs):
        """R's four diagnostic panels (matplotlib Figure); see ``glmformula.plots.diagnostics``."""
        from glmformula.plots import diagnostics

        return diagnostics(self, **kwargs)

    def plot_rootogram(self, **kwargs):
        """Hanging rootogram for count models; see ``glmformula.plots.rootogram``."""
        from glmformula.plots import rootogram

        return rootogram(self, **kwargs)

    # -- export -------------------------------------------------------------
    def to_frame(self, alpha: float = 0.05) -> pd.DataFrame:
        """A tidy coefficient table: term, estimate, std_error, statistic, p_value, conf_low, conf_high."""
        from glmformula.report.export import tidy_frame

        return tidy_frame(self, alpha)

    def to_dict(self) -> dict[str, Any]:
        """Everything a report needs, as JSON-serialisable Python values (NaN as None)."""
        from glmformula.report.export import results_dict

        return results_dict(self)

    # -- reporting ---------------------------------------------------------
    def summary(self, alpha: float = 0.05, style: Literal["statsmodels", "r"] = "statsmodels", exp: bool = False,
                stars: bool = False):
        """A ``Summary`` that prints like statsmodels' (or R's ``summary.glm`` with ``style="r"``).

        ``exp=True`` shows exponentiated coefficients and intervals (rate or odds ratios);
        ``stars=True`` adds R's significance codes.  The summary renders as text,
        markdown, HTML and LaTeX.
        """
        from glmformula.report.summary import glm_summary

        return glm_summary(self, alpha=alpha, style=style, exp=exp, stars=stars)

    def __str__(self) -> str:
        return str(self.summary())

    def __repr__(self) -> str:
        return f"<GLMResults {self.family.name}({self.family.link.name}): {self.formula!r}, n={self.nobs}>"

    def _repr_html_(self) -> str:
        return self.summary()._repr_html_()
