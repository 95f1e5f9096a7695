"""Piecewise-exponential survival models against R (survival 3.5: survSplit, glm, coxph, survfit).

The reference figures are written by ``tests/data/reference/survival.R``; nothing here is
compared with glmformula's own earlier output.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import glmformula as gf
from glmformula.survival.episodes import split_follow_up

REFERENCE = json.loads((Path(__file__).parent / "data" / "reference" / "survival.json").read_text())
RHS = {"veteran": "trt + celltype + karno + diagtime + age + prior", "lung": "age + sex + ph.ecog"}


def _data(name: str, start: str | None = None) -> pd.DataFrame:
    frame = gf.datasets.load(name)
    if start == "entry":  # the R script's left truncation: entry at floor(time / 3)
        frame["entry"] = np.floor(frame["time"] / 3)
    return frame


def _cuts(case: dict):
    return case["quantiles"] if case["quantiles"] is not None else case["cuts"]


@pytest.fixture(scope="module")
def events_fits() -> dict[str, gf.survival.PWExpResults]:
    return {name: gf.pwexp(f"Surv(time, status) ~ {RHS[name]}", _data(name), cuts="events") for name in RHS}


# -- split = survSplit --------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(REFERENCE["split"]))
def test_split_reproduces_survsplit_row_for_row(name):
    case = REFERENCE["split"][name]
    data = _data(case["dataset"], case["start"])
    result = split_follow_up(data, "time", "status", _cuts(case), start=case["start"], id="id", episode="interval")
    frame = result.frame
    assert len(frame) == case["n_rows"]
    np.testing.assert_array_equal(result.intervals.cuts, case["cuts"])
    np.testing.assert_array_equal(frame["id"], case["id"])
    np.testing.assert_array_equal(frame["tstart"], case["tstart"])
    np.testing.assert_array_equal(frame["tstop"], case["tstop"])
    np.testing.assert_array_equal(frame["event"], case["event"])
    np.testing.assert_array_equal(frame["interval"].cat.codes + 1, case["episode"])
    np.testing.assert_array_equal(frame["exposure"], np.subtract(case["tstop"], case["tstart"]))
    assert not frame["interval"].cat.ordered  # R's factor(episode): treatment contrasts, not contr.poly
    # the subject's columns are repeated unchanged on each of its rows
    np.testing.assert_array_equal(frame["age"], data["age"].to_numpy()[np.asarray(case["id"]) - 1])


@pytest.mark.parametrize("name", ["veteran", "lung"])
def test_events_expansion_reproduces_the_risk_sets(name):
    reference = REFERENCE["events"][name]
    frame = gf.survival.split(_data(name), cuts="events", id="id")
    assert len(frame) == reference["n_rows"]
    assert frame["tstart"].sum() == reference["sum_tstart"] and frame["tstop"].sum() == reference["sum_tstop"]
    assert frame["event"].sum() == reference["sum_event"]
    assert (frame["exposure"] == 1).all()
    np.testing.assert_array_equal(frame.groupby("id").size().reindex(range(1, len(_data(name)) + 1), fill_value=0),
                                  reference["rows_per_id"])
    np.testing.assert_array_equal(frame.groupby("interval", observed=False).size(), reference["risk_set_size"])
    labels = frame["interval"].cat.categories
    assert len(labels) == len(reference["event_times"])
    for part, rows in (("first", frame.head(5)), ("last", frame.tail(5))):
        for column in ("id", "tstart", "tstop", "event"):
            np.testing.assert_array_equal(rows[column], reference[part][column])


def test_intervals_are_named_by_their_bounds():
    frame = gf.survival.split(_data("veteran"), cuts=[30, 90.5])
    assert list(frame["interval"].cat.categories) == ["(0,30]", "(30,90.5]", "(90.5,Inf)"]


def test_split_keeps_an_id_column_or_numbers_the_subjects():
    data = _data("veteran").assign(patient=lambda d: [f"p{i}" for i in range(len(d))])
    kept = gf.survival.split(data, cuts=[100], id="patient")
    assert set(kept["patient"]) == set(data["patient"])
    numbered = gf.survival.split(data, cuts=[100], id="subject")
    assert numbered["subject"].min() == 1 and numbered["subject"].max() == len(data)
    assert "subject" not in data  # the input is not modified


# -- the Poisson model = R's glm on the split data --------------------------------------------------
@pytest.mark.parametrize("name", sorted(REFERENCE["glm"]))
def test_pwexp_equals_r_glm_on_the_split_data(name):
    case, reference = REFERENCE["split"][name], REFERENCE["glm"][name]
    response = "Surv(entry, time, status)" if case["start"] else "Surv(time, status)"
    fit = gf.pwexp(f"{response} ~ {reference['rhs']}", _data(case["dataset"], case["start"]), cuts=_cuts(case))
    glm = fit.glm
    assert glm.nobs == reference["n_used"] and glm.n_iter == reference["iter"]
    np.testing.assert_allclose(glm.params, reference["coef"], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(glm.bse, reference["se"], rtol=1e-8)
    np.testing.assert_allclose(glm.deviance, reference["deviance"], rtol=1e-10)
    covariates = [name for name in reference["names"] if not name.startswith(("(Intercept)", "factor("))]
    assert len(fit.covariates) == len(covariates)


@pytest.mark.parametrize("name", ["veteran", "lung"])
def test_events_cuts_give_cox_breslow(events_fits, name):
    ratios = events_fits[name].hazard_ratios()
    cox, poisson = REFERENCE["coxph"][name], REFERENCE["events"][name]["glm"]
    np.testing.assert_allclose(ratios["coef"], cox["coef"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(ratios["std_err"], cox["se"], rtol=1e-4)
    np.testing.assert_allclose(ratios["coef"], poisson["coef"], rtol=1e-8, atol=1e-10)  # R's glm on the risk sets
    np.testing.assert_allclose(ratios["hazard_ratio"], np.exp(cox["coef"]), rtol=1e-6)
    assert events_fits[name].n_events == REFERENCE["coxph"][name]["nevent"]
    assert events_fits[name].n_subjects == REFERENCE["coxph"][name]["n"]


def test_events_cuts_with_entry_times_give_cox_on_counting_process_data():
    fit = gf.pwexp(f"Surv(entry, time, status) ~ {RHS['veteran']}", _data("veteran", "entry"), cuts="events")
    cox = REFERENCE["coxph"]["veteran_truncated"]
    np.testing.assert_allclose(fit.hazard_ratios()["coef"], cox["coef"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(fit.hazard_ratios()["std_err"], cox["se"], rtol=1e-4)


@pytest.mark.parametrize("name", ["veteran", "lung"])
def test_events_curves_are_survfit_breslow_with_tsiatis_variance(events_fits, name):
    reference = REFERENCE["survfit"][name]
    newdata = pd.DataFrame(reference["newdata"])
    if name == "veteran":
        levels = ["squamous", "smallcell", "adeno", "large"]
        newdata["celltype"] = pd.Categorical(newdata["celltype"], categories=levels)
    curves = events_fits[name].predict(newdata, times=reference["time"])
    for position, label in enumerate(newdata.index):
        curve = curves[curves["row"] == label]
        np.testing.assert_array_equal(curve["time"], reference["time"])
        np.testing.assert_allclose(curve["cumhaz"], reference["cumhaz"][position], rtol=1e-6)
        np.testing.assert_allclose(curve["survival"], reference["surv"][position], rtol=1e-6)
        np.testing.assert_allclose(curve["cumhaz_se"], reference["std_err_cumhaz"][position], rtol=1e-4)
        np.testing.assert_allclose(curve["survival_lower"], reference["lower"][position], rtol=1e-4)
        np.testing.assert_allclose(curve["survival_upper"], reference["upper"][position], rtol=1e-4)


def test_quantile_cuts_are_r_quantiles_of_the_event_times():
    case = REFERENCE["split"]["veteran_quantiles4"]
    frame = gf.survival.split(_data("veteran"), cuts=4)
    assert len(frame["interval"].cat.categories) == 4
    np.testing.assert_array_equal(split_follow_up(_data("veteran"), "time", "status", 4).intervals.cuts,
                                  case["cuts"])


# -- curves -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cuts_fit() -> gf.survival.PWExpResults:
    return gf.pwexp("Surv(time, status) ~ trt + celltype + karno", _data("veteran"), cuts=[30, 90, 180, 365])


def test_predicted_survival_is_monotone_and_exp_of_minus_the_cumulative_hazard(cuts_fit):
    newdata = pd.DataFrame({"trt": [1, 2], "celltype": ["squamous", "adeno"], "karno": [60, 40]})
    curves = cuts_fit.predict(newdata, times=np.linspace(0, 999, 200))
    assert len(curves) == 400
    for _, curve in curves.groupby("row"):
        assert np.all(np.diff(curve["survival"]) <= 0) and np.all(np.diff(curve["cumhaz"]) >= 0)
        np.testing.assert_allclose(curve["survival"], np.exp(-curve["cumhaz"]), rtol=1e-14)
        np.testing.assert_allclose(curve["survival_lower"], np.exp(-curve["cumhaz_upper"]), rtol=1e-14)
        assert np.all(curve["survival_lower"] <= curve["survival"])
        assert np.all(curve["survival"] <= curve["survival_upper"])
        assert np.all(curve["hazard_lower"] < curve["hazard"]) and np.all(curve["hazard"] < curve["hazard_upper"])
    assert curves["cumhaz"].iloc[0] == 0 and curves["survival"].iloc[0] == 1


def test_cumulative_hazard_sums_interval_hazards_times_widths(cuts_fit):
    newdata = pd.DataFrame({"trt": [1], "celltype": ["large"], "karno": [70]})
    curves = cuts_fit.predict(newdata)
    np.testing.assert_array_equal(curves["time"], [0, 30, 90, 180, 365, 999])
    beta = cuts_fit.glm.params
    log_rate = beta["Intercept"] + beta["celltype[T.large]"] + beta["trt"] + 70 * beta["karno"]
    log_rate = log_rate + np.r_[0, beta.filter(like="interval[").to_numpy()]
    expected = np.cumsum(np.exp(log_rate) * np.diff([0, 30, 90, 180, 365, 999]))
    np.testing.assert_allclose(curves["cumhaz"].iloc[1:], expected, rtol=1e-12)
    np.testing.assert_allclose(curves["hazard"].iloc[1:], np.exp(log_rate), rtol=1e-12)


def test_baseline_hazard_is_intercept_plus_interval_coefficients(cuts_fit):
    baseline = cuts_fit.baseline_hazard()
    beta = cuts_fit.glm.params
    expected = np.exp(beta["Intercept"] + np.r_[0, beta.filter(like="interval[").to_numpy()])
    np.testing.assert_allclose(baseline["hazard"], expected, rtol=1e-12)
    assert baseline["events"].sum() == 128
    np.testing.assert_allclose(baseline["exposure"].sum(), _data("veteran")["time"].sum())
    assert (baseline["lower"] < baseline["hazard"]).all() and (baseline["hazard"] < baseline["upper"]).all()


def test_summary_reports_hazard_ratios_and_the_baseline(cuts_fit):
    summary = cuts_fit.summary()
    text = str(summary)
    assert "hazard ratios" in text and "Baseline hazard per interval" in text and "(365,Inf)" in text
    for rendered in (summary.as_markdown(), summary.as_html(), summary.as_latex()):
        assert "celltype" in rendered
    assert "Subjects" in text and "128" in text


def test_predict_refuses_unseen_levels_and_early_times(cuts_fit):
    with pytest.raises(gf.DataError, match="celltype"):
        cuts_fit.predict(pd.DataFrame({"trt": [1], "celltype": ["oat"], "karno": [60]}))
    with pytest.raises(gf.DataError, match="times must be >= 0"):
        cuts_fit.predict(pd.DataFrame({"trt": [1], "celltype": ["large"], "karno": [60]}), times=[-1, 5])


# -- person-years tables ----------------------------------------------------------------------------------
def test_person_years_table_gives_identical_coefficients():
    split = gf.survival.split(_data("veteran"), cuts=[30, 90, 180, 365])
    table = gf.survival.person_years(split, ["trt", "celltype"])
    assert len(table) < len(split) / 4
    assert table["event"].sum() == split["event"].sum() and table["exposure"].sum() == split["exposure"].sum()
    formula = "event ~ interval + trt + celltype + offset(log(exposure))"
    # the same maximum of the same likelihood: converged tightly, the two IRLS paths end at one point
    on_rows = gf.glm(formula, split, "poisson", tol=1e-13, maxiter=50)
    on_table = gf.glm(formula, table, "poisson", tol=1e-13, maxiter=50)
    np.testing.assert_allclose(on_table.params, on_rows.params, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(on_table.bse, on_rows.bse, rtol=1e-8)  # X'WX at the last-but-one iterate
    fit = gf.pwexp("Surv(time, status) ~ trt + celltype", _data("veteran"), cuts=[30, 90, 180, 365], tol=1e-13,
                   maxiter=50)
    np.testing.assert_allclose(on_table.params, fit.glm.params, rtol=1e-10, atol=1e-12)


def test_person_years_refuses_unknown_columns():
    split = gf.survival.split(_data("veteran"), cuts=[100])
    with pytest.raises(gf.MissingColumnError, match="'sex'"):
        gf.survival.person_years(split, "sex")


# -- status codings and bad input -------------------------------------------------------------------------
def test_status_codings_of_surv_give_the_same_split():
    data = _data("lung")
    as_01 = data.assign(status=data["status"] - 1)
    as_bool = data.assign(status=data["status"] == 2)
    frames = [gf.survival.split(frame, cuts=[200]) for frame in (data, as_01, as_bool)]
    for frame in frames[1:]:
        np.testing.assert_array_equal(frame["event"], frames[0]["event"])
    assert frames[0]["event"].sum() == (data["status"] == 2).sum()
    all_events = gf.survival.split(data.assign(status=1), cuts=[200])  # every value 1: 0/1 coding, all events
    assert all_events["event"].sum() == len(data)


SMALL = pd.DataFrame({"time": [5.0, 8.0, 12.0, 20.0], "status": [1, 0, 1, 1], "entry": [0.0, 2.0, 3.0, 1.0],
                      "x": [0.1, 0.4, 0.2, 0.9]})


@pytest.mark.parametrize(("change", "kwargs", "message"), [
    ({"time": [5.0, -8.0, 12.0, 20.0]}, {}, r"column 'time' has 1 time\(s\) <= 0"),
    ({"time": [5.0, 0.0, 12.0, 20.0]}, {}, r"column 'time' has 1 time\(s\) <= 0"),
    ({"entry": [0.0, 8.0, 3.0, 1.0]}, {"start": "entry"}, r"1 row\(s\) with start 'entry' >= time 'time'"),
    ({"entry": [0.0, -2.0, 3.0, 1.0]}, {"start": "entry"}, "negative entry time"),
    ({"status": [0, 1, 2, 1]}, {}, "status column 'status' has the values 0, 1, 2"),
    ({"status": [1, 3, 1, 1]}, {}, "values 1, 3"),
    ({"status": ["dead", "alive", "dead", "dead"]}, {}, "status column 'status' has type"),
    ({"time": [5.0, np.nan, np.nan, 20.0]}, {}, r"column 'time' has 2 missing value\(s\) \(rows 1, 2\)"),
    ({"status": [1, None, 1, 1]}, {}, r"column 'status' has 1 missing value\(s\)"),
    ({"time": [5.0, np.inf, 12.0, 20.0]}, {}, "infinite"),
    ({}, {"cuts": [0, 10]}, r"cuts 0 lie outside the follow-up range \(0, 20\)"),
    ({}, {"cuts": [10, 25]}, r"cuts 25 lie outside the follow-up range"),
    ({}, {"cuts": [20]}, "outside the follow-up range"),
    ({}, {"cuts": [-1.0], "start": "entry"}, r"outside the follow-up range \(0, 20\)"),
    ({}, {"cuts": "quantiles"}, "cuts must be a sequence"),
    ({}, {"cuts": 0}, "give at least 1"),
    ({}, {"cuts": [1, np.nan]}, "finite numbers"),
    ({"status": [0, 0, 0, 0]}, {"cuts": "events"}, "needs events"),
    ({"exposure": [1, 1, 1, 1]}, {}, "already have 'exposure'"),
    ({}, {"id": "tstop"}, "id 'tstop' is the name of a column split adds"),
])
def test_bad_input_is_a_clear_data_error(change, kwargs, message):
    data = SMALL.assign(**change)
    options = {"cuts": [10.0], **kwargs}
    with pytest.raises(gf.DataError, match=message):
        gf.survival.split(data, **options)
    if not {"start", "id"} & set(kwargs) and "exposure" not in change:  # the model checks the same way
        with pytest.raises(gf.DataError, match=message):
            gf.pwexp("Surv(time, status) ~ x", data, cuts=options["cuts"])


def test_missing_columns_and_bad_formulas():
    with pytest.raises(gf.MissingColumnError, match="time column 'days'"):
        gf.survival.split(SMALL, time="days", cuts=[10])
    for formula in ("status ~ x", "Surv(time) ~ x", "Surv(time, status) ~ ", "Surv(time, status) ~ x ~ z"):
        with pytest.raises(gf.FormulaError):
            gf.pwexp(formula, SMALL, cuts=[10])


def test_left_truncation_in_the_formula_equals_the_split_argument():
    fit = gf.pwexp("Surv(entry, time, status) ~ x", SMALL, cuts=[10])
    frame = gf.survival.split(SMALL, cuts=[10], start="entry")
    np.testing.assert_array_equal(fit.data["tstart"], frame["tstart"])
    assert fit.data["tstart"].iloc[0] == 0 and fit.data["tstart"].iloc[1] == 2


def test_an_interval_without_events_is_warned_about():
    with pytest.warns(gf.GLMWarning, match=r"no events in interval\(s\) \(5,8\]"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", gf.PerfectSeparationWarning)
            gf.pwexp("Surv(time, status) ~ 1", SMALL.assign(time=[5.0, 8.0, 12.0, 20.0]), cuts=[5, 8])


def test_dot_stands_for_the_covariates_only():
    fit = gf.pwexp("Surv(time, status) ~ .", _data("veteran"), cuts=[90, 180])
    assert fit.covariates == ["trt", "celltype[T.smallcell]", "celltype[T.adeno]", "celltype[T.large]", "karno",
                              "diagtime", "age", "prior"]


def test_missing_covariates_drop_subjects_and_are_counted():
    fit = gf.pwexp("Surv(time, status) ~ age + sex + ph.ecog", _data("lung"), cuts=[180, 365, 540])
    assert fit.n_dropped_subjects == 1 and fit.n_subjects == 227
    assert "Subjects dropped (NA):" in str(fit.summary())


def test_survival_datasets_have_r_column_types():
    veteran = gf.datasets.load("veteran")
    assert list(veteran["celltype"].cat.categories) == ["squamous", "smallcell", "adeno", "large"]
    lung = gf.datasets.load("lung")
    assert lung.shape == (228, 10) and lung["meal.cal"].isna().sum() == 47
    assert set(lung["status"]) == {1, 2}


def test_the_notebook_cox_figures_are_the_r_reference():
    notebook = json.loads((Path(__file__).parent.parent / "notebooks" / "survival.ipynb").read_text())
    source = "".join("".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "code")
    stored = json.loads(source.split("COX_R = json.loads('''")[1].split("''')")[0])
    reference = REFERENCE["coxph"]["veteran"]
    assert stored == {key: reference[key] for key in ("names", "coef", "se")}


def test_without_covariates_the_hazards_are_events_over_person_time():
    # the closed-form maximum likelihood estimate of a piecewise-constant hazard: D_k / E_k
    fit = gf.pwexp("Surv(time, status) ~ 1", _data("veteran"), cuts=[100, 200], tol=1e-12)
    baseline = fit.baseline_hazard()
    np.testing.assert_allclose(baseline["hazard"], baseline["events"] / baseline["exposure"], rtol=1e-10)
    exponential = gf.pwexp("Surv(time, status) ~ 1", _data("veteran"), cuts=[], tol=1e-12)
    assert exponential.intervals.labels == ("(0,Inf)",)
    np.testing.assert_allclose(exponential.baseline_hazard()["hazard"], 128 / _data("veteran")["time"].sum(),
                               rtol=1e-10)


def test_covariate_by_interval_terms_are_time_varying_effects():
    fit = gf.pwexp("Surv(time, status) ~ karno * interval", _data("veteran"), cuts=[100])
    assert fit.covariates == ["karno", "karno:interval[T.(100,Inf)]"]
