"""Zero-inflated and hurdle models against pscl 1.5.5 (R 4.2.2) on the cases of issue 19: a 12-level factor
in the zero part, an offset in each part, integer and non-integer case weights, logit, probit and cloglog.

The figures come from ``tests/data/reference/count_models_more.R`` on ``tests/data/count_models_more.csv``.
pscl's estimates are the maximum to ~1e-6 standard errors (the script checks each is within 1e-5: closer
than that the log-likelihood changes less than its rounding), so estimates are compared in units of their
standard error; standard errors (pscl's: optim's Hessian, differences of the score with a step of 1e-3,
which ``hessian_step=1e-3`` reproduces), log-likelihoods and the counts are compared tightly.

For a zero-inflated negative binomial with weights the reference is pscl's zeroinfl with the weights put
into its score of log(theta), which pscl 1.5.5 leaves out (see the R script); the script checks that fit
against pscl's own on the rows repeated, and records pscl's fit as released, which is not at the maximum.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import DATA_DIR, REFERENCE_DIR, r_name

import glmformula as gf

R = json.loads((REFERENCE_DIR / "count_models_more.json").read_text())
CASES = R["cases"]
ESTIMATE_IN_SE = 1e-5  # |ours - pscl| / pscl's standard error: pscl's optimum is known to ~1e-6 SE
SE_RTOL = 1e-6
LOGLIK_RTOL = 1e-12



@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    """The CSV as the R script's ``read.csv(..., stringsAsFactors = TRUE)`` read it."""
    frame = pd.read_csv(DATA_DIR / "count_models_more.csv")
    for column in ("f", "g"):
        frame[column] = pd.Categorical(frame[column], categories=sorted(frame[column].unique()))
    return frame


def fit(case: dict, frame: pd.DataFrame, **overrides):
    """The case's model with the public API, standard errors as pscl's (``hessian_step=1e-3``)."""
    model = gf.zeroinfl if case["kind"] == "zeroinfl" else gf.hurdle
    options = {"link": case["link"], "hessian_step": 1e-3}
    if case["weights"] is not None:
        options["weights"] = case["weights"]
    if case.get("offset_argument") is not None:
        assert case["offset_argument"] == "log(t)"
        options["offset"] = np.log(frame["t"].to_numpy())
    options.update(overrides)
    return model(case["formula"], frame, case["dist"], **options)


def r_names(params: pd.Series) -> list[str]:
    """``count_f[T.b]`` -> ``count_fb``: glmformula's names in pscl's spelling."""
    return [f"{part}_{r_name(name)}" for part, name in (label.split("_", 1) for label in params.index)]


def assert_matches_pscl(res, case: dict) -> None:
    assert r_names(res.params) == case["names"]
    coef, se = np.array(case["coef"]), np.array(case["se"])
    assert np.max(np.abs(res.params.to_numpy() - coef) / se) < ESTIMATE_IN_SE
    np.testing.assert_allclose(res.bse.to_numpy(), se, rtol=SE_RTOL)
    np.testing.assert_allclose(res.llf, case["loglik"], rtol=LOGLIK_RTOL)
    np.testing.assert_allclose(res.aic, case["aic"], rtol=LOGLIK_RTOL)
    assert (res.nobs, res.df_loglik, res.df_resid) == (case["n"], case["df"], case["df_residual"])
    assert res.converged
    if case["theta"] is None:
        assert res.theta in (None, 1.0)
        return
    assert abs(np.log(res.theta) - np.log(case["theta"])) / case["se_logtheta"] < ESTIMATE_IN_SE
    np.testing.assert_allclose(res.log_theta_se, case["se_logtheta"], rtol=SE_RTOL)


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_pscl(data, name):
    assert_matches_pscl(fit(CASES[name], data), CASES[name])


def test_the_cases_cover_issue_19():
    """Every model with logit, probit and cloglog, integer (with zeros) and non-integer weights, and
    offsets in both parts."""
    kinds = {(case["kind"], case["dist"]) for case in CASES.values()}
    assert kinds == {("zeroinfl", "poisson"), ("zeroinfl", "negbin"), ("zeroinfl", "geometric"),
                     ("hurdle", "poisson"), ("hurdle", "negbin")}
    for kind, dist in kinds:
        mine = [case for case in CASES.values() if (case["kind"], case["dist"]) == (kind, dist)]
        assert {case["link"] for case in mine} == {"logit", "probit", "cloglog"}
        assert {case["weights"] for case in mine} == {None, "w_int", "w_frac"}
    assert all("offset(log(s))" in case["formula"].split("|")[1] for case in CASES.values())
    assert max(case["newton_step_in_se"] for case in CASES.values()) < ESTIMATE_IN_SE


def test_zero_weights_are_not_observations(data):
    """pscl's n counts the rows with positive weight; w_int has zeros."""
    assert (data.w_int == 0).any()
    assert CASES["zeroinfl_negbin_logit_w_int"]["n"] == int((data.w_int > 0).sum())


@pytest.mark.parametrize("name", ["zeroinfl_negbin_offset_argument", "hurdle_poisson_offset_argument"])
def test_exposure_is_the_offset_argument(data, name):
    """``exposure="t"`` adds log(t) to the count part, as pscl's ``offset = log(t)``."""
    case = CASES[name]
    assert_matches_pscl(fit(case, data, offset=None, exposure="t"), case)


@pytest.mark.parametrize("model", ["zeroinfl_negbin", "hurdle_negbin", "zeroinfl_poisson"])
def test_integer_weights_are_repeated_rows(data, model):
    """The rows repeated w_int times, unweighted, give pscl's weighted estimates, standard errors and
    log-likelihood (the R script checks the same of pscl)."""
    case = CASES[f"{model}_logit_w_int"]
    repeated = data.loc[data.index.repeat(data.w_int)].reset_index(drop=True)
    res = fit(case, repeated, weights=None)
    coef, se = np.array(case["coef"]), np.array(case["se"])
    assert np.max(np.abs(res.params.to_numpy() - coef) / se) < ESTIMATE_IN_SE
    np.testing.assert_allclose(res.bse.to_numpy(), se, rtol=SE_RTOL)
    np.testing.assert_allclose(res.llf, case["loglik"], rtol=LOGLIK_RTOL)
    assert res.nobs == data.w_int.sum()


@pytest.mark.parametrize("name", sorted(name for name, case in CASES.items() if "pscl_released" in case))
def test_weighted_zinb_is_above_pscl_as_released(data, name):
    """pscl 1.5.5's zeroinfl(dist = "negbin") with weights stops short of the maximum of its own
    log-likelihood (it leaves the weights out of the score of log(theta)); glmformula reaches it."""
    case = CASES[name]
    res = fit(case, data)
    released = case["pscl_released"]
    assert res.llf > released["loglik"] + 0.05
    np.testing.assert_allclose(res.llf, case["loglik"], rtol=LOGLIK_RTOL)
