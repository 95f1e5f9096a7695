"""The documentation site builds with warnings as errors (mkdocs + mkdocstrings)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


def test_docs_build_strictly(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"),
               "-d", str(tmp_path / "site")]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "site" / "api" / "index.html").exists()
    shutil.rmtree(tmp_path / "site")


def test_every_page_is_in_the_navigation():
    pages = {p.name for p in (ROOT / "docs").glob("*.md")}
    navigation = (ROOT / "mkdocs.yml").read_text()
    assert all(page in navigation for page in pages)
