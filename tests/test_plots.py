"""Plots render with the Agg backend and draw what they claim."""

from __future__ import annotations

import numpy as np
import pytest

import glmformula as gf

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")


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
