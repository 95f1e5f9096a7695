"""The registry of links (name → ``Link``) and the parser of R-style call strings it shares with families.

``get_link`` accepts a ``Link`` instance, a registered name (``"logit"``,
``"1/mu^2"``) or a call (``"power(0.5)"``).  It lives apart from the family
registry because ``Family`` itself resolves its link through it: the family
registry needs ``Family``, and ``Family`` needs only this module.

Call strings are parsed with ``ast`` and only literal arguments (or bare
names, read as strings as in R) are accepted: nothing in them is evaluated
but literal arithmetic on numbers (``power(1/3)``, ``power(-1/2)``), which is
computed here node by node (``+ - * /`` and small powers, nothing else).
"""

from __future__ import annotations

import ast
import difflib
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from glmformula.exceptions import FamilyError
from glmformula.families import links as _links

LinkFactory = Callable[..., _links.Link]

_LINKS: dict[str, LinkFactory] = {}


def _normalise(name: str) -> str:
    return name.strip().lower().replace(".", "_").replace("-", "_")


def register_link(name: str, factory: LinkFactory, aliases: tuple[str, ...] = ()) -> None:
    """Make a link available by name; ``factory(**params)`` must return a ``Link``."""
    if not callable(factory):
        raise FamilyError(f"register_link needs a callable returning a Link, got {factory!r}")
    for key in (name, *aliases):
        _LINKS[_normalise(key)] = factory


def link_names() -> list[str]:
    return sorted(_LINKS)


def _unknown(kind: str, name: str, known: list[str]) -> FamilyError:
    close = difflib.get_close_matches(_normalise(name), known, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return FamilyError(f"unknown {kind} {name!r}.{hint} Known names: {', '.join(known)}.")


def _parse_call(text: str, kind: str) -> tuple[str, list[Any], dict[str, Any]]:
    """Parse ``name`` or ``name(arg, key=value)`` with literal arguments only."""
    name, args, kwargs = _parsed_call(text, kind)
    return name, list(args), dict(kwargs)  # copies: the cached parse is shared


@lru_cache(maxsize=256)
def _parsed_call(text: str, kind: str) -> tuple[str, tuple[Any, ...], tuple[tuple[str, Any], ...]]:
    head, paren, rest = text.strip().partition("(")
    text = head.replace(".", "_") + paren + rest  # R's dotted names: negative.binomial(...)
    try:
        node = ast.parse(text, mode="eval").body
    except SyntaxError as exc:
        raise FamilyError(f"cannot read {kind} specification {text!r}: {exc.msg}") from None
    if isinstance(node, ast.Name):
        return node.id, (), ()
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
        raise FamilyError(f"{kind} specification {text!r} must look like name(key=value, ...)")

    def literal(arg: ast.expr) -> Any:
        if isinstance(arg, ast.Name):
            return arg.id
        if (
            isinstance(arg, ast.Call)
            and isinstance(arg.func, ast.Name)
            and all(isinstance(a, ast.Constant) or _arithmetic(a) is not None
                    for a in [*arg.args, *(k.value for k in arg.keywords)])
        ):  # a nested link call such as power(0.5) or power(1/3), parsed again by get_link
            return ast.unparse(arg)
        number = _arithmetic(arg)
        if number is not None:
            return number
        try:
            return ast.literal_eval(arg)
        except ValueError:
            raise FamilyError(
                f"{kind} specification {text!r}: argument {ast.unparse(arg)!r} is not a literal"
            ) from None

    args = tuple(literal(a) for a in node.args)
    kwargs = tuple((kw.arg, literal(kw.value)) for kw in node.keywords if kw.arg is not None)
    return node.func.id, args, kwargs


_ARITHMETIC = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
               ast.Div: lambda a, b: a / b, ast.Pow: lambda a, b: a**b}


def _arithmetic(node: ast.expr) -> float | int | None:
    """The value of literal arithmetic on numbers (``1/3``, ``-0.5``, ``2**-1``), or None for anything else.

    Only number literals, unary +/- and ``+ - * / **`` are computed; a power's exponent must be at most
    10 in size, so nothing here can run long.
    """
    if isinstance(node, ast.Constant):
        value = node.value
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.UAdd, ast.USub)):
        operand = _arithmetic(node.operand)
        return None if operand is None else (operand if isinstance(node.op, ast.UAdd) else -operand)
    if isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
        left, right = _arithmetic(node.left), _arithmetic(node.right)
        if left is None or right is None or (isinstance(node.op, ast.Pow) and abs(right) > 10):
            return None
        try:
            return _ARITHMETIC[type(node.op)](float(left), float(right))
        except (ZeroDivisionError, OverflowError):
            return None
    return None


def get_link(spec: str | _links.Link, **params: Any) -> _links.Link:
    """Return a ``Link`` from an instance, a name (``"logit"``, ``"1/mu^2"``) or a call (``"power(0.5)"``)."""
    if isinstance(spec, _links.Link):
        return spec
    if not isinstance(spec, str):
        raise FamilyError(f"a link is a name or a Link object, got {type(spec).__name__}")
    if _normalise(spec) in _LINKS:
        name, args = spec, []
    else:
        name, args, kw = _parse_call(spec, "link")
        params = {**kw, **params}
    factory = _LINKS.get(_normalise(name))
    if factory is None:
        raise _unknown("link", name, link_names())
    try:
        return factory(*args, **params)
    except TypeError as exc:
        raise FamilyError(f"link {name!r}: {exc}") from None


def _register_builtin_links() -> None:
    register_link("identity", _links.Identity)
    register_link("log", _links.Log)
    register_link("logit", _links.Logit)
    register_link("probit", _links.Probit)
    register_link("cauchit", _links.Cauchit)
    register_link("cloglog", _links.CLogLog)
    register_link("loglog", _links.LogLog)
    register_link("inverse", _links.Inverse, aliases=("1/mu",))
    register_link("inverse_squared", _links.InverseSquared, aliases=("1/mu^2", "inverse_square"))
    register_link("sqrt", _links.Sqrt)
    register_link("power", _links.power)


_register_builtin_links()
