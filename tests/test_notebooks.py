"""The notebooks run top to bottom (their cells assert what they show), so they never rot; the
documentation site shows them executed, with their outputs and figures and without warnings.

They are executed once, by the docs build (``docs_site`` in conftest.py: mkdocs-jupyter, a failing
cell fails the build); the checks here read the pages it wrote.
"""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))


def test_there_are_three_notebooks():
    assert len(NOTEBOOKS) >= 3


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_stored_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"), "strip outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_and_shows_its_outputs(path, docs_site):
    page = (docs_site / "notebooks" / path.stem / "index.html").read_text()
    code_cells = sum(cell.cell_type == "code" for cell in nbformat.read(path, as_version=4).cells)
    assert page.count("jp-OutputArea-output") >= code_cells - 1, "outputs missing from the page"
    assert 'data-mime-type="application/vnd.jupyter.stderr" tabindex' not in page, f"{path.name} prints warnings"
    if "rootogram" in path.read_text():  # a study "with rootograms" shows them
        assert "data:image/png" in page, f"{path.name} draws rootograms but shows no figure"
