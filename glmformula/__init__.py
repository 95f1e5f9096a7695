"""glmformula: R-style formula GLMs on pandas DataFrames.

>>> import glmformula as gf
>>> df = gf.datasets.load("insurance")
>>> res = gf.glm("Claims ~ C(District) + Group + Age + offset(log(Holders))", data=df, family="poisson")
>>> print(res.summary())
"""

from glmformula import datasets, families, settings, survival
from glmformula.api import glm
from glmformula.count import CountModelResults, hurdle, zeroinfl
from glmformula.count.compare import compare, compare_families, lrtest, vuong
from glmformula.engine.irls import IRLSControl
from glmformula.exceptions import (
    BoundaryWarning,
    ConvergenceWarning,
    DataError,
    FamilyError,
    FitError,
    FormulaError,
    GLMFormulaError,
    GLMWarning,
    MissingColumnError,
    NonIntegerResponseWarning,
    OverdispersionWarning,
    PerfectSeparationWarning,
    RankDeficiencyWarning,
    ResponseError,
    UnsafeFormulaError,
)
from glmformula.families.registry import get_family as family
from glmformula.families.registry import get_link as link
from glmformula.families.registry import register_family, register_link
from glmformula.penalized import cv_glm, glm_path
from glmformula.results.glm_results import GLMResults
from glmformula.survival import pwexp

__version__ = "0.1.0"

__all__ = [
    "BoundaryWarning", "ConvergenceWarning", "DataError", "FamilyError", "FitError", "FormulaError",
    "GLMFormulaError", "GLMResults", "GLMWarning", "IRLSControl", "MissingColumnError",
    "NonIntegerResponseWarning", "OverdispersionWarning", "PerfectSeparationWarning", "RankDeficiencyWarning",
    "ResponseError",
    "UnsafeFormulaError", "anova", "datasets", "families", "family", "glm", "link", "register_family",
    "register_link", "settings", "table", "plot_coefs", "CountModelResults", "compare", "compare_families", "hurdle",
    "lrtest", "vuong", "zeroinfl", "cv_glm", "glm_path", "pwexp", "survival", "step",
]


def anova(*models: GLMResults, test: str | None = None):
    """R's ``anova(m0, m1, ...)`` for nested models (F tests use the largest model's dispersion); ``glm.nb`` fits
    as MASS's ``anova.negbin`` (likelihood ratios); fits of different families are refused."""
    from glmformula.results.anova import compare_models

    return compare_models(list(models), test)


def step(model: GLMResults, scope: str | dict[str, str] | None = None, direction: str | None = None,
         k: float = 2.0, steps: int = 1000) -> GLMResults:
    """MASS's ``stepAIC``: add and drop terms while the AIC (penalty ``k`` per parameter) falls.

    ``scope`` is the largest model (``"~ a*b*c"``, or relative to the model: ``"~ .^2"``) or
    ``{"upper": ..., "lower": ...}``; ``direction`` is "both", "backward" or "forward" (left out:
    "backward" without a scope and "both" with one, as R).  The model returned carries R's path table
    in ``step_path``; ``k=np.log(n)`` selects by BIC.  See ``glmformula.results.selection``.
    """
    from glmformula.results.selection import step as _step

    return _step(model, scope, direction, k, steps)


def plot_coefs(models: list, labels: list[str] | None = None, alpha: float = 0.05):
    """Coefficients with confidence intervals for several models (matplotlib Figure)."""
    from glmformula.plots import coefficients

    return coefficients(models, labels, alpha)


def table(models: list[GLMResults], labels: list[str] | None = None):
    """Models side by side (coefficients with standard errors, N, deviance, AIC, dispersion)."""
    from glmformula.report.summary import models_table

    return models_table(models, labels)
