"""``PWExpResults``: a piecewise-exponential fit read as a survival model.

The numbers come from the Poisson ``GLMResults`` of the split data (kept as
``.glm``, with every GLM question it answers); this class only regroups them:

* the covariate coefficients as hazard ratios exp(beta) with Wald intervals;
* the interval coefficients as the baseline hazard lambda_k = exp(Intercept + alpha_k),
  the hazard at covariate design values 0 (reference levels, numeric 0);
* curves for new covariate values (``predict``; see ``glmformula.survival.curves``).
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from glmformula.exceptions import DataError
from glmformula.results.glm_results import GLMResults
from glmformula.results.prediction import as_frame, unseen_levels
from glmformula.survival.curves import checked_times, curve_frame, curves
from glmformula.survival.episodes import Intervals, SplitResult


class PWExpResults:
    """A fitted piecewise-exponential proportional-hazards model (created by ``gf.pwexp``).

    glm : the Poisson ``GLMResults`` of ``event ~ interval + covariates + offset(log(exposure))``.
    data : the split data it was fitted on (one row per subject and interval).
    intervals : the intervals' bounds and labels.
    formula : the survival formula as given.
    """

    def __init__(self, *, formula: str, surv_response: str, glm: GLMResults, split: SplitResult, episode: str):
        self.formula = formula
        self.surv_response = surv_response
        self.glm = glm
        self._split = split
        self.episode = episode

    # -- what was fitted ------------------------------------------------------
    @property
    def data(self) -> pd.DataFrame:
        return self._split.frame

    @property
    def intervals(self) -> Intervals:
        return self._split.intervals

    @property
    def cuts(self) -> np.ndarray:
        """The cut points (the event times for ``cuts="events"``)."""
        return self.intervals.cuts

    @cached_property
    def _used(self) -> np.ndarray:
        """Positions in ``data`` of the rows the GLM used (rows with missing covariates dropped)."""
        return self.data.index.get_indexer(self.glm.model_data.row_labels)

    @property
    def n_subjects(self) -> int:
        """Subjects (input rows) in the fit."""
        return int(len(np.unique(self._split.subject[self._used])))

    @property
    def n_dropped_subjects(self) -> int:
        """Input rows left out for missing covariates."""
        return int(len(np.unique(self._split.subject))) - self.n_subjects

    @property
    def n_events(self) -> int:
        return int(self.data["event"].to_numpy()[self._used].sum())

    @cached_property
    def _baseline_mask(self) -> np.ndarray:
        """Design columns of the intercept and the interval term (the others are covariates)."""
        mask = np.zeros(len(self.glm.params), dtype=bool)
        for term, columns in self.glm.term_slices.items():
            if term == "1" or term.strip("`") == self.episode:
                mask[columns] = True
        return mask

    @property
    def covariates(self) -> list[str]:
        """Names of the covariate coefficients (log hazard ratios)."""
        return [name for name, base in zip(self.glm.params.index, self._baseline_mask) if not base]

    # -- estimates --------------------------------------------------------------
    def hazard_ratios(self, alpha: float = 0.05) -> pd.DataFrame:
        """Covariate coefficients beta with the hazard ratios exp(beta) and their Wald intervals
        exp(beta -/+ q se) at level 1 - alpha."""
        glm, names = self.glm, self.covariates
        bounds = np.exp(glm.conf_int(alpha).loc[names].to_numpy())
        return pd.DataFrame({
            "coef": glm.params[names], "hazard_ratio": np.exp(glm.params[names]), "std_err": glm.bse[names],
            "z": glm.tvalues[names], "p_value": glm.pvalues[names], "lower": bounds[:, 0], "upper": bounds[:, 1],
        })

    def baseline_hazard(self, alpha: float = 0.05) -> pd.DataFrame:
        """The hazard in each interval at covariate design values 0, with its interval on the log scale.

        ``hazard`` is a rate per unit of time, or for ``cuts="events"`` the jump of the
        cumulative hazard at the interval's event time (Breslow's estimate); ``events``
        and ``exposure`` (person-time, or subjects at risk) are summed over the rows used.
        """
        if not 0 < alpha < 1:
            raise DataError(f"alpha must be between 0 and 1, got {alpha!r}")
        intervals, count = self.intervals, len(self.intervals)
        codes = self.data[self.episode].cat.codes.to_numpy()[self._used]
        events = np.bincount(codes, weights=self.data["event"].to_numpy()[self._used], minlength=count)
        exposure = np.bincount(codes, weights=self.data["exposure"].to_numpy()[self._used], minlength=count)
        design = self._baseline_design()
        eta = design @ self._beta
        se = np.sqrt(np.einsum("kp,pq,kq->k", design, self._cov, design))
        q = special.ndtri(1 - alpha / 2)
        return pd.DataFrame({
            "start": intervals.lower, "stop": intervals.upper, "events": events.astype(int), "exposure": exposure,
            "hazard": np.exp(eta), "lower": np.exp(eta - q * se), "upper": np.exp(eta + q * se),
        }, index=pd.Index(intervals.labels, name=self.episode))

    @property
    def _beta(self) -> np.ndarray:
        return np.nan_to_num(self.glm.params.to_numpy())

    @property
    def _cov(self) -> np.ndarray:
        return np.nan_to_num(self.glm.cov_params().to_numpy())

    def _baseline_design(self) -> np.ndarray:
        """(K, p) design rows of each interval with the covariate columns at 0, replayed from one
        fitted row of each interval (so any contrasts of the interval term are honoured)."""
        codes = self.data[self.episode].cat.codes.to_numpy()[self._used]
        present, first = np.unique(codes, return_index=True)
        rows = self._design(self.data.iloc[self._used[first]])
        design = np.full((len(self.intervals), len(self._beta)), np.nan)
        design[present] = np.where(self._baseline_mask, rows, 0.0)
        return design

    def _design(self, frame: pd.DataFrame) -> np.ndarray:
        encoded = self.glm.model_data.spec.design(frame)
        return encoded.mask(encoded.isna()).to_numpy(dtype=float)

    # -- curves -------------------------------------------------------------------
    def predict(self, newdata: Any, times: Any = None, level: float = 0.95) -> pd.DataFrame:
        """Hazard, cumulative hazard and survival curves for new covariate values, with bands.

        ``newdata`` holds the covariates (one row per curve); ``times`` defaults to the
        start of follow-up and each interval's end (the event times for ``cuts="events"``).
        Returns a long frame, one row per (newdata row, time): ``row`` (the newdata index
        label), ``time``, ``interval``, ``hazard`` with ``hazard_lower``/``hazard_upper``,
        ``cumhaz`` with ``cumhaz_se`` and its band, ``survival`` = exp(-cumhaz) with its
        band; bands at ``level`` on the log scale (see ``glmformula.survival.curves``).
        Times past the last follow-up carry the last interval's hazard on (an extrapolation).
        """
        if not isinstance(level, (int, float)) or not 0 < level < 1:
            raise DataError(f"level must be a number between 0 and 1, got {level!r}")
        newdata = as_frame(newdata)
        if not len(newdata):
            raise DataError("newdata has no rows")
        times = checked_times(times, self.intervals)
        count, labels = len(self.intervals), list(self.intervals.labels)
        expanded = newdata.iloc[np.repeat(np.arange(len(newdata)), count)].reset_index(drop=True)
        expanded[self.episode] = pd.Categorical.from_codes(np.tile(np.arange(count), len(newdata)),
                                                           categories=labels)
        expanded["exposure"] = 1.0
        unseen_levels(self.glm.model_data.spec.model_spec, expanded, "error")  # names the column and level
        design = self._design(expanded).reshape(len(newdata), count, -1)
        fitted = curves(design, self._beta, self._cov, self.intervals, times, level)
        return curve_frame(fitted, newdata.index, self.intervals.labels)

    # -- reporting ----------------------------------------------------------------
    def summary(self, alpha: float = 0.05):
        """Hazard ratios with intervals and the baseline hazard per interval (a ``SurvivalSummary``)."""
        from glmformula.survival.summary import pwexp_summary

        return pwexp_summary(self, alpha)

    def __str__(self) -> str:
        return str(self.summary())

    def _repr_html_(self) -> str:
        return self.summary()._repr_html_()

    def __repr__(self) -> str:
        return (f"<PWExpResults {self.formula!r}: {self.n_subjects} subjects, {self.n_events} events, "
                f"{len(self.intervals)} intervals>")
