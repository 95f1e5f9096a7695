"""formulaic's formula parser with R's meaning of ``%in%`` and R's dotted keywords.

R reads ``a %in% b`` as the single term ``a:b`` (the cells of a within b, no
main effect of b): each term on its left is crossed with all the variables on
its right together, so ``(a + x) %in% b`` is ``a:b + x:b`` and
``a %in% (b + c)`` is ``a:b:c``.  formulaic reads it as ``b/a`` (``b + b:a``).
``%in%`` also binds as in R: tighter than ``*`` and ``/``, looser than ``:``.

R writes some arguments with dotted names (``bs(x, Boundary.knots = c(0, 10))``),
which formulaic, parsing each call as Python, would refuse.  ``RFormulaParser``
hands formulaic placeholders in their place and puts R's spelling back into the
tokens formulaic returns (``lexer.keyword_placeholders``), so that a term, and
the names of its columns, read as the user wrote them
(``bs(x, df=5, Boundary.knots=c(0, 10))[1]``); the interpreter reads the keyword
as Python's ``boundary_knots`` when it evaluates the term (``safe_eval``).

``PARSER`` is the parser glmformula gives formulaic for every right-hand side
(``NESTED_PARSER`` for the terms of one given as a list, without an intercept each).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, MutableMapping
from typing import Any

from formulaic.parser import DefaultFormulaParser, DefaultOperatorResolver
from formulaic.parser.types import Operator, OrderedSet, Term, Token

from glmformula.formula.lexer import keyword_placeholders, restore_keywords

#: Between formulaic's ``*``/``/`` (200) and ``:`` (300), where R ranks ``%in%``.
_IN_PRECEDENCE = 250


def _within(nested: OrderedSet[Term], parents: OrderedSet[Term]) -> OrderedSet[Term]:
    """R's ``nested %in% parents``: each nested term crossed with the product of all the parents."""
    common = functools.reduce(lambda x, y: x * y, parents)
    return OrderedSet(term * common for term in nested)


class ROperatorResolver(DefaultOperatorResolver):
    """formulaic's operators, with ``%in%`` as R's."""

    @property
    def operators(self) -> list[Operator]:
        operators = [operator for operator in super().operators if operator.symbol != "in"]
        operators.append(Operator("in", arity=2, precedence=_IN_PRECEDENCE, associativity="left", to_terms=_within))
        return operators


class RFormulaParser(DefaultFormulaParser):
    """formulaic's parser reading R's dotted keywords (see the module doc)."""

    def get_tokens_from_formula(self, formula: str, *, context: MutableMapping[str, Any]) -> Iterable[Token]:
        source, placeholders = keyword_placeholders(formula)
        tokens = super().get_tokens_from_formula(source, context=context)
        if not placeholders:
            return tokens
        tokens = list(tokens)
        for token in tokens:
            token.token = restore_keywords(token.token, placeholders)
        return tokens


PARSER = RFormulaParser(operator_resolver=ROperatorResolver())
NESTED_PARSER = RFormulaParser(include_intercept=False, operator_resolver=ROperatorResolver())
