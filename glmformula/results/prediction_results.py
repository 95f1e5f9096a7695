"""statsmodels' ``get_prediction``: predictions with standard errors and intervals as an object.

``res.get_prediction(newdata).summary_frame(alpha)`` has statsmodels' columns ``mean``,
``mean_se``, ``mean_ci_lower``, ``mean_ci_upper`` (with ``which="linear"``: ``predicted``,
``se``, ``ci_lower``, ``ci_upper``).  The numbers are those of ``res.predict(se=True)``
(R's ``predict.glm``): se of the mean by the delta method, intervals built on the link
scale and mapped through the inverse link.  The quantile is normal, or t on df_resid when
the dispersion is estimated (statsmodels' GLM with ``use_t=True``; by default statsmodels
takes the normal quantile for every family).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from scipy import special

from glmformula.families.links import Link
from glmformula.formula.frame import ArrayOrColumn
from glmformula.results.prediction import predict

if TYPE_CHECKING:
    from glmformula.results.glm_results import GLMResults


@dataclass(frozen=True)
class PredictionResults:
    """Predicted means (or linear predictors, ``which="linear"``) with their standard errors.

    ``predicted``/``se`` are on the scale asked for; ``linpred_values``/``linpred_se`` on the link scale,
    from which intervals are built.
    """

    predicted: np.ndarray
    se: np.ndarray
    linpred_values: np.ndarray
    linpred_se: np.ndarray
    link: Link | None
    df: float
    row_labels: pd.Index

    @property
    def predicted_mean(self) -> np.ndarray:
        return self.predicted

    @property
    def se_mean(self) -> np.ndarray:
        return self.se

    @property
    def linpred(self) -> PredictionResults:
        """The same predictions on the link scale."""
        return PredictionResults(self.linpred_values, self.linpred_se, self.linpred_values, self.linpred_se, None,
                                 self.df, self.row_labels)

    def conf_int(self, alpha: float = 0.05) -> np.ndarray:
        """(n, 2) intervals at level 1 - alpha: g^{-1}(eta -/+ q se(eta))."""
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must be between 0 and 1, got {alpha!r}")
        q = special.stdtrit(self.df, 1 - alpha / 2) if np.isfinite(self.df) else special.ndtri(1 - alpha / 2)
        lower, upper = self.linpred_values - q * self.linpred_se, self.linpred_values + q * self.linpred_se
        if self.link is not None:
            with np.errstate(all="ignore"):
                lower, upper = self.link.inverse(lower), self.link.inverse(upper)
        return np.column_stack([np.minimum(lower, upper), np.maximum(lower, upper)])

    def summary_frame(self, alpha: float = 0.05) -> pd.DataFrame:
        bounds = self.conf_int(alpha)
        if self.link is None:
            names = ("predicted", "se", "ci_lower", "ci_upper")
        else:
            names = ("mean", "mean_se", "mean_ci_lower", "mean_ci_upper")
        return pd.DataFrame(dict(zip(names, (self.predicted, self.se, bounds[:, 0], bounds[:, 1]))),
                            index=self.row_labels)


def get_prediction(results: GLMResults, newdata: Any = None, *, offset: ArrayOrColumn = None,
                   exposure: ArrayOrColumn = None, which: Literal["mean", "linear"] = "mean",
                   unseen: Literal["error", "nan"] = "error") -> PredictionResults:
    if which not in ("mean", "linear"):
        raise ValueError(f"which must be 'mean' or 'linear', got {which!r}")
    link_scale = predict(results, newdata, type="link", se=True, offset=offset, exposure=exposure, unseen=unseen)
    eta, se_eta = link_scale["fit"].to_numpy(), link_scale["se"].to_numpy()
    df = float(results.df_resid) if results.use_t else np.inf
    if which == "linear":
        return PredictionResults(eta, se_eta, eta, se_eta, None, df, link_scale.index)
    link = results.family.link
    with np.errstate(all="ignore"):
        mean, se_mean = link.inverse(eta), se_eta * np.abs(link.mu_eta(eta))
    return PredictionResults(mean, se_mean, eta, se_eta, link, df, link_scale.index)
