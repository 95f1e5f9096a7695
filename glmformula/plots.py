"""Diagnostic plots (optional extra ``glmformula[plot]``: matplotlib).

* ``diagnostics(res)``: R's ``plot.glm`` panel — residuals vs linear predictor,
  normal Q-Q of standardised deviance residuals, scale-location, and
  residuals vs leverage with Cook's distance contours at 0.5 and 1.
* ``rootogram(res)``: a hanging rootogram for count models — bars of
  sqrt(observed frequency) hang from the curve of sqrt(expected frequency),
  expected = sum_i P(Y_i = k) under the fitted model.
* ``coefficients([m1, m2, ...])``: estimates with their confidence intervals, side by side.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

from glmformula.exceptions import FamilyError


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("plots need matplotlib: pip install 'glmformula[plot]'") from None
    return plt


def diagnostics(results, figsize=(10, 8)):
    """The four panels of R's ``plot(glm)``; returns the matplotlib Figure."""
    plt = _pyplot()
    influence = results.influence()
    eta = results.linear_predictor.to_numpy()
    deviance_resid = results.resid("deviance").to_numpy()
    standardised = influence["rstandard"].to_numpy()
    hat = influence["hat"].to_numpy()
    pearson_std = results.resid("pearson").to_numpy() / np.sqrt(results.scale * (1 - hat))
    figure, axes = plt.subplots(2, 2, figsize=figsize)
    ax = axes[0, 0]
    ax.scatter(eta, deviance_resid, s=12)
    ax.axhline(0, color="grey", linestyle=":")
    ax.set(title="Residuals vs Fitted", xlabel="Predicted values (linear predictor)", ylabel="Deviance residuals")
    ax = axes[0, 1]
    finite = np.sort(standardised[np.isfinite(standardised)])
    theoretical = stats.norm.ppf((np.arange(1, len(finite) + 1) - 0.5) / len(finite))
    ax.scatter(theoretical, finite, s=12)
    ax.plot(theoretical, theoretical, color="grey", linestyle=":")
    ax.set(title="Normal Q-Q", xlabel="Theoretical quantiles", ylabel="Std. deviance residuals")
    ax = axes[1, 0]
    ax.scatter(eta, np.sqrt(np.abs(standardised)), s=12)
    ax.set(title="Scale-Location", xlabel="Predicted values (linear predictor)",
           ylabel="sqrt(|Std. deviance residuals|)")
    ax = axes[1, 1]
    ax.scatter(hat, pearson_std, s=12)
    ax.axhline(0, color="grey", linestyle=":")
    grid = np.linspace(max(hat.min(), 1e-3), min(hat.max() * 1.05, 0.999), 100)
    for level in (0.5, 1.0):
        bound = np.sqrt(level * results.rank * (1 - grid) / grid)
        for sign in (1, -1):
            ax.plot(grid, sign * bound, color="red", linestyle="--", linewidth=0.8,
                    label=f"Cook's distance {level:g}" if sign == 1 else None)
    ax.set(title="Residuals vs Leverage", xlabel="Leverage", ylabel="Std. Pearson residuals",
           ylim=(min(-3, np.nanmin(pearson_std) * 1.1), max(3, np.nanmax(pearson_std) * 1.1)))
    ax.legend(loc="best", fontsize="small")
    figure.tight_layout()
    return figure


def expected_frequencies(results, counts: np.ndarray) -> np.ndarray:
    """sum_i P(Y_i = k) under the fitted count model, for each k in ``counts``."""
    if hasattr(results, "predict") and getattr(results, "spec", None) is not None and hasattr(results.spec, "kind"):
        probabilities = results.predict(type="prob", max_count=int(counts.max())).to_numpy()
        return probabilities[:, counts.astype(int)].sum(axis=0)
    mu = results.fittedvalues.to_numpy()[:, None]
    family = results.family.name
    if family == "poisson":
        return stats.poisson.pmf(counts[None, :], mu).sum(axis=0)
    if family == "negative_binomial":
        theta = results.theta
        if np.isinf(theta):
            return stats.poisson.pmf(counts[None, :], mu).sum(axis=0)
        return stats.nbinom.pmf(counts[None, :], theta, theta / (theta + mu)).sum(axis=0)
    raise FamilyError(f"a rootogram needs a count model (poisson, negative binomial, zero-inflated, hurdle); "
                      f"this one is {family}")


def rootogram(results, max_count: int | None = None, ax=None):
    """A hanging rootogram of observed against fitted count frequencies; returns the Figure."""
    plt = _pyplot()
    y = (results.model_data.y if hasattr(results, "model_data") else results.y).astype(int)  # a GLM, or a count model
    top = int(y.max()) if max_count is None else int(max_count)
    counts = np.arange(top + 1)
    observed = np.bincount(np.clip(y, 0, top + 1), minlength=top + 2)[: top + 1]
    expected = expected_frequencies(results, counts.astype(float))
    if ax is None:
        figure, ax = plt.subplots(figsize=(8, 5))
    else:
        figure = ax.figure
    top_of_bars = np.sqrt(expected)
    ax.bar(counts, np.sqrt(observed), bottom=top_of_bars - np.sqrt(observed), color="lightgrey",
           edgecolor="grey", label="sqrt(observed)")
    ax.plot(counts, top_of_bars, color="red", marker="o", markersize=3, label="sqrt(expected)")
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set(title=f"Hanging rootogram ({getattr(results.family, 'name', results.family)})", xlabel="Count",
           ylabel="sqrt(Frequency)")
    ax.legend(loc="best")
    return figure


def coefficients(models: list[Any], labels: list[str] | None = None, alpha: float = 0.05,
                 include_intercept: bool = False):
    """Estimates with (1 - alpha) intervals for several models, one colour per model; returns the Figure."""
    plt = _pyplot()
    labels = labels or [f"model {i}" for i in range(1, len(models) + 1)]
    names: list[str] = []
    for model in models:
        names += [n for n in model.params.index if n not in names and (include_intercept or n != "Intercept")]
    figure, ax = plt.subplots(figsize=(7, 0.4 * len(names) + 1.5))
    offsets = np.linspace(-0.2, 0.2, len(models)) if len(models) > 1 else [0.0]
    for shift, label, model in zip(offsets, labels, models):
        intervals = model.conf_int(alpha)
        present = [n for n in names if n in model.params.index]
        rows = np.array([names.index(n) for n in present]) + shift
        estimates = model.params[present].to_numpy()
        low, high = intervals.loc[present].iloc[:, 0].to_numpy(), intervals.loc[present].iloc[:, 1].to_numpy()
        ax.errorbar(estimates, rows, xerr=[estimates - low, high - estimates], fmt="o", capsize=3, label=label)
    ax.axvline(0, color="grey", linestyle=":")
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set(xlabel="Estimate", title=f"Coefficients with {100 * (1 - alpha):g}% intervals")
    ax.legend(loc="best")
    figure.tight_layout()
    return figure
