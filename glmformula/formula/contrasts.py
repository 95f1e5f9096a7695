"""R's contrasts for formulaic: ``contr.poly`` for ordered factors, ``contr.treatment(base=k)``, ``C()``.

R codes an unordered factor by ``contr.treatment`` (the first level is the
reference) and an *ordered* one by ``contr.poly``: orthogonal polynomials in the
level positions 1..k, columns named ``.L``, ``.Q``, ``.C``, ``^4``, ... after the
factor (``agegp.L``).  formulaic codes every categorical by treatment unless told
otherwise; here

* ``default_contrasts`` chooses R's default for a factor: poly for an ordered
  pandas Categorical, treatment otherwise.  The choice is recorded in
  formulaic's encoder state (``state["contrasts"]``) when the design is built on
  the training data and read back from there on new data, whose columns need
  not be ordered (prediction replays the fit, whatever the new data's dtype);
* ``C(x, contrasts, base=k)`` is formulaic's ``C`` with R's spellings: without
  contrasts an ordered ``x`` gets ``contr.poly`` (R's ``factor(x)`` keeps an
  ordered factor ordered), and ``base=`` is the reference level's 1-based
  position, as in R's ``C(x, contr.treatment, base = 3)``; the levels of a
  numeric column are named as R's ``factor()`` names them (``C(x)[T.1]``, not
  ``[T.1.0]``: ``formula.levels``);
* ``RTreatmentContrasts`` is ``contr.treatment``: the reference by name
  (``contr.treatment("b")``) or by R's 1-based position (``contr.treatment(base=3)``).

``contr.SAS`` (the last level as reference) is formulaic's ``SASContrasts``.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from formulaic.materializers.types import FactorValues
from formulaic.transforms.contrasts import (
    Contrasts,
    PolyContrasts,
    SASContrasts,
    TreatmentContrasts,
    encode_contrasts,
)
from formulaic.utils.sentinels import UNSET

from glmformula.exceptions import FormulaError
from glmformula.formula.levels import with_level_labels


@dataclass
class RPolyContrasts(PolyContrasts):
    """R's ``contr.poly``: orthonormal polynomials in the level positions, columns named as R names them
    (``agegp.L``, ``agegp.Q``, ``agegp.C``, ``agegp^4``); full rank (no intercept) it is one indicator per
    level, as R codes an ordered factor that must span the intercept."""

    FACTOR_FORMAT_REDUCED = "{name}{field}"


@dataclass(init=False)
class RTreatmentContrasts(TreatmentContrasts):
    """R's ``contr.treatment``: the reference level by name (``reference``, or a text ``base``), or by its
    1-based position among the levels (a whole-number ``base``, as R's ``base = 3``)."""

    position: int | None = None

    def __init__(self, reference: Hashable = UNSET, base: Hashable = UNSET):
        if reference is not UNSET and base is not UNSET:
            raise FormulaError("contr.treatment(): give the reference level by name or base= by position, not both")
        self.position = None
        self.base = reference
        if base is not UNSET:
            if isinstance(base, (int, float)) and not isinstance(base, bool):
                self.position = _position(base, "contr.treatment")
            else:
                self.base = base

    @TreatmentContrasts.override
    def _find_base_index(self, levels: Sequence[Hashable]) -> int:
        if self.position is None:
            return super()._find_base_index(levels)
        if self.position > len(levels):
            raise FormulaError(f"contr.treatment(base={self.position}): the factor has only {len(levels)} levels "
                               f"({', '.join(map(str, levels))}); base is the reference level's position, from 1")
        return self.position - 1

    @TreatmentContrasts.override
    def get_drop_field(self, levels: Sequence[Hashable], reduced_rank: bool = True) -> Hashable:
        if reduced_rank:
            return None
        return levels[self._find_base_index(levels)]


def _position(base: Any, function: str) -> int:
    if base != int(base) or base < 1:
        raise FormulaError(f"{function}: base = {base!r} must be a level's position, a whole number from 1")
    return int(base)


def is_ordered(values: Any) -> bool:
    """Whether ``values`` (possibly wrapped by formulaic) is an ordered pandas Categorical."""
    values = getattr(values, "__wrapped__", values)
    dtype = getattr(values, "dtype", None)
    return isinstance(dtype, pd.CategoricalDtype) and bool(dtype.ordered)


def default_contrasts(ordered: bool, state: dict[str, Any]) -> Contrasts:
    """R's default coding of a factor: the one recorded in ``state`` when the design was built (new data),
    else ``contr.poly`` for an ordered factor and ``contr.treatment`` for an unordered one."""
    recorded = state.get("contrasts")
    if recorded is not None:
        return recorded.contrasts
    return RPolyContrasts() if ordered else TreatmentContrasts()


def _with_base(contrasts: Any, base: Any) -> Any:
    """``contrasts`` with R's ``base=`` (the reference level's position) applied."""
    if base is None:
        return contrasts
    if contrasts is None or contrasts in (TreatmentContrasts, RTreatmentContrasts):
        return RTreatmentContrasts(base=base)
    if contrasts is SASContrasts:
        raise FormulaError("C(x, contr.SAS, base=...): contr.SAS takes the last level as reference; "
                           "use contr.treatment with base= for another one")
    raise FormulaError("C(): base= (the reference level's position) goes with contr.treatment, as in R's "
                       "C(x, contr.treatment, base = 3)")


def C(data: Any, contrasts: Any = None, *, base: Any = None, levels: Any = None,
      spans_intercept: bool = True) -> FactorValues:
    """Mark ``data`` as a factor coded by ``contrasts`` (formulaic's ``C`` with R's defaults and ``base=``).

    ``contrasts`` is a ``Contrasts`` class or instance (``contr.sum``, ``contr.treatment("b")``), or a
    patsy-style constructor given without its call (``Treatment``, ``Sum``), which is called here.
    """
    if callable(contrasts) and not isinstance(contrasts, (type, Contrasts)):
        contrasts = contrasts()
    contrasts = _with_base(contrasts, base)
    ordered = is_ordered(data)

    def encoder(values: Any, reduced_rank: bool, drop_rows: list[int], encoder_state: dict[str, Any],
                model_spec: Any) -> FactorValues:
        chosen = contrasts if contrasts is not None else default_contrasts(ordered, encoder_state)
        values = pd.Series(values.__wrapped__ if isinstance(values, FactorValues) else values)
        values = values.drop(index=values.index[drop_rows])
        encoded = encode_contrasts(values, contrasts=chosen, levels=levels, reduced_rank=reduced_rank,
                                   _state=encoder_state, _spec=model_spec)
        return with_level_labels(encoded, encoder_state.get("categories", ()))

    return FactorValues(data, kind="categorical", spans_intercept=spans_intercept, encoder=encoder)
