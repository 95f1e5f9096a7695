"""Which fits ``gf.anova`` may compare, and MASS's ``anova.negbin`` for negative binomial fits.

An analysis of deviance compares deviances, which are comparable only between
fits of one family (with the same link and the same family parameters, such as
a fixed theta).  Negative binomial fits with theta estimated (``glm.nb``) each
have their own theta, so their deviances are not comparable; MASS compares
them by likelihood ratio instead, with the models sorted by residual degrees
of freedom (largest first):

    LR = 2 loglik_k - 2 loglik_(k-1),  df = the drop in residual df,
    P = P(chi2_df > LR).

Fits of different families (Poisson against negative binomial) are refused
with a pointer to the likelihood-based comparisons (``gf.lrtest``, ``gf.vuong``).
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats

from glmformula.exceptions import DataError

if TYPE_CHECKING:
    from glmformula.results.glm_results import GLMResults


def check_comparable(models: list[GLMResults]) -> bool:
    """Whether the models are ``glm.nb`` fits (then compared by ``compare_negbin``); refuse models whose
    deviances cannot be compared: negative binomial fits with and without theta estimated, or fits of
    different families, links or family parameters."""
    estimated = [m.theta_estimate is not None for m in models]
    if any(estimated):
        if not all(estimated):
            raise DataError(
                "gf.anova compares negative binomial fits with theta estimated only among themselves (as MASS's "
                f"anova.negbin); these are {_families(models)}: compare them by likelihood with gf.lrtest "
                "(nested) or gf.vuong, or by AIC"
            )
        return True
    if any(m.family != models[0].family for m in models[1:]):
        raise DataError(
            f"gf.anova compares deviances of fits of one family; these are {_families(models)}, whose deviances "
            "are not comparable: compare them by likelihood with gf.lrtest (nested) or gf.vuong, or by AIC"
        )
    return False


def _families(models: list[GLMResults]) -> str:
    return ", ".join(f"{m.family} (link {m.family.link.name})" for m in models)


def compare_negbin(models: list[GLMResults], test: str | None = "Chisq") -> pd.DataFrame:
    """MASS's ``anova(nb0, nb1, ...)``: likelihood-ratio tests of ``glm.nb`` fits, each with its own theta.

    Columns as MASS prints them: Model (the right-hand side), theta, Resid. df, 2 x log-lik., Test
    ("1 vs 2"), df, LR stat., Pr(Chi).
    """
    if test not in (None, "Chisq", "LRT"):
        warnings.warn("only Chi-squared LR tests are implemented for negative binomial fits", UserWarning,
                      stacklevel=4)  # the caller of gf.anova
    models = sorted(models, key=lambda m: -m.df_resid)  # stable, as R's sort.list
    df_resid = np.array([m.df_resid for m in models], dtype=float)
    twice_loglik = np.array([2 * m.llf for m in models])
    df = np.r_[np.nan, -np.diff(df_resid)]
    statistic = np.r_[np.nan, np.diff(twice_loglik)]
    table = pd.DataFrame(
        {
            "Model": [m.formula.split("~", 1)[1].strip() for m in models],
            "theta": [m.theta for m in models],
            "Resid. df": df_resid,
            "2 x log-lik.": twice_loglik,
            "Test": [""] + [f"{i} vs {i + 1}" for i in range(1, len(models))],
            "df": df,
            "LR stat.": statistic,
            "Pr(Chi)": np.r_[np.nan, stats.chi2.sf(statistic[1:], df[1:])],
        },
        index=pd.RangeIndex(1, len(models) + 1),
    )
    table.attrs["title"] = ("Likelihood ratio tests of Negative Binomial Models\n\n"
                            f"Response: {models[0].model_data.response_name}")
    return table


def warn_theta_fixed(results: GLMResults) -> None:
    """MASS's warning on the sequential table of a ``glm.nb`` fit, whose refits keep the final theta."""
    if results.theta_estimate is not None:
        warnings.warn("tests made without re-estimating 'theta'", UserWarning, stacklevel=4)  # res.anova's caller
