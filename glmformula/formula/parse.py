"""Split an R-style formula into response, offsets and right-hand side.

formulaic parses the right-hand side; this module handles the parts of R's
vocabulary it does not know, working on the text with a bracket-aware scan:

* the response, including ``cbind(successes, failures)``;
* top-level ``offset(expr)`` terms (any number, summed, no coefficient);
* ``factor(x)`` / ``as.factor(x)``, spelled ``C(x)`` for formulaic;
* ``^`` inside function calls (``I(x^2)``, ``log(x^2)``), which means power in
  R but XOR in Python: it becomes ``**``.  Outside calls ``(a+b)^2`` keeps its
  formula meaning (all interactions up to order 2);
* R's dotted argument names (``bs(x, Boundary.knots = c(0, 10))``) stay as written,
  so that the names of the columns show them: formulaic's parser reads them
  (``operators.RFormulaParser``) and the interpreter evaluates them as Python
  keywords (``boundary_knots``, ``lexer.python_keywords``); ``TRUE``, ``FALSE`` and
  ``c(...)`` are the interpreter's (``safe_eval``);
* ``.``, all columns not otherwise used, expanded against the data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from glmformula.exceptions import FormulaError
from glmformula.formula.lexer import check_column_name, string_end

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*$")
#: Longest formula accepted, and deepest nesting of brackets (R's parser has limits of its own too).
MAX_FORMULA_LENGTH = 20_000
MAX_NESTING = 100
_R_FACTOR = re.compile(r"(?<![A-Za-z0-9_.])(?:as\.)?factor\s*\(")


@dataclass(frozen=True)
class ParsedFormula:
    """The pieces of a formula.

    Attributes
    ----------
    response : tuple of expressions; two for ``cbind(successes, failures)``.
    rhs : right-hand side for formulaic, without offsets, in Python syntax.
    offsets : expressions inside the ``offset()`` terms.
    text : the formula as the user wrote it.
    """

    response: tuple[str, ...]
    rhs: str
    offsets: tuple[str, ...]
    text: str

    @property
    def is_cbind(self) -> bool:
        return len(self.response) == 2


def _scan(text: str):
    """Yield (index, char, depth, in_call) over ``text`` outside quotes.

    ``depth`` counts open brackets; ``in_call`` is true inside the brackets of a
    function call or a ``{...}`` block, where the text is Python.  A string
    literal is skipped by Python's own rules (``lexer.string_end``: escapes,
    triple quotes), a backquoted name up to its closing backquote; only the
    opening quote is yielded.
    """
    stack: list[bool] = []  # per open bracket: does it open Python code?
    openers: list[str] = []
    previous = ""  # the last character that is not white space
    index = 0
    while index < len(text):
        char = text[index]
        if char in "'\"`":
            yield index, char, len(stack), any(stack)
            if char == "`":
                end = text.find("`", index + 1)
                if end < 0:
                    raise FormulaError(f"unclosed quote ` in formula {text!r}")
                index = end + 1
            else:
                index = string_end(text, index)
            previous = char
            continue
        if char in "([{":
            opens_call = char == "{" or (char == "(" and (previous.isalnum() or previous in ("_", ".")))
            stack.append(opens_call or any(stack))
            openers.append(char)
            if len(stack) > MAX_NESTING:
                raise FormulaError(f"the formula nests brackets more than {MAX_NESTING} levels deep; simplify it")
            yield index, char, len(stack) - 1, any(stack[:-1])
        else:
            if char in ")]}":
                if not stack:
                    raise FormulaError(f"unbalanced {char!r} at position {index} in formula {text!r}")
                opener = openers.pop()
                if "([{"[")]}".index(char)] != opener:
                    raise FormulaError(f"{opener!r} closed by {char!r} at position {index} in formula {text!r}")
                stack.pop()
            yield index, char, len(stack), any(stack)
        if not char.isspace():
            previous = char
        index += 1
    if stack:
        raise FormulaError(f"unbalanced brackets in formula {text!r}: a ')' is missing")


def _split_top_level(text: str, separators: str) -> list[tuple[str, str]]:
    """Split at top-level separator characters; return (separator before, piece) pairs."""
    pieces: list[tuple[str, str]] = []
    start, sign = 0, "+"
    for index, char, depth, _ in _scan(text):
        if depth == 0 and char in separators:
            pieces.append((sign, text[start:index]))
            start, sign = index + 1, char
    pieces.append((sign, text[start:]))
    return pieces


def _call_argument(piece: str, name: str) -> str | None:
    """If ``piece`` is exactly ``name(...)``, return what is inside the brackets."""
    stripped = piece.strip()
    match = re.match(rf"{re.escape(name)}\s*\(", stripped)
    if not match or not stripped.endswith(")"):
        return None
    for index, char, depth, _ in _scan(stripped):
        if char == ")" and depth == 0 and index != len(stripped) - 1:
            return None  # e.g. offset(a) * b
    return stripped[match.end() : -1].strip()


def translate_python(text: str) -> str:
    """R spellings to formulaic/Python ones: factor() → C(), ^ in calls → ** (R's dotted keywords are left
    as written: see the module doc)."""
    text = _R_FACTOR.sub("C(", text)
    out = []
    positions = {index: in_call for index, char, _, in_call in _scan(text) if char == "^"}
    for index, char in enumerate(text):
        out.append("**" if char == "^" and positions.get(index) else char)
    return "".join(out)


def parse_formula(formula: str) -> ParsedFormula:
    """Split ``formula`` into its response, offsets and right-hand side (cached: formulas repeat)."""
    if not isinstance(formula, str):
        raise FormulaError(f"the formula must be a string such as 'y ~ x', got {type(formula).__name__}")
    return _parse_formula(formula)


@lru_cache(maxsize=512)
def _parse_formula(formula: str) -> ParsedFormula:
    if not formula.strip():
        raise FormulaError("the formula is empty; write it as 'response ~ predictors'")
    if len(formula) > MAX_FORMULA_LENGTH:
        raise FormulaError(f"the formula is {len(formula):,} characters long (the limit is {MAX_FORMULA_LENGTH:,}); "
                           "use '.' for all columns, or build derived columns in the data first")
    sides = _split_top_level(formula, "~")
    if len(sides) != 2:
        raise FormulaError(
            f"formula {formula!r} needs exactly one '~' with the response on its left ('y ~ x')"
        )
    lhs, rhs = sides[0][1].strip(), sides[1][1].strip()
    if not lhs:
        raise FormulaError(f"formula {formula!r} has no response: write 'response ~ predictors'")
    if not rhs:
        raise FormulaError(f"formula {formula!r} has nothing right of '~'; use 'y ~ 1' for an intercept-only model")

    response = _parse_response(lhs, formula)
    terms, offsets = [], []
    for sign, piece in _split_top_level(rhs, "+-"):
        inner = _call_argument(piece, "offset")
        if inner is not None:
            if sign == "-":
                raise FormulaError(f"'- offset(...)' in {formula!r}: write the offset with '+' and negate inside")
            if not inner:
                raise FormulaError(f"empty offset() in formula {formula!r}")
            offsets.append(translate_python(inner))
        else:
            terms.append((sign, piece))
    rhs_clean = "".join(
        f"{sign if index else ('-' if sign == '-' else '')}{piece}" for index, (sign, piece) in enumerate(terms)
    )
    if re.search(r"(?<![A-Za-z0-9_.])offset\s*\(", rhs_clean):
        raise FormulaError(
            f"offset() must be a term of its own ('... + offset(log(n))'), not part of an interaction, in {formula!r}"
        )
    if not rhs_clean.strip():
        rhs_clean = "1"
    return ParsedFormula(response, translate_python(rhs_clean).strip(), tuple(offsets), formula)


def _parse_response(lhs: str, formula: str) -> tuple[str, ...]:
    inner = _call_argument(lhs, "cbind")
    if inner is None:
        return (translate_python(lhs),)
    parts = [piece.strip() for _, piece in _split_top_level(inner, ",")]
    if len(parts) != 2 or not all(parts):
        raise FormulaError(f"cbind() in {formula!r} takes exactly two columns: cbind(successes, failures)")
    return tuple(translate_python(p) for p in parts)


def expand_dot(rhs: str, columns: list[str], exclude: set[str]) -> str:
    """Replace a top-level ``.`` by the sum of the data columns not in ``exclude``."""
    dots = _top_level_dots(rhs)
    if not dots:
        return rhs
    names = [c for c in columns if c not in exclude]
    for name in names:
        check_column_name(name, "the data (which '.' stands for)")
    if not names:
        raise FormulaError("'.' in the formula stands for no column: every column is already used")
    expansion = "(" + " + ".join(c if _IDENTIFIER.match(c) and "." not in c else f"`{c}`" for c in names) + ")"
    out, last = [], 0
    for index in dots:
        out.append(rhs[last:index])
        out.append(expansion)
        last = index + 1
    out.append(rhs[last:])
    return "".join(out)


@lru_cache(maxsize=256)
def _top_level_dots(rhs: str) -> tuple[int, ...]:
    """Positions of the ``.`` that stand for "all other columns" (once per formula: scanning is slow)."""
    return tuple(index for index, char, _, in_call in _scan(rhs)
                 if char == "." and not in_call and not _part_of_name(rhs, index))


#: Data columns whose plain reference formulaic confuses with the intercept: `1` is read as the literal 1,
#: and a column Intercept gets the intercept's column name (formulaic then keeps only one of the two).
AMBIGUOUS_COLUMNS = frozenset({"1", "Intercept"})


def protect_ambiguous_columns(rhs: str, columns: list[str]) -> str:
    """Write top-level references to the columns ``1`` and ``Intercept`` as Python blocks.

    ``y ~ `1``` would otherwise be the intercept, and ``y ~ Intercept`` two columns
    both named "Intercept".  As ``{`1`}`` the reference is a lookup of the column,
    and its coefficient is named in backquotes, as R names it (`` `1` ``,
    `` `Intercept` ``; the intercept itself stays "Intercept").  References inside
    function calls (``log(Intercept)``) are already unambiguous and left alone.
    """
    names = AMBIGUOUS_COLUMNS.intersection(columns)
    if not names:
        return rhs
    top_level = {index: char for index, char, _, in_call in _scan(rhs) if not in_call}
    replacements: list[tuple[int, int]] = []
    for index, char in top_level.items():
        if char == "`":
            end = rhs.find("`", index + 1)
            if rhs[index + 1 : end] in names:
                replacements.append((index, end + 1))
    if "Intercept" in names:
        for match in re.finditer(r"(?<![A-Za-z0-9_.`])Intercept(?![A-Za-z0-9_.`])", rhs):
            call = rhs[match.end():].lstrip().startswith("(")
            if match.start() in top_level and not call:
                replacements.append((match.start(), match.end()))
    for start, end in sorted(replacements, reverse=True):
        rhs = f"{rhs[:start]}{{`{rhs[start:end].strip('`')}`}}{rhs[end:]}"
    return rhs


def _part_of_name(text: str, index: int) -> bool:
    before = text[index - 1] if index > 0 else " "
    after = text[index + 1] if index + 1 < len(text) else " "
    return before.isalnum() or before in "_." or after.isalnum() or after == "_"


def sum_terms(rhs: str) -> list[str] | None:
    """The terms of a right-hand side that is a plain sum (only top-level '+'; a bracketed plain sum
    is opened), or None when it has a top-level '-' or no term."""
    pieces: list[str] = []
    for sign, piece in _split_top_level(rhs, "+-"):
        piece = piece.strip()
        if sign == "-" or not piece:
            return None
        if piece.startswith("(") and piece.endswith(")") and _closing(piece) == len(piece) - 1:
            inner = sum_terms(piece[1:-1])
            if inner is None:
                return None
            pieces += inner
        else:
            pieces.append(piece)
    return pieces


def _closing(text: str) -> int:
    """Index of the bracket closing the one that opens ``text``."""
    for index, char, depth, _ in _scan(text):
        if char == ")" and depth == 0:
            return index
    return -1


def split_bar(formula: str) -> tuple[str, str | None]:
    """Split ``y ~ x1 + x2 | z1 + z2`` into ``("y ~ x1 + x2", "y ~ z1 + z2")`` (None without ``|``)."""
    if not isinstance(formula, str):
        raise FormulaError(f"the formula must be a string such as 'y ~ x | z', got {type(formula).__name__}")
    sides = _split_top_level(formula, "~")
    if len(sides) != 2:
        raise FormulaError(f"formula {formula!r} needs exactly one '~' with the response on its left")
    lhs, rhs = sides[0][1], sides[1][1]
    parts = [piece for _, piece in _split_top_level(rhs, "|")]
    if len(parts) == 1:
        return formula, None
    if len(parts) != 2 or not all(p.strip() for p in parts):
        raise FormulaError(f"formula {formula!r}: write 'y ~ count terms | zero terms' with one '|'")
    return f"{lhs.strip()} ~ {parts[0].strip()}", f"{lhs.strip()} ~ {parts[1].strip()}"
