"""The null deviance of a model without intercept whose empty model's means are invalid, and the boundary check
of a fit (``FitState.boundary_message``): computed once, read by the separation warning."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import glmformula as gf
from glmformula.design.dense import DenseDesign
from glmformula.engine.irls import irls
from glmformula.families.standard import Binomial


def _separated() -> pd.DataFrame:
    """x > 4.5 separates y perfectly; z is noise."""
    return pd.DataFrame({"y": [0.0, 0, 0, 0, 1, 1, 1, 1], "x": [1.0, 2, 3, 4, 5, 6, 7, 8],
                         "z": [0.3, -1.2, 0.8, 0.1, -0.4, 1.1, -0.7, 0.5]})


def _separation_messages(caught) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, gf.PerfectSeparationWarning)]


def test_separation_warning_names_the_separating_terms():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gf.glm("y ~ x + z", _separated(), "binomial")
    messages = _separation_messages(caught)
    assert any("fitted probabilities numerically 0 or 1 occurred in" in m for m in messages)
    named = [m for m in messages if m.startswith("separation: the fit is driven to the boundary by ")]
    assert len(named) == 1
    assert named[0].startswith("separation: the fit is driven to the boundary by Intercept, x")


def test_no_separation_warning_off_the_boundary():
    data = gf.datasets.load("mtcars")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gf.glm("am ~ wt", data, "binomial")
    assert not _separation_messages(caught)


def _counting_boundary_message(monkeypatch) -> list[int]:
    calls = []
    original = Binomial.boundary_message

    def counted(self, mu):
        calls.append(len(mu))
        return original(self, mu)

    monkeypatch.setattr(Binomial, "boundary_message", counted)
    return calls


@pytest.mark.parametrize("separated", [True, False])
def test_boundary_message_is_computed_once_per_fit(monkeypatch, separated):
    data = _separated() if separated else gf.datasets.load("mtcars").rename(columns={"am": "y", "wt": "x"})
    calls = _counting_boundary_message(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gf.glm("y ~ x", data, "binomial")
    assert calls == [len(data)]


@pytest.mark.parametrize("warn", [True, False])
def test_fit_state_carries_the_boundary_message_with_warnings_on_or_off(monkeypatch, warn):
    data = _separated()
    design = DenseDesign(np.column_stack([np.ones(len(data)), data.x]), ["Intercept", "x"])
    family = Binomial()
    calls = _counting_boundary_message(monkeypatch)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = irls(design, data.y.to_numpy(), family, prior_weights=np.ones(len(data)),
                   offset=np.zeros(len(data)), mustart=(data.y.to_numpy() + 0.5) / 2, warn=warn)
    assert calls == [len(data)]
    assert fit.boundary_message is not None and fit.boundary_message.startswith("fitted probabilities")
    assert bool(_separation_messages(caught)) == warn


def test_null_deviance_without_intercept_is_nan_when_linkinv_of_the_offset_is_invalid():
    """gamma's inverse link at eta = 0 gives mu = inf: R's null deviance is NaN; under the log link mu = 1 is
    valid and the null deviance is the deviance there."""
    rng = np.random.default_rng(8)
    data = pd.DataFrame({"x": rng.uniform(0.5, 2.0, 200)})
    data["y"] = rng.gamma(4.0, 1 / (0.8 * data.x) / 4.0)
    assert np.isnan(gf.glm("y ~ x - 1", data, "gamma").null_deviance)
    log_fit = gf.glm("y ~ x - 1", data, "gamma(link=log)")
    expected = gf.family("gamma(link=log)").deviance(data.y.to_numpy(), np.ones(len(data)), np.ones(len(data)))
    np.testing.assert_allclose(log_fit.null_deviance, expected, rtol=1e-12)


def test_partition_deviance_at_says_whether_the_means_are_valid():
    from glmformula.distributed.partition import PartitionData, deviance_at

    y = np.array([1.0, 2.0, 0.5])
    design = DenseDesign(np.ones((3, 1)), ["x"])
    data = PartitionData(design, y, np.ones(3), np.zeros(3), np.ones(3), y.copy(), 0)
    assert not deviance_at(data, gf.family("gamma"), mu=None)["valid"]
    assert deviance_at(data, gf.family("gamma(link=log)"), mu=None)["valid"]
