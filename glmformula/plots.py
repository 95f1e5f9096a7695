"""Diagnostic plots (optional extra ``glmformula[plot]``: matplotlib).

* ``diagnostics(res)``: R's ``plot.glm`` panel — residuals vs linear predictor,
  normal Q-Q of standardised deviance residuals, scale-location, and
  residuals vs leverage with Cook's distance contours at 0.5 and 1; lowess
  smoothers and the three most extreme rows labelled, as R draws them.
* ``count_diagnostics(res)``: the same idea for zero-inflated and hurdle models.
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
        raise ImportError("plots need matplotlib: pip install matplotlib "
                          "(or pip install -e '.[plot]' in a checkout)") from None
    return plt


def lowess(x: np.ndarray, y: np.ndarray, frac: float = 2 / 3, iterations: int = 3,
           points: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """R's ``lowess`` smoother (Cleveland 1979): at each point a straight line fitted to the ``frac`` of
    the data nearest in x with tricube weights, then ``iterations`` robustness passes that down-weight
    large residuals by the bisquare of residual / (6 median |residual|).

    Evaluated at up to ``points`` x values (quantiles of x beyond that, as R's ``delta`` skips
    close points) and interpolated between them, so a million rows cost ``points`` local fits.
    Returns the (x, smoothed y) arrays of the curve.
    """
    keep = np.isfinite(x) & np.isfinite(y)
    order = np.argsort(x[keep], kind="stable")
    x, y = x[keep][order], y[keep][order]
    if len(x) < 3:
        return x, y
    unique = np.unique(x)
    grid = unique if len(unique) <= points else np.quantile(x, np.linspace(0, 1, points))
    k = max(2, min(len(x), int(frac * len(x) + 1e-7)))  # R: ns = (int)(f * n + 1e-7)
    robustness = np.ones(len(x))
    for iteration in range(iterations + 1):
        smooth = np.array([_local_line(x, y, robustness, x0, k) for x0 in grid])
        if iteration == iterations:
            break
        residuals = y - np.interp(x, grid, smooth)
        spread = np.median(np.abs(residuals))
        if spread == 0:
            break
        u = residuals / (6 * spread)
        robustness = np.where(np.abs(u) < 1, (1 - u**2) ** 2, 0.0)
    return grid, smooth


def _local_line(x: np.ndarray, y: np.ndarray, robustness: np.ndarray, x0: float, k: int) -> float:
    """The value at x0 of the line fitted to the k nearest points, tricube × robustness weighted."""
    centre = np.searchsorted(x, x0)
    low, high = max(0, centre - k), min(len(x), centre + k)
    distances = np.abs(x[low:high] - x0)
    nearest = np.argpartition(distances, k - 1)[:k] if high - low > k else np.arange(high - low)
    radius = distances[nearest].max()
    scaled = distances[nearest] / radius if radius > 0 else np.zeros(len(nearest))
    weights = np.where(scaled < 1, (1 - scaled**3) ** 3, 0.0) * robustness[low:high][nearest]
    xs, ys = x[low:high][nearest], y[low:high][nearest]
    total = weights.sum()
    if total <= 0:
        return float(np.mean(ys))
    mean_x, mean_y = weights @ xs / total, weights @ ys / total
    spread = weights @ (xs - mean_x) ** 2
    slope = weights @ ((xs - mean_x) * (ys - mean_y)) / spread if spread > 1e-12 * (1 + mean_x**2) * total else 0.0
    return float(mean_y + slope * (x0 - mean_x))


def _smooth(ax, x: np.ndarray, y: np.ndarray) -> None:
    grid, smooth = lowess(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    ax.plot(grid, smooth, color="red", linewidth=1, label="lowess")


def _label_extremes(ax, x: np.ndarray, y: np.ndarray, labels, size: np.ndarray, n: int = 3) -> None:
    """Label the ``n`` points largest in ``size`` with their row labels, as R's ``id.n = 3``."""
    finite = np.flatnonzero(np.isfinite(size) & np.isfinite(x) & np.isfinite(y))
    for index in finite[np.argsort(-size[finite], kind="stable")[:n]]:
        ax.annotate(str(labels[index]), (x[index], y[index]), xytext=(4, 2), textcoords="offset points",
                    fontsize="small")


