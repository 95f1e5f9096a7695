"""Command line: ``glmformula demo | fit | compare | datasets``.

The CLI only calls the public API.  Bad input exits with status 2 and a
one-line message on stderr, never a traceback; statistical warnings are
printed after the result, one line each.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings

import pandas as pd

import glmformula as gf
from glmformula.exceptions import GLMFormulaError

DEMO_FORMULA = "Claims ~ C(District) + Group + Age + offset(log(Holders))"
FORMATS = ("text", "markdown", "html", "latex", "json")


def _read_data(args: argparse.Namespace) -> pd.DataFrame:
    if args.dataset:
        return gf.datasets.load(args.dataset)
    path = args.data
    if path.endswith(".parquet"):
        return pd.read_parquet(path)
    return pd.read_csv(path)


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
    summary = res.summary(style=args.style)
    print(_render(summary, res, args.format))
    return 0


def _compare(args: argparse.Namespace) -> int:
    data = _read_data(args)
    families = [f.strip() for f in args.families.split(",") if f.strip()]
    table = _with_warnings(lambda: gf.compare_families(args.formula, data, families=families))
    if args.format == "json":
        print(table.to_json(orient="records", indent=2))
    else:
        print(table.to_string(index=False))
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
    source.add_argument("--data", help="CSV or Parquet file")
    source.add_argument("--dataset", help="name of a bundled dataset (see 'glmformula datasets')")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="glmformula", description="R-style formula GLMs.")
    commands = parser.add_subparsers(dest="command", required=True)

    fit = commands.add_parser("fit", help="fit a GLM and print its summary")
    fit.add_argument("formula")
    _add_source(fit)
    fit.add_argument("--family", default="gaussian")
    fit.add_argument("--weights")
    fit.add_argument("--exposure")
    fit.add_argument("--format", choices=FORMATS, default="text")
    fit.add_argument("--style", choices=("statsmodels", "r"), default="statsmodels")
    fit.set_defaults(handler=_fit)

    compare = commands.add_parser("compare", help="fit one formula with several families and compare them")
    compare.add_argument("formula")
    _add_source(compare)
    compare.add_argument("--families", default="poisson,quasipoisson,negative_binomial")
    compare.add_argument("--format", choices=("text", "json"), default="text")
    compare.set_defaults(handler=_compare)

    commands.add_parser("demo", help="fit the README's rate model on a bundled dataset").set_defaults(handler=_demo)
    commands.add_parser("datasets", help="list the bundled datasets").set_defaults(handler=_datasets)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (GLMFormulaError, OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        message = " ".join(str(exc).split())
        print(f"glmformula: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
