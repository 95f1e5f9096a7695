"""R's spelling of a model: the call as ``deparse`` prints it, and coefficient names as ``model.matrix``.

An R user reads ``glm(formula = y ~ a * b, family = binomial(link = "logit"), data = d)`` and
``factor(race)2``, ``sexM:ldose``, ``I(wt^2)``; formulaic names the same columns ``C(race)[T.2]``,
``sex[T.M]:ldose`` and ``I(wt ** 2)``.  This module parses an expression (R syntax, or the Python
that formulaic renders) into a small tree and writes it back as R's ``deparse`` does: spaces around
``~ + - * |`` and comparisons, none around ``^ : /``, numbers to 15 significant digits, strings in
double quotes, and lines broken after an operator or a comma once a line is past 60 characters,
continued four spaces in.  It only reads text: nothing is evaluated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from glmformula.report.r_format import format_one

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?L?)
    | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
    | (?P<name>`[^`]*`|[A-Za-z_.][A-Za-z0-9_.]*)
    | (?P<op>\*\*|%[^%]*%|==|!=|<=|>=|&&|\|\||[~+\-*/^:|&<>!=(),\[\]])
    )""",
    re.VERBOSE,
)
#: Binary operators from loosest to tightest, with whether R's deparse puts spaces around them.
_LEVELS = (("~",), ("|", "||"), ("&", "&&"), ("==", "!=", "<", ">", "<=", ">="), ("+", "-"), ("*", "/"),
           ("%",), (":",))
_UNSPACED = {"/", ":", "^"}
CUTOFF = 60


class RSyntaxError(ValueError):
    """The text is not an expression this module can read (the caller keeps the text as written)."""


@dataclass(frozen=True)
class Node:
    """One node of an expression: ``kind`` is "atom", "call", "binary", "unary" or "paren"."""

    kind: str
    text: str = ""
    children: tuple = ()
    arg_names: tuple = ()


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise RSyntaxError(f"cannot read {text[position:]!r}")
        kind = match.lastgroup
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str):
        self.tokens = _tokens(text)
        self.index = 0

    def peek(self) -> str | None:
        return self.tokens[self.index][1] if self.index < len(self.tokens) else None

    def take(self, expected: str | None = None) -> tuple[str, str]:
        if self.index >= len(self.tokens):
            raise RSyntaxError("unexpected end")
        token = self.tokens[self.index]
        if expected is not None and token[1] != expected:
            raise RSyntaxError(f"expected {expected!r}, got {token[1]!r}")
        self.index += 1
        return token

    def parse(self) -> Node:
        node = self.binary(0)
        if self.index != len(self.tokens):
            raise RSyntaxError(f"unexpected {self.peek()!r}")
        return node

    def binary(self, level: int) -> Node:
        if level == len(_LEVELS):
            return self.unary()
        if _LEVELS[level] == ("~",) and self.peek() == "~":  # one-sided formula
            self.take()
            return Node("unary", "~", (self.binary(level + 1),))
        left = self.binary(level + 1)
        while self._is_operator(level):
            operator = self.take()[1]
            left = Node("binary", operator, (left, self.binary(level + 1)))
        return left

    def _is_operator(self, level: int) -> bool:
        token = self.peek()
        if token is None or self.tokens[self.index][0] != "op":
            return False
        return token.startswith("%") and len(token) > 1 if _LEVELS[level] == ("%",) else token in _LEVELS[level]

    def unary(self) -> Node:
        if self.peek() in ("-", "+", "!"):
            operator = self.take()[1]
            return Node("unary", operator, (self.unary(),))
        return self.power()

    def power(self) -> Node:
        base = self.postfix()
        if self.peek() in ("^", "**"):
            self.take()
            return Node("binary", "^", (base, self.unary()))  # right-associative, binds a unary minus
        return base

    def postfix(self) -> Node:
        node = self.atom()
        while self.peek() == "(":
            node = self.call(node)
        return node

    def call(self, function: Node) -> Node:
        self.take("(")
        args, names = [], []
        while self.peek() != ")":
            name = ""
            if self.index + 1 < len(self.tokens) and self.tokens[self.index][0] == "name" \
                    and self.tokens[self.index + 1][1] == "=":
                name = self.take()[1]
                self.take("=")
            args.append(self.binary(0))
            names.append(name)
            if self.peek() == ",":
                self.take()
            elif self.peek() != ")":
                raise RSyntaxError(f"expected ',' or ')', got {self.peek()!r}")
        self.take(")")
        return Node("call", "", (function, *args), tuple(names))

    def atom(self) -> Node:
        kind, text = self.take()
        if kind == "op" and text == "(":
            inner = self.binary(0)
            self.take(")")
            return Node("paren", "", (inner,))
        if kind == "number":
            return Node("atom", text if text.endswith("L") else format_one(float(text), 15).strip())
        if kind == "string":
            return Node("atom", '"' + text[1:-1].replace('"', '\\"') + '"' if text[0] == "'" else text)
        if kind == "name":
            return Node("atom", {"True": "TRUE", "False": "FALSE", "None": "NULL"}.get(text, text))
        raise RSyntaxError(f"unexpected {text!r}")


def parse_r(text: str) -> Node:
    """The expression tree of ``text`` (R syntax; Python's ``**`` and quotes are read too)."""
    return _Parser(text).parse()


