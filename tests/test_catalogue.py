"""A catalogue of bad inputs: each row is an input and the error (or warning) it must produce.

No row may surface a bare numpy, pandas, formulaic or LinAlgError; the caller's
DataFrame is hashed before and after every row.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import glmformula as gf


def base_data() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    n = 60
    return pd.DataFrame({
        "y": rng.poisson(4, n).astype(float),
        "x": rng.normal(size=n),
        "z": rng.normal(size=n),
        "g": rng.choice(["a", "b", "c"], n),
        "e": rng.uniform(1, 5, n),
        "w": rng.integers(1, 4, n).astype(float),
        "b": rng.integers(0, 2, n).astype(float),
    })


def modified(**changes):
    def build():
        data = base_data()
        for column, change in changes.items():
            data[column] = change(data)
        return data
    return build


def fit(formula, family="poisson", **kwargs):
    return lambda data: gf.glm(formula, data, family, **kwargs)


def nan_at(column, rows):
    return lambda d: d[column].where(~d.index.isin(rows), np.nan)


def predict_with(newdata_change, **kwargs):
    def run(data):
        res = gf.glm("y ~ x + g", data, "poisson")
        return res.predict(newdata_change(data.copy()), **kwargs)
    return run


# (id, data builder, action, expected exception or warning class, message fragment)
CATALOGUE = [
    ("missing column", base_data, fit("y ~ x + q"), gf.MissingColumnError, "column 'q' is not in the data"),
    ("misspelled column", base_data, fit("y ~ xx + g"), gf.MissingColumnError, "Did you mean 'x'"),
    ("misspelled case", base_data, fit("y ~ X"), gf.MissingColumnError, "Did you mean 'x'"),
    ("misspelled response", base_data, fit("yy ~ x"), gf.MissingColumnError, "Did you mean 'y'"),
    ("negative counts", modified(y=lambda d: d.y - 10), fit("y ~ x"), gf.ResponseError,
     "poisson family"),
    ("proportion above one", modified(y=lambda d: d.y / 2), fit("y ~ x", "binomial"), gf.ResponseError,
     "outside [0, 1]"),
    ("gamma zero", modified(y=lambda d: d.y), fit("y ~ x", "gamma"), gf.ResponseError, "non-positive"),
    ("wrong-length weights", base_data, fit("y ~ x", weights=np.ones(10)), gf.DataError,
     "weights has 10 values but data has 60 rows"),
    ("negative weights", modified(w=lambda d: d.w - 2), fit("y ~ x", weights="w"), gf.DataError,
     "weights must be non-negative"),
    ("wrong-length offset", base_data, fit("y ~ x", offset=np.ones(3)), gf.DataError, "offset has 3 values"),
    ("inf in predictor", modified(x=lambda d: d.x.where(d.index != 5, np.inf)), fit("y ~ x"), gf.DataError,
     "infinite"),
    ("inf in response", modified(y=lambda d: d.y.where(d.index != 5, np.inf)), fit("y ~ x"), gf.DataError,
     "response y is not finite"),
    ("all rows dropped", modified(x=lambda d: np.nan), fit("y ~ x"), gf.DataError, "no rows left"),
    ("NaN with raise", modified(x=nan_at("x", [1, 2])), fit("y ~ x", na_action="raise"), gf.DataError,
     "missing values in x (2)"),
    ("zero exposure", modified(e=lambda d: d.e.where(d.index != 3, 0.0)), fit("y ~ x", exposure="e"),
     gf.DataError, "exposure must be positive"),
    ("negative exposure", modified(e=lambda d: -d.e), fit("y ~ x", exposure="e"), gf.DataError,
     "exposure must be positive"),
    ("log of zero offset", modified(e=lambda d: d.e.where(d.index != 3, 0.0)), fit("y ~ x + offset(log(e))"),
     gf.DataError, "offset is not finite"),
    ("exposure with identity link", base_data, fit("y ~ x", "poisson(link=identity)", exposure="e"),
     gf.DataError, "needs the log link"),
    ("constant predictor", modified(z=lambda d: 3.0), fit("y ~ x + z"), gf.RankDeficiencyWarning, "z aliased"),
    ("collinear predictors", modified(z=lambda d: 2 * d.x - 1), fit("y ~ x + z"), gf.RankDeficiencyWarning,
     "z aliased"),
    ("perfect separation", modified(b=lambda d: (d.x > 0).astype(float)), fit("b ~ x", "binomial"),
     gf.PerfectSeparationWarning, "x"),
    ("one-level categorical", modified(g=lambda d: "a"), fit("y ~ x + g"), gf.DataError,
     "g has the single level 'a'"),
    ("duplicate column names", lambda: base_data().rename(columns={"z": "x"}), fit("y ~ x"), gf.DataError,
     "duplicate column names: x"),
    ("non-string formula", base_data, fit(42), gf.FormulaError, "must be a string"),
    ("empty formula", base_data, fit("   "), gf.FormulaError, "empty"),
    ("no response", base_data, fit("~ x"), gf.FormulaError, "no response"),
    ("two tildes", base_data, fit("y ~ x ~ z"), gf.FormulaError, "exactly one '~'"),
    ("unbalanced", base_data, fit("y ~ log(x"), gf.FormulaError, "')' is missing"),
    ("bad family", base_data, fit("y ~ x", "poison"), gf.FamilyError, "Did you mean 'poisson'"),
    ("bad link", base_data, fit("y ~ x", "poisson(link=logg)"), gf.FamilyError, "unknown link 'logg'"),
    ("unseen level at prediction", base_data, predict_with(lambda d: d.assign(g="zz")), gf.DataError,
     "level(s) 'zz' not seen"),
    ("missing column at prediction", base_data, predict_with(lambda d: d.drop(columns="g")),
     gf.MissingColumnError, "newdata: column 'g'"),
    ("counts of 1e9", modified(y=lambda d: d.y * 1e9), fit("y ~ x"), None, None),
    ("means near 1e-300", modified(y=lambda d: (d.y + 1) * 1e-300), fit("y ~ x", "gaussian"),
     gf.ConvergenceWarning, "rescale the response"),
    ("theta to infinity", modified(y=lambda d: np.full(len(d), 3.0) + (d.index % 2)),
     fit("y ~ x", "negative_binomial"), gf.OverdispersionWarning, "not overdispersed"),
    ("no zeros for zeroinfl", modified(y=lambda d: d.y + 1), lambda d: gf.zeroinfl("y ~ x", d),
     gf.ResponseError, "no zeros"),
    ("non-integer counts for hurdle", modified(y=lambda d: d.y + 0.5), lambda d: gf.hurdle("y ~ x", d),
     gf.ResponseError, "not whole numbers"),
    ("unknown cov_type", base_data, fit("y ~ x", cov_type="HC7"), gf.DataError, "cov_type must be one of"),
    ("cluster without labels", base_data, fit("y ~ x", cov_type="cluster"), gf.DataError, "needs cluster="),
    ("categorical response for poisson", base_data, fit("g ~ x"), gf.ResponseError, "not numeric"),
    ("empty model", base_data, fit("y ~ 0"), gf.FitError, "nothing to estimate"),
    ("non-numeric start", base_data, fit("y ~ x", start=["a", "b"]), gf.FitError, "start must be numbers"),
    ("non-numeric power link", base_data, fit("y ~ x", "poisson(link=power('a'))"), gf.FamilyError,
     "power link needs a number"),
    ("non-numeric tol", base_data, fit("y ~ x", tol="a"), gf.FitError, "tol must be a positive number"),
    ("zero maxiter", base_data, fit("y ~ x", maxiter=0), gf.FitError, "maxiter must be a positive integer"),
    ("cluster with duplicate index", lambda: base_data().set_index(np.arange(60) // 2),
     fit("y ~ x", cov_type="cluster", cluster="g"), gf.DataError, "without duplicate labels"),
]


@pytest.mark.parametrize(("build", "action", "expected", "fragment"), [row[1:] for row in CATALOGUE],
                         ids=[row[0] for row in CATALOGUE])
def test_catalogue(build, action, expected, fragment):
    data = build()
    before = int(pd.util.hash_pandas_object(data, index=True).sum())
    columns = list(data.columns)
    if expected is None:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            result = action(data)
        assert np.all(np.isfinite(result.params))
    elif issubclass(expected, Warning):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = action(data)
        messages = [str(w.message) for w in caught if issubclass(w.category, expected)]
        assert any(fragment in m for m in messages), messages
        assert result is not None
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises(expected) as info:
                action(data)
        assert fragment in str(info.value)
        assert isinstance(info.value, gf.GLMFormulaError)
    assert int(pd.util.hash_pandas_object(data, index=True).sum()) == before and list(data.columns) == columns
