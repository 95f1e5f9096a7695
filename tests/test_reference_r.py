"""Golden tests: glmformula against R 4.2's glm on the cases in tests/data/reference.

Each JSON file holds the R formula, family, link and R's figures.  They were
computed with ``glm.control(epsilon = 1e-12)`` (``refit_core_cases.R`` beside
them reproduces every iteration count and figure with that setting, and not
with R's default), so these fits use tol=1e-12.  ``_default_control.json``
(from ``default_control.R``) checks R's default epsilon = 1e-8, where the
iteration count and the not-fully-converged standard errors must match too.
Coefficient names are matched by meaning (``conftest.r_name``), not by string.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from conftest import REFERENCE_DIR, load_as_read_csv, load_reference, r_name

import glmformula as gf

# negative binomial with estimated theta is the count-models issue
CORE_CASES = [
    "budworm_cbind_logit",
    "budworm_prop_weights_probit",
    "clotting_gamma_inverse",
    "clotting_invgauss",
    "dobson_poisson",
    "esoph_binomial",
    "insurance_poisson_offset",
    "insurance_quasipoisson",
    "mtcars_gaussian_log",
    "mtcars_logit",
    "mtcars_rank_deficient",
    "quine_nb_fixed_theta",
    "warpbreaks_poisson_interaction",
    "warpbreaks_weighted",
]
RTOL = 1e-6
REFERENCE_TOL = 1e-12  # the epsilon the reference figures were computed with


def fit_case(ref: dict) -> gf.GLMResults:
    spec = ref["family"]
    params = {"theta": spec["theta"]} if "theta" in spec else {}
    family = gf.family(spec["name"], link=spec["link"], **params)
    data = load_as_read_csv(ref["dataset"])  # as refit_core_cases.R read it
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gf.RankDeficiencyWarning)  # expected for mtcars_rank_deficient
        return gf.glm(ref["formula"], data=data, family=family, weights=spec.get("weights"), tol=REFERENCE_TOL)


@pytest.fixture(scope="module", params=CORE_CASES)
def case(request):
    ref = load_reference(request.param)
    return ref, fit_case(ref)


def _by_r_name(series):
    return {r_name(name): value for name, value in series.items()}


def test_coefficient_names_match_r(case):
    ref, res = case
    assert sorted(_by_r_name(res.params)) == sorted(ref["coef"])


def test_coefficients(case):
    ref, res = case
    ours = _by_r_name(res.params)
    for name, expected in ref["coef"].items():
        if expected is None:
            assert np.isnan(ours[name]), name
        else:
            # atol only matters for coefficients that are exactly 0 in theory (1e-16 in R)
            np.testing.assert_allclose(ours[name], expected, rtol=RTOL, atol=1e-10, err_msg=name)


def test_standard_errors(case):
    ref, res = case
    ours = _by_r_name(res.bse)
    for name, expected in ref["se"].items():
        if expected is None:
            assert np.isnan(ours[name]), name
        else:
            np.testing.assert_allclose(ours[name], expected, rtol=RTOL, err_msg=name)


def test_deviances_and_df(case):
    ref, res = case
    np.testing.assert_allclose(res.deviance, ref["deviance"], rtol=RTOL)
    np.testing.assert_allclose(res.null_deviance, ref["null_deviance"], rtol=RTOL)
    assert res.df_resid == ref["df_residual"]
    assert res.df_null == ref["df_null"]
    assert res.nobs == ref["nobs"]


def test_dispersion(case):
    ref, res = case
    np.testing.assert_allclose(res.scale, ref["dispersion"], rtol=RTOL)


def test_aic_and_loglik(case):
    ref, res = case
    if ref["aic"] is None:  # quasi families have no likelihood in R either
        assert np.isnan(res.aic) and np.isnan(res.llf)
        return
    np.testing.assert_allclose(res.aic, ref["aic"], rtol=RTOL)
    np.testing.assert_allclose(res.llf, ref["loglik"], rtol=RTOL)


def test_iterations_and_aliasing(case):
    ref, res = case
    assert res.converged
    assert res.n_iter == ref["iter"]
    expected_aliased = ref["aliased"] if isinstance(ref["aliased"], list) else [ref["aliased"]]
    assert [r_name(a) for a in res.aliased] == expected_aliased


DEFAULT_CONTROL = json.loads((REFERENCE_DIR / "_default_control.json").read_text())


@pytest.mark.parametrize("name", sorted(DEFAULT_CONTROL))
def test_default_control_matches_r_iteration_for_iteration(name):
    ref = DEFAULT_CONTROL[name]
    res = gf.glm(ref["formula"], load_as_read_csv(ref["dataset"]), ref["family"], weights=ref["weights"])
    assert res.n_iter == ref["iter"]
    np.testing.assert_allclose(res.params.to_numpy(), ref["coef"], rtol=1e-9)
    np.testing.assert_allclose(res.bse.to_numpy(), ref["se"], rtol=1e-9)
    np.testing.assert_allclose(res.deviance, ref["deviance"], rtol=1e-12)
    np.testing.assert_allclose(res.scale, ref["dispersion"], rtol=1e-9)
