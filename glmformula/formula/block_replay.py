"""New data encoded as a fit's block design: the fast path's builder replaying a fitted spec.

Prediction from a fit whose design is a ``CategoricalDesign`` (``formula.categorical``) must not
write out the dummies that fitting avoided: a million new rows of a 1,000-level factor are 8 GB
as a dense matrix.  ``replay_blocks`` builds the new rows' design with the same plan and the
same assembler as fitting (``block_assembly``), from what the fitted spec learned:

* each categorical's levels (``frame.categorical_sources``): the new values are coded against
  them, a level not seen in fitting (or a missing value) coded -1, no column;
* each numeric transform's state (knots, means, polynomial bases): formulaic replays it on the
  new rows through glmformula's interpreter (``materializer.InterpretingMaterializer``), term by
  term, as ``numeric_terms.learn`` materialised them on the training rows.

Rows with unseen levels or missing values are the caller's to mask (``results.prediction``).
Anything the blocks cannot express from the new data as they are (a column whose kind differs
from the fit's, a product that is not finite) returns None: the caller then takes formulaic's
dense encoding of the spec, which reports what is wrong.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pandas as pd

from glmformula import settings
from glmformula.design.categorical import CategoricalDesign
from glmformula.formula import categorical as fast
from glmformula.formula.block_assembly import Values, assemble
from glmformula.formula.columns import FrameColumns
from glmformula.formula.materializer import NAME as INTERPRETER_NAME
from glmformula.formula.materializer import InterpretingMaterializer
from glmformula.formula.numeric_terms import LearnedTransforms


def replay_blocks(model_spec, newdata: pd.DataFrame) -> CategoricalDesign | None:
    """The design of ``newdata`` as the fitted ``model_spec`` encodes it, in blocks (see the module doc);
    None when the blocks cannot express it (the caller then encodes it densely with formulaic)."""
    if model_spec.materializer != INTERPRETER_NAME:
        return None  # a trusted formula: formulaic's own evaluation, which the blocks do not replay
    columns = FrameColumns(newdata)
    kinds = {name: fast._term_kind(source, columns) for name, source in fast._term_sources(model_spec.formula)}
    if any(kind is None for kind in kinds.values()) or not _kinds_agree(kinds, model_spec):
        return None
    levels = _learned_levels(model_spec, kinds)
    if levels is None:
        return None
    codes = {column: _codes(columns.series(column), column_levels) for column, column_levels in levels.items()}
    learned = None
    if fast._has_transforms(kinds):
        learned = _replayed_transforms(fast._transform_terms(model_spec.formula, kinds), model_spec, newdata)
    term_columns = [(str(term), columns_of.start, columns_of.stop)
                    for term, columns_of in model_spec.term_slices.items()]
    plan = fast._plan(model_spec, term_columns, kinds, {c: len(v) for c, v in levels.items()}, learned)
    if plan is None:
        return None
    values = Values(columns, None if learned is None else learned.take_values())
    try:
        with settings.override(dense_cells=0), np.errstate(all="ignore"):  # blocks, whatever the size
            built = assemble(plan, values, codes, list(model_spec.column_names))
    except (TypeError, ValueError):  # a column that is not plain numbers (nullable with missing values)
        return None
    return None if built is None or not isinstance(built[0], CategoricalDesign) else built[0]


def _kinds_agree(kinds: dict, model_spec) -> bool:
    """Whether each factor the new data's dtypes make numeric was encoded as numeric in fitting (a text
    column in place of a numeric one is formulaic's to report; the categorical factors are checked by
    their learned levels, ``_learned_levels``)."""
    state = model_spec.encoder_state
    for kind in kinds.values():
        if kind[0] == "interaction":
            parts = [expr for part_kind, _, expr in kind[1] if part_kind == "numeric"]
        else:
            parts = [kind[1]] if kind[0] == "numeric" else []
        for expr in parts:
            encoded = state.get(expr, state.get(f"`{expr}`"))
            if encoded is None or getattr(encoded[0], "value", encoded[0]) != "numerical":
                return False
    return True


def _learned_levels(model_spec, kinds: dict) -> dict[str, list] | None:
    """The levels learned in fitting of each categorical column the terms read; None if one is unknown."""
    from glmformula.formula.frame import categorical_sources

    needed = set(fast._categorical_columns(kinds))
    sources = categorical_sources(model_spec, needed)
    return None if set(sources) != needed else {column: sources[column] for column in needed}


def _codes(values: pd.Series, levels: list) -> np.ndarray:
    """int32 codes of ``values`` among the learned ``levels``: -1 for a missing value or a level not seen."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype(object)
    return pd.Index(levels).get_indexer(values).astype(np.int32)


def _replayed_transforms(terms: list, model_spec, newdata: pd.DataFrame) -> LearnedTransforms:
    """The numeric transform terms' columns on ``newdata``, replaying the fitted state (missing values
    and transforms undefined on a row give NaN there: the caller masks those rows)."""
    from formulaic import model_matrix
    from formulaic.formula import SimpleFormula

    values, names = {}, {}
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for term in terms:
            matrix = model_matrix(SimpleFormula([term]), newdata, materializer=InterpretingMaterializer,
                                  transform_state=copy.deepcopy(model_spec.transform_state), na_action="ignore",
                                  output="numpy")
            values[str(term)] = np.ascontiguousarray(np.asarray(matrix, dtype=float))
            names[str(term)] = list(matrix.model_spec.column_names)
    return LearnedTransforms(values, names, dict(model_spec.transform_state), ())
