"""``pwexp()``: the piecewise-exponential proportional-hazards model as a Poisson GLM.

With the follow-up split at cuts into intervals k (``split``), a hazard that is
constant within each interval and proportional across subjects,

    lambda_i(t) = lambda_k exp(x_i' beta)        for t in interval k,

has the likelihood, up to a constant, of independent Poisson counts d_ik (the
event indicator of subject i in interval k) with means

    mu_ik = exposure_ik lambda_k exp(x_i' beta),
    log mu_ik = log(exposure_ik) + alpha_k + x_i' beta,      alpha_k = log lambda_k

(Holford 1980, Laird & Olivier 1981).  So the model is the Poisson GLM

    event ~ interval + x + offset(log(exposure))

on the split rows, fitted by the front door ``gf.glm`` (``glmformula.api``): its estimates, standard
errors and deviance are R's ``glm`` on ``survSplit`` output.  exp(beta) are
hazard ratios; exp(Intercept + interval_k) is the hazard in interval k at
covariate design values 0.  With ``cuts="events"`` (one interval per event
time, exposure 1) the beta are Cox's estimates with Breslow ties (Whitehead
1980), and the curves are Breslow's.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from glmformula.api import glm
from glmformula.exceptions import FormulaError, GLMWarning
from glmformula.formula.parse import expand_dot
from glmformula.survival.episodes import Cuts, SplitResult, split_follow_up
from glmformula.survival.results import PWExpResults

_SURV = re.compile(r"^\s*Surv\s*\((?P<arguments>[^()]*)\)\s*$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class SurvFormula:
    """``Surv(time, status) ~ rhs`` or ``Surv(start, time, status) ~ rhs``, taken apart."""

    time: str
    status: str
    start: str | None
    rhs: str

    @property
    def response(self) -> str:
        names = [self.start, self.time, self.status] if self.start else [self.time, self.status]
        return f"Surv({', '.join(names)})"


def parse_surv_formula(formula: str) -> SurvFormula:
    """Split a survival formula into its ``Surv()`` columns and its right-hand side."""
    if not isinstance(formula, str) or formula.count("~") != 1:
        raise FormulaError(f"pwexp needs one formula 'Surv(time, status) ~ terms', got {formula!r}")
    lhs, rhs = formula.split("~")
    match = _SURV.match(lhs)
    names = [_column(name) for name in match.group("arguments").split(",")] if match else []
    if len(names) not in (2, 3) or not all(names):
        raise FormulaError(f"the response of {formula!r} must be Surv(time, status) or Surv(start, time, status) "
                           "with column names as arguments")
    if not rhs.strip():
        raise FormulaError(f"{formula!r} has no right-hand side: write '~ 1' for no covariates")
    start = names[0] if len(names) == 3 else None
    return SurvFormula(time=names[-2], status=names[-1], start=start, rhs=rhs.strip())


def pwexp(
    formula: str,
    data: pd.DataFrame,
    cuts: Cuts,
    *,
    id: str | None = None,  # noqa: A002 - R's argument name
    episode: str = "interval",
    na_action: str = "drop",
    cov_type: str = "nonrobust",
    cluster: str | None = None,
    tol: float = 1e-8,
    maxiter: int = 25,
) -> PWExpResults:
    """Fit a piecewise-exponential proportional-hazards model (a Poisson GLM on split data).

    Parameters
    ----------
    formula : str
        ``"Surv(time, status) ~ age + sex"`` (or ``Surv(start, time, status)`` with
        entry times, for left truncation); the right-hand side takes the whole
        formula vocabulary of ``glm`` and ``.`` stands for the other columns.
    data : pandas.DataFrame
        One row per subject; the status is coded 0/1, FALSE/TRUE or 1/2.
    cuts : sequence of float, int or "events"
        Cut points, a number of quantile intervals of the event times, or
        ``"events"`` for Cox's model with Breslow ties (see ``glmformula.survival.split``).
    id : str, optional
        A subject identifier kept in (or added to) the split data, e.g. for
        ``cov_type="cluster", cluster=id``.
    episode : str, default "interval"
        The name of the interval column (and of its term in the model).
    na_action : {"drop", "raise"}, default "drop"
        As for ``glm``; rows with missing covariates are dropped (the summary counts
        the subjects).
    cov_type : str, default "nonrobust"
        As for ``glm``.
    cluster : str, optional
        As for ``glm``.
    tol : float, default 1e-8
        As for ``glm``.
    maxiter : int, default 25
        As for ``glm``.

    Returns
    -------
    PWExpResults
        Hazard ratios, baseline hazard per interval, curves with bands
        (``predict``), and the underlying ``GLMResults`` as ``.glm``.
    """
    surv = parse_surv_formula(formula)
    split = split_follow_up(data, surv.time, surv.status, cuts, start=surv.start, id=id, episode=episode)
    _warn_intervals_without_events(split, episode)
    survival_columns = {surv.time, surv.status, surv.start, id}
    rhs = expand_dot(surv.rhs, [str(c) for c in data.columns], survival_columns)
    interval_term = episode if _IDENTIFIER.match(episode) else f"`{episode}`"
    if len(split.intervals) == 1:  # no cuts: the exponential model, its one hazard is the intercept's
        glm_formula = f"event ~ {rhs} + offset(log(exposure))"
    else:
        glm_formula = f"event ~ {interval_term} + {rhs} + offset(log(exposure))"
    fit = glm(glm_formula, split.frame, "poisson", na_action=na_action, cov_type=cov_type, cluster=cluster,
              tol=tol, maxiter=maxiter)
    return PWExpResults(formula=formula, surv_response=surv.response, glm=fit, split=split, episode=episode)


def _column(argument: str) -> str:
    name = argument.strip()
    if len(name) > 1 and name[0] == name[-1] == "`":
        return name[1:-1]
    return name


def _warn_intervals_without_events(split: SplitResult, episode: str) -> None:
    codes = split.frame[episode].cat.codes.to_numpy()
    events = np.bincount(codes, weights=split.frame["event"].to_numpy(), minlength=len(split.intervals))
    empty = [label for label, count in zip(split.intervals.labels, events) if count == 0]
    if empty:
        warnings.warn(
            f"no events in interval(s) {', '.join(empty)}: their hazard estimate is 0 and the coefficients "
            "diverge; merge them with a neighbour (fewer or other cuts)",
            GLMWarning,
            stacklevel=3,
        )
