"""Bundled datasets and the command line."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import glmformula as gf
from glmformula.cli import main


@pytest.mark.parametrize("name", gf.datasets.names())
def test_every_dataset_loads_and_is_described(name):
    frame = gf.datasets.load(name)
    info = gf.datasets.describe(name)
    assert len(frame) > 0 and set(frame.columns) == set(info.columns)
    assert info.source and info.classic_model
    for column in frame.columns:
        assert pd.api.types.is_numeric_dtype(frame[column]) or isinstance(frame[column].dtype, pd.CategoricalDtype)


def test_loading_returns_a_fresh_copy():
    first = gf.datasets.load("dobson")
    first.loc[0, "counts"] = -1
    assert gf.datasets.load("dobson").loc[0, "counts"] == 18


R_FACTORS = {  # R 4.2: levels(MASS::Insurance$Group), is.ordered(...) and likewise (tests/data/reference/parity.R)
    ("insurance", "Group"): (["<1l", "1-1.5l", "1.5-2l", ">2l"], True),
    ("insurance", "Age"): (["<25", "25-29", "30-35", ">35"], True),
    ("insurance", "District"): ([1, 2, 3, 4], False),
    ("esoph", "agegp"): (["25-34", "35-44", "45-54", "55-64", "65-74", "75+"], True),
    ("esoph", "alcgp"): (["0-39g/day", "40-79", "80-119", "120+"], True),
    ("esoph", "tobgp"): (["0-9g/day", "10-19", "20-29", "30+"], True),
    ("warpbreaks", "tension"): (["L", "M", "H"], False),
    ("biochemists", "mar"): (["Single", "Married"], False),
    ("veteran", "celltype"): (["squamous", "smallcell", "adeno", "large"], False),
}


@pytest.mark.parametrize(("name", "column"), sorted(R_FACTORS))
def test_factors_have_r_levels_and_order(name, column):
    values = gf.datasets.load(name)[column]
    levels, ordered = R_FACTORS[name, column]
    assert list(values.cat.categories) == levels and values.cat.ordered == ordered


def test_other_text_columns_are_sorted_categoricals_as_read_csv_reads_them():
    sex = gf.datasets.load("budworm").sex
    assert list(sex.cat.categories) == ["F", "M"] and not sex.cat.ordered


def test_unknown_dataset_lists_names():
    with pytest.raises(gf.DataError, match="available: biochemists"):
        gf.datasets.load("iris")


def test_cli_demo(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "offset(log(Holders))" in out and "Generalized Linear Model Regression Results" in out


def test_cli_fit_on_dataset(capsys):
    assert main(["fit", "breaks ~ wool + tension", "--dataset", "warpbreaks", "--family", "poisson"]) == 0
    assert "tension[T.M]" in capsys.readouterr().out


def test_cli_fit_on_csv(tmp_path, capsys):
    path = tmp_path / "d.csv"
    gf.datasets.load("clotting").to_csv(path, index=False)
    assert main(["fit", "lot1 ~ log(u)", "--data", str(path), "--family", "Gamma"]) == 0
    assert "log(u)" in capsys.readouterr().out


def test_cli_bad_input_is_one_line_without_traceback(capsys):
    assert main(["fit", "Claims ~ Agee", "--dataset", "insurance", "--family", "poisson"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("glmformula: error: column 'Agee'") and "Traceback" not in err
    assert err.count("\n") == 1


def test_cli_datasets(capsys):
    assert main(["datasets"]) == 0
    assert "quine" in capsys.readouterr().out


def test_module_entry_point():
    result = subprocess.run([sys.executable, "-m", "glmformula", "datasets"], capture_output=True, text=True)
    assert result.returncode == 0 and "insurance" in result.stdout


@pytest.mark.parametrize(("fmt", "fragment"), [("markdown", "| Intercept"), ("html", "<table>"),
                                               ("latex", "\\begin{tabular}"), ("json", '"params"')])
def test_cli_output_formats(capsys, fmt, fragment):
    assert main(["fit", "counts ~ outcome", "--dataset", "dobson", "--family", "poisson", "--format", fmt]) == 0
    assert fragment in capsys.readouterr().out


def test_cli_r_style(capsys):
    assert main(["fit", "counts ~ outcome", "--dataset", "dobson", "--family", "poisson", "--style", "r"]) == 0
    assert "Number of Fisher Scoring iterations" in capsys.readouterr().out


def test_cli_compare(capsys):
    code = main(["compare", "art ~ fem + ment", "--dataset", "biochemists", "--families", "poisson,negative_binomial"])
    assert code == 0
    out = capsys.readouterr().out
    assert "negative_binomial" in out and "AIC" in out


def test_cli_warnings_go_to_stderr(capsys):
    assert main(["fit", "mpg ~ hp + wt + hpwt", "--dataset", "mtcars", "--family", "Gamma(link=log)"]) == 0
    assert "warning: the design is rank deficient" in capsys.readouterr().err


def test_console_script_end_to_end(tmp_path):
    import shutil

    script = shutil.which("glmformula")
    if script is None:
        pytest.skip("the package is not installed with its console script")
    result = subprocess.run([script, "fit", "Claims ~ Agee", "--dataset", "insurance"], capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    result = subprocess.run([script, "demo"], capture_output=True, text=True)
    assert result.returncode == 0 and "Claims" in result.stdout


def test_polars_frames_give_the_same_fit():
    pl = pytest.importorskip("polars")
    data = gf.datasets.load("dobson")
    frame = pl.from_pandas(data.astype({"outcome": str, "treatment": str}))
    a = gf.glm("counts ~ outcome + treatment", frame, "poisson")
    b = gf.glm("counts ~ outcome + treatment", data, "poisson")
    np.testing.assert_allclose(a.params, b.params, rtol=1e-12, atol=1e-14)


def test_cli_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.strip() == f"glmformula {gf.__version__}"


@pytest.mark.parametrize("command", ["fit", "compare"])
def test_cli_every_option_has_help(command):
    from glmformula.cli import build_parser

    subcommands = next(action for action in build_parser()._actions if action.dest == "command")
    for action in subcommands.choices[command]._actions:
        assert action.help, f"{command} {action.option_strings or action.dest} has no help text"


def test_cli_unknown_family_in_compare_lists_every_accepted_name(capsys):
    code = main(["compare", "art ~ fem", "--dataset", "biochemists", "--families", "poisson,zipp"])
    err = capsys.readouterr().err
    assert code == 2 and "'zipp'" in err and err.count("\n") == 1
    for name in ("negative_binomial", "quasipoisson", "zip", "zinb", "zigeom", "hurdle-poisson", "hurdle-negbin"):
        assert name in err


def test_cli_compare_table_fits_80_columns(capsys):
    families = "poisson,quasipoisson,negative_binomial,zip,zinb,hurdle-negbin"
    code = main(["compare", "art ~ fem + mar + kid5 + phd + ment", "--dataset", "biochemists", "--families", families])
    out = capsys.readouterr().out
    assert code == 0 and "logLik" in out and "AIC" in out and "..." not in out
    assert max(len(line) for line in out.splitlines()) <= 80


@pytest.mark.parametrize("content", ["", "a,b\n"], ids=["blank", "header-only"])
def test_cli_empty_csv_names_the_file(tmp_path, capsys, content):
    path = tmp_path / "empty.csv"
    path.write_text(content)
    assert main(["fit", "a ~ b", "--data", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and ("empty" in err or "no data rows" in err)


def test_cli_piped_into_a_closed_reader_ends_quietly():
    # what `glmformula fit ... | head -1` does: the reader closes the pipe before the output is written
    command = [sys.executable, "-m", "glmformula", "fit", "Claims ~ Group + Age", "--dataset", "insurance",
               "--family", "poisson"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()
    errors = process.stderr.read().decode()
    process.wait(timeout=60)
    process.stderr.close()
    assert errors == "" and process.returncode == 141
