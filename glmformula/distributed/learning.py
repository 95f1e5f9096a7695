"""What a Dask fit learns from the whole data before its passes: the columns it reads, the levels of its
categoricals, and the state of its stateful transforms (``bs``, ``ns``, ``poly``, ``scale``, ``center``).

An in-memory fit learns a transform's state (knots, centring, orthogonal-polynomial coefficients)
from the complete rows of the whole data.  A Dask fit does the same: the columns such a transform
reads are gathered for the rows complete in every column the model uses (one column of floats per
transform source: small beside the data), formulaic learns the state from them through the formula
adapter, and that state is replayed on every partition (``PartitionModel.replay``).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import replace

import pandas as pd

from glmformula.distributed.executor import quiet_scheduler
from glmformula.formula.frame import FormulaSpec, build_model_frame

_NAME = re.compile(r"`([^`]+)`|([A-Za-z_][A-Za-z0-9_.]*)")
_DOT = re.compile(r"(^|[~+\-*:(\s])\.($|[+\-*:)\s])")


def used_columns(formula: str, columns: list, *extra: str | None) -> list | None:
    """The data columns named in ``formula`` (and the ``extra`` ones: weights, offset, exposure), in the
    data's order; None when the formula has ``.`` (every column)."""
    if _DOT.search(formula.split("~", 1)[-1]):
        return None
    names = {a or b for a, b in _NAME.findall(formula)} | {name for name in extra if name}
    return [column for column in columns if column in names]


def learn_levels(ddf, columns: list[str]) -> dict[str, list]:
    """Sorted levels (or the known categories) of the given columns, in one pass over the data."""
    import dask

    known = {c: list(ddf[c].cat.categories) for c in columns
             if isinstance(ddf[c].dtype, pd.CategoricalDtype) and ddf[c].cat.known}
    unknown = [c for c in columns if c not in known]
    with quiet_scheduler():
        uniques = dask.compute(*[ddf[c].dropna().unique() for c in unknown])
    for column, values in zip(unknown, uniques):
        known[column] = sorted(pd.unique(pd.Series(values)))
    return known


def stateful_factors(spec: FormulaSpec) -> dict[str, dict]:
    """The factors of the formula whose transforms keep state (formulaic's ``transform_state``)."""
    return {expr: state for expr, state in spec.model_spec.transform_state.items() if state}


def learn_transform_state(ddf, spec: FormulaSpec, used: list, arguments: dict) -> FormulaSpec:
    """``spec`` with the state of each stateful transform learned from the complete rows of the whole data
    (see the module doc)."""
    import dask

    factors = stateful_factors(spec)
    names = {name for expr in factors for a, b in _NAME.findall(expr) for name in (a or b,)}
    sources = [column for column in ddf.columns if column in names]
    complete = ddf[used].dropna() if arguments["na_action"] == "drop" else ddf[used]
    with quiet_scheduler():
        (values,) = dask.compute(complete[sources])
    values = values.reset_index(drop=True).assign(_glmformula_learn=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        learned = build_model_frame(f"_glmformula_learn ~ {' + '.join(factors)}", values).spec.model_spec
    state = dict(spec.model_spec.transform_state)
    for expr in factors:
        state[expr] = learned.transform_state[expr]
    return replace(spec, model_spec=spec.model_spec.update(transform_state=state))
