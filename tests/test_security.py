"""Formulas cannot run code: known injection strings and a fuzzer, checked with a visible side effect.

A module ``glmformula_sentinel`` is planted in ``sys.modules``; its ``touch()``
records a call.  Every injection below would call it (or do worse) if the
formula were evaluated as Python; none may, and each must fail with a
glmformula error, never a bare traceback.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import planted_sentinel
from fuzzing import fuzz_examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import glmformula as gf

SENTINEL = "glmformula_sentinel"


@pytest.fixture(autouse=True)
def sentinel():
    with planted_sentinel(SENTINEL) as module:
        yield module


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return pd.DataFrame({"y": rng.poisson(3, 30).astype(float), "x": rng.normal(size=30),
                         "g": rng.choice(["a", "b"], 30), "n": rng.uniform(1, 2, 30)})


T = f'__import__("{SENTINEL}").touch()'
INJECTIONS = [
    'y ~ x + {__import__("os").getpid()}',
    'y ~ x + exec("import os")',
    'y ~ x + I(len(open("/etc/hostname").read()))',
    f"y ~ x + {{{T}}}",
    f"y ~ x + I({T})",
    f"y ~ x + log({T})",
    f"y ~ x + offset({T})",
    f"{T} ~ x",
    f"cbind(y, {T}) ~ x",
    f"y ~ C(x, {T})",
    f"y ~ poly(x, degree={T})",
    f'y ~ x + eval("{T}")',
    f'y ~ x + I(eval("{T}"))',
    f"y ~ x + I(compile('{T}', 'f', 'eval'))",
    "y ~ x + I(globals())",
    "y ~ x + I(locals())",
    'y ~ x + I(getattr(x, "__class__"))',
    "y ~ x + I(x.__class__.__bases__[0].__subclasses__())",
    "y ~ x + I(().__class__.__base__.__subclasses__())",
    f"y ~ x + I((lambda: {T})())",
    f"y ~ x + I([{T} for _ in [1]])",
    f"y ~ x + I({{k: {T} for k in [1]}})",
    f"y ~ x + I(next({T} for _ in [1]))",
    f"y ~ x + I((z := {T}))",
    f"y ~ x + I(f'{{{T}}}')",
    "y ~ x + I(np.load('/etc/passwd'))",
    "y ~ x + I(np.lib.npyio.load('/etc/passwd'))",
    f"y ~ x + I(np.{T})",
    "y ~ x + I(x.__add__(1))",
    "y ~ x + I(__builtins__)",
    "y ~ x + I(__import__)",
    f"y ~ x + I(sys.modules['{SENTINEL}'].touch())",
    "y ~ x + I(breakpoint())",
    f"y ~ x + I(*[{T}])",
    f"y ~ x + I(**{{'a': {T}}})",
    f"y ~ x + I(x[{T}])",
    "y ~ x + `__import__('os')`",
    f"y ~ x + C(g, levels={T})",
    f"y ~ x + offset(np.log(n)) + I(type(x)({T}))",
    "y ~ x + I(vars())",
    "y ~ x + I(dir())",
    "y ~ x + I(input())",
]


def test_there_are_at_least_thirty_injections():
    assert len(INJECTIONS) >= 30


@pytest.mark.parametrize("formula", INJECTIONS)
def test_injection_is_refused_without_running(formula, data, sentinel):
    before = pd.util.hash_pandas_object(data).sum()
    with pytest.raises(gf.GLMFormulaError):
        gf.glm(formula, data, "poisson")
    assert sentinel.calls == []
    assert pd.util.hash_pandas_object(data).sum() == before


def test_refusal_names_the_construct(data):
    with pytest.raises(gf.UnsafeFormulaError, match="the function 'exec' is not allowed"):
        gf.glm('y ~ x + exec("import os")', data, "poisson")
    with pytest.raises(gf.UnsafeFormulaError, match="attribute access"):
        gf.glm("y ~ x + I(x.__class__)", data, "poisson")
    with pytest.raises(gf.UnsafeFormulaError, match="the call .lambda: 1. is not allowed"):
        gf.glm("y ~ x + I((lambda: 1)())", data, "poisson")


def test_injections_in_new_data_and_family_strings(data, sentinel):
    res = gf.glm("y ~ x", data, "poisson")
    with pytest.raises(gf.GLMFormulaError):
        gf.family(f"poisson(link={T})")
    res.predict(data.assign(x=data.x * 2))
    assert sentinel.calls == []


def test_trusted_formulas_may_run_python(data, sentinel):
    res = gf.glm(f"y ~ x + I({SENTINEL_CALL})", data, "poisson", trusted=True)
    assert sentinel.calls and "I(" in " ".join(res.params.index)


SENTINEL_CALL = f'__import__("{SENTINEL}").touch() + x**2'

def fit_allowing_formula_errors(formula: str, data) -> None:
    """Fit, accepting glmformula's own errors; anything else (a bare traceback) fails the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            gf.glm(formula, data, "poisson")
        except gf.GLMFormulaError:
            pass


