"""Shared fixtures and helpers for the test suite."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from hypothesis import settings

# CI replays the same examples every run (no flaky failures); local runs explore new ones.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

DATA_DIR = Path(__file__).parent / "data"
REFERENCE_DIR = DATA_DIR / "reference"


def load_reference(case: str) -> dict:
    """R 4.2 results for a named case (see tests/data/reference/README.md)."""
    return json.loads((REFERENCE_DIR / f"{case}.json").read_text())


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


@pytest.fixture
def insurance():
    import glmformula as gf

    return gf.datasets.load("insurance")
