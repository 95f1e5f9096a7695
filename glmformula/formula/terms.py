"""A bound on the number of terms a right-hand side expands to, found before formulaic expands it.

``(x0 + ... + x29)^20`` is a short formula whose expansion formulaic would
spend minutes on.  formulaic's parser gives the operator tree without
expanding it; an upper bound on the terms is read off that tree:

    a + b  ->  |a| + |b|        a:b, a %in% b  ->  |a| |b|
    a * b, a / b  ->  (|a| + 1)(|b| + 1) - 1
    a ^ k  ->  sum_{i=1..k} C(|a|, i)

and a formula whose bound exceeds ``MAX_TERMS`` is refused with a clear error.
"""

from __future__ import annotations

import math

from glmformula.exceptions import FormulaError

#: Most terms a right-hand side may expand to (R's own limit on interaction order is far smaller in practice).
MAX_TERMS = 10_000


def term_bound(node) -> int:
    """An upper bound on the terms of formulaic's AST ``node`` (a leaf is one term); iterative, as ``.``
    expands to a sum as deep as the data are wide."""
    bounds: dict[int, int] = {}
    stack = [(node, False)]
    while stack:
        current, children_done = stack.pop()
        args = list(getattr(current, "args", ()))
        if getattr(current, "operator", None) is None:
            bounds[id(current)] = 1
        elif not children_done:
            stack.append((current, True))
            stack.extend((arg, False) for arg in args)
        else:
            bounds[id(current)] = _combine(current, args, bounds)
    return bounds[id(node)]


def _combine(node, args: list, bounds: dict[int, int]) -> int:
    symbol = str(getattr(node.operator, "symbol", node.operator))
    if symbol == "^" and len(args) == 2:
        return _power_bound(bounds[id(args[0])], args[1])
    child = [bounds[id(arg)] for arg in args]
    if symbol in ("+", "|", "~"):
        return sum(child)
    if symbol == "-":
        return child[0]
    if symbol in (":", "%in%"):
        return math.prod(child)
    return math.prod(bound + 1 for bound in child) - 1


def _power_bound(base: int, exponent) -> int:
    try:
        order = int(str(getattr(exponent, "token", exponent)).strip())
    except ValueError:
        order = base
    order = max(0, min(order, base))
    return sum(math.comb(base, i) for i in range(1, order + 1))


def check_term_count(rhs: str) -> None:
    """Refuse a right-hand side that may expand to more than ``MAX_TERMS`` terms (before formulaic expands it)."""
    from glmformula.formula.operators import PARSER

    tree = PARSER.get_ast(rhs)
    bound = term_bound(tree)
    if bound > MAX_TERMS:
        raise FormulaError(
            f"the right-hand side may expand to {bound:,} terms (more than {MAX_TERMS:,}); "
            "lower the interaction order (e.g. (a + b + c)^2) or list the terms you need"
        )
