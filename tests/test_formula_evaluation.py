"""The formula interpreter: the text checked is the text evaluated, caller data untouched, bounded work.

Every payload below would call the planted sentinel's ``touch()`` if any piece of
the formula reached Python's ``eval``; none may.  The lexer is tested against
Python's own parser (a differential fuzzer), the resource bounds against inputs
that ran for minutes before, and text columns of every pandas dtype against the
object-dtype fit.
"""

from __future__ import annotations

import ast
import keyword
import time
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import planted_sentinel
from fuzzing import fuzz_examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import glmformula as gf
from glmformula.cli import main
from glmformula.formula.lexer import python_keywords, replace_backquotes

SENTINEL = "glmformula_sentinel_eval"
T = f'__import__("{SENTINEL}").touch()'


@pytest.fixture(autouse=True)
def sentinel():
    with planted_sentinel(SENTINEL) as module:
        yield module


@pytest.fixture
def data():
    rng = np.random.default_rng(1)
    return pd.DataFrame({"y": rng.poisson(3, 40).astype(float), "x": rng.uniform(1, 3, 40),
                         "g": rng.choice(["a", "b", "c"], 40)})


def fit_quietly(formula, frame, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return gf.glm(formula, frame, "poisson", **kwargs)


# The payload and its variants: the backslash run that put formulaic's backquote scan out of step,
# both quote kinds, triple quotes, raw strings, in {...}, I(...), offset(), the response and transform arguments.
PAYLOADS = [
    r"""y ~ x + {'\\' + '`a' + '''`' + PAYLOAD + '`''' + 'b`'}""",
    r"""y ~ x + I('\\' + '`a' + '''`' + PAYLOAD + '`''' + 'b`')""",
    r'''y ~ x + {"\\" + "`a" + """`" + PAYLOAD + "`""" + "b`"}''',
    r"""y ~ x + {'\\\\' + '`a' + '`' + PAYLOAD + '`' + 'b`'}""",
    r"""y ~ x + {r'\' + '`a' + '`' + PAYLOAD + '`' + 'b`'}""",
    r"""y ~ x + {r'\'' + '`a' + '`' + PAYLOAD + '`' + 'b`'}""",
    r"""y ~ x + {'\'' + '`a' + "'`" + PAYLOAD + "`'" + 'b`'}""",
    r"""y ~ x + {'''`''' + PAYLOAD + '''`'''}""",
    r"""y ~ x + offset('\\' + '`a' + '''`' + PAYLOAD + '`''' + 'b`')""",
    r"""'\\' + '`a' + '''`' + PAYLOAD + '`''' + 'b`' ~ x""",
    r"""y ~ x + log(x + ('\\' + '`a' + '''`' + PAYLOAD + '`''' + 'b`'))""",
    r"""y ~ poly(x, degree='\\' + '`a' + '''`' + PAYLOAD + '`''' + 'b`')""",
    r"""y ~ C(g, contr.treatment('\\' + '`a' + '''`' + PAYLOAD + '`''' + 'b`'))""",
    r"""y ~ x + {`a'` + PAYLOAD}""",
    r"""y ~ x + {`x` + PAYLOAD}""",
    r"""y ~ x + {x if PAYLOAD else x}""",
    r"""y ~ x + I(np.log(x) + (PAYLOAD))""",
    r"""y ~ x + `x` + {PAYLOAD}""",
    r"""y ~ x + {'\\\\\\' + '`' + PAYLOAD + '`'}""",
]


@pytest.mark.parametrize("template", PAYLOADS)
def test_payloads_never_run(template, data, sentinel):
    before = pd.util.hash_pandas_object(data).sum()
    with pytest.raises(gf.GLMFormulaError):
        fit_quietly(template.replace("PAYLOAD", T), data)
    assert sentinel.calls == []
    assert pd.util.hash_pandas_object(data).sum() == before


def test_secret_files_never_reach_an_error_message(data, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("424242")
    payload = f"int(open({str(secret)!r}).read())"
    for template in PAYLOADS[:4]:
        with pytest.raises(gf.GLMFormulaError) as caught:
            fit_quietly(template.replace("PAYLOAD", payload), data)
        assert "424242" not in str(caught.value)


def test_payload_through_the_command_line(data, tmp_path, capsys, sentinel):
    path = tmp_path / "d.csv"
    data.to_csv(path, index=False)
    for template in PAYLOADS[:3]:
        code = main(["fit", template.replace("PAYLOAD", T), "--data", str(path), "--family", "poisson"])
        assert code != 0
        assert "Traceback" not in capsys.readouterr().err
    assert sentinel.calls == []


@pytest.mark.parametrize("name", [
    f"x` + {{{T}}} + `x2",
    f"x` + I({T}) + `x2",
    f"' + {T} + '",
    f'" + {T} + "',
    f"x\\` + {{{T}}} + `",
    f"{{{T}}}",
])
def test_column_names_are_data_not_code(name, data, tmp_path, capsys, sentinel):
    frame = data.assign(**{name: 1.0})
    with pytest.raises(gf.UnsafeFormulaError, match="rename the column"):
        fit_quietly("y ~ .", frame)
    path = tmp_path / "d.csv"
    frame.to_csv(path, index=False)
    assert main(["fit", "y ~ .", "--data", str(path), "--family", "poisson"]) != 0
    assert "rename the column" in capsys.readouterr().err
    fit_quietly("y ~ x + g", frame)  # a column the formula does not use does not matter
    assert sentinel.calls == []


def test_new_data_at_prediction_is_data_not_code(data, sentinel):
    res = fit_quietly("y ~ x + log(x) + C(g)", data)
    newdata = data.assign(**{f"x` + {{{T}}} + `": 1.0, "g": data.g.astype("string")})
    np.testing.assert_allclose(res.predict(newdata), res.predict(data), rtol=1e-12)
    with pytest.raises(gf.GLMFormulaError):
        res.predict(data.assign(g=[T] * len(data)))
    assert sentinel.calls == []


def test_a_placeholder_never_collides_with_a_column(data):
    """Backquoted names become placeholders that occur nowhere else in the piece, so a column with the
    placeholder's spelling is still itself."""
    rng = np.random.default_rng(2)
    frame = data.assign(q0_backquoted=rng.normal(size=40), _bq0=rng.normal(size=40), **{"a b": rng.normal(size=40)})
    res = fit_quietly("y ~ I(`a b` + 0) + I(q0_backquoted + 0) + I(_bq0 + 0)", frame)
    plain = fit_quietly("y ~ ab + q + b", frame.assign(ab=frame["a b"], q=frame.q0_backquoted, b=frame._bq0))
    np.testing.assert_allclose(res.params.to_numpy(), plain.params.to_numpy(), rtol=1e-10)


def test_callers_nullable_column_cannot_be_written():
    frame = pd.DataFrame({"y": np.arange(1, 11.0), "x": pd.array(np.arange(1, 11.0), dtype="Float64")})
    before = frame.copy()
    for formula in ("y ~ 1 + offset(log(x, out=x))", "y ~ I(np.log(x, out=x))", "y ~ I(np.add(x, 1, x))",
                    "y ~ I(where(x > 0, x, x, out=x))"):
        with pytest.raises(gf.UnsafeFormulaError):
            fit_quietly(formula, frame)
    fit_quietly("y ~ log(x) + offset(log(x))", frame)
    pd.testing.assert_frame_equal(frame, before)


def test_r_log_with_a_base(data):
    res = fit_quietly("y ~ log(x, 2)", data)
    reference = fit_quietly("y ~ I(np.log(x) / np.log(2))", data)
    np.testing.assert_allclose(res.params.to_numpy(), reference.params.to_numpy(), rtol=1e-12)


@pytest.mark.parametrize("formula, error", [
    ("y ~ I((((10**100)**100)**100)**100)", gf.UnsafeFormulaError),
    ("y ~ I(x + 0*9**9**9)", gf.UnsafeFormulaError),
    ("y ~ (" + " + ".join(f"x{i}" for i in range(30)) + ")^20", gf.FormulaError),
    ("y ~ x + " + "(" * 150 + "x" + ")" * 150, gf.FormulaError),
    ("y ~ I(" + "-" * 5000 + "x)", gf.FormulaError),
    ("y ~ " + " + ".join(["x"] * 6000), gf.FormulaError),
    ("y ~ bs(x, df=10**8)", gf.FormulaError),
    ("y ~ poly(x, 1000)", gf.FormulaError),
    ("y ~ x + I('a' * 10**9)", gf.UnsafeFormulaError),
    ("y ~ x + I([1] * 10**9)", gf.UnsafeFormulaError),
])
def test_expensive_inputs_end_quickly_with_a_clear_error(formula, error, data):
    frame = data.assign(**{f"x{i}": data.x for i in range(30)})
    started = time.perf_counter()
    with pytest.raises(error):
        fit_quietly(formula, frame)
    assert time.perf_counter() - started < 10  # they ran for minutes (or exhausted memory) before


def test_poly_degree_follows_r(data):
    """R: poly(x, 3) with three distinct values stops with "'degree' must be less than number of unique points"."""
    three_values = data.assign(x=np.repeat([1.0, 2.0, 3.0], [14, 13, 13]))
    with pytest.raises(gf.FormulaError, match="less than the number of unique points"):
        fit_quietly("y ~ poly(x, 3)", three_values)
    assert len(fit_quietly("y ~ poly(x, 2)", three_values).params) == 3


def test_all_rows_dropped_by_a_transform_is_a_clear_error(data, capfd):
    with pytest.raises(gf.DataError, match="no rows left"):
        fit_quietly("y ~ log(x - 100)", data)
    assert "DGEQRF" not in capfd.readouterr().out


def test_integer_column_names_with_dot(data):
    frame = data[["y", "x"]].copy()
    frame.columns = ["y", 0]
    res = fit_quietly("y ~ .", frame)
    reference = fit_quietly("y ~ x", data)
    np.testing.assert_allclose(res.params.to_numpy(), reference.params.to_numpy(), rtol=1e-12)


def test_complex_columns_are_refused_by_name(data):
    with pytest.raises(gf.DataError, match="'z' holds complex numbers"):
        fit_quietly("y ~ x + I(z * 2)", data.assign(z=data.x + 1j))


@pytest.mark.parametrize("dtype", ["string", "string[pyarrow]", "category", object])
@pytest.mark.parametrize("formula", ["y ~ x*g", "y ~ C(g):x", "y ~ x + g + I(x**2):g", "y ~ g/x"])
def test_text_columns_of_every_dtype_are_factors(dtype, formula, data):
    reference = fit_quietly(formula, data.assign(g=data.g.astype(object)))
    res = fit_quietly(formula, data.assign(g=data.g.astype(dtype)))
    assert list(res.params.index) == list(reference.params.index)
    np.testing.assert_allclose(res.params.to_numpy(), reference.params.to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(res.predict(data.assign(g=data.g.astype(dtype))), reference.fittedvalues,
                               rtol=1e-10)


@pytest.mark.parametrize("dtype", ["string", "string[pyarrow]"])
def test_text_columns_on_dask(dtype, data):
    dd = pytest.importorskip("dask.dataframe")
    frame = data.assign(g=data.g.astype(dtype))
    reference = fit_quietly("y ~ x*g", data)
    res = fit_quietly("y ~ x*g", dd.from_pandas(frame, npartitions=3))
    np.testing.assert_allclose(res.params.to_numpy(), reference.params.to_numpy(), rtol=1e-8)


# --- the lexer against Python's parser -------------------------------------------------------------

_TEXT = st.text(alphabet="ab`'\"\\ {}+", max_size=8)


@st.composite
def _literal(draw):
    """A Python string literal of a random style, and the string it denotes."""
    value = draw(_TEXT)
    quote = draw(st.sampled_from(["'", '"', "'''", '"""']))
    raw = draw(st.booleans())
    if raw and (quote[0] not in value and "\\" not in value):  # a raw literal can hold these only escaped
        return f"r{quote}{value}{quote}", value
    body = value.replace("\\", "\\\\").replace(quote[0], "\\" + quote[0])
    return f"{quote}{body}{quote}", value


_NAME = st.text(alphabet="abc xyz_.0", min_size=1, max_size=6).filter(lambda s: s.strip() != "")


@settings(max_examples=fuzz_examples(300), deadline=None)
@given(st.lists(st.one_of(_literal(), _NAME.map(lambda n: (f"`{n}`", n))), min_size=1, max_size=6))
def test_lexer_agrees_with_pythons_parser(pieces):
    """Backquotes inside any string literal stay text; every backquoted name outside becomes a placeholder.
    Checked differentially: Python's own parser reads each literal of the rewritten source back."""
    text = " + ".join(piece for piece, _ in pieces)
    source, aliases = replace_backquotes(text)
    tree = ast.parse(source, mode="eval")
    leaves = []
    stack = [tree.body]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.BinOp):
            stack.extend([node.right, node.left])
        else:
            leaves.append(node)
    assert len(leaves) == len(pieces)
    for leaf, (piece, value) in zip(leaves, pieces):
        if piece.startswith("`"):
            assert isinstance(leaf, ast.Name) and aliases[leaf.id] == value.strip()
        else:
            assert isinstance(leaf, ast.Constant) and leaf.value == value


# --- a fuzzer over the characters that broke formulaic's scan --------------------------------------

_FRAGMENTS = ["'", '"', "'''", '"""', "\\", "\\\\", "r'", "`", "`a`", "{", "}", "(", ")", "+", "x", "y", "~",
              "I(", "offset(", "log(", "'`'", '"`"', T, "'\\\\'", "`x`", " ", ",", "C(g, ", "poly(x, ",
              "Boundary.knots=", "TRUE", "c(", "bs(x, ", "raw=", "a.__class__="]


@settings(max_examples=fuzz_examples(400), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(_FRAGMENTS), min_size=1, max_size=16))
def test_fuzzed_quoting_never_runs_code(data, sentinel, fragments):
    formula = "y ~ x + " + "".join(fragments)
    try:
        fit_quietly(formula, data)
    except gf.GLMFormulaError:
        pass
    assert sentinel.calls == [], formula


def test_prediction_reads_column_names_with_dots():
    """R's data often name columns ph.ecog or Sepal.Length: prediction needs the whole name."""
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"ph.ecog": rng.integers(0, 3, 50).astype(float), "y": rng.poisson(2, 50).astype(float)})
    res = fit_quietly("y ~ ph.ecog + I(ph.ecog**2)", frame)
    np.testing.assert_allclose(res.predict(frame), res.fittedvalues, rtol=1e-12)


