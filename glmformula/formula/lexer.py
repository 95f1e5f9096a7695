"""Backquoted names and R's keyword spellings in the Python pieces of a formula, by Python's quoting rules.

R and formulaic write a column whose name is not an identifier in backquotes:
``log(`my col`)``.  Backquotes are not Python, so before a piece is parsed with
:mod:`ast` each backquoted name becomes a placeholder identifier.  The scan
follows Python's lexing of string literals exactly (prefixes, triple quotes,
backslash escapes, raw strings), so a backquote inside a string literal stays
text.  The placeholders are chosen so that they occur nowhere else in the
piece: no column name can be read in a placeholder's place.

R names some arguments with dots (``bs(x, Boundary.knots = c(0, 10))``), which
Python cannot parse as a keyword.  ``python_keywords`` renames such a keyword,
and only a keyword (a dotted name right after ``(`` or ``,`` and before a single
``=``, outside string literals and backquotes), to Python's spelling
(``boundary_knots``).  The result is parsed and checked by the interpreter like
any other text: the keyword must then be one the function accepts.  The interpreter
renames them when it compiles a piece (``safe_eval``), so the formula's text keeps R's
spelling everywhere else: formulaic parses it with the keywords as placeholders
(``keyword_placeholders``, ``operators.RFormulaParser``) and names the columns with
R's spelling put back (``restore_keywords``): ``bs(x, df=5, Boundary.knots=c(0, 10))[1]``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from glmformula.exceptions import FormulaError, UnsafeFormulaError

#: Characters a column name may not hold: they would let the name be read as code or quoting.
UNSAFE_NAME_CHARACTERS = frozenset("`'\"\\{}")
_STRING_PREFIX = re.compile(r"(?i)(?:rb|br|fr|rf|r|b|f|u)?$")
#: A dotted R argument name followed by a single ``=`` (not ``==``), matched from just after ``(`` or ``,``.
_R_KEYWORD = re.compile(r"(\s*)([A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)+)(\s*=)(?!=)")


def check_column_name(name: str, where: str = "the data") -> None:
    """Refuse a column name that holds backquotes, quotes, backslashes or braces (it could be read as code)."""
    bad = sorted(UNSAFE_NAME_CHARACTERS.intersection(name))
    if bad:
        raise UnsafeFormulaError(
            f"column {name!r} in {where} holds {' '.join(bad)}: a name with quotes, backquotes, backslashes "
            "or braces could be read as code, so formulas refuse it; rename the column "
            "(e.g. data.rename(columns={...}))"
        )


def string_end(text: str, start: int) -> int:
    """Index just past the string literal whose opening quote is at ``start`` (Python's rules)."""
    quote = text[start]
    delimiter = quote * 3 if text.startswith(quote * 3, start) else quote
    index = start + len(delimiter)
    while index < len(text):
        if text[index] == "\\":  # escapes the next character, in raw strings too (r'\'' is one literal)
            index += 2
            continue
        if text.startswith(delimiter, index):
            return index + len(delimiter)
        if len(delimiter) == 1 and text[index] == "\n":
            break
        index += 1
    raise FormulaError(f"unclosed string literal in {text!r}")


def _pieces(text: str) -> Iterator[tuple[str, int, int]]:
    """(kind, start, end) of each piece of ``text`` in order: a whole string literal ("string"), a whole
    `backquoted name` with its backquotes ("backquote"), or one character of code ("code")."""
    index = 0
    while index < len(text):
        char = text[index]
        if char in "'\"":
            end = string_end(text, index)
            yield "string", index, end
        elif char == "`":
            end = text.find("`", index + 1) + 1
            if end == 0:
                raise FormulaError(f"unclosed backquote in {text!r}")
            yield "backquote", index, end
        else:
            end = index + 1
            yield "code", index, end
        index = end


def replace_backquotes(expr: str) -> tuple[str, dict[str, str]]:
    """``expr`` with each `backquoted name` replaced by a placeholder; the placeholders' names.

    Returns the Python source and the mapping placeholder -> column name.
    """
    aliases: dict[str, str] = {}
    by_name: dict[str, str] = {}
    out: list[str] = []
    for kind, start, end in _pieces(expr):
        if kind != "backquote":
            out.append(expr[start:end])
            continue
        name = expr[start + 1 : end - 1].strip()
        check_column_name(name, "the formula")
        if name not in by_name:
            by_name[name] = _placeholder(expr, len(by_name))
            aliases[by_name[name]] = name
        out.append(by_name[name])
    return "".join(out), aliases


def _placeholder(expr: str, number: int, prefix: str = "_bq") -> str:
    """An identifier for the number-th backquoted name (or keyword) that occurs nowhere in ``expr``."""
    candidate = f"{prefix}{number}"
    while candidate in expr:
        candidate += "_"
    return candidate


def python_keywords(text: str) -> str:
    """``text`` with each dotted R keyword of a call (``Boundary.knots=``) written as Python's
    (``boundary_knots=``: lower case, dots as underscores); string literals and backquoted names are
    left as they are (see the module doc)."""
    return _rename_keywords(text, lambda name: name.lower().replace(".", "_"))


def keyword_placeholders(text: str) -> tuple[str, dict[str, str]]:
    """``text`` with each dotted R keyword of a call replaced by a placeholder identifier that occurs nowhere
    in ``text`` (one per distinct keyword); the mapping placeholder -> the keyword as written.

    For a parser that reads Python (formulaic's): it parses the placeholders, and ``restore_keywords`` puts
    R's spelling back into the text it returns, so that names made from that text show what the user wrote.
    """
    placeholders: dict[str, str] = {}
    by_name: dict[str, str] = {}

    def placeholder(name: str) -> str:
        if name not in by_name:
            by_name[name] = _placeholder(text, len(by_name), prefix="_rkw") + "_"
            placeholders[by_name[name]] = name
        return by_name[name]

    return _rename_keywords(text, placeholder), placeholders


def restore_keywords(text: str, placeholders: dict[str, str]) -> str:
    """``text`` with each placeholder of ``keyword_placeholders`` written back as its R keyword."""
    if not placeholders:
        return text
    pattern = "|".join(re.escape(name) for name in sorted(placeholders, key=len, reverse=True))
    return re.sub(pattern, lambda match: placeholders[match.group()], text)


def _rename_keywords(text: str, rename: Callable[[str], str]) -> str:
    """``text`` with each dotted R keyword of a call (a dotted name right after ``(`` or ``,`` inside brackets
    and before a single ``=``, outside string literals and backquotes) replaced by ``rename(name)``."""
    out: list[str] = []
    depth, resume = 0, 0
    for kind, start, end in _pieces(text):
        if start < resume:  # inside a keyword already renamed
            continue
        out.append(text[start:end])
        if kind != "code":
            continue
        char = text[start]
        depth += char in "([{"
        depth -= char in ")]}"
        match = _R_KEYWORD.match(text, end) if depth > 0 and char in "(," else None
        if match:
            space, name, equals = match.groups()
            out.append(space + rename(name) + equals)
            resume = match.end()
    return "".join(out)
