"""glmformula.settings: one place for the fast paths' switches and sizes, read when the code runs."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import glmformula as gf
from glmformula import settings
from glmformula.count import zero_kernels
from glmformula.design import kernels as design_kernels
from glmformula.families import log_link
from glmformula.penalized import kernels as penalized_kernels

KERNEL_MODULES = {"design_kernels": design_kernels, "log_link_kernels": log_link,
                  "penalized_kernels": penalized_kernels, "count_kernels": zero_kernels}


def test_override_changes_settings_inside_the_block_only():
    before = settings.current()
    with settings.override(dense_cells=0, rows_per_thread=10) as inside:
        assert settings.current() is inside
        assert (inside.dense_cells, inside.rows_per_thread) == (0, 10)
        assert inside.kernels == before.kernels
        with settings.override(dense_cells=5):
            assert (settings.current().dense_cells, settings.current().rows_per_thread) == (5, 10)
        assert settings.current().dense_cells == 0
    assert settings.current() is before
    with pytest.raises(RuntimeError), settings.override(kernels=False):
        raise RuntimeError
    assert settings.current() is before


def test_settings_are_checked():
    with pytest.raises(TypeError):
        settings.override(no_such_setting=1).__enter__()
    with pytest.raises(TypeError, match="True or False"):
        settings.Settings(kernels=0)
    with pytest.raises(ValueError, match="non-negative integer"):
        settings.Settings(dense_cells=-1)
    with pytest.raises(ValueError, match="at least 1"):
        settings.Settings(rows_per_thread=0)
    with pytest.raises(AttributeError):
        settings.current().kernels = False  # frozen: change them with override or configure


def test_configure_changes_settings_until_changed_back():
    before = settings.current()
    try:
        assert settings.configure(covariance_max_columns=3).covariance_max_columns == 3
        assert settings.current().covariance_max_columns == 3
    finally:
        settings.configure(covariance_max_columns=before.covariance_max_columns)
    assert settings.current() == before


@pytest.mark.parametrize("switch", sorted(KERNEL_MODULES))
def test_a_kernel_runs_when_available_and_allowed(switch):
    module = KERNEL_MODULES[switch]
    available = module.AVAILABLE
    assert module.in_use() == available
    for changes in ({"kernels": False}, {switch: False}):
        with settings.override(**changes):
            assert not module.in_use()
            assert module.AVAILABLE == available  # whether the library loaded is a fact, not a setting


def test_all_paths_give_the_same_fit():
    """A fit with every fast path off (numpy, formulaic's design) equals the default one."""
    rng = np.random.default_rng(9)
    n = 3000
    data = pd.DataFrame({"x": rng.normal(size=n), "g": rng.choice([f"g{i}" for i in range(12)], n),
                         "t": rng.uniform(1, 2, n)})
    data["y"] = rng.poisson(np.exp(0.2 + 0.3 * data.x) * data.t).astype(float)
    formula = "y ~ x + g + offset(log(t))"
    with settings.override(dense_cells=0):
        fast = gf.glm(formula, data, "poisson")
    with settings.override(kernels=False, fast_categorical_design=False):
        reference = gf.glm(formula, data, "poisson")
    assert fast.n_iter == reference.n_iter
    np.testing.assert_allclose(fast.params, reference.params, rtol=1e-10)
    np.testing.assert_allclose(fast.bse, reference.bse, rtol=1e-9)
    assert fast.deviance == pytest.approx(reference.deviance, rel=1e-12)


def test_the_environment_variable_still_disables_every_kernel():
    code = ("import glmformula.design.kernels as d, glmformula.families.log_link as l, "
            "glmformula.penalized.kernels as p, glmformula.count.zero_kernels as z; "
            "print(d.AVAILABLE, l.AVAILABLE, p.AVAILABLE, z.AVAILABLE, d.in_use(), l.in_use(), p.in_use(), "
            "z.in_use())")
    environment = {**os.environ, "GLMFORMULA_NO_KERNELS": "1"}
    result = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True,
                            check=True, timeout=120)
    assert result.stdout.split() == ["False"] * 8
