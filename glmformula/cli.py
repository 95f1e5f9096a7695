"""Command line: ``glmformula demo``, ``glmformula fit``, ``glmformula datasets``.

The CLI only calls the public API.  Bad input exits with status 2 and a
one-line message, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
import warnings

import pandas as pd

import glmformula as gf
from glmformula.exceptions import GLMFormulaError

DEMO_FORMULA = "Claims ~ C(District) + Group + Age + offset(log(Holders))"


def _read_data(args: argparse.Namespace) -> pd.DataFrame:
    if args.dataset:
        return gf.datasets.load(args.dataset)
    path = args.data
    if path.endswith(".parquet"):
        return pd.read_parquet(path)
    return pd.read_csv(path)


def _fit(args: argparse.Namespace) -> int:
    data = _read_data(args)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", gf.GLMWarning)
        res = gf.glm(args.formula, data=data, family=args.family, weights=args.weights, exposure=args.exposure)
    print(res.summary())
    for warning in caught:
        print(f"warning: {warning.message}", file=sys.stderr)
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="glmformula", description="R-style formula GLMs.")
    commands = parser.add_subparsers(dest="command", required=True)

    fit = commands.add_parser("fit", help="fit a GLM and print its summary")
    fit.add_argument("formula")
    source = fit.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", help="CSV or Parquet file")
    source.add_argument("--dataset", help="name of a bundled dataset (see 'glmformula datasets')")
    fit.add_argument("--family", default="gaussian")
    fit.add_argument("--weights")
    fit.add_argument("--exposure")
    fit.set_defaults(handler=_fit)

    commands.add_parser("demo", help="fit the README's rate model on a bundled dataset").set_defaults(handler=_demo)
    commands.add_parser("datasets", help="list the bundled datasets").set_defaults(handler=_datasets)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (GLMFormulaError, OSError, pd.errors.ParserError) as exc:
        print(f"glmformula: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