class _Writer:
    """R's deparse buffer: the current line, the finished lines and the indentation level."""

    def __init__(self, cutoff: int):
        self.cutoff, self.lines, self.line, self.indent = cutoff, [], "", 0

    def write(self, text: str) -> None:
        if not self.line and self.indent:
            self.line = "    " * min(self.indent, 4) + "  " * max(0, self.indent - 4)
        self.line += text

    def maybe_break(self, broken: bool) -> bool:
        """R's ``linebreak``: past the cutoff, end the line (indenting the rest once per construct)."""
        if len(self.line) > self.cutoff:
            if not broken:
                self.indent += 1
            self.lines.append(self.line)
            self.line = ""
            return True
        return broken

    def node(self, node: Node) -> None:
        if node.kind == "atom":
            self.write(node.text)
        elif node.kind == "paren":
            self.write("(")
            self.node(node.children[0])
            self.write(")")
        elif node.kind == "unary":
            self.write(node.text + (" " if node.text == "~" else ""))
            self.node(node.children[0])
        elif node.kind == "binary":
            self.binary(node)
        else:
            self.call(node)

    def binary(self, node: Node) -> None:
        left, right = node.children
        self.node(left)
        if node.text in _UNSPACED:
            self.write(node.text)
            self.node(right)
            return
        self.write(f" {node.text} ")
        broken = self.maybe_break(False)
        self.node(right)
        if broken:
            self.indent -= 1

    def call(self, node: Node) -> None:
        function, *args = node.children
        self.node(function)
        self.write("(")
        broken = False
        for index, (name, argument) in enumerate(zip(node.arg_names, args)):
            if name:
                self.write(f"{name} = ")
            self.node(argument)
            if index < len(args) - 1:
                self.write(", ")
                broken = self.maybe_break(broken)
        if broken:
            self.indent -= 1
        self.write(")")

    def text(self) -> list[str]:
        return [*self.lines, self.line] if self.line else list(self.lines)


def deparse(node: Node | str, cutoff: int = CUTOFF) -> list[str]:
    """The lines R's ``deparse`` gives for an expression (a tree, or text to parse)."""
    writer = _Writer(cutoff)
    writer.node(parse_r(node) if isinstance(node, str) else node)
    return writer.text()


def deparse_one_line(text: str) -> str:
    """``text`` as R would write it on one line; the text itself when it cannot be read."""
    try:
        return deparse(text, cutoff=10**9)[0]
    except RSyntaxError:
        return text


def _factor_calls(node: Node, found: list[Node]) -> list[Node]:
    if node.kind == "call" and node.children[0].kind == "atom" and node.children[0].text in ("factor", "as.factor"):
        found.append(node)
    for child in node.children:
        if isinstance(child, Node):
            _factor_calls(child, found)
    return found


def _r_spellings(formula: str) -> dict[str, str]:
    """formulaic's ``C(x)`` for each ``factor(x)`` / ``as.factor(x)`` of the formula, mapped back."""
    try:
        calls = _factor_calls(parse_r(formula), [])
    except RSyntaxError:
        return {}
    spellings = {}
    for call in calls:
        as_c = Node("call", "", (Node("atom", "C"), *call.children[1:]), call.arg_names)
        spellings[deparse(as_c, cutoff=10**9)[0]] = deparse(call, cutoff=10**9)[0]
    return spellings


def _split_top_level(name: str, separator: str) -> list[str]:
    parts, depth, start, quote = [], 0, 0, ""
    for index, char in enumerate(name):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"`":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == separator and depth == 0:
            parts.append(name[start:index])
            start = index + 1
    return [*parts, name[start:]]


def _level_suffix(part: str) -> tuple[str, str | None]:
    """``"C(race)[T.2]"`` → ``("C(race)", "T.2")``; a part without a trailing ``[...]`` → ``(part, None)``."""
    if not part.endswith("]"):
        return part, None
    depth = 0
    for index in range(len(part) - 1, -1, -1):
        depth += {"]": 1, "[": -1}.get(part[index], 0)
        if depth == 0:
            return (part[:index], part[index + 1:-1]) if index > 0 else (part, None)
    return part, None


def r_coefficient_names(names: list[str], formula: str) -> list[str]:
    """R's names for formulaic's design columns: ``(Intercept)``, ``factor(race)2``, ``sexM:ldose``,
    ``I(wt^2)``, ``poly(x, 2)1``; sum and Helmert contrasts numbered 1, 2, ... as R numbers them."""
    spellings = _r_spellings(formula)
    positions: dict[str, list[str]] = {}
    renamed = []
    for name in names:
        if name == "Intercept":
            renamed.append("(Intercept)")
            continue
        pieces = []
        for part in _split_top_level(name, ":"):
            expression, level = _level_suffix(part)
            r_expression = deparse_one_line(expression)
            r_expression = spellings.get(r_expression, r_expression)
            if level is None:
                pieces.append(r_expression)
                continue
            if level[:2] in ("T.",):
                level = level[2:]
            elif level[:2] in ("S.", "H.", "D."):
                seen = positions.setdefault(expression, [])
                if level not in seen:
                    seen.append(level)
                level = str(seen.index(level) + 1)
            pieces.append(r_expression + level)
        renamed.append(":".join(pieces))
    return renamed


def r_term_names(names: list[str], formula: str) -> list[str]:
    """R's names for formulaic's term names (``C(race)`` → ``factor(race)``, ``I(x ** 2)`` → ``I(x^2)``);
    a name this deparser cannot read (``<none>``) stays as it is."""
    spellings = _r_spellings(formula)
    return [":".join(spellings.get(r_part, r_part) for r_part in map(deparse_one_line, _split_top_level(name, ":")))
            for name in names]