def test_poly_predicts_on_fewer_distinct_values_than_its_degree(data):
    """R's predict replays poly's basis on any new data; the size check applies when it is learned."""
    res = fit_quietly("y ~ poly(x, 3)", data)
    np.testing.assert_allclose(res.predict(data.iloc[:2]), res.fittedvalues.iloc[:2], rtol=1e-10)


# --- R's spellings: TRUE/FALSE, dotted keywords, c() -------------------------------------------------

def test_r_logicals_and_vectors_in_transform_arguments(data):
    """``raw=TRUE``, ``intercept=FALSE``, ``knots=c(...)``, ``Boundary.knots=c(...)`` mean what they mean in R:
    the same fit as Python's spelling."""
    for r_spelling, python_spelling in (
        ("poly(x, 2, raw=TRUE)", "poly(x, 2, raw=True)"),
        ("bs(x, df=4, intercept=FALSE, Boundary.knots=c(0, 4))", "bs(x, df=4, intercept=False, boundary_knots=(0, 4))"),
        ("ns(x, knots=c(1.5, 2), Boundary.knots = c(1, 3))", "ns(x, knots=[1.5, 2], boundary_knots=[1, 3])"),
    ):
        r_fit, python_fit = fit_quietly(f"y ~ {r_spelling}", data), fit_quietly(f"y ~ {python_spelling}", data)
        np.testing.assert_allclose(r_fit.params.to_numpy(), python_fit.params.to_numpy(), rtol=1e-12)


