"""The documentation site builds with warnings as errors (mkdocs + mkdocstrings)."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


@pytest.fixture(scope="module")
def site(docs_site):
    return docs_site


def test_docs_build_strictly(site):
    assert (site / "api" / "index.html").exists()


def _glm_section(site: Path) -> str:
    """The text of the API page's ``glm`` entry, tags stripped."""
    page = (site / "api" / "index.html").read_text()
    start = page.index('id="glmformula.api.glm"')
    end = page.index('id="glmformula.results.glm_results.GLMResults"')
    text = re.sub(r"<[^>]+>", " ", page[start:end])
    return " ".join(html.unescape(text).split())


def test_glm_reference_page_renders_the_parameters(site):
    text = _glm_section(site)
    assert "``" not in text and ":func:" not in text
    # numpydoc parsed: every parameter a row "name type description default"
    assert re.search(r"maxiter int IRLS iteration limit .*? 25", text), text[:2000]
    assert re.search(r"tol float IRLS convergence tolerance .*? 1e-8", text)
    assert re.search(r"alpha float The penalty weight, glmnet's lambda .*? 1\.0", text)
    assert re.search(r"exposure str or array_like A column name or an array; log\(exposure\)", text)
    page = (site / "api" / "index.html").read_text()
    assert "``" not in page and ":func:" not in page


def _public_callables():
    """The functions and methods of the API reference and of ``glmformula.__all__``."""
    import inspect

    import glmformula as gf
    from glmformula.results.glm_results import GLMResults

    seen = {}
    for name in gf.__all__:
        obj = getattr(gf, name)
        if inspect.isfunction(obj):
            seen[f"gf.{name}"] = obj
        elif inspect.isclass(obj) and not issubclass(obj, (Exception, Warning)):
            for method_name, method in vars(obj).items():
                if inspect.isfunction(method) and not method_name.startswith("_"):
                    seen[f"{name}.{method_name}"] = method
    for method_name, method in vars(GLMResults).items():
        if inspect.isfunction(method) and not method_name.startswith("_"):
            seen[f"GLMResults.{method_name}"] = method
    return seen


@pytest.mark.parametrize("name", sorted(_public_callables()))
def test_public_docstrings_are_numpydoc(name):
    """A "Parameters" section reads "name : type" with the description indented below, for every
    parameter of the signature (what mkdocstrings' numpy parser needs to render the table)."""
    import inspect

    griffe = pytest.importorskip("griffe")
    function = _public_callables()[name]
    doc = inspect.getdoc(function) or ""
    if "Parameters\n---" not in doc:
        return  # prose only: rendered as text, nothing to mis-parse
    sections = griffe.Docstring(doc).parse("numpy")
    documented = {}
    for section in sections:
        if section.kind.value in ("parameters", "other parameters"):
            documented.update({parameter.name.lstrip("*"): parameter for parameter in section.value})
    signature = [p for p in inspect.signature(function).parameters if p not in ("self", "cls")]
    assert set(signature) <= set(documented), f"{name}: undocumented {set(signature) - set(documented)}"
    for parameter in documented.values():
        annotation = str(parameter.annotation or "")
        assert parameter.description.strip(), f"{name}: {parameter.name} has no description"
        assert "``" not in annotation and not annotation.endswith(".") and len(annotation.split()) <= 8, \
            f"{name}: {parameter.name}'s type reads like a description: {annotation!r}"


def test_every_page_is_in_the_navigation():
    pages = {p.name for p in (ROOT / "docs").glob("*.md")}
    navigation = (ROOT / "mkdocs.yml").read_text()
    assert all(page in navigation for page in pages)


def test_install_lines_work_from_a_checkout():
    """glmformula is not on PyPI: every install line installs from the checkout, in place (a plain
    ``pip install ".[plot]"`` after ``-e`` would silently replace the editable install), or a built wheel."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for page in pages:
        for line in page.read_text().splitlines():
            for command in re.findall(r"pip install [^`#&]*", line):
                assert "glmformula[" not in command and not re.search(r"pip install\s+glmformula\b", command), \
                    f"{page.name}: {command!r} asks PyPI for glmformula"
                if re.search(r"\s['\"]?\.", command):
                    assert " -e " in f" {command} ", f"{page.name}: {command!r} replaces the editable install"
