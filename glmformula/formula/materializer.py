"""formulaic's pandas materializer with glmformula's interpreter in place of ``eval``.

formulaic turns the right-hand side into terms and encodes them (contrasts,
levels, transform state); for each factor of a term it asks its materializer
for the factor's values.  The stock materializer evaluates a Python factor by
rewriting its text and calling ``eval``.  This one looks names up in the data
only and evaluates Python factors with ``safe_eval``'s interpreter, so
formulaic receives values, never code.  Its name is recorded in the model
spec, so prediction on new data goes through it too.

Both materializers here code a factor as R does by default: an ordered pandas
Categorical by ``contr.poly``, any other by treatment contrasts (the choice is
recorded in the spec's encoder state and replayed on new data; see
``formula.contrasts``).  ``RContrastsMaterializer`` is formulaic's own
evaluation with that default, for ``trusted=True`` formulas.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from formulaic.materializers import PandasMaterializer
from formulaic.model_spec import NAAction
from formulaic.transforms import encode_contrasts
from formulaic.utils.cast import as_columns
from formulaic.utils.null_handling import drop_rows as drop_nulls
from formulaic.utils.variables import Variable
from interface_meta import override

from glmformula.exceptions import FormulaError
from glmformula.formula import contrasts, output_target, safe_eval
from glmformula.formula.columns import FrameColumns
from glmformula.formula.levels import with_level_labels
from glmformula.formula.lexer import python_keywords
from glmformula.formula.output_target import output_into

__all__ = ["NAME", "InterpretingMaterializer", "RContrastsMaterializer", "output_into"]

#: The name formulaic records in a model spec built here (``ModelSpec.materializer``).
NAME = "glmformula"
#: Rows per block when a ``numpy`` output is written, or a factor's columns checked for missing values (a
#: block of every column stays in cache).
_COMBINE_ROWS = 8192


class RContrastsMaterializer(PandasMaterializer):
    """formulaic's pandas materializer with R's default contrasts (poly for an ordered factor)."""

    REGISTER_NAME = "glmformula_trusted"
    REGISTER_INPUTS = ()  # never chosen by formulaic on its own: only when a spec names it
    REGISTER_PRECEDENCE = 0

    @override
    def _encode_categorical(self, values: Any, metadata: Any, encoder_state: dict[str, Any], spec: Any,
                            drop_rows: Any, reduced_rank: bool = False) -> Any:
        """A categorical column's coding (one without ``C()``, whose own encoder codes it): R's default
        contrasts, and the levels of a column of doubles named as R names them (``g[T.2]``, not ``g[T.2.0]``:
        ``formula.levels``; the levels stay the numbers, so new data is matched to them by value)."""
        chosen = contrasts.default_contrasts(contrasts.is_ordered(values), encoder_state)
        if not isinstance(chosen, contrasts.RPolyContrasts):
            encoded = super()._encode_categorical(values, metadata, encoder_state, spec, drop_rows, reduced_rank)
        else:
            if drop_rows:
                values = drop_nulls(values, indices=drop_rows)
            # poly columns are not indicators with one to drop: encode at the rank asked for
            encoded = as_columns(encode_contrasts(values, contrasts=chosen, reduced_rank=reduced_rank,
                                                  _metadata=metadata, _state=encoder_state, _spec=spec))
        return with_level_labels(encoded, encoder_state.get("categories", ()))

    @override
    def _evaluate(self, expr: str, metadata: Any, spec: Any) -> tuple[Any, set[Variable]]:
        """formulaic's evaluation of a Python factor, with R's dotted keywords of a call written as Python's
        (``Boundary.knots=`` as ``boundary_knots=``, ``lexer.python_keywords``), as the interpreter reads them."""
        return super()._evaluate(python_keywords(expr), metadata, spec)


class InterpretingMaterializer(RContrastsMaterializer):
    """Materialises formulaic terms from a DataFrame, evaluating every factor with ``safe_eval``.

    Differences of memory and speed, not of values: its caches of evaluated and encoded factors are
    emptied once a matrix is built (formulaic's materializer sits in reference cycles, so they would
    otherwise hold a copy of every column until the next garbage collection); a ``numpy`` output is
    written by blocks of rows (``numpy.stack`` writes a wide array one strided column at a time), into the
    array of ``output_into`` when one is given (less the columns a transform wrote there itself:
    ``output_target``); and the columns of a term of one numeric factor go to the
    output as the factor's own arrays (formulaic copies each column twice, as ``1 * array(column)``).
    """

    REGISTER_NAME = NAME
    REGISTER_INPUTS = ()  # never chosen by formulaic on its own: only when a spec names it
    REGISTER_PRECEDENCE = 0

    @override
    def _init(self) -> None:
        super()._init()
        self._columns = FrameColumns(self.data)

    @override
    def get_model_matrix(self, spec: Any, drop_rows: Any = None, **spec_overrides: Any) -> Any:
        try:
            return super().get_model_matrix(spec, drop_rows, **spec_overrides)
        finally:  # a materializer builds one matrix (formulaic makes a new one per call): its caches are spent
            self.factor_cache.clear()
            self.encoded_cache.clear()

    @override
    def _get_columns_for_term(self, factors: list[dict[str, Any]], spec: Any, scale: float = 1) -> dict[str, Any]:
        if spec.output == "numpy" and scale == 1 and len(factors) == 1 and all(
                isinstance(values, np.ndarray) and values.ndim == 1 and values.dtype == np.float64
                for values in factors[0].values()):
            return dict(factors[0])  # formulaic's names for one factor are its keys; 1 * x is x
        return super()._get_columns_for_term(factors, spec, scale)

    @override
    def _check_for_nulls(self, name: str, values: Any, na_action: Any, drop_rows: set[int]) -> None:
        """formulaic's check of a factor's values for missing values, by blocks of rows for a factor of several
        float columns (a spline basis): its columns may be strided views of the design's dense block
        (``output_target.claim``), which a whole column at a time would read from memory once per column."""
        columns = list(values.values()) if isinstance(values, dict) else []
        if (na_action is not NAAction.DROP or len(columns) < 2
                or not all(isinstance(c, np.ndarray) and c.ndim == 1 and c.dtype.kind == "f" for c in columns)
                or len({len(c) for c in columns}) != 1):
            return super()._check_for_nulls(name, values, na_action, drop_rows)
        missing = np.zeros(len(columns[0]), dtype=bool)
        for start in range(0, len(missing), _COMBINE_ROWS):
            rows = slice(start, start + _COMBINE_ROWS)
            for column in columns:
                missing[rows] |= np.isnan(column[rows])
        drop_rows.update(np.flatnonzero(missing))

    @override
    def _combine_columns(self, cols: Any, spec: Any, drop_rows: Any) -> Any:
        arrays = [values for _, values in cols] if spec.output == "numpy" else []
        if not arrays or not all(isinstance(a, np.ndarray) and a.ndim == 1 and a.dtype.kind in "biuf"
                                 for a in arrays):
            return super()._combine_columns(cols, spec, drop_rows)
        shape = (len(arrays[0]), len(arrays))
        out = output_target.take(shape)  # one matrix is written into the target: the first of its shape
        in_place = [] if out is None else [_is_column(values, out, position) for position, values in enumerate(arrays)]
        if out is not None and any(not done and np.may_share_memory(values, out)
                                   for done, values in zip(in_place, arrays)):
            out = None  # a column read from elsewhere in the target could be overwritten before it is read
        if out is None:
            out, in_place = np.empty(shape), [False] * len(arrays)
        copied = [(position, values) for position, values in enumerate(arrays) if not in_place[position]]
        for start in range(0, len(out), _COMBINE_ROWS) if copied else ():
            rows = slice(start, start + _COMBINE_ROWS)
            for position, values in copied:
                out[rows, position] = values[rows]
        return out

    @override
    def _lookup(self, name: str) -> tuple[Any, set[Variable]]:
        if name not in self._columns:
            raise safe_eval.missing_name(name, self._columns.names)
        values = safe_eval.column_operand(self._columns[name], name, as_factor=True, index=self.data.index)
        return values, {Variable(name, roles=("value",), source="data")}

    @override
    def _evaluate(self, expr: str, metadata: Any, spec: Any) -> tuple[Any, set[Variable]]:
        program = safe_eval.compile_program(expr, transforms=True)
        value = program.evaluate(self._columns, self._columns.n_rows, state=spec.transform_state, spec=spec,
                                 metadata=metadata)
        return self._as_factor(value, expr), {Variable(column, roles=("value",), source="data")
                                              for column in program.columns}

    def _as_factor(self, value: Any, expr: str) -> Any:
        """Text computed by a Python factor is categorical, as a text column is; a bare string is no term."""
        if isinstance(value, (str, bytes)):
            raise FormulaError(f"the term {expr!r} evaluates to the text {value[:40]!r}, not to a column")
        if isinstance(value, np.ndarray) and value.dtype.kind in "OUS":
            return pd.Series(pd.Categorical(value), index=self.data.index if len(self.data) == len(value) else None)
        return value


def _is_column(values: np.ndarray, out: np.ndarray, position: int) -> bool:
    """Whether ``values`` is ``out[:, position]`` itself (a transform wrote its basis into the target:
    ``output_target.claim``), so that nothing is to be copied."""
    column = out[:, position]
    return (values.shape == column.shape and values.dtype == column.dtype and values.strides == column.strides
            and values.__array_interface__["data"][0] == column.__array_interface__["data"][0])
