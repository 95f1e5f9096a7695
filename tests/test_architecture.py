"""The layering of docs/architecture.md holds: no import cycles, engine imports nothing of design, nothing beside
the front door imports the fitter, every design implements the engine's protocol, no function over 100 lines."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import numpy as np

import glmformula as gf
from glmformula.design.categorical import CategoricalBlock, CategoricalDesign
from glmformula.design.dense import DenseDesign
from glmformula.engine.design_protocol import Design

PACKAGE = Path(gf.__file__).parent


def _import_graph() -> dict[str, set[str]]:
    """Module → the glmformula modules it imports at run time (imports under ``if TYPE_CHECKING`` left out)."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(("glmformula", *path.relative_to(PACKAGE).with_suffix("").parts))
        modules[name.removesuffix(".__init__")] = path
    graph = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        typing_only = {id(node) for branch in ast.walk(tree)
                       if isinstance(branch, ast.If) and "TYPE_CHECKING" in ast.unparse(branch.test)
                       for node in ast.walk(branch)}
        imported = set()
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("glmformula"):
                imported |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                             for a in node.names}
            elif isinstance(node, ast.Import):
                imported |= {a.name for a in node.names if a.name.startswith("glmformula")}
        graph[name] = {module for module in imported if module in modules and module != name}
    return graph


def _package(module: str) -> str:
    return module.split(".")[1] if "." in module else module


def test_the_import_graph_has_no_cycles():
    graph = _import_graph()
    state: dict[str, int] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for imported in graph[module]:
            assert state.get(imported) != 1, f"import cycle: {' -> '.join([*path, imported])}"
            if imported not in state:
                visit(imported, [*path, imported])
        state[module] = 2

    for module in graph:
        if module not in state:
            visit(module, [module])


def test_imports_point_one_way():
    """engine never imports design; nothing beside the front door imports the in-memory fitter."""
    for module, imported in _import_graph().items():
        packages = {_package(other) for other in imported}
        if _package(module) == "engine":
            assert "design" not in packages and "formula" not in packages, module
        if _package(module) in ("results", "report", "count", "penalized", "distributed", "plots"):
            assert "model" not in packages, module


def test_designs_implement_the_engine_protocol():
    dense = DenseDesign(np.arange(6.0).reshape(3, 2))
    block = CategoricalBlock(np.array([0, -1, 1]), np.array([1, 2]))
    categorical = CategoricalDesign(np.ones((3, 1)), np.array([0]), [block], ["Intercept", "b", "c"])
    for design in (dense, categorical):
        assert isinstance(design, Design)
        assert design.n_columns == design.shape[1]
    assert dense.orthogonal_columns() is None
    np.testing.assert_array_equal(categorical.orthogonal_columns(), [1, 2])


def _docstring_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    first = node.body[0] if node.body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        return first.end_lineno - first.lineno + 1
    return 0


def test_no_function_is_longer_than_100_lines():
    """Code lines: the docstring does not count (a numpydoc parameter list is as long as the signature)."""
    long = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1 - _docstring_lines(node)
                if lines > 100:
                    long.append(f"{path.relative_to(PACKAGE)}::{node.name} ({lines} lines)")
    assert not long, long


def test_the_front_door_keeps_its_signature():
    from glmformula.api import glm
    from glmformula.model import fit_glm

    assert gf.glm is glm
    front = inspect.signature(glm).parameters
    fitter = inspect.signature(fit_glm).parameters
    assert set(fitter) <= set(front)
    assert [front[name].default for name in fitter] == [fitter[name].default for name in fitter]
