"""Plots render with the Agg backend and draw what they claim."""

from __future__ import annotations

import numpy as np
import pytest

import glmformula as gf

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

# R 4.2: lowess(1:10, c(2, 4, 3, 6, 5, 8, 7, 10, 9, 30))$y
R_LOWESS = [2.26580671, 3.185084441, 4.131356873, 4.98012676, 6.027950485, 6.975385217, 8.021762216,
            8.793321744, 9.493639564, 10.08940597]


@pytest.fixture(scope="module")
def dobson():
    return gf.glm("counts ~ outcome + treatment", gf.datasets.load("dobson"), "poisson")


def test_diagnostic_panel(dobson):
    figure = dobson.plot()
    titles = [ax.get_title() for ax in figure.axes]
    assert titles == ["Residuals vs Fitted", "Normal Q-Q", "Scale-Location", "Residuals vs Leverage"]
    for ax in figure.axes:
        points = ax.collections[0].get_offsets()
        assert len(points) == 9
    np.testing.assert_allclose(figure.axes[0].collections[0].get_offsets()[:, 1], dobson.resid("deviance"))
    assert any("Cook's distance" in text.get_text() for text in figure.axes[3].get_legend().get_texts())


def _lines(ax, label):
    return [line for line in ax.lines if line.get_label() == label]


def test_diagnostic_panels_have_r_smoothers_labels_and_cook_contours(dobson):
    figure = dobson.plot()
    residual_panels = [figure.axes[0], figure.axes[2], figure.axes[3]]
    for ax in residual_panels:  # R's add.smooth: a lowess curve on every residual panel
        assert len(_lines(ax, "lowess")) == 1
    # id.n = 3: the rows with the largest |deviance residual| are named on the first panel
    largest = dobson.resid("deviance").abs().sort_values(ascending=False).index[:3]
    assert {text.get_text() for text in figure.axes[0].texts} == {str(label) for label in largest}
    cooks = dobson.influence()["cooks_distance"].sort_values(ascending=False).index[:3]
    leverage = figure.axes[3]
    assert {str(label) for label in cooks} <= {text.get_text() for text in leverage.texts}
    contours = {level: _lines(leverage, f"Cook's distance {level}") for level in ("0.5", "1")}
    half, one = contours["0.5"][0], contours["1"][0]
    assert half.get_linestyle() != one.get_linestyle()
    hat = half.get_xdata()
    np.testing.assert_allclose(half.get_ydata(), np.sqrt(0.5 * dobson.rank * (1 - hat) / hat))
    np.testing.assert_allclose(one.get_ydata(), np.sqrt(1.0 * dobson.rank * (1 - hat) / hat))


def test_leverage_legend_covers_no_point():
    res = gf.glm("art ~ fem + mar + kid5 + phd + ment", gf.datasets.load("biochemists"), "poisson")
    figure = res.plot()
    figure.canvas.draw()
    ax = figure.axes[3]
    legend_box = ax.get_legend().get_window_extent()
    points = ax.transData.transform(ax.collections[0].get_offsets())
    assert not legend_box.overlaps(ax.get_window_extent())
    assert not any(legend_box.contains(x, y) for x, y in points)


def test_lowess_matches_r():
    from glmformula.plots import lowess

    x, smooth = lowess(np.arange(1.0, 11.0), np.array([2, 4, 3, 6, 5, 8, 7, 10, 9, 30.0]))
    np.testing.assert_allclose(smooth, R_LOWESS, rtol=1e-6)


def test_rootogram_for_glm_and_zero_inflated_models():
    bio = gf.datasets.load("biochemists")
    poisson = gf.glm("art ~ fem + ment", bio, "poisson")
    figure = poisson.plot_rootogram(max_count=10)
    ax = figure.axes[0]
    heights = [patch.get_height() for patch in ax.patches]
    observed = np.bincount(bio.art.astype(int))[:11]
    np.testing.assert_allclose(np.square(heights), observed)
    line = ax.lines[0].get_ydata()
    from scipy import stats

    expected = stats.poisson.pmf(np.arange(11)[None, :], poisson.fittedvalues.to_numpy()[:, None]).sum(axis=0)
    np.testing.assert_allclose(np.square(line), expected)
    zip_figure = gf.zeroinfl("art ~ fem + ment | 1", bio).plot_rootogram()
    assert len(zip_figure.axes[0].patches) == int(bio.art.max()) + 1


def test_rootogram_ticks_are_counts_and_no_bar_is_clipped():
    bio = gf.datasets.load("biochemists")
    figure = gf.glm("art ~ fem + mar + kid5 + phd + ment", bio, "poisson").plot_rootogram()
    ax = figure.axes[0]
    figure.canvas.draw()
    ticks = [tick for tick in ax.get_xticks() if ax.get_xlim()[0] <= tick <= ax.get_xlim()[1]]
    assert all(float(tick).is_integer() for tick in ticks)
    low, high = ax.get_ylim()
    left, right = ax.get_xlim()
    for patch in ax.patches:  # every bar, the hanging zero bar included, lies inside the axes
        assert left <= patch.get_x() and patch.get_x() + patch.get_width() <= right
        assert low <= patch.get_y() and patch.get_y() + patch.get_height() <= high


@pytest.mark.parametrize("fit", ["zeroinfl", "hurdle"])
def test_two_part_models_plot(fit):
    bio = gf.datasets.load("biochemists")
    res = getattr(gf, fit)("art ~ fem + ment | ment", bio, dist="negbin")
    figure = res.plot()
    titles = [ax.get_title() for ax in figure.axes]
    assert titles[:3] == ["Residuals vs Fitted", "Normal Q-Q", "Scale-Location"]
    assert titles[3].startswith("Hanging rootogram")
    np.testing.assert_allclose(figure.axes[0].collections[0].get_offsets()[:, 1], res.resid("pearson"))
    quantile_residuals = figure.axes[1].collections[0].get_offsets()[:, 1]
    assert abs(np.mean(quantile_residuals)) < 0.15 and 0.8 < np.std(quantile_residuals) < 1.2  # N(0, 1) if right
    rootogram = res.plot_rootogram()
    assert len(rootogram.axes[0].patches) == int(bio.art.max()) + 1


def test_rootogram_needs_a_count_model():
    res = gf.glm("mpg ~ wt", gf.datasets.load("mtcars"))
    with pytest.raises(gf.FamilyError, match="count model"):
        res.plot_rootogram()


def test_coefficient_plot(dobson):
    small = gf.glm("counts ~ outcome", gf.datasets.load("dobson"), "poisson")
    figure = gf.plot_coefs([small, dobson], labels=["small", "full"])
    ax = figure.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == list(dobson.params.index[1:])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["small", "full"]
