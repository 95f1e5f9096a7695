"""The functions a formula may call, each with the arguments it may be given.

This table is the whole of what the formula interpreter (``safe_eval``) can
call: a name in a formula that is not a data column resolves here or nowhere.
Each entry says how many positional arguments the function takes and which
keywords, so nothing can reach numpy's ``out=`` or ``where=`` (the math
functions are small wrappers with no such parameter at all), and the size
arguments of the transforms (``degree``, ``df``, ``knots``) are checked
against the data before anything is allocated.

formulaic's stateful transforms (``poly``, ``scale``, ...) and
glmformula's ``ns`` and ``bs`` (R's natural and B-splines, ``formula.splines``) keep their
encoding state through formulaic's ``_state``/``_spec`` protocol, which the
interpreter passes; formulaic never sees the formula's text.  ``C`` and
``contr.treatment``/``contr.poly`` are glmformula's, with R's meaning
(``formula.contrasts``).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sized
from dataclasses import dataclass
from typing import Any

import numpy as np

from glmformula.exceptions import FormulaError


@dataclass(frozen=True)
class Function:
    """A callable a formula may use.

    Attributes
    ----------
    call : the Python callable.
    max_positional : the most positional arguments it accepts.
    keywords : the keyword arguments it accepts.
    transform : a formulaic transform (only on the right-hand side, which formulaic encodes).
    stateful : takes formulaic's ``_state``/``_metadata``/``_spec`` (learned on the training data).
    limit : checks the arguments against the data (rows, distinct values) before the call.
    """

    call: Callable[..., Any]
    max_positional: int
    keywords: frozenset[str] = frozenset()
    transform: bool = False
    stateful: bool = False
    limit: Callable[[tuple, dict, int], None] | None = None


def _log(x, base=None):
    """``log(x)``, or R's ``log(x, base)``."""
    values = np.log(x)
    return values if base is None else values / np.log(base)


def _unary(ufunc) -> Function:
    return Function(lambda x: ufunc(x), 1)


_MATH: dict[str, Function] = {
    name: _unary(ufunc)
    for name, ufunc in {
        "log1p": np.log1p, "log2": np.log2, "log10": np.log10, "exp": np.exp, "expm1": np.expm1,
        "exp2": np.exp2, "sqrt": np.sqrt, "abs": np.abs, "fabs": np.fabs, "sin": np.sin, "cos": np.cos,
        "tan": np.tan, "arcsin": np.arcsin, "arccos": np.arccos, "arctan": np.arctan, "sinh": np.sinh,
        "cosh": np.cosh, "tanh": np.tanh, "floor": np.floor, "ceil": np.ceil, "sign": np.sign,
        "square": np.square,
    }.items()
}
def r_vector(*values: Any) -> list:
    """R's ``c(...)``: the literal values given (numbers, text, logicals; lists opened one level) as a list,
    for arguments such as ``knots = c(1, 2)`` or ``Boundary.knots = c(0, 10)``.  A column is refused: in a
    formula ``c()`` spells a vector of constants, not a concatenation of data."""
    out: list = []
    for value in values:
        for item in (value if isinstance(value, (list, tuple)) else (value,)):
            if not isinstance(item, (bool, int, float, str, np.integer, np.floating)):
                raise FormulaError(f"c() takes literal values (c(0, 10)), not a column or an array; got "
                                   f"{type(item).__name__}")
            out.append(item)
    return out


#: Most values one ``c(...)`` may list (the formula's length bounds it too).
_MAX_VECTOR = 1000

_MATH.update({
    "c": Function(r_vector, _MAX_VECTOR),
    "log": Function(_log, 2, frozenset({"base"})),
    "round": Function(lambda x, decimals=0: np.round(x, int(decimals)), 2, frozenset({"decimals"})),
    "power": Function(lambda x, y: np.power(x, y), 2),
    "minimum": Function(lambda x, y: np.minimum(x, y), 2),
    "maximum": Function(lambda x, y: np.maximum(x, y), 2),
    "clip": Function(lambda x, lower, upper: np.clip(x, lower, upper), 3),
    "where": Function(lambda condition, x, y: np.where(condition, x, y), 3),
    "I": Function(lambda x: x, 1),
})

