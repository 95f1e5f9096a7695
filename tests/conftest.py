"""Shared fixtures and helpers for the test suite."""

from __future__ import annotations

import json
import os
import re
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import settings

# CI replays the same examples every run (no flaky failures); local runs explore new ones.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

DATA_DIR = Path(__file__).parent / "data"
REFERENCE_DIR = DATA_DIR / "reference"


@contextmanager
def planted_sentinel(name: str) -> Iterator[types.ModuleType]:
    """A module ``name`` in ``sys.modules`` whose ``touch()`` records each call: a formula that runs code
    can reach it by ``__import__(name).touch()``, and the security tests assert it never does."""
    module = types.ModuleType(name)
    module.calls = []
    module.touch = lambda *args: module.calls.append(args) or 1.0
    sys.modules[name] = module
    try:
        yield module
    finally:
        del sys.modules[name]


def load_reference(case: str) -> dict:
    """R 4.2 results for a named case (see tests/data/reference/README.md)."""
    return json.loads((REFERENCE_DIR / f"{case}.json").read_text())


def load_as_read_csv(name: str):
    """A bundled dataset as R's ``read.csv(..., stringsAsFactors = TRUE)`` reads its CSV: text columns as
    unordered factors with sorted levels, numbers as numbers.

    The R scripts in tests/data/reference computed their figures from the CSVs read that way, not with
    the R packages' own factor types and level orders, which ``gf.datasets.load`` gives; tests of those
    figures load the data as the script did.
    """
    import pandas as pd

    import glmformula as gf

    frame = gf.datasets.load(name)
    for column in frame.columns:
        values = frame[column]
        if isinstance(values.dtype, pd.CategoricalDtype):
            raw = values.astype(values.cat.categories.dtype)
            if pd.api.types.is_numeric_dtype(raw):
                frame[column] = raw  # a factor of numbers (insurance's District) is a number in the CSV
            else:
                frame[column] = pd.Categorical(raw, categories=sorted(raw.dropna().unique()))
    return frame


def r_name(name: str) -> str:
    """Translate a formulaic column name to R's coefficient name (matching by meaning).

    ``Intercept`` → ``(Intercept)``; ``C(x)[T.b]`` → ``factor(x)b``; ``x[T.b]`` → ``xb``;
    a full-rank dummy ``x[b]`` → ``xb``; interactions part by part.
    """
    if name == "Intercept":
        return "(Intercept)"

    def part(piece: str) -> str:
        piece = re.sub(r"^C\((\w+)\)\[T\.(.+)\]$", r"factor(\1)\2", piece)
        piece = re.sub(r"^(.+?)\[T\.(.+)\]$", r"\1\2", piece)
        return re.sub(r"^(.+?)\[(.+)\]$", r"\1\2", piece)

    return ":".join(part(p) for p in name.split(":"))


@pytest.fixture(scope="module")
def blocks_frame():
    """blocks.R's data (tests/data/reference/blocks_data.csv), on which the references of the block designs
    (blocks.R, prediction_blocks.R, prediction_terms_blocks.R) were computed."""
    import pandas as pd

    return pd.read_csv(REFERENCE_DIR / "blocks_data.csv")


@pytest.fixture(scope="module")
def blocks_newdata(request, blocks_frame):
    """The new rows of the prediction references on ``blocks_frame``, made as their R scripts make them: the
    rows listed in the requesting module's ``REFERENCE["rows"]`` (0-based), with another exposure ``t`` and
    ``x`` moved."""
    new = blocks_frame.iloc[request.module.REFERENCE["rows"]].copy()
    new["t"] *= 1.5
    new["x"] += 0.25
    return new


def fit_on_blocks(formula: str, data):
    """A Poisson GLM whose design is kept in blocks (``dense_cells=0``: a ``CategoricalDesign``), aliased
    columns left as R's NA without the warning."""
    import warnings

    import glmformula as gf
    from glmformula import settings

    with settings.override(dense_cells=0), warnings.catch_warnings():
        warnings.simplefilter("ignore", gf.RankDeficiencyWarning)
        return gf.glm(formula, data, "poisson")


@pytest.fixture
def insurance():
    import glmformula as gf

    return gf.datasets.load("insurance")


@pytest.fixture(scope="session")
def docs_site(tmp_path_factory):
    """The documentation site, built once with ``mkdocs build --strict``: the API reference and the
    notebooks, executed into their pages (a failing cell fails the build)."""
    import shutil
    import subprocess
    import sys

    for module in ("mkdocs", "mkdocstrings", "mkdocs_jupyter"):
        pytest.importorskip(module)
    root = Path(__file__).parent.parent
    site = tmp_path_factory.mktemp("docs") / "site"
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(root / "mkdocs.yml"), "-d", str(site)]
    result = subprocess.run(command, capture_output=True, text=True, cwd=root)
    assert result.returncode == 0, result.stderr[-3000:]
    yield site
    shutil.rmtree(site, ignore_errors=True)
