"""statsmodels' ``summary2()`` as data: two DataFrames, the model information and the coefficients.

``tables[1]`` has statsmodels' columns ``Coef.``, ``Std.Err.``, ``z`` (``t`` when the
dispersion is estimated), ``P>|z|``, ``[0.025``, ``0.975]`` (at level 1 - alpha);
``tables[0]`` the information block in statsmodels' four columns (name, value, name,
value), its numbers as text.  Rendering is ``str()``; the full summaries are ``summary()``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from glmformula.results.glm_results import GLMResults


@dataclass(frozen=True)
class Summary2:
    """``tables``: [information, coefficients], as statsmodels' ``Summary`` of ``summary2()``."""

    tables: list[pd.DataFrame] = field(default_factory=list)
    title: str = "Results: Generalized linear model"

    def __str__(self) -> str:
        info = self.tables[0].to_string(header=False, index=False)
        return f"{self.title}\n{info}\n\n{self.tables[1].to_string(float_format=lambda v: f'{v:.4f}')}"


def summary2(results: GLMResults, alpha: float = 0.05) -> Summary2:
    label = "t" if results.use_t else "z"
    bounds = results.conf_int(alpha)
    coefficients = pd.DataFrame({
        "Coef.": results.params, "Std.Err.": results.bse, label: results.tvalues, f"P>|{label}|": results.pvalues,
        f"[{alpha / 2:g}": bounds[0], f"{1 - alpha / 2:g}]": bounds[1],
    })
    left = [("Model:", "GLM"), ("Model Family:", results.family.name), ("Link Function:", results.family.link.name),
            ("Dependent Variable:", results.model_data.response_name),
            ("Date:", datetime.now().strftime("%Y-%m-%d %H:%M")), ("No. Observations:", str(results.nobs)),
            ("Df Model:", str(results.df_model)), ("Df Residuals:", str(results.df_resid))]
    right = [("Method:", "IRLS"), ("AIC:", _number(results.aic)), ("BIC:", _number(results.bic)),
             ("Log-Likelihood:", _number(results.llf)), ("LL-Null:", _number(results.llnull)),
             ("Deviance:", _number(results.deviance)), ("Pearson chi2:", _number(results.pearson_chi2)),
             ("Scale:", _number(results.scale))]
    info = pd.DataFrame([[a, b, c, d] for (a, b), (c, d) in zip(left, right)])
    return Summary2([info, coefficients])


def _number(value: float) -> str:
    return f"{value:.4f}"
