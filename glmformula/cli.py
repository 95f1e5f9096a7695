"""Command line: ``glmformula demo | fit | compare | datasets``.

The CLI only calls the public API.  Bad input exits with status 2 and a
one-line message on stderr, never a traceback; statistical warnings are
printed after the result, one line each.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import warnings
from pathlib import Path

import pandas as pd

import glmformula as gf
from glmformula.count.compare import accepted_family_names, comparison_text
from glmformula.exceptions import DataError, FamilyError, GLMFormulaError

DEMO_FORMULA = "Claims ~ C(District) + Group + Age + offset(log(Holders))"
FORMATS = ("text", "markdown", "html", "latex", "json")
CSV_SEPARATORS = {".csv": ",", ".txt": ",", ".tsv": "\t", "": ","}  # no suffix: CSV, e.g. /dev/stdin
PARQUET_SUFFIXES = (".parquet", ".pq")
COMPRESSION_SUFFIXES = (".gz", ".bz2", ".zip", ".xz", ".zst")
EXCEL_SUFFIXES = (".xlsx", ".xls", ".xlsm", ".ods")


def _read_data(args: argparse.Namespace) -> pd.DataFrame:
    if args.dataset:
        return gf.datasets.load(args.dataset)
    name, path = args.data, Path(args.data)
    suffix = _data_suffix(name)
    if not path.exists():
        raise DataError(f"data file {name!r} does not exist")
    if path.is_dir() and suffix not in PARQUET_SUFFIXES:  # a Parquet dataset may be a directory
        raise DataError(f"{name!r} is a directory; give a CSV or Parquet file")
    if path.is_file() and path.stat().st_size == 0:
        raise DataError(f"data file {name!r} is empty")
    frame = _read_parquet(name) if suffix in PARQUET_SUFFIXES else _read_csv(name, CSV_SEPARATORS[suffix])
    if frame.empty:
        raise DataError(f"data file {name!r} has no data rows")
    return frame


def _data_suffix(name: str) -> str:
    """The format suffix, lower case, past a compression suffix (``d.csv.gz`` -> ``.csv``)."""
    suffixes = [s.lower() for s in Path(name).suffixes]
    if suffixes and suffixes[-1] in COMPRESSION_SUFFIXES:
        suffixes.pop()
    suffix = suffixes[-1] if suffixes else ""
    if suffix in EXCEL_SUFFIXES:
        raise DataError(f"cannot read spreadsheet {name!r}; save it as CSV (UTF-8) and pass that file")
    if suffix not in CSV_SEPARATORS and suffix not in PARQUET_SUFFIXES:
        raise DataError(f"cannot read {name!r}: unknown file type {suffix!r}; use .csv, .tsv, .txt or .parquet")
    return suffix


def _read_csv(name: str, separator: str) -> pd.DataFrame:
    try:
        return pd.read_csv(name, sep=separator)
    except UnicodeDecodeError as exc:
        raise DataError(_not_utf8_message(name, exc)) from None
    except pd.errors.EmptyDataError:
        raise DataError(f"data file {name!r} has no columns (it is blank)") from None
    except pd.errors.ParserError as exc:
        detail = str(exc).strip().splitlines()[-1].removeprefix("Error tokenizing data. C error: ")
        raise DataError(f"cannot parse {name!r} as CSV: {detail}") from None
    except OSError as exc:
        raise DataError(f"cannot read {name!r}: {exc.strerror or exc}") from None


def _not_utf8_message(name: str, exc: UnicodeDecodeError) -> str:
    path = Path(name)
    where = f"byte 0x{exc.object[exc.start]:02x}"
    if path.suffix.lower() not in COMPRESSION_SUFFIXES and path.is_file():  # find the line in the raw bytes
        with path.open("rb") as handle:  # a newline byte is never part of a multi-byte UTF-8 character
            for number, line in enumerate(handle, start=1):
                try:
                    line.decode("utf-8")
                except UnicodeDecodeError as bad:
                    where = f"byte 0x{line[bad.start]:02x} on line {number}"
                    break
    return (f"data file {name!r} is not UTF-8 text ({where}); re-save it as UTF-8, "
            f"e.g. iconv -f latin1 -t utf-8 {path.name} > {path.stem}-utf8{path.suffix}")


def _read_parquet(name: str) -> pd.DataFrame:
    try:
        import pyarrow
    except ImportError:
        raise DataError(f"reading Parquet file {name!r} needs pyarrow: pip install pyarrow") from None
    try:
        return pd.read_parquet(name)
    except (OSError, ValueError, pyarrow.ArrowException) as exc:
        detail = re.sub(r"^Could not open Parquet input source '[^']*': ", "", str(exc).strip().splitlines()[0])
        raise DataError(f"cannot read {name!r} as Parquet: {detail}") from None


def _render(summary, results, output_format: str) -> str:
    if output_format == "json":
        return json.dumps(results.to_dict(), indent=2)
    return {"text": summary.as_text, "markdown": summary.as_markdown, "html": summary.as_html,
            "latex": summary.as_latex}[output_format]()


def _with_warnings(action):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", gf.GLMWarning)
        result = action()
    for warning in caught:
        if issubclass(warning.category, gf.GLMWarning):
            print(f"warning: {warning.message}", file=sys.stderr)
    return result


def _fit(args: argparse.Namespace) -> int:
    data = _read_data(args)
    res = _with_warnings(lambda: gf.glm(args.formula, data=data, family=args.family, weights=args.weights,
                                        exposure=args.exposure))
    data_name = args.dataset or re.sub(r"\W", "_", Path(args.data).name.split(".")[0]) or "data"
    summary = res.summary(style=args.style, data_name=data_name)  # R's Call line: data = insurance
    print(_render(summary, res, args.format))
    return 0


def _compare(args: argparse.Namespace) -> int:
    data = _read_data(args)
    families = [f.strip() for f in args.families.split(",") if f.strip()]
    if not families:
        raise FamilyError("--families needs at least one family name, e.g. poisson,negative_binomial")
    table = _with_warnings(lambda: gf.compare_families(args.formula, data, families=families))
    if args.format == "json":
        print(table.to_json(orient="records", indent=2))
    else:
        print(comparison_text(table))
    return 0


def _demo(args: argparse.Namespace) -> int:
    print("Poisson rate model of car insurance claims, with log(Holders) as offset:")
    print(f"  gf.glm({DEMO_FORMULA!r}, data=gf.datasets.load('insurance'), family='poisson')\n")
    res = gf.glm(DEMO_FORMULA, data=gf.datasets.load("insurance"), family="poisson")
    print(res.summary())
    return 0


def _datasets(args: argparse.Namespace) -> int:
    for name in gf.datasets.names():
        print(f"{name:12s} {gf.datasets.describe(name).title}")
    return 0


def _add_source(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", metavar="FILE", help="the data: a CSV (UTF-8), TSV or Parquet file, "
                        "one row per observation, a header line naming the columns")
    source.add_argument("--dataset", metavar="NAME", help="a bundled dataset instead (list them with "
                        "'glmformula datasets')")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="glmformula", description="R-style formula GLMs.",
                                     epilog="'glmformula COMMAND --help' describes each command's options.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {gf.__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    fit = commands.add_parser("fit", help="fit a GLM and print its summary",
                              description="Fit a GLM and print its summary.")
    fit.add_argument("formula", help="R-style formula in quotes, e.g. \"Claims ~ Group + Age + offset(log(Holders))\"")
    _add_source(fit)
    fit.add_argument("--family", default="gaussian", metavar="FAMILY",
                     help="family name or R-style call, e.g. poisson, Gamma, \"binomial(link='probit')\" "
                     "(default: %(default)s)")
    fit.add_argument("--weights", metavar="COLUMN", help="column of prior weights (binomial: trials of a proportion)")
    fit.add_argument("--exposure", metavar="COLUMN", help="column of exposures; log(exposure) is added to the "
                     "linear predictor (log link only)")
    fit.add_argument("--format", choices=FORMATS, default="text", help="output format (default: %(default)s)")
    fit.add_argument("--style", choices=("statsmodels", "r"), default="statsmodels",
                     help="layout of the text summary: statsmodels' or R's summary.glm (default: %(default)s)")
    fit.set_defaults(handler=_fit)

    compare = commands.add_parser("compare", help="fit one formula with several families and compare them",
                                  description="Fit one formula with several families and compare them.")
    compare.add_argument("formula", help="R-style formula in quotes; for zero-inflated and hurdle models "
                         "'count ~ x | z' gives the zero part its own terms")
    _add_source(compare)
    compare.add_argument("--families", default="poisson,quasipoisson,negative_binomial", metavar="NAMES",
                         help="comma-separated names, from: " + ", ".join(accepted_family_names())
                         + " (default: %(default)s)")
    compare.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: "
                         "%(default)s)")
    compare.set_defaults(handler=_compare)

    commands.add_parser("demo", help="fit the README's rate model on a bundled dataset").set_defaults(handler=_demo)
    commands.add_parser("datasets", help="list the bundled datasets").set_defaults(handler=_datasets)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        status = args.handler(args)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return status
    except BrokenPipeError:  # the reader went away (``glmformula fit ... | head``): stop quietly, as Unix tools do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # nothing left to flush at exit, so no second error
        return 141  # 128 + SIGPIPE
    except (GLMFormulaError, OSError) as exc:
        message = " ".join(str(exc).split())
        print(f"glmformula: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