#: numpy functions usable in formulas, by the name a formula uses for them (also as ``np.<name>``).
MATH_FUNCTIONS: dict[str, Function] = _MATH


def _count(value: Any) -> int:
    return len(value) if isinstance(value, Sized) and not isinstance(value, str) else 1


def _integer(value: Any, name: str, function: str, low: int, high: int) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or value != int(value):
        raise FormulaError(f"{function}(): {name} must be a whole number, got {value!r}")
    if not low <= value <= high:
        raise FormulaError(f"{function}(): {name} = {value} is out of range; it must be between {low} and {high} "
                           "for these data")


def _limit_poly(args: tuple, kwargs: dict, n_rows: int) -> None:
    degree = kwargs.get("degree", args[1] if len(args) > 1 else 1)
    unique = len(np.unique(np.asarray(args[0], dtype=float))) if len(args) else n_rows
    if degree is not None and _is_number(degree) and degree >= unique:
        raise FormulaError(f"poly(): degree = {degree} must be less than the number of unique points ({unique}), "
                           "as in R")
    _integer(degree, "degree", "poly", 1, max(unique - 1, 1))


def _limit_spline(function: str, min_df: int = 1) -> Callable[[tuple, dict, int], None]:
    """Checks ``df``, ``knots`` and ``degree`` (by keyword or at their position, as ``bs(x, df, knots, degree)``)
    against the data.  ``ns``/``bs`` take ``min_df=0``: a too small df is raised with R's warning there."""
    def limit(args: tuple, kwargs: dict, n_rows: int) -> None:
        df = kwargs.get("df", args[1] if len(args) > 1 else None)
        knots = kwargs.get("knots", args[2] if len(args) > 2 else None)
        _integer(df, "df", function, min_df, max(n_rows, 1))
        if knots is not None and _count(knots) > n_rows:
            raise FormulaError(f"{function}(): {_count(knots)} knots for {n_rows} rows; give fewer knots")
        degree = kwargs.get("degree", args[3] if len(args) > 3 and function == "bs" else None)
        if degree is not None:
            _integer(degree, "degree", function, 0, 20)
    return limit


def _limit_lag(args: tuple, kwargs: dict, n_rows: int) -> None:
    _integer(kwargs.get("k", args[1] if len(args) > 1 else 1), "k", "lag", -n_rows, n_rows)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _signature_keywords(func: Callable, skip: int = 1) -> tuple[int, frozenset[str]]:
    """(positional count, keyword names) of a formulaic callable, without its private ``_state``-like ones."""
    parameters = [p for p in inspect.signature(func).parameters.values() if not p.name.startswith("_")]
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    keywords = frozenset(p.name for p in parameters[skip:] if p.kind != p.POSITIONAL_ONLY)
    return len(positional), keywords


def _raw_poly_named(poly: Callable[..., Any]) -> Callable[..., Any]:
    """formulaic's ``poly`` with the columns of ``raw=TRUE`` named 1..degree, as R and its orthogonal basis
    name them (formulaic leaves them unnamed: ``poly(x, 2, raw=TRUE)[0]``)."""
    from formulaic.materializers.types import FactorValues

    @functools.wraps(poly)
    def named(*args: Any, **kwargs: Any) -> Any:
        values = poly(*args, **kwargs)
        if getattr(values, "__formulaic_metadata__", None) is None and getattr(values, "ndim", 0) == 2:
            values = FactorValues(values, column_names=tuple(str(i) for i in range(1, values.shape[1] + 1)))
        return values

    return named


