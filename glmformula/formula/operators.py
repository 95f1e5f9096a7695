"""formulaic's formula parser with R's meaning of ``%in%``.

R reads ``a %in% b`` as the single term ``a:b`` (the cells of a within b, no
main effect of b): each term on its left is crossed with all the variables on
its right together, so ``(a + x) %in% b`` is ``a:b + x:b`` and
``a %in% (b + c)`` is ``a:b:c``.  formulaic reads it as ``b/a`` (``b + b:a``).
``%in%`` also binds as in R: tighter than ``*`` and ``/``, looser than ``:``.

``PARSER`` is the parser glmformula gives formulaic for every right-hand side
(``NESTED_PARSER`` for the terms of one given as a list, without an intercept each).
"""

from __future__ import annotations

import functools

from formulaic.parser import DefaultFormulaParser, DefaultOperatorResolver
from formulaic.parser.types import Operator, OrderedSet, Term

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


PARSER = DefaultFormulaParser(operator_resolver=ROperatorResolver())
NESTED_PARSER = DefaultFormulaParser(include_intercept=False, operator_resolver=ROperatorResolver())
