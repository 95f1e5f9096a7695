"""``GLMResults``: estimates, inference and fit statistics of a fitted GLM.

Names follow statsmodels (``params``, ``bse``, ``pvalues``, ``conf_int``,
``cov_params``, ``llf``, ``scale`` ...); the numbers follow R's ``glm`` and
``summary.glm``:

* dispersion phi: by default (``scale=None``, the family's own) 1 for
  poisson/binomial/negative binomial, otherwise the Pearson estimate
  sum(w_i r_i^2) / df_resid with the working weights and working residuals of
  the final IRLS step (R's ``summary.glm``); an explicit ``scale="pearson"`` or
  ``"deviance"`` estimates it for every family (R's ``summary`` of a
  ``negative.binomial(theta)`` glm uses the Pearson estimate), a number fixes it;
* Cov(beta) = phi (X'WX)^{-1} with W the working weights of the last step;
* z tests when phi is fixed, t tests on df_resid when it is estimated;
* AIC = -2 llf + 2 (rank + number of dispersion parameters), as R's
  ``family$aic`` + 2 rank; BIC with log(n) in place of 2, n as R's ``BIC``
  (the rows of the fit, zero prior weights included; see ``nobs_bic``).

Zero prior weights: those rows add nothing to the log-likelihood, as in R.  The
gaussian is the exception in R, whose ``gaussian()$aic`` takes -sum(log(w)), so
that its logLik is -Inf and AIC/BIC Inf; so it is here (the figures of the fit
without those rows are R's on ``subset = w > 0``: pass ``subset=`` to fit them).

Prediction, analysis of deviance, robust covariances, influence and profile
intervals live in their own modules; the methods here only delegate to them.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
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
from glmformula.formula.frame import FormulaSpec
from glmformula.results import anova as _anova
from glmformula.results import covariance as _covariance
from glmformula.results import fit_measures as _fit_measures
from glmformula.results import hypothesis as _hypothesis
from glmformula.results import residuals as _residuals
from glmformula.results.influence import influence as _influence
from glmformula.results.information import InformationCriteria, NegativeBinomialTheta
from glmformula.results.prediction import predict as _predict
from glmformula.results.prediction_results import PredictionResults, get_prediction
from glmformula.results.prediction_variance import ColumnCovariance, DenseCovariance, SolvedCovariance
from glmformula.results.profile import profile_conf_int
from glmformula.results.residuals import ResidualType
from glmformula.results.terms_prediction import predict_terms
from glmformula.results.update import update as _update


@dataclass(frozen=True)
class ModelData:
    """The data a fit was computed from, in the family's terms (after ``initialize``).

    y : (n,) response (proportions for binomial); prior_weights, n_trials,
    offset : (n,); row_labels : the caller's index labels of the rows used;
    n_dropped : rows dropped for missing values; design : the (n, p) design the fit used
    (``engine.design_protocol.Design``); freq_weights : (n,) frequency weights (statsmodels'),
    already multiplied into ``prior_weights``, or None (see ``glmformula.weighting``).
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
    freq_weights: np.ndarray | None = None


@dataclass(frozen=True)
class FitCall:
    """The arguments of the ``glm()`` call, kept to refit related models (add1, with_cov clusters, update).

    ``weights`` is the prior weight the model frame took (with ``var_weights`` and ``freq_weights``
    multiplied in); ``arguments`` every argument of the call but the formula and the data, as given; ``fitter``
    the function that made the fit, called again by ``update`` (results never import the fitter).
    """

    data: Any
    weights: Any = None
    offset: Any = None
    exposure: Any = None
    na_action: str = "drop"
    control: IRLSControl = field(default_factory=IRLSControl)
    trusted: bool = False
    arguments: Mapping[str, Any] = field(default_factory=dict)
    fitter: Callable[..., GLMResults] | None = None


class GLMResults(InformationCriteria, NegativeBinomialTheta):
    """A fitted generalized linear model.

    Created by ``glmformula.glm``.  Estimates are pandas objects indexed by
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
        scale: float | str | None = None,
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
        self._cluster_type: _covariance.ClusterType = "HC0"
        self.theta_estimate = theta
        self._loglik = loglik
        #: R's ``stepAIC(...)$anova``: the path of ``gf.step`` to this model (None if not from a step)
        self.step_path: pd.DataFrame | None = None

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
        if isinstance(cluster, str) or (isinstance(cluster, (list, tuple)) and cluster
                                        and all(isinstance(c, str) for c in cluster)):
            names = [cluster] if isinstance(cluster, str) else list(cluster)
            source = self.call.data
            missing = [name for name in names if not isinstance(source, pd.DataFrame) or name not in source.columns]
            if missing:
                raise DataError(f"cluster column(s) {', '.join(map(repr, missing))} not in the data")
            labels = source.loc[rows, names].to_numpy()
            return labels[:, 0] if isinstance(cluster, str) else labels
        values = np.asarray(cluster)
        if len(values) == len(rows):
            return values
        if isinstance(self.call.data, pd.DataFrame) and len(values) == len(self.call.data):
            return values[self.call.data.index.get_indexer(rows)]
        raise DataError(f"cluster has {len(values)} values but the model uses {len(rows)} rows")

    def with_cov(self, cov_type: _covariance.CovType, cluster: Any = None,
                 cluster_type: _covariance.ClusterType = "HC0") -> GLMResults:
        """The same fit with another covariance type (no refitting).

        ``cov_type="cluster"`` takes ``cluster=`` a column name, a list of column names (multiway
        clustering, as ``sandwich::vcovCL(cluster = ~ firm + year)``) or an array of labels ((n,) or
        (n, m)), and ``cluster_type`` "HC0" (``vcovCL``'s default on a glm) or "HC1" (times (n-1)/(n-k)).
        """
        other = copy.copy(self)
        for name in ("bse", "tvalues", "pvalues", "_cov", "_se", "_statistic", "_p"):
            other.__dict__.pop(name, None)
        _covariance.validate_cov_type(cov_type)
        _covariance.validate_cluster_type(cluster_type)
        other.cov_type = cov_type
        other._cluster = other._cluster_labels(cluster) if cov_type == "cluster" else None
        other._cluster_type = cluster_type
        return other

    def vcovCL(self, cluster: Any = None, type: _covariance.ClusterType = "HC0") -> pd.DataFrame:  # noqa: A002, N802
        """R's ``sandwich::vcovCL(fit, cluster, type)``: the cluster-robust covariance (see ``with_cov``);
        without ``cluster`` the fit's own clusters, or one per row (R's default)."""
        if cluster is None:
            cluster = self._cluster if self._cluster is not None else np.arange(len(self.model_data.y))
        return self.with_cov("cluster", cluster, cluster_type=type).cov_params()

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
            self.model_data.design, fit.working_weights, self._working_residuals(), fit.cov_unscaled,
            self.cov_type, self._cluster, cluster_type=self._cluster_type, freq_weights=self.model_data.freq_weights,
        )

    def cov_params(self) -> pd.DataFrame:
        """Covariance of the estimates: scale * (X'WX)^{-1}, or the sandwich of ``cov_type``."""
        return pd.DataFrame(self._cov, index=self._index, columns=self._index)

    def column_covariance(self) -> ColumnCovariance:
        """``cov_params()`` as read by parts (its columns, products and diagonal; 0 where aliased), for
        prediction standard errors: the model-based one by solves with the factor the fit kept, never the
        (p, p) inverse, unless it was formed already, the covariance is a sandwich or the fit kept no
        factor (it took the QR path); see ``results.prediction_variance``."""
        if self.cov_type == "nonrobust" and "_cov" not in self.__dict__:
            # the fit's last solve, with its factor (``engine.memory_pass.StandardErrors``)
            solve = getattr(getattr(self._fit, "standard_errors", None), "solve", None)
            solved = SolvedCovariance.of(solve, self._fit.aliased, self.scale, self._se**2)
            if solved is not None:
                return solved
        return DenseCovariance(self._cov)

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
        """True when the dispersion is estimated (``scale="pearson"``/``"deviance"``, or by default for the
        families with a free dispersion), so tests use t on df_resid."""
        option = self._scale_option
        return isinstance(option, str) or (option is None and not self.family.dispersion_fixed)

    @cached_property
    def pvalues(self) -> pd.Series:
        return pd.Series(self._p, index=self._index, name="P>|t|" if self.use_t else "P>|z|")

    def conf_int(self, alpha: float = 0.05, method: Literal["wald", "profile"] = "wald") -> pd.DataFrame:
        """Confidence intervals at level 1 - alpha, statsmodels' spelling: Wald by default, columns 0 and 1.

        ``"wald"``: params ± q bse, q from t(df_resid) when the scale is estimated, else normal;
        ``"profile"``: profile-likelihood intervals (see ``glmformula.results.profile``).  R's
        spelling, ``confint()``, gives profile intervals by default with R's column names.
        """
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must be between 0 and 1, got {alpha!r}")
        if method == "profile":
            intervals = profile_conf_int(self, alpha)
            intervals.columns = pd.RangeIndex(2)
            return intervals
        if method != "wald":
            raise ValueError(f"method must be 'wald' or 'profile', got {method!r}")
        return pd.DataFrame(self._wald_bounds(alpha), index=self._index, columns=pd.RangeIndex(2))

    def confint(self, parm: list[str] | None = None, level: float = 0.95,
                method: Literal["profile", "wald"] = "profile") -> pd.DataFrame:
        """R's ``confint(fit)``: profile-likelihood intervals by default, as MASS's ``confint.glm`` (and
        R >= 4.4's), with R's columns ``"2.5 %"``, ``"97.5 %"``; ``method="wald"`` gives
        ``confint.default``'s.  ``parm`` selects coefficients by name."""
        if not 0 < level < 1:
            raise ValueError(f"level must be between 0 and 1, got {level!r}")
        intervals = self.conf_int(1 - level, method=method)
        intervals.columns = [f"{round(100 * (1 - level) / 2, 1):g} %", f"{round(100 * (1 + level) / 2, 1):g} %"]
        return intervals if parm is None else intervals.loc[list(parm)]

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
        weights, freq = self.model_data.prior_weights, self.model_data.freq_weights
        if freq is not None:  # the observations of the expanded data
            return int(round(np.sum(freq[weights > 0])))
        if len(weights) and weights.min() > 0:  # the usual case: a reduction, cheaper than the count
            return len(weights)
        return int(np.count_nonzero(weights))

    @property
    def nobs_bic(self) -> int:
        """n in BIC's log(n): every row of the fit, zero prior weights included, as R's ``BIC(glm)``
        (which takes logLik's "nobs", not ``nobs()``)."""
        return int(round(_anova.n_rows(self)))

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
        if option is None and self.family.dispersion_fixed:
            return 1.0
        if self.df_resid <= 0:
            return float("nan")
        if option == "deviance":
            return self.deviance / self.df_resid
        weights, residuals = self._fit.working_weights, self._working_residuals()
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
        return _fit_measures.loglik_at(self, self._fit.mu)

    @cached_property
    def llnull(self) -> float:
        """Log-likelihood of the intercept-only model with the model's offset (statsmodels' ``llnull``; see
        ``glmformula.results.fit_measures``)."""
        return _fit_measures.llnull(self)

    def pseudo_rsquared(self, kind: _fit_measures.PseudoR2 = "cs") -> float:
        """statsmodels' pseudo R-squared: ``"mcf"`` McFadden's 1 - llf/llnull, ``"cs"`` Cox and Snell's
        1 - exp(2 (llnull - llf) / nobs)."""
        return _fit_measures.pseudo_rsquared(self, kind)

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

    def _working_residuals(self) -> np.ndarray:
        """R's working residuals (y - mu) / mu_eta(eta) at the final fit, as a new numpy array each call
        (``engine.irls.WorkingResiduals``), not kept: the results of a fit that never reads them hold no array
        of the data's length for them; the readers (the Pearson dispersion, a sandwich covariance, working or
        partial residuals, Rao tests) compute them when they read them."""
        return self._fit.working_residuals()

    def resid(self, type: ResidualType = "deviance"):  # noqa: A002 - statsmodels/R name
        """Residuals of the given type (R's ``residuals.glm``; see ``glmformula.results.residuals``).

        deviance: sign(y - mu) sqrt(w d(y, mu)); pearson: (y - mu) sqrt(w / V(mu));
        working: (y - mu) / mu_eta(eta); response: y - mu; anscombe; partial (a DataFrame).
        """
        return _residuals.residuals(self, type)

    @property
    def resid_deviance(self) -> pd.Series:
        """statsmodels' name for ``resid("deviance")``."""
        return self.resid("deviance")

    @property
    def resid_pearson(self) -> pd.Series:
        """statsmodels' name for ``resid("pearson")``."""
        return self.resid("pearson")

    @property
    def resid_response(self) -> pd.Series:
        """statsmodels' name for ``resid("response")``: y - mu."""
        return self.resid("response")

    @property
    def resid_working(self) -> pd.Series:
        """statsmodels' name for ``resid("working")``: (y - mu) g'(mu)."""
        return self.resid("working")

    # -- questions to the model -----------------------------------------------
    def predict(self, newdata: Any = None, type: Literal["response", "link", "terms"] = "response",  # noqa: A002
                se: bool = False, level: float = 0.95, offset: Any = None, exposure: Any = None,
                unseen: Literal["error", "nan"] = "error"):
        """Predicted means (``type="response"``), linear predictors (``"link"``) or R's ``"terms"``.

        ``newdata=None`` predicts the fitted rows.  With ``se=True`` a DataFrame with
        ``fit``, ``se``, ``lower``, ``upper`` (interval at ``level`` built on the link scale).
        Categorical levels not seen in fitting raise an error naming the column and level,
        or give NaN with ``unseen="nan"``.  See ``glmformula.results.prediction``.

        ``type="terms"`` is R's ``predict(fit, type = "terms")``: one column per term, centred
        over the fit, with the constant in ``attrs["constant"]`` (with ``se=True`` a
        ``TermsPrediction`` of ``fit``, ``se_fit`` and ``constant``); see
        ``glmformula.results.terms_prediction``.
        """
        if type == "terms":
            return predict_terms(self, newdata, se=se, offset=offset, exposure=exposure, unseen=unseen)
        return _predict(self, newdata, type=type, se=se, level=level, offset=offset, exposure=exposure,
                        unseen=unseen)

    def get_prediction(self, newdata: Any = None, offset: Any = None, exposure: Any = None,
                       which: Literal["mean", "linear"] = "mean") -> PredictionResults:
        """statsmodels' ``get_prediction``: ``.summary_frame(alpha)`` gives ``mean``, ``mean_se``,
        ``mean_ci_lower``, ``mean_ci_upper``; see ``glmformula.results.prediction_results``."""
        return get_prediction(self, newdata, offset=offset, exposure=exposure, which=which)

    def update(self, formula: str | None = None, data: Any = None, **changes: Any) -> GLMResults:
        """R's ``update``: the model refitted with ``formula`` (``"~ . - x"``, ``". ~ . + z"`` or a whole
        formula), new ``data`` or any other argument of ``gf.glm`` (``family=``, ``weights=`` ...);
        see ``glmformula.results.update``."""
        return _update(self, formula, data, **changes)

    def t_test(self, constraints: _hypothesis.Constraints) -> _hypothesis.TTestResults:
        """statsmodels' ``t_test``: one test per linear constraint (``"x1 = 0, x2 = x3"``, a matrix R or
        (R, q)); t on df_resid when the dispersion is estimated, else z.  See
        ``glmformula.results.hypothesis``."""
        return _hypothesis.t_test(self, constraints)

    def f_test(self, constraints: _hypothesis.Constraints) -> _hypothesis.WaldTestResults:
        """statsmodels' ``f_test``: the joint Wald test as F = W / q on (q, df_resid)."""
        return _hypothesis.f_test(self, constraints)

    def wald_test(self, constraints: _hypothesis.Constraints,
                  use_f: bool | None = None) -> _hypothesis.WaldTestResults:
        """statsmodels' ``wald_test``: W = (Rb - q)' (R V R')^{-1} (Rb - q), chi2, or F with ``use_f``
        (by default when the dispersion is estimated)."""
        return _hypothesis.wald_test(self, constraints, use_f)

    def summary2(self, alpha: float = 0.05):
        """statsmodels' ``summary2()`` as data: ``.tables[0]`` the model information, ``.tables[1]`` the
        coefficients (``Coef.``, ``Std.Err.``, ``z``/``t``, ``P>|z|``, ``[0.025``, ``0.975]``)."""
        from glmformula.results.summary2 import summary2

        return summary2(self, alpha)

    def anova(self, test: _anova.Test = None) -> pd.DataFrame:
        """R's sequential analysis of deviance; ``test`` is "Chisq"/"LRT", "F", "Rao" or None (for a ``glm.nb``
        fit "Chisq", with MASS's warning that the refits keep the final theta)."""
        return _anova.sequential_anova(self, test)

    def drop1(self, scope: list[str] | None = None, test: _anova.Test = None, k: float = 2.0) -> pd.DataFrame:
        """R's ``drop1``: deviance and AIC (penalty ``k``) after dropping each term (marginal terms by default)."""
        return _anova.drop1(self, scope, test, k)

    def add1(self, scope: str | list[str], test: _anova.Test = None, k: float = 2.0) -> pd.DataFrame:
        """R's ``add1``: deviance and AIC (penalty ``k``) after adding each term of ``scope`` (``"~ x + z"`` or a
        list)."""
        return _anova.add1(self, scope, test, k)

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
        if self.model_data.freq_weights is not None:
            raise DataError("influence() is per observation; with freq_weights= the rows are groups of "
                            "observations: expand the rows (data.loc[data.index.repeat(n)]) for it")
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
                stars: bool | None = None, data_name: str = "data"):
        """A ``Summary`` that prints like statsmodels' (or R 4.2's ``print(summary(glm))``).

        Parameters
        ----------
        alpha : float, default 0.05
            The intervals are at level 1 - alpha.
        style : {"statsmodels", "r"}, default "statsmodels"
            ``"r"`` prints R's layout: the Call, the deviance residuals, R's coefficient names
            (``factor(race)2``, ``I(wt^2)``) and R's number formats.
        exp : bool, default False
            Also show exponentiated coefficients and intervals (rate or odds ratios).
        stars : bool, optional
            R's significance codes; by default shown with ``style="r"`` (as R does) and not otherwise.
        data_name : str, default "data"
            The name of the data in the R-style Call line (``data = birthwt``).

        Returns
        -------
        Summary
            Renders as text (``print``), markdown, HTML and LaTeX.
        """
        if style == "r":
            from glmformula.report.r_summary import r_glm_summary

            return r_glm_summary(self, alpha=alpha, exp=exp, stars=stars is not False, data_name=data_name)
        if style != "statsmodels":
            raise ValueError(f"style must be 'statsmodels' or 'r', got {style!r}")
        from glmformula.report.summary import glm_summary

        return glm_summary(self, alpha=alpha, exp=exp, stars=stars)

    def __str__(self) -> str:
        return str(self.summary())

    def __repr__(self) -> str:
        return f"<GLMResults {self.family.name}({self.family.link.name}): {self.formula!r}, n={self.nobs}>"

    def _repr_html_(self) -> str:
        return self.summary()._repr_html_()
