"""glmformula's ``bs()`` (``formula.splines``: R's ``splines::bs`` on scipy's B-splines) against R 4.2.

``tests/data/reference/bs_basis.R`` computes R's basis for df, explicit knots, degree 1/2/3, intercept
TRUE/FALSE and Boundary.knots wider and narrower than the data (values beyond them extrapolated as R's bs
does), ``predict(bs_object, newx)`` on new values (the fitted knots replayed), and R's handling of a too
small ``df`` in ``bs()`` and ``ns()`` (a warning, and the smallest basis).  A glm with ``bs(x, df=5) + g``
against R's coefficients is ``tests/test_fast_transforms.py``'s ``bs_factor`` case.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import REFERENCE_DIR

import glmformula as gf
from glmformula.formula.splines import bs, ns, r_quantile

REFERENCE = json.loads((REFERENCE_DIR / "bs_basis.json").read_text())
X = np.array(REFERENCE["x"], dtype=float)
NEWX = np.array(REFERENCE["newx"], dtype=float)
TOL = 1e-12  # R's values are written with 15 significant digits


def _basis(values) -> np.ndarray:
    return np.column_stack([np.asarray(column, dtype=float) for column in values.values()])


def _arguments(case: dict) -> dict:
    return {"df": case["df"], "knots": case["knots"], "degree": case["degree"], "intercept": case["intercept"],
            "boundary_knots": case["boundary_knots"]}


def _quiet_bs(x, state, **arguments):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gf.GLMWarning)  # R's warning on values beyond the boundary knots
        return bs(x, _state=state, **arguments)


@pytest.mark.parametrize("name", sorted(REFERENCE["cases"]))
def test_bs_basis_and_knots_equal_r(name):
    case = REFERENCE["cases"][name]
    state: dict = {}
    values = _quiet_bs(X, state, **_arguments(case))
    assert list(values.keys()) == list(range(1, len(case["basis"][0]) + 1))  # R's column names 1..k
    np.testing.assert_allclose(_basis(values), np.array(case["basis"]), rtol=TOL, atol=TOL)
    degree = case["degree"]
    np.testing.assert_allclose(state["knots"][degree + 1:len(state["knots"]) - degree - 1],
                               np.atleast_1d(np.array(case["fitted_knots"], dtype=float)), rtol=TOL, atol=TOL)
    assert [state["lower_bound"], state["upper_bound"]] == pytest.approx(case["fitted_boundary"], rel=TOL)


@pytest.mark.parametrize("name", sorted(REFERENCE["cases"]))
def test_bs_prediction_replays_the_fitted_knots_as_r_predict(name):
    """The state learned on X, replayed on new values (some beyond the boundary knots), is R's
    ``predict(bs(X, ...), newx)``."""
    case = REFERENCE["cases"][name]
    state: dict = {}
    _quiet_bs(X, state, **_arguments(case))
    learned = json.loads(json.dumps(state))
    predicted = _quiet_bs(NEWX, state, **_arguments(case))
    assert state == learned  # replayed, not learned again
    np.testing.assert_allclose(_basis(predicted), np.array(case["predict"]), rtol=TOL, atol=TOL)


def test_values_beyond_the_boundary_knots_warn_as_r():
    with pytest.warns(gf.GLMWarning, match="beyond boundary knots"):
        bs(X, df=6, boundary_knots=[0, 4], _state={})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bs(X, df=6, _state={})  # the boundary knots are the range: nothing beyond them


@pytest.mark.parametrize("name", sorted(REFERENCE["small_df"]))
def test_too_small_df_warns_and_uses_the_smallest_basis_as_r(name):
    case = REFERENCE["small_df"][name]
    for function, key in ((bs, "bs"), (ns, "ns")):
        expected_warning = case[f"{key}_warning"]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            values = function(X, df=case["df"], intercept=case["intercept"], _state={})
        messages = [str(w.message) for w in caught if issubclass(w.category, gf.GLMWarning)]
        if expected_warning:
            assert len(messages) == 1 and expected_warning in messages[0]
            assert f"{key}(..., df={case['df']})" in messages[0]  # names the call
        else:
            assert not messages
        np.testing.assert_allclose(_basis(values), np.array(case[f"{key}_basis"]), rtol=TOL, atol=TOL)


def test_r_quantile_is_type_7():
    values = np.array([3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0])
    probabilities = np.linspace(0, 1, 6)
    np.testing.assert_allclose(r_quantile(values, probabilities), np.quantile(values, probabilities), rtol=1e-15)


def test_formulaic_spellings_are_aliases():
    """``include_intercept``, ``lower_bound``/``upper_bound`` (formulaic's names) are R's intercept and
    Boundary.knots; extrapolation other than R's is refused."""
    case = REFERENCE["cases"]["boundary_narrower_degree2_intercept"]
    values = _quiet_bs(X, {}, df=5, degree=2, include_intercept=True, lower_bound=-0.5, upper_bound=3.5)
    np.testing.assert_allclose(_basis(values), np.array(case["basis"]), rtol=TOL, atol=TOL)
    with pytest.raises(gf.FormulaError, match="extrapolation"):
        bs(X, df=5, extrapolation="raise", _state={})
    with pytest.raises(gf.FormulaError, match="degree"):
        bs(X, df=5, degree=0, _state={})
    with pytest.raises(gf.FormulaError, match="df or knots"):
        bs(X, df=5, knots=[1.0], _state={})


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(20261207)
    data = pd.DataFrame({"x": X, "g": rng.choice(["a", "b", "c"], size=len(X))})
    data["y"] = np.sin(data["x"]) + 0.1 * rng.normal(size=len(X))
    return data


@pytest.mark.parametrize("name", ["df5", "df6_intercept", "df5_degree2", "knots"])
def test_a_fit_predicts_with_r_predict_basis(frame, name):
    """Through a formula: the columns are named as formulaic's bs named them (``bs(x, df=5)[1]``...), and
    prediction beyond the training range is the fitted coefficients times R's ``predict`` basis."""
    case = REFERENCE["cases"][name]
    spelled = {"df5": "df=5", "df6_intercept": "df=6, intercept=True", "df5_degree2": "df=5, degree=2",
               "knots": "knots=[0.5, 1.5, 3]"}[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gf.RankDeficiencyWarning)  # intercept=True: aliased with the intercept
        fit = gf.glm(f"y ~ bs(x, {spelled})", frame)
    k = len(case["basis"][0])
    assert list(fit.params.index) == ["Intercept"] + [f"bs(x, {spelled})[{j}]" for j in range(1, k + 1)]
    params = fit.params.fillna(0.0).to_numpy()
    np.testing.assert_allclose(fit.fittedvalues.to_numpy(), params[0] + np.array(case["basis"]) @ params[1:],
                               rtol=1e-10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # beyond the boundary knots; aliased columns taken as 0
        predicted = fit.predict(pd.DataFrame({"x": NEWX, "g": "a"})).to_numpy()
    np.testing.assert_allclose(predicted, params[0] + np.array(case["predict"]) @ params[1:], rtol=1e-10)


def test_names_are_formulaics(frame):
    """The same column names as formulaic's own bs gave (R-name mapping and summaries rely on them)."""
    from formulaic import model_matrix
    from formulaic.transforms import TRANSFORMS

    fit = gf.glm("y ~ bs(x, df=4) + g", frame)
    expected = model_matrix("y ~ bs(x, df=4) + g", frame, context={"bs": TRANSFORMS["bs"]}).rhs.columns
    assert list(fit.params.index) == list(expected)


@pytest.mark.parametrize("name", sorted(REFERENCE["formulas"]))
def test_r_spellings_in_a_formula_give_r_model(name):
    """``Boundary.knots = c(0, 10)``, ``knots = c(...)``, ``TRUE``/``FALSE`` written as in R: R's model matrix,
    coefficients and deviance (``bs_basis.R``'s ``formulas``)."""
    case = REFERENCE["formulas"][name]
    data = pd.DataFrame(REFERENCE["formula_data"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gf.GLMWarning)  # values beyond narrower boundary knots, as R warns
        fit = gf.glm(case["formula"], data, "poisson")
    np.testing.assert_allclose(fit.model_data.design.to_dense(), np.array(case["model_matrix"]), rtol=1e-10,
                               atol=1e-12)
    np.testing.assert_allclose(fit.params.to_numpy(), case["coefficients"], rtol=1e-7, atol=1e-10)
    assert fit.deviance == pytest.approx(case["deviance"], rel=1e-9)


# ---------------------------------------------------------------------------------------------------------
# The basis by chunks of rows, written into a given array
# ---------------------------------------------------------------------------------------------------------

def _awkward_values() -> np.ndarray:
    """X with values beyond the boundary knots of both sides, a missing value and the boundary knots themselves
    (R's X spans [0, 4]: the cases below use narrower boundary knots)."""
    return np.r_[X, -1.0, 5.0, np.nan, 0.5, 3.5, X[::-1]]


@pytest.mark.parametrize("degree, intercept", [(3, False), (3, True), (1, False), (2, True)])
def test_bs_basis_by_chunks_equals_the_whole(degree, intercept):
    """Chunks of a few rows give the basis of one chunk of every row, to 1e-15, inside the boundary knots and
    beyond them (Taylor extension), with the missing row missing."""
    from glmformula.formula.splines import bspline_basis

    values = _awkward_values()
    state: dict = {}
    _quiet_bs(X, state, df=6, degree=degree, intercept=intercept, boundary_knots=[0.5, 3.5])
    knots, first = np.array(state["knots"]), 0 if intercept else 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gf.GLMWarning)
        whole = bspline_basis(values, knots, degree, first=first, chunk_rows=len(values))
        chunked = bspline_basis(values, knots, degree, first=first, chunk_rows=7)
    assert np.isnan(whole[len(X) + 2]).all() and np.isnan(chunked[len(X) + 2]).all()
    np.testing.assert_allclose(chunked, whole, rtol=1e-15, atol=1e-15)


@pytest.mark.parametrize("intercept", [False, True])
def test_ns_basis_by_chunks_equals_the_whole(intercept):
    from glmformula.formula.splines import natural_spline_basis

    values = _awkward_values()
    interior, boundary = np.array([1.0, 2.0, 2.5]), np.array([0.5, 3.5])
    whole = natural_spline_basis(values, interior, boundary, intercept, chunk_rows=len(values))
    chunked = natural_spline_basis(values, interior, boundary, intercept, chunk_rows=5)
    assert np.isnan(chunked[len(X) + 2]).all()
    np.testing.assert_allclose(chunked, whole, rtol=1e-15, atol=1e-15)


@pytest.mark.parametrize("function, arguments, width", [(bs, {"df": 5}, 5), (ns, {"df": 4}, 4)])
def test_out_receives_the_basis(function, arguments, width):
    """``out=`` (a column slice of a row-major block, as the dense block's) is written, and the returned columns
    are its own; the values are those of a new array.  An array of another shape is refused."""
    expected = _basis(function(X, _state={}, **arguments))
    block = np.full((len(X), width + 3), -7.0)
    out = block[:, 2:2 + width]
    values = function(X, _state={}, out=out, **arguments)
    assert all(np.shares_memory(column, block) for column in values.values())
    np.testing.assert_array_equal(out, expected)
    assert (block[:, :2] == -7.0).all() and (block[:, 2 + width:] == -7.0).all()  # nothing else written
    with pytest.raises(ValueError, match="out"):
        function(X, _state={}, out=np.empty((len(X), width + 1)), **arguments)


def test_a_product_of_two_one_column_splines_is_their_product(frame):
    """``bs(x, df=1, degree=1):bs(x2, df=1, degree=1)`` written into an output target (``output_into``): both
    factors have the term's one column, the target's width (should a basis be written straight into the target,
    only one of them may); the design column written into the target is the product of the two bases."""
    from formulaic import model_matrix

    from glmformula.formula.materializer import InterpretingMaterializer, output_into

    data = frame.assign(x2=np.cos(frame["x"]) + np.linspace(0, 1, len(frame)))
    product = _basis(bs(data["x"].to_numpy(), df=1, degree=1, _state={}))[:, 0] \
        * _basis(bs(data["x2"].to_numpy(), df=1, degree=1, _state={}))[:, 0]
    target = np.full((len(data), 1), np.nan)
    with output_into(target):
        matrix = model_matrix("0 + bs(x, df=1, degree=1):bs(x2, df=1, degree=1)", data, output="numpy",
                              materializer=InterpretingMaterializer)
    assert np.shares_memory(np.asarray(matrix), target)
    np.testing.assert_allclose(target[:, 0], product, rtol=1e-15, atol=1e-15)


def test_a_spline_term_is_written_straight_into_the_output_target(frame, monkeypatch):
    """``bs(x, df=5)`` and ``ns(x, df=3)`` terms materialised under ``output_into``: the basis is written into the
    target by the transform itself (``output_target.claim``) and the materializer copies none of its columns;
    the values are those of a new array.  A spline in a product (``bs(x, df=3):x``) claims the target too, and
    the product written over it is right."""
    from formulaic import model_matrix

    from glmformula.formula import materializer, output_target
    from glmformula.formula.materializer import InterpretingMaterializer, output_into

    claimed, copies = [], []  # what each claim returned; whether each column was copied into the target
    claim, in_place = output_target.claim, materializer._is_column
    monkeypatch.setattr(output_target, "claim", lambda shape: claimed.append(claim(shape)) or claimed[-1])
    monkeypatch.setattr(materializer, "_is_column", lambda values, out, position: copies.append(
        not in_place(values, out, position)) or not copies[-1])
    x = frame["x"].to_numpy()
    cases = [("bs(x, df=5)", _basis(bs(x, df=5, _state={}))), ("ns(x, df=3)", _basis(ns(x, df=3, _state={}))),
             ("bs(x, df=3):x", _basis(bs(x, df=3, _state={})) * x[:, None])]
    for formula, expected in cases:
        claimed.clear()
        copies.clear()
        block = np.full((len(frame), expected.shape[1] + 2), np.nan)
        target = block[:, 1:-1]
        with output_into(target):
            matrix = model_matrix(f"0 + {formula}", frame, output="numpy", materializer=InterpretingMaterializer)
        assert np.shares_memory(np.asarray(matrix), target) and claimed[0] is target
        assert copies == [":" in formula] * expected.shape[1]  # a basis in place is not copied; a product is
        np.testing.assert_allclose(target, expected, rtol=1e-15, atol=1e-15)
        assert np.isnan(block[:, [0, -1]]).all()  # nothing written beside the target


def test_an_output_target_is_claimed_once_and_taken_once():
    """``output_target``: the target goes to the first transform of its shape only, to the materializer once
    (claimed or not), to nothing after it was taken, and not at all outside a block or inside a nested None."""
    from glmformula.formula import output_target

    target = np.empty((4, 2))
    assert output_target.claim((4, 2)) is None and output_target.take((4, 2)) is None
    with output_target.output_into(target):
        assert output_target.claim((4, 3)) is None and output_target.take((5, 2)) is None
        with output_target.output_into(None):
            assert output_target.claim((4, 2)) is None
        assert output_target.claim((4, 2)) is target and output_target.claim((4, 2)) is None
        assert output_target.take((4, 2)) is target and output_target.take((4, 2)) is None
    with output_target.output_into(target):
        assert output_target.take((4, 2)) is target and output_target.claim((4, 2)) is None
    with output_target.output_into(target.astype(np.float32)):
        assert output_target.claim((4, 2)) is None
