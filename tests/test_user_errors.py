"""Bad files and bad arguments give a glmformula error naming the culprit, never a raw traceback."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import glmformula as gf
from glmformula.cli import main


def cli_error(capsys, *argv: str) -> str:
    """Run the CLI expecting failure; return its one-line error message."""
    assert main(list(argv)) != 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and captured.out == ""
    assert captured.err.startswith("glmformula: error: ") and captured.err.count("\n") == 1
    return captured.err


def fit_file(capsys, path, formula: str = "y ~ x") -> str:
    return cli_error(capsys, "fit", formula, "--data", str(path))


@pytest.fixture
def res():
    data = pd.DataFrame({
        "y": [1.0, 3, 2, 5, 4, 6, 8, 7],
        "x": [1.0, 2, 3, 4, 5, 6, 7, 8],
        "b": pd.array([True, False, True, False, True, True, False, False], dtype="boolean"),
    })
    return gf.glm("y ~ x + b", data), data


# -- 1. CSV that is not UTF-8 -------------------------------------------------------------------
@pytest.mark.parametrize(("content", "where"), [(b"y,x\n1,\xff\xfe\n", "byte 0xff on line 2"),
                                                ("y,\u00e9t\u00e9\n1,2\n".encode("latin-1"), "byte 0xe9 on line 1")])
def test_cli_non_utf8_csv(tmp_path, capsys, content, where):
    path = tmp_path / "latin.csv"
    path.write_bytes(content)
    err = fit_file(capsys, path)
    assert f"'{path}' is not UTF-8 text ({where})" in err and "re-save it as UTF-8" in err


# -- 2. corrupt or empty Parquet ----------------------------------------------------------------
def test_cli_corrupt_parquet(tmp_path, capsys):
    path = tmp_path / "data.parquet"
    path.write_bytes(np.random.default_rng(0).bytes(256))
    assert f"cannot read '{path}' as Parquet" in fit_file(capsys, path)


def test_cli_empty_parquet(tmp_path, capsys):
    path = tmp_path / "data.parquet"
    path.write_bytes(b"")
    assert f"data file '{path}' is empty" in fit_file(capsys, path)


# -- other bad --data paths ---------------------------------------------------------------------
def test_cli_directory_as_data(tmp_path, capsys):
    assert f"'{tmp_path}' is a directory" in fit_file(capsys, tmp_path)


def test_cli_missing_file(tmp_path, capsys):
    path = tmp_path / "nope.csv"
    assert f"data file '{path}' does not exist" in fit_file(capsys, path)


@pytest.mark.parametrize(("name", "fragment"), [("book.xlsx", "save it as CSV"),
                                                 ("data.dat", "unknown file type '.dat'")])
def test_cli_unknown_extension(tmp_path, capsys, name, fragment):
    path = tmp_path / name
    path.write_bytes(b"y,x\n1,2\n")
    err = fit_file(capsys, path)
    assert f"'{path}'" in err and fragment in err


@pytest.mark.parametrize(("content", "fragment"), [(b"", "is empty"), (b"\n\n", "has no columns"),
                                                   (b"y,x\n", "has no data rows"),
                                                   (b"y,x\n1,2\n3,4,5\n", "as CSV: Expected 2 fields in line 3")])
def test_cli_empty_or_ragged_csv(tmp_path, capsys, content, fragment):
    path = tmp_path / "d.csv"
    path.write_bytes(content)
    err = fit_file(capsys, path)
    assert f"'{path}'" in err and fragment in err


def test_cli_compare_without_families(capsys):
    err = cli_error(capsys, "compare", "art ~ fem", "--dataset", "biochemists", "--families", " , ")
    assert "--families needs at least one family name" in err


def test_cli_tsv_and_compressed_csv_still_read(tmp_path, capsys):
    data = pd.DataFrame({"y": [1.0, 3, 2, 5], "x": [1.0, 2, 3, 4]})
    data.to_csv(tmp_path / "d.tsv", sep="\t", index=False)
    data.to_csv(tmp_path / "d.csv.gz", index=False)
    for name in ("d.tsv", "d.csv.gz"):
        assert main(["fit", "y ~ x", "--data", str(tmp_path / name)]) == 0
    assert capsys.readouterr().err == ""


# -- 3. pd.NA in a boolean column of newdata ----------------------------------------------------
@pytest.mark.parametrize("se", [False, True])
def test_predict_boolean_na_is_treated_like_a_missing_number(res, se):
    fitted, data = res
    with_na, with_nan = data.copy(), data.copy()
    with_na.loc[2, "b"] = pd.NA
    with_nan.loc[2, "x"] = np.nan
    got, like_nan = fitted.predict(with_na, se=se), fitted.predict(with_nan, se=se)
    assert np.isnan(np.asarray(got.loc[2], dtype=float)).all()
    assert np.isnan(np.asarray(like_nan.loc[2], dtype=float)).all()
    complete = data.index != 2
    pd.testing.assert_frame_equal(pd.DataFrame(got)[complete], pd.DataFrame(fitted.predict(data, se=se))[complete])


# -- 4. bad prediction arguments ----------------------------------------------------------------
@pytest.mark.parametrize(("kwargs", "message"), [
    ({"type": "bogus"}, "type must be one of 'response', 'link'; got 'bogus'"),
    ({"unseen": "drop"}, "unseen must be one of 'error', 'nan'; got 'drop'"),
    ({"level": "0.9"}, "level must be a number between 0 and 1"),
])
def test_predict_bad_argument(res, kwargs, message):
    with pytest.raises(gf.DataError) as info:
        res[0].predict(**kwargs)
    assert message in str(info.value)


# -- 5. duplicate column names in newdata -------------------------------------------------------
@pytest.mark.parametrize("column", ["x", "y"])  # used by the model, or not
def test_predict_duplicate_columns(res, column):
    fitted, data = res
    with pytest.raises(gf.DataError, match=f"newdata has duplicate column names: '{column}'"):
        fitted.predict(pd.concat([data, data[[column]]], axis=1))
