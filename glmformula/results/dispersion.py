"""Overdispersion test for Poisson fits (Cameron & Trivedi 1990, as ``AER::dispersiontest``).

Under H0: Var(Y) = mu, the auxiliary variable a_i = ((y_i - mu_i)^2 - y_i) / mu_i
has mean 0.  Without ``trafo`` the test is on Var(Y) = (1 + alpha) mu:

    z = sqrt(n) mean(a) / sd(a),   dispersion estimate = 1 + mean(a);

with ``trafo`` (a number k for mu^k, or a function) it is on
Var(Y) = mu + alpha trafo(mu): the t statistic of regressing a on
trafo(mu)/mu without intercept (k = 2 is the negative binomial NB2).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
from scipy import stats

from glmformula.exceptions import FamilyError

if TYPE_CHECKING:
    from glmformula.results.glm_results import GLMResults


@dataclass(frozen=True)
class TestResult:
    """A hypothesis test: statistic, p-value and the estimate it is about."""

    statistic: float
    pvalue: float
    estimate: float
    method: str
    alternative: str

    def __str__(self) -> str:
        return (f"{self.method}\nz = {self.statistic:.4f}, p-value = {self.pvalue:.4g}\n"
                f"alternative hypothesis: {self.alternative}\nestimate: {self.estimate:.6g}")


def dispersion_test(results: GLMResults, trafo: float | Callable[[np.ndarray], np.ndarray] | None = None,
                    alternative: Literal["greater", "two-sided", "less"] = "greater") -> TestResult:
    if results.family.name != "poisson":
        raise FamilyError(f"dispersion_test is for poisson fits; this model is {results.family.name}")
    if alternative not in ("greater", "two-sided", "less"):
        raise ValueError(f"alternative must be 'greater', 'two-sided' or 'less', got {alternative!r}")
    y, mu = results.model_data.y, results._fit.mu
    aux = ((y - mu) ** 2 - y) / mu
    if trafo is None:
        statistic = np.sqrt(len(aux)) * aux.mean() / aux.std(ddof=1)
        estimate, what = aux.mean() + 1, "dispersion"
        null = "true dispersion is greater than 1"
    else:
        transform = (lambda m: m**trafo) if isinstance(trafo, (int, float)) else trafo
        x = transform(mu) / mu
        slope = np.sum(x * aux) / np.sum(x**2)
        residual = aux - slope * x
        se = np.sqrt(np.sum(residual**2) / (len(aux) - 1) / np.sum(x**2))
        statistic, estimate, what = slope / se, slope, "alpha"
        null = "true alpha is greater than 0"
    if alternative == "greater":
        p = stats.norm.sf(statistic)
    elif alternative == "less":
        p = stats.norm.cdf(statistic)
        null = null.replace("greater", "less")
    else:
        p = 2 * stats.norm.sf(abs(statistic))
        null = null.replace("greater than", "not equal to")
    return TestResult(float(statistic), float(p), float(estimate), f"Overdispersion test ({what})", null)