def diagnostics(results, figsize=(11, 8)):
    """The four panels of R's ``plot(glm)``; returns the matplotlib Figure.

    Residuals vs fitted (linear predictor), normal Q-Q of the standardised deviance residuals,
    scale-location, and standardised Pearson residuals vs leverage with Cook's distance contours
    at 0.5 and 1 (sqrt(D p (1 - h) / h)).  As R: a lowess smoother on the residual panels and the
    three most extreme rows labelled (by |residual|, and by Cook's distance on the last panel).
    """
    plt = _pyplot()
    influence = results.influence()
    labels = np.asarray(results.model_data.row_labels)
    eta = results.linear_predictor.to_numpy()
    deviance_resid = results.resid("deviance").to_numpy()
    standardised = influence["rstandard"].to_numpy()
    hat = influence["hat"].to_numpy()
    cooks = influence["cooks_distance"].to_numpy()
    pearson_std = results.resid("pearson").to_numpy() / np.sqrt(results.scale * (1 - hat))
    figure, axes = plt.subplots(2, 2, figsize=figsize)
    fitted_label = "Predicted values (linear predictor)"
    _residual_panel(axes[0, 0], eta, deviance_resid, labels, fitted_label, "Deviance residuals")
    _qq_panel(axes[0, 1], standardised, labels, "Std. deviance residuals")
    _scale_location_panel(axes[1, 0], eta, standardised, labels, fitted_label, "Std. deviance residuals")
    _leverage_panel(axes[1, 1], hat, pearson_std, cooks, labels, results.rank)
    figure.tight_layout()
    return figure


def _residual_panel(ax, fitted: np.ndarray, residuals: np.ndarray, labels, xlabel: str, ylabel: str) -> None:
    """Residuals against the fitted values, with a zero line, a lowess smooth and the three largest labelled."""
    ax.scatter(fitted, residuals, s=12)
    ax.axhline(0, color="grey", linestyle=":")
    _smooth(ax, fitted, residuals)
    _label_extremes(ax, fitted, residuals, labels, np.abs(residuals))
    ax.set(title="Residuals vs Fitted", xlabel=xlabel, ylabel=ylabel)


def _scale_location_panel(ax, fitted: np.ndarray, residuals: np.ndarray, labels, xlabel: str, name: str) -> None:
    """sqrt(|residuals|) against the fitted values, with a lowess smooth and the three largest labelled."""
    root = np.sqrt(np.abs(residuals))
    ax.scatter(fitted, root, s=12)
    _smooth(ax, fitted, root)
    _label_extremes(ax, fitted, root, labels, root)
    ax.set(title="Scale-Location", xlabel=xlabel, ylabel=f"sqrt(|{name}|)")


def _qq_panel(ax, values: np.ndarray, labels, ylabel: str) -> None:
    finite = np.flatnonzero(np.isfinite(values))
    order = finite[np.argsort(values[finite], kind="stable")]
    theoretical = stats.norm.ppf((np.arange(1, len(order) + 1) - 0.5) / len(order))
    ordered = values[order]
    ax.scatter(theoretical, ordered, s=12)
    quartiles = np.quantile(ordered, [0.25, 0.75]) if len(ordered) else np.array([0.0, 1.0])
    slope = np.diff(quartiles)[0] / np.diff(stats.norm.ppf([0.25, 0.75]))[0]  # R's qqline through the quartiles
    ax.plot(theoretical, quartiles[0] + slope * (theoretical - stats.norm.ppf(0.25)), color="grey", linestyle=":")
    _label_extremes(ax, theoretical, ordered, labels[order], np.abs(ordered))
    ax.set(title="Normal Q-Q", xlabel="Theoretical quantiles", ylabel=ylabel)


