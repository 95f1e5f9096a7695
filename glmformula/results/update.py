"""R's ``update``: refit a model with a changed formula, data, family or other argument.

``update_formula(old, new)`` is R's ``update.formula``: in ``new`` a ``.`` on the right
stands for the old right-hand side and on the left for the old response, so

    update_formula("y ~ a + b + offset(log(n))", "~ . - b")  ->  "y ~ (a + b) - b + offset(log(n))"
    update_formula("y ~ a", "log(.) ~ . + c")                 ->  "log(y) ~ (a) + c"

(the old offsets come along with ``.``; formulaic's term algebra does the rest, so the fit
of ``(a + b) - b`` has the terms of ``y ~ a``).  ``update(results, ...)`` refits through the
function that made the fit (recorded in ``results.call``), with the call's other arguments
unless changed; as R, a formula that changes drops nothing else, except ``start=``, whose
length would no longer match.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from glmformula.exceptions import DataError
from glmformula.formula.parse import ParsedFormula, parse_formula

if TYPE_CHECKING:
    from glmformula.results.glm_results import GLMResults

_DOT = re.compile(r"(?<![\w.])\.(?![\w.])")


def update(results: GLMResults, formula: str | None = None, data: Any = None, **changes: Any) -> GLMResults:
    """The model refitted with ``formula`` (a full formula or R's ``"~ . - x"``), ``data`` and ``changes``
    (``family=``, ``weights=``, ... any argument of ``gf.glm``)."""
    call = results.call
    if call.fitter is None:
        raise DataError("this model was not fitted by gf.glm, so it cannot be updated; fit it again instead")
    arguments = dict(call.arguments)
    unknown = sorted(set(changes) - set(arguments))
    if unknown:
        raise DataError(f"update() got argument(s) gf.glm does not take: {', '.join(unknown)}; "
                        f"it takes: {', '.join(sorted(arguments))}")
    new_formula = results.formula
    if formula is not None:
        new_formula = update_formula(results.formula, formula, old_terms=_old_terms(results))
        if new_formula != results.formula and "start" not in changes:
            arguments["start"] = None
    arguments.update(changes)
    return call.fitter(new_formula, call.data if data is None else data, **arguments)


def update_formula(old: str, new: str, old_terms: str | None = None) -> str:
    """R's ``update.formula`` (see the module docstring); ``old_terms`` replaces the old right-hand side's terms
    (without offsets) when given."""
    if not isinstance(new, str) or "~" not in new:
        raise DataError(f"the new formula must contain '~', such as '~ . - x' or 'log(.) ~ .'; got {new!r}")
    before = parse_formula(old)
    old_lhs = _response_text(before)
    lhs_text, _, rhs_text = new.partition("~")
    lhs_text = lhs_text.strip()
    if lhs_text in ("", "."):
        lhs = old_lhs
    else:
        simple = re.fullmatch(r"[\w.]+(\(.*\))?", old_lhs)  # a name or a call needs no brackets
        lhs = _DOT.sub(lambda _: old_lhs if simple else f"({old_lhs})", lhs_text)
    after = parse_formula(f"{lhs} ~ {rhs_text}")
    terms_text = old_terms if old_terms is not None else before.rhs
    keeps_old = bool(_DOT.search(after.rhs))
    rhs = _DOT.sub(lambda _: f"({terms_text})", after.rhs)
    offsets = (*(before.offsets if keeps_old else ()), *after.offsets)
    pieces = [rhs] + [f"offset({expr})" for expr in offsets]
    return f"{_response_text(after)} ~ {' + '.join(pieces)}"


def _response_text(parsed: ParsedFormula) -> str:
    if parsed.is_cbind:
        return f"cbind({parsed.response[0]}, {parsed.response[1]})"
    return parsed.response[0]


def _old_terms(results: GLMResults) -> str | None:
    """The old right-hand side as the fit's terms when it used ``.`` (all columns), which would otherwise be
    expanded again against other data; None to keep the old text."""
    spec = results.model_data.spec
    if spec is None or not _DOT.search(parse_formula(results.formula).rhs):
        return None
    return terms_formula(list(results.term_slices), results.model_data.has_intercept)


def terms_formula(terms: list[str], intercept: bool) -> str:
    """A right-hand side listing ``terms`` (``"1"`` the intercept), with ``- 1`` for a model without one."""
    listed = [term for term in terms if term != "1"]
    text = " + ".join(listed) if listed else ("1" if intercept else "0")
    return text if intercept or not listed else f"{text} - 1"
