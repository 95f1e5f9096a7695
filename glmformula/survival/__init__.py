"""Survival analysis as Poisson regression: piecewise-exponential models.

* ``split`` — R's ``survival::survSplit``: one row per subject and interval of
  follow-up (or per risk set, ``cuts="events"``);
* ``pwexp`` — ``Surv(time, status) ~ x`` fitted as the Poisson GLM
  ``event ~ interval + x + offset(log(exposure))`` on the split data, with hazard
  ratios, the baseline hazard per interval and survival curves with bands;
* ``person_years`` — the split data aggregated by covariate pattern and interval,
  on which the same model gives the same estimates from far fewer rows.
"""

from glmformula.survival.episodes import Intervals, split
from glmformula.survival.model import SurvFormula, parse_surv_formula, pwexp
from glmformula.survival.results import PWExpResults
from glmformula.survival.summary import SurvivalSummary
from glmformula.survival.tables import person_years

__all__ = ["Intervals", "PWExpResults", "SurvFormula", "SurvivalSummary", "parse_surv_formula", "person_years",
           "pwexp", "split"]