def _leverage_panel(ax, hat: np.ndarray, residuals: np.ndarray, cooks: np.ndarray, labels, rank: int) -> None:
    ax.scatter(hat, residuals, s=12)
    ax.axhline(0, color="grey", linestyle=":")
    _smooth(ax, hat, residuals)
    _label_extremes(ax, hat, residuals, labels, cooks)
    finite = residuals[np.isfinite(residuals)]
    low, high = (finite.min(), finite.max()) if finite.size else (-1.0, 1.0)
    pad = 0.08 * (high - low or 1.0)
    top = np.nanmax(hat) if np.isfinite(hat).any() else 1.0
    grid = np.linspace(max(np.nanmin(hat), 1e-3 * top, 1e-6), min(top * 1.02, 0.999), 200)
    for level, style in ((0.5, "--"), (1.0, ":")):
        bound = np.sqrt(level * rank * (1 - grid) / grid)
        for sign in (1, -1):
            ax.plot(grid, sign * bound, color="red", linestyle=style, linewidth=0.9,
                    label=f"Cook's distance {level:g}" if sign == 1 else None)
            if low - pad <= sign * bound[-1] <= high + pad:  # R writes the level at the contour's right end
                ax.annotate(f"{level:g}", (grid[-1], sign * bound[-1]), xytext=(2, 0), textcoords="offset points",
                            color="red", fontsize="small", va="center")
    ax.set(title="Residuals vs Leverage", xlabel="Leverage", ylabel="Std. Pearson residuals",
           xlim=(0, top * 1.08), ylim=(low - pad, high + pad))
    # beside the panel, not over it: a legend inside would hide points wherever it went
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)


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
    """A hanging rootogram of observed against fitted count frequencies; returns the Figure.

    Bars of sqrt(observed frequency) hang from the curve of sqrt(expected frequency); a bar that
    ends below zero shows a count observed more often than the model expects.  The count axis has
    integer ticks and room for every bar (the zero bar included).
    """
    from matplotlib.ticker import MaxNLocator

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
    bottoms = top_of_bars - np.sqrt(observed)
    ax.bar(counts, np.sqrt(observed), bottom=bottoms, width=0.8, color="lightgrey", edgecolor="grey",
           label="sqrt(observed)")
    ax.plot(counts, top_of_bars, color="red", marker="o", markersize=3, label="sqrt(expected)")
    ax.axhline(0, color="black", linewidth=0.8)
    low, high = min(0.0, float(bottoms.min())), float(max(top_of_bars.max(), (bottoms + np.sqrt(observed)).max()))
    pad = 0.05 * (high - low or 1.0)
    ax.set(title=f"Hanging rootogram ({getattr(results.family, 'name', results.family)})", xlabel="Count",
           ylabel="sqrt(Frequency)", xlim=(-0.7, top + 0.7), ylim=(low - pad, high + pad))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(loc="upper right")
    return figure


def count_diagnostics(results, figsize=(11, 8), seed: int = 0):
    """Four panels for a zero-inflated or hurdle model (no hat values there, so no leverage panel):
    Pearson residuals vs fitted mean, a normal Q-Q of randomized quantile residuals (Dunn and
    Smyth 1996: u uniform between F(y - 1) and F(y), r = Phi^-1(u), standard normal under the
    model; drawn with ``seed``), scale-location, and the hanging rootogram.  Returns the Figure."""
    plt = _pyplot()
    labels = np.asarray(results.row_labels)
    fitted = results.fittedvalues.to_numpy()
    pearson = results.resid("pearson").to_numpy()
    y = results.y.astype(int)
    probabilities = results.predict(type="prob", max_count=int(y.max())).to_numpy()
    cumulative = np.cumsum(probabilities, axis=1)
    upper = cumulative[np.arange(len(y)), y]
    lower = np.where(y > 0, cumulative[np.arange(len(y)), np.maximum(y - 1, 0)], 0.0)
    uniform = lower + np.random.default_rng(seed).uniform(size=len(y)) * (upper - lower)
    quantile_resid = stats.norm.ppf(np.clip(uniform, 1e-12, 1 - 1e-12))
    figure, axes = plt.subplots(2, 2, figsize=figsize)
    _residual_panel(axes[0, 0], fitted, pearson, labels, "Fitted mean E[Y]", "Pearson residuals")
    _qq_panel(axes[0, 1], quantile_resid, labels, "Randomized quantile residuals")
    _scale_location_panel(axes[1, 0], fitted, pearson, labels, "Fitted mean E[Y]", "Pearson residuals")
    rootogram(results, ax=axes[1, 1])
    figure.tight_layout()
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
