"""Fitted models as plain data: a tidy coefficient table and a JSON-serialisable dict."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd


def tidy_frame(results, alpha: float = 0.05) -> pd.DataFrame:
    """term, estimate, std_error, statistic, p_value, conf_low, conf_high (one row per coefficient)."""
    intervals = results.conf_int(alpha)
    return pd.DataFrame({
        "term": list(results.params.index),
        "estimate": results.params.to_numpy(),
        "std_error": results.bse.to_numpy(),
        "statistic": results.tvalues.to_numpy(),
        "p_value": results.pvalues.to_numpy(),
        "conf_low": intervals.iloc[:, 0].to_numpy(),
        "conf_high": intervals.iloc[:, 1].to_numpy(),
    })


def _number(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _series(values: pd.Series) -> dict[str, float | None]:
    return {str(key): _number(value) for key, value in values.items()}


def results_dict(results) -> dict[str, Any]:
    """The estimates and fit statistics of a ``GLMResults`` as JSON-ready values (NaN as None)."""
    return {
        "formula": results.formula,
        "family": results.family.name,
        "link": results.family.link.name,
        "nobs": results.nobs,
        "n_dropped": results.n_dropped,
        "df_resid": results.df_resid,
        "df_model": results.df_model,
        "params": _series(results.params),
        "bse": _series(results.bse),
        "pvalues": _series(results.pvalues),
        "conf_int": {str(k): [_number(lo), _number(hi)] for k, (lo, hi) in results.conf_int().iterrows()},
        "aliased": results.aliased,
        "deviance": _number(results.deviance),
        "null_deviance": _number(results.null_deviance),
        "pearson_chi2": _number(results.pearson_chi2),
        "scale": _number(results.scale),
        "llf": _number(results.llf),
        "aic": _number(results.aic),
        "bic": _number(results.bic),
        "converged": results.converged,
        "n_iter": results.n_iter,
        "cov_type": results.cov_type,
        "theta": _number(results.theta) if results.theta is not None else None,
    }
