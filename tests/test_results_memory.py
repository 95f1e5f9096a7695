"""Memory of a fit after IRLS: what building the results and reading ``bse`` allocates, and what they hold.

When IRLS returns, its fit holds the arrays of the data's length it computed (eta, mu, the working weights, and
for the fused log-link step log y), not the working residuals: those are computed when read (a Pearson
dispersion, a sandwich covariance, working or partial residuals, Rao tests; ``tests/test_working_residuals.py``
checks their numbers).  The results keep eta, mu and the working weights; log y is released once the null
deviance has read it.
"""

from __future__ import annotations

import gc
import tracemalloc
import warnings

import numpy as np
import pandas as pd
import pytest

import glmformula as gf
import glmformula.model as gf_model
from glmformula import settings
from glmformula.engine.irls import irls
from glmformula.families.registry import get_family
from glmformula.formula.frame import build_model_frame
from glmformula.weighting import initialize

_ROWS = 200_000
_ARRAY = 8 * _ROWS  # bytes of one float64 array of the data's length


def _poisson_frame(n: int, seed: int = 11) -> pd.DataFrame:
    """Two numeric columns, a 20-level factor, an exposure and Poisson counts: a design whose solve is small,
    so that arrays of the data's length dominate what is allocated after IRLS."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"x0": rng.normal(size=n), "x1": rng.normal(size=n)})
    codes = rng.integers(0, 20, n)
    frame["g"] = pd.Categorical.from_codes(codes, [f"L{j:02d}" for j in range(20)])
    frame["exposure"] = rng.uniform(0.5, 2.0, n)
    eta = 0.2 * frame["x0"] - 0.1 * frame["x1"] + rng.normal(scale=0.2, size=20)[codes]
    frame["y"] = rng.poisson(np.exp(eta - 1) * frame["exposure"]).astype(float)
    return frame


def _memory_after_irls(monkeypatch, frame: pd.DataFrame, formula: str) -> tuple[int, int, int]:
    """(traced memory when IRLS returns, the peak from then to ``bse`` read, the memory held then) of one
    Poisson fit, in bytes."""
    at_irls_end = []
    original = gf_model.irls

    def recorded(*args, **kwargs):
        fit = original(*args, **kwargs)
        at_irls_end.append(tracemalloc.get_traced_memory()[0])
        tracemalloc.reset_peak()
        return fit

    monkeypatch.setattr(gf_model, "irls", recorded)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gc.collect()
        tracemalloc.start()
        try:
            results = gf.glm(formula, frame, family="poisson")
            standard_errors = results.bse
            held, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert len(at_irls_end) == 1 and standard_errors.notna().all()
    return at_irls_end[0], peak, held


def test_results_release_arrays_of_the_data_length_after_irls(monkeypatch):
    """From the end of IRLS to ``bse`` read (null deviance by chunks of 4,096 rows, results, standard errors)
    nothing of the data's length is allocated (the boundary check's mask of bools, an eighth of an array, is made
    inside IRLS: ``FitState.boundary_message``), so the peak stays within 0.2 of an array of what IRLS left (by
    chunks of 16,384 rows +0.27), and the results hold no more than the fit did (measured: +0.005; log y,
    released when the fit keeps it, is not held at all when the compiled passes take it row by row).  When
    IRLS computed the working residuals at the end of every fit, ``fit_glm`` released them here (held: -1.00,
    peak +0.00 over a fit one array larger)."""
    frame = _poisson_frame(_ROWS)
    formula = "y ~ x0 + x1 + g + offset(log(exposure))"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert gf.glm(formula, frame, family="poisson").bse.notna().all()  # caches filled outside the measure
    with settings.override(null_deviance_chunk_rows=1 << 12):
        at_irls_end, peak, held = _memory_after_irls(monkeypatch, frame, formula)
    assert (peak - at_irls_end) / _ARRAY <= 0.2
    assert (held - at_irls_end) / _ARRAY <= 0.1


@pytest.mark.parametrize("family", ["poisson", "gamma(link=log)", "binomial(link='probit')"])
def test_irls_leaves_no_array_but_its_fits_own(family):
    """When IRLS returns, what it leaves traced is the fit's own arrays (eta, mu, the working weights, log y
    when kept: those of them not in the starting means' memory, which it overwrote) and nothing else of the
    data's length: no working residuals (measured: +0.00 of an array beyond them; +1.00 when IRLS computed
    them at the end of every fit)."""
    frame = _poisson_frame(_ROWS)
    if family.startswith("binomial"):
        frame["y"] = (frame["y"] > 0).astype(float)
    elif family.startswith("gamma"):
        frame["y"] += 0.5
    model_frame = build_model_frame("y ~ x0 + x1 + g + offset(log(exposure))", frame)
    fitted_family = get_family(family)
    for _ in range(2):  # the first fit fills the caches outside the measure
        response = initialize(fitted_family, model_frame.y, model_frame.weights, None)
        mustart = response.mustart
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fit = irls(model_frame.design, response.y, fitted_family, prior_weights=response.prior_weights,
                           offset=model_frame.offset, mustart=mustart, overwrite_mustart=True)
            left = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
    arrays = [array for array in (fit.eta, fit.mu, fit.working_weights, fit.log_y) if array is not None]
    own = {id(array): array.nbytes for array in arrays if not np.shares_memory(array, mustart)}
    assert (left - sum(own.values())) / _ARRAY <= 0.1