def _transforms() -> dict[str, Function]:
    """formulaic's transforms and contrasts (imported when first needed: formulaic is slow to import)."""
    from formulaic.transforms import TRANSFORMS
    from formulaic.transforms.contrasts import ContrastsRegistry
    from formulaic.transforms.patsy_compat import PATSY_COMPAT_TRANSFORMS

    from glmformula.formula import contrasts, splines

    table: dict[str, Function] = {}
    limits = {"poly": _limit_poly, "cr": _limit_spline("cr"),
              "cs": _limit_spline("cs"), "cc": _limit_spline("cc"), "lag": _limit_lag}
    for name in ("center", "scale", "poly", "cr", "cs", "cc", "lag"):
        func = _raw_poly_named(TRANSFORMS[name]) if name == "poly" else TRANSFORMS[name]
        positional, keywords = _signature_keywords(func)
        table[name] = Function(func, positional, keywords, transform=True,
                               stateful=bool(getattr(func, "__is_stateful_transform__", False)),
                               limit=limits.get(name))
    standardize = PATSY_COMPAT_TRANSFORMS["standardize"]
    table["standardize"] = Function(standardize, *_signature_keywords(standardize), transform=True, stateful=True)
    for name in ("Treatment", "Sum", "Helmert", "Poly", "Diff"):
        func = PATSY_COMPAT_TRANSFORMS[name]
        table[name] = Function(func, *_signature_keywords(func, skip=0), transform=True)
    for name in ("sum", "helmert", "diff", "custom", "SAS"):
        cls = getattr(ContrastsRegistry, name)
        table[f"contr.{name}"] = Function(cls, *_signature_keywords(cls, skip=0), transform=True)
    # glmformula's own, with R's meaning: C() codes an ordered factor by contr.poly and takes base=,
    # contr.treatment(base=k) is the k-th level, contr.poly names columns as R (x.L), ns() is splines::ns
    table["C"] = Function(contrasts.C, 2, frozenset({"contrasts", "base", "levels", "spans_intercept"}),
                          transform=True)
    for name, cls in (("treatment", contrasts.RTreatmentContrasts), ("poly", contrasts.RPolyContrasts)):
        table[f"contr.{name}"] = Function(cls, *_signature_keywords(cls, skip=0), transform=True)
    table["ns"] = Function(splines.ns, 2, frozenset({"df", "knots", "intercept", "boundary_knots"}),
                           transform=True, stateful=True, limit=_limit_spline("ns", min_df=0))
    # bs() is splines::bs (R's knots, basis and extrapolation), also under formulaic's keyword names
    table["bs"] = Function(splines.bs, 6, frozenset({"df", "knots", "degree", "intercept", "boundary_knots",
                                                     "include_intercept", "lower_bound", "upper_bound",
                                                     "extrapolation"}),
                           transform=True, stateful=True, limit=_limit_spline("bs", min_df=0))
    return table


_TRANSFORMS: dict[str, Function] | None = None


def lookup(name: str, *, transforms: bool) -> Function | None:
    """The function a formula calls by ``name`` (``log``, ``np.log``, ``poly``, ``contr.sum``), or None."""
    global _TRANSFORMS
    if name.startswith(("np.", "numpy.")):
        return MATH_FUNCTIONS.get(name.split(".", 1)[1])
    if name in MATH_FUNCTIONS:
        return MATH_FUNCTIONS[name]
    if not transforms:
        return None
    if _TRANSFORMS is None:
        _TRANSFORMS = _transforms()
    return _TRANSFORMS.get(name)


def contrast_class(name: str) -> Any | None:
    """``contr.<name>`` as a value (``C(x, contr.sum)``): the contrast class itself."""
    function = lookup(f"contr.{name}", transforms=True)
    return function.call if function is not None else None


def transform_names() -> list[str]:
    """The transforms and contrasts only the right-hand side may call (``poly``, ``ns``, ``contr.sum``, ...)."""
    lookup("C", transforms=True)  # fills the table
    return list(_TRANSFORMS or ())


def is_transform_name(name: str) -> bool:
    """Whether ``name`` is a transform only the right-hand side may call (not a math function)."""
    return lookup(name, transforms=False) is None and lookup(name, transforms=True) is not None