TOKENS = ["y", "~", "x", "g", "n", "+", "-", "*", ":", "/", "^", "(", ")", "[", "]", "{", "}", ",", ".", "1", "0",
          "2", "I", "C", "log", "offset", "cbind", "exp", "__import__", '"os"', f'"{SENTINEL}"', "touch", "exec",
          "eval", "open", "lambda", "for", "in", "getattr", "__class__", "np", "=", "'", "`", "|", "**", "==",
          "not", "if", "else", "import", ";", "\n", "\\", "#", "globals", "TRUE", "FALSE", "T", "c", "bs",
          "Boundary.knots", "a.__class__", "raw"]


@settings(max_examples=fuzz_examples(400), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=14))
def test_fuzzed_formulas_never_execute_code_or_leak_errors(data, sentinel, tokens):
    formula = " ".join(tokens)
    fit_allowing_formula_errors(formula, data)
    assert sentinel.calls == [], formula


@settings(max_examples=fuzz_examples(200), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=12))
def test_fuzzed_right_hand_sides_after_a_valid_response(data, sentinel, tokens):
    formula = "y ~ x + " + "".join(tokens)
    fit_allowing_formula_errors(formula, data)
    assert sentinel.calls == [], formula


def test_backquotes_inside_string_literals_are_not_names(data, sentinel, tmp_path):
    """A column name crafted to close a string literal must not smuggle code past the checker."""
    target = tmp_path / "pwned"
    column = f"' + str(open({str(target)!r}, 'w')) + '"
    frame = data.assign(**{column: 0.0})
    with pytest.raises(gf.GLMFormulaError):
        gf.glm(f"y ~ x + I('`{column}`')", frame, "poisson")
    with pytest.raises(gf.UnsafeFormulaError, match="quotes, backquotes, backslashes"):
        gf.glm(f"y ~ x + I(`{column}`)", frame, "poisson")
    assert not target.exists()


@pytest.mark.parametrize("formula", ["y ~ I(x + 0*9**9**9)", "y ~ I(x ** 1000)", "y ~ I(x + len('a' * 10))"])
def test_arithmetic_that_could_hang_is_refused(data, formula):
    with pytest.raises(gf.UnsafeFormulaError):
        gf.glm(formula, data, "poisson")


def test_failed_prediction_leaves_the_model_intact(data):
    res = gf.glm("y ~ x", data, "poisson")
    before = res.predict(data)
    with pytest.raises(gf.GLMFormulaError):
        res.predict(data.astype({"x": str}))
    np.testing.assert_array_equal(res.predict(data), before)
    np.testing.assert_array_equal(gf.glm("y ~ x", data, "poisson").predict(data), before)


def test_only_the_trusted_path_calls_eval():
    """The interpreter's modules (split by responsibility) never call eval, exec, compile or __import__; the
    one eval is safe_eval's trusted path, on the caller's word."""
    import ast
    from pathlib import Path

    import glmformula.formula as formula_package

    folder = Path(formula_package.__file__).parent
    forbidden = {"eval", "exec", "compile", "__import__"}
    calls = {}
    for name in ("syntax", "checker", "interpreter", "operands", "levels", "lexer", "parse", "functions",
                 "safe_eval", "operators"):
        tree = ast.parse((folder / f"{name}.py").read_text())
        found = sorted({node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call)
                        and isinstance(node.func, ast.Name) and node.func.id in forbidden})
        if found:
            calls[name] = found
    assert calls == {"safe_eval": ["compile", "eval"]}
    source = (folder / "safe_eval.py").read_text()
    trusted = ast.parse(source).body
    [function] = [node for node in trusted if isinstance(node, ast.FunctionDef) and node.name == "_evaluate_trusted"]
    assert {node.func.id for node in ast.walk(function) if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name) and node.func.id in forbidden} == {"compile", "eval"}