def test_r_logicals_mean_the_same_in_a_trusted_formula(data):
    """A trusted formula is evaluated by formulaic with glmformula's functions: TRUE/FALSE are R's logicals
    there too, so ``raw=TRUE`` gives the raw polynomial of the untrusted interpreter."""
    untrusted = fit_quietly("y ~ poly(x, 2, raw=TRUE)", data)
    trusted = fit_quietly("y ~ poly(x, 2, raw=TRUE)", data, trusted=True)
    np.testing.assert_allclose(trusted.params.to_numpy(), untrusted.params.to_numpy(), rtol=1e-10)
    raw = fit_quietly("y ~ x + I(x**2)", data)
    np.testing.assert_allclose(trusted.params.to_numpy(), raw.params.to_numpy(), rtol=1e-10)


def test_true_is_r_reserved_word_and_t_a_column(data):
    """TRUE/FALSE are literals (a column so named is backquoted, as in R); T and F are always column names:
    a column named T wins, and without one the error says to write TRUE."""
    frame = data.assign(T=2.0, TRUE=5.0)
    np.testing.assert_allclose(fit_quietly("y ~ I(x * TRUE)", frame).params.to_numpy(),
                               fit_quietly("y ~ x", frame).params.to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(fit_quietly("y ~ I(x * `TRUE`)", frame).params.to_numpy()[1] * 5,
                               fit_quietly("y ~ x", frame).params.to_numpy()[1], rtol=1e-10)
    np.testing.assert_allclose(fit_quietly("y ~ I(x * T)", frame).params.to_numpy()[1] * 2,
                               fit_quietly("y ~ x", frame).params.to_numpy()[1], rtol=1e-10)
    with pytest.raises(gf.MissingColumnError, match="write TRUE"):
        fit_quietly("y ~ poly(x, 2, raw=T)", data)


def test_dotted_keywords_are_checked_after_renaming(data, sentinel):
    """A dotted keyword becomes a Python keyword, which the function must accept; text in strings and
    backquotes is left alone; nothing reaches eval."""
    with pytest.raises(gf.UnsafeFormulaError, match="boundary_knots"):
        fit_quietly("y ~ log(x, Boundary.knots=c(1, 2))", data)
    with pytest.raises(gf.UnsafeFormulaError):
        fit_quietly("y ~ bs(x, a.__class__=1)", data)
    assert python_keywords("C(g, levels=['Boundary.knots=1'])") == "C(g, levels=['Boundary.knots=1'])"
    assert python_keywords("f(`Boundary.knots` = 1, a.b == 2)") == "f(`Boundary.knots` = 1, a.b == 2)"
    assert sentinel.calls == []


def test_c_takes_literals_only(data):
    with pytest.raises(gf.FormulaError, match="literal values"):
        fit_quietly("y ~ bs(x, knots=c(x))", data)
    with pytest.raises(gf.UnsafeFormulaError, match="repeating"):
        fit_quietly("y ~ I(x + c(1) * 10**6)", data)


_KEYWORD = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,3}(\.[A-Za-z0-9_]{1,3}){0,2}", fullmatch=True).filter(
    lambda name: not keyword.iskeyword(name))


@settings(max_examples=fuzz_examples(300), deadline=None)
@given(st.lists(st.tuples(_KEYWORD, _literal()), min_size=1, max_size=5))
def test_keyword_renaming_agrees_with_pythons_parser(arguments):
    """Differential: after ``python_keywords``, Python's parser reads a call whose keywords are the R names
    lower-cased with dots as underscores, and whose string values are exactly the literals written."""
    text = "f(" + ", ".join(f"{name}={piece}" for name, (piece, _) in arguments) + ")"
    call = ast.parse(python_keywords(text), mode="eval").body
    assert [keyword.arg for keyword in call.keywords] == [
        name.lower().replace(".", "_") if "." in name else name for name, _ in arguments]
    assert [keyword.value.value for keyword in call.keywords] == [value for _, (_, value) in arguments]
