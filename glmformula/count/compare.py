"""Comparing count models: a table of fit statistics, likelihood-ratio and Vuong tests.

* ``compare([m1, m2, ...])``: one row per model (label, family, parameters,
  logLik, AIC, BIC, deviance, dispersion or theta, converged); nothing is
  recommended — the table speaks.
* ``lrtest(m0, m1)``: LR = 2 (llf_1 - llf_0) on df = k_1 - k_0.  When m1 adds
  only a negative binomial theta to m0 (Poisson against NB, ZIP against ZINB)
  the null value theta = inf is on the boundary of the parameter space and
  LR follows a 50:50 mixture of chi2_0 and chi2_1: the p-value is halved.
* ``vuong(m1, m2)``: for non-nested models, with m_i the difference of the
  per-observation log-likelihoods, z = sqrt(n) mean(m) / sd(m), and the AIC-
  and BIC-corrected versions subtracting (k_1 - k_2) / n and
  (k_1 - k_2) log(n) / (2 n) from every m_i (as pscl's ``vuong``).
* ``compare_families(formula, data, families=[...])`` fits each family.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from glmformula.exceptions import DataError, FamilyError, GLMWarning

ZERO_INFLATED = {"zip": ("zeroinfl", "poisson"), "zinb": ("zeroinfl", "negbin"), "zigeom": ("zeroinfl", "geometric"),
                 "hurdle-poisson": ("hurdle", "poisson"), "hurdle-negbin": ("hurdle", "negbin"),
                 "hurdle-geometric": ("hurdle", "geometric")}


def _family_label(model) -> str:
    family = model.family
    return family if isinstance(family, str) else family.name


def _n_params(model) -> int:
    return int(model.df_loglik)


def _dispersion(model) -> float:
    theta = getattr(model, "theta", None)
    if theta is not None:
        return float(theta)
    return float(getattr(model, "scale", np.nan))


def compare(models: list, labels: list[str] | None = None) -> pd.DataFrame:
    """A table with one row per model (see the module docstring).

    Parameters
    ----------
    models : list
        Fitted models: ``GLMResults`` or zero-inflated and hurdle results.
    labels : list of str, optional
        One label per model; the formulas by default.

    Returns
    -------
    ComparisonTable
        A DataFrame (label, family, n_params, logLik, AIC, BIC, deviance,
        dispersion_or_theta, converged) that prints in 80 columns.
    """
    labels = labels or [getattr(m, "formula", f"model {i}") for i, m in enumerate(models, start=1)]
    if len(labels) != len(models):
        raise DataError("give one label per model")
    rows = []
    for label, model in zip(labels, models):
        rows.append({
            "label": label,
            "family": _family_label(model),
            "n_params": _n_params(model),
            "logLik": model.llf,
            "AIC": model.aic,
            "BIC": model.bic,
            "deviance": getattr(model, "deviance", np.nan),
            "dispersion_or_theta": _dispersion(model),
            "converged": bool(model.converged),
        })
    return ComparisonTable(rows)


class ComparisonTable(pd.DataFrame):
    """The table of ``compare``: a plain DataFrame that prints in 80 columns (``comparison_text``).

    Anything computed from it (a selection, ``set_index``, ...) is a plain DataFrame again.
    """

    @property
    def _constructor(self):
        return pd.DataFrame

    def __repr__(self) -> str:
        return comparison_text(self)

    def __str__(self) -> str:
        return comparison_text(self)


#: Short headers and formats of the printed comparison (the DataFrame keeps the full names and numbers).
_PRINTED = {"n_params": ("k", "{:d}"), "logLik": ("logLik", "{:.2f}"), "AIC": ("AIC", "{:.2f}"),
            "BIC": ("BIC", "{:.2f}"), "deviance": ("deviance", "{:.2f}"),
            "dispersion_or_theta": ("disp/theta", "{:.4g}"),
            "converged": ("conv", "{}")}


def _printed_cell(column: str, value) -> str:
    if column not in _PRINTED:
        return str(value)
    if isinstance(value, float) and np.isnan(value):
        return ""
    return _PRINTED[column][1].format(value)


def comparison_text(table: pd.DataFrame) -> str:
    """The comparison as text narrow enough for an 80-column terminal: numbers to 2 decimals, short
    headers (k = parameters, disp/theta = dispersion or negative binomial theta), the family column
    only where it differs from the label."""
    columns = ["label"]
    if "family" in table and (table["family"].astype(str) != table["label"].astype(str)).any():
        columns.append("family")
    headers = list(columns)
    for name, (header, _) in _PRINTED.items():
        if name in table:
            columns.append(name)
            headers.append(header)
    shown = pd.DataFrame({header: [_printed_cell(name, value) for value in table[name]]
                          for name, header in zip(columns, headers)})
    return shown.to_string(index=False, justify="right")


@dataclass(frozen=True)
class LRTestResult:
    statistic: float
    df: int
    pvalue: float
    boundary: bool

    def __str__(self) -> str:
        note = " (boundary: p-value halved, 50:50 chi2 mixture)" if self.boundary else ""
        return f"Likelihood ratio test: LR = {self.statistic:.4f} on {self.df} df, p = {self.pvalue:.4g}{note}"


def _adds_only_theta(small, large) -> bool:
    small_family, large_family = _family_label(small), _family_label(large)
    pairs = {("poisson", "negative_binomial"), ("zip", "zinb"), ("hurdle-poisson", "hurdle-negbin")}
    return (small_family, large_family) in pairs and _n_params(large) - _n_params(small) == 1 and (
        getattr(large, "theta_estimate", True) is not None)


def lrtest(small, large) -> LRTestResult:
    """Likelihood-ratio test of nested models (see the module docstring for the boundary case).

    Parameters
    ----------
    small : GLMResults or CountModelResults
        The restricted model.
    large : GLMResults or CountModelResults
        The model that contains it.

    Returns
    -------
    LRTestResult
        ``statistic``, ``df``, ``pvalue`` and whether the boundary correction was applied.
    """
    if _n_params(large) <= _n_params(small):
        small, large = large, small
    df = _n_params(large) - _n_params(small)
    if df <= 0:
        raise DataError("lrtest needs models with different numbers of parameters (nested models)")
    if getattr(small, "nobs", None) != getattr(large, "nobs", None):
        raise DataError("lrtest: the models were fitted to different numbers of observations")
    statistic = max(0.0, 2 * (large.llf - small.llf))
    boundary = _adds_only_theta(small, large)
    pvalue = stats.chi2.sf(statistic, df)
    if boundary:
        pvalue = 0.5 * pvalue
    return LRTestResult(float(statistic), int(df), float(pvalue), boundary)


def loglik_obs(model) -> np.ndarray:
    return np.asarray(model.loglik_obs(), dtype=float)


def vuong(model1, model2) -> pd.DataFrame:
    """Vuong's test of non-nested models: positive z favours model1 (as pscl's ``vuong``).

    Parameters
    ----------
    model1 : GLMResults or CountModelResults
        The first model.
    model2 : GLMResults or CountModelResults
        The second model, fitted to the same rows.

    Returns
    -------
    pandas.DataFrame
        The raw, AIC-corrected and BIC-corrected tests: statistic, hypothesis, p-value.
    """
    m = loglik_obs(model1) - loglik_obs(model2)
    if len(m) == 0 or not np.all(np.isfinite(m)):
        raise DataError("vuong needs two likelihood-based models fitted to the same rows")
    n = len(m)
    k = _n_params(model1) - _n_params(model2)
    rows = []
    for label, correction in (("Raw", 0.0), ("AIC-corrected", k / n), ("BIC-corrected", k * np.log(n) / (2 * n))):
        adjusted = m - correction
        z = np.sqrt(n) * adjusted.mean() / adjusted.std(ddof=1)
        favoured = "model1 > model2" if z > 0 else "model2 > model1"
        rows.append({"test": label, "statistic": z, "hypothesis": favoured, "pvalue": stats.norm.sf(abs(z))})
    return pd.DataFrame(rows).set_index("test")


def accepted_family_names() -> list[str]:
    """Every name ``compare_families`` accepts: the GLM families and the zero-inflated and hurdle models."""
    from glmformula.families.registry import family_names

    return [*family_names(), *ZERO_INFLATED]


def _check_family_names(families) -> None:
    """Refuse an unknown name before fitting anything, listing every accepted name."""
    from glmformula.families.registry import get_family

    for name in families:
        if isinstance(name, str) and name in ZERO_INFLATED:
            continue
        try:
            get_family(name)
        except FamilyError:
            if isinstance(name, str) and "(" not in name:  # a bare name that is not known
                raise FamilyError(f"unknown family {name!r}; accepted: {', '.join(accepted_family_names())}") from None
            raise


def compare_families(formula: str, data: Any,
                     families: list[str] = ("poisson", "quasipoisson", "negative_binomial", "zip", "zinb"),
                     **kwargs) -> pd.DataFrame:
    """Fit ``formula`` with each family and compare them (see ``compare``).

    Parameters
    ----------
    formula : str
        R-style formula; ``count ~ x | z`` gives the zero part of zero-inflated and
        hurdle models its own terms (GLM families use the part before ``|``).
    data : pandas.DataFrame
        The data.
    families : list of str, default ["poisson", "quasipoisson", "negative_binomial", "zip", "zinb"]
        GLM family names, or zip, zinb, zigeom, hurdle-poisson, hurdle-negbin,
        hurdle-geometric; an unknown name is refused with the list of accepted ones.
    **kwargs
        Passed to every fit (``weights``, ``offset``, ``exposure``, ``na_action``).

    Returns
    -------
    ComparisonTable
        As ``compare``; ``.attrs["models"]`` holds the fitted models by label.
    """
    from glmformula.api import glm
    from glmformula.count.models import hurdle, zeroinfl

    _check_family_names(families)
    models, labels, messages = [], [], []
    for name in families:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", GLMWarning)
            if name in ZERO_INFLATED:
                kind, dist = ZERO_INFLATED[name]
                fit = zeroinfl if kind == "zeroinfl" else hurdle
                model = fit(formula, data, dist, **kwargs)
            else:
                model = glm(formula.split("|")[0], data, name, **kwargs)
        messages += [f"{name}: {w.message}" for w in caught if issubclass(w.category, GLMWarning)]
        models.append(model)
        labels.append(name)
    table = compare(models, labels)
    table.attrs["warnings"] = messages
    table.attrs["models"] = dict(zip(labels, models))
    for message in messages:
        warnings.warn(message, GLMWarning, stacklevel=2)
    return table
