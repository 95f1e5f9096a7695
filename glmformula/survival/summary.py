"""The summary of a piecewise-exponential fit: two ``Summary`` tables rendered together.

The first holds the hazard ratios exp(beta) with their Wald intervals (and beta,
its standard error, z and p); the second the baseline hazard per interval.  Both
are ``glmformula.report.summary.Summary`` objects, so they render as text,
markdown, HTML and LaTeX like every other summary of the package.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from glmformula.report.summary import Rendered, Summary

if TYPE_CHECKING:
    from glmformula.survival.results import PWExpResults

#: Above this many intervals (the risk-set expansion) the baseline table is left to ``baseline_hazard()``.
_MAX_BASELINE_ROWS = 30


@dataclass(frozen=True, repr=False)  # repr is the text (Rendered)
class SurvivalSummary(Rendered):
    """Several summaries shown one after the other."""

    parts: tuple[Summary, ...]

    def as_text(self) -> str:
        return "\n\n".join(part.as_text() for part in self.parts)

    def as_markdown(self) -> str:
        return "\n".join(part.as_markdown() for part in self.parts)

    def as_html(self) -> str:
        return "".join(part.as_html() for part in self.parts)

    def as_latex(self) -> str:
        return "\n\n".join(part.as_latex() for part in self.parts)


def pwexp_summary(results: PWExpResults, alpha: float = 0.05) -> SurvivalSummary:
    """Hazard ratios and baseline hazard of a ``PWExpResults`` (see ``PWExpResults.summary``)."""
    glm, intervals = results.glm, results.intervals
    ratios = results.hazard_ratios(alpha)
    table = ratios[["hazard_ratio", "lower", "upper", "coef", "std_err", "z", "p_value"]]
    table.columns = ["exp(coef)", f"[{alpha / 2:g}", f"{1 - alpha / 2:g}]", "coef", "std err", "z", "P>|z|"]
    cut_text = ("every event time (Cox, Breslow ties)" if intervals.kind == "events"
                else ", ".join(f"{c:g}" for c in intervals.cuts) or "none (exponential model)")
    header = [
        ("Response", results.surv_response),
        ("Model", "piecewise exponential"),
        ("Fitted as", "Poisson GLM, log link"),
        ("Subjects", str(results.n_subjects)),
        ("Events", str(results.n_events)),
        ("Subjects dropped (NA)", str(results.n_dropped_subjects)),
        ("Split rows", str(glm.nobs)),
        ("Intervals", str(len(intervals))),
        ("Cuts", cut_text if len(cut_text) <= 40 else cut_text[:37] + "..."),
        ("Log-Likelihood", f"{glm.llf:.4f}"),
        ("Deviance", f"{glm.deviance:.4f}"),
        ("AIC", f"{glm.aic:.4f}"),
        ("Covariance Type", glm.cov_type),
        ("No. Iterations", str(glm.n_iter)),
    ]
    notes = ["exp(coef): hazard ratios with Wald intervals; std err, z and P>|z| are for coef (log scale)."]
    baseline = results.baseline_hazard(alpha)
    if len(baseline) > _MAX_BASELINE_ROWS:
        notes.append(f"Baseline hazard at {len(baseline)} event times: see baseline_hazard().")
    hazard_part = Summary("Piecewise-exponential survival model: hazard ratios", header, table, notes,
                          header_split=7)
    if len(baseline) > _MAX_BASELINE_ROWS:
        return SurvivalSummary((hazard_part,))
    return SurvivalSummary((hazard_part, _baseline_part(baseline, intervals.kind, alpha)))


def _baseline_part(baseline: pd.DataFrame, kind: str, alpha: float) -> Summary:
    table = pd.DataFrame({
        "events": baseline["events"].map(str),
        "exposure": baseline["exposure"].map(lambda value: f"{value:g}"),
        "hazard": baseline["hazard"],
        f"[{alpha / 2:g}": baseline["lower"],
        f"{1 - alpha / 2:g}]": baseline["upper"],
    }, index=baseline.index.astype(str))
    header = [("Hazard", "per unit of time" if kind == "cuts" else "cumulative hazard increment"),
              ("At covariates", "design values 0"), ("Interval", f"{100 * (1 - alpha):g}%, log scale"),
              ("Exposure", "person-time" if kind == "cuts" else "subjects at risk")]
    notes = ["Design values 0: reference levels of categorical covariates, numeric covariates at 0; "
             "predict() gives the curves for other values."]
    if np.any(baseline["events"] == 0):
        notes.append("Intervals without events have a hazard estimate of 0 and no finite interval.")
    return Summary("Baseline hazard per interval", header, table, notes, header_split=2)
