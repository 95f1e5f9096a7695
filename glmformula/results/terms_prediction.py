"""R's ``predict(fit, type = "terms")``: each term's contribution to the linear predictor.

With x̄ the column means of the fitted model's design (every row of the fit, as R's
``colMeans(model.matrix(fit))``) and a model with an intercept, term t's column is

    (x - x̄)_t' beta_t                     (centred: each term averages 0 over the fit)

and ``constant`` = x̄' beta, so that the sum of the columns plus the constant plus the
offset is the linear predictor.  Without an intercept the terms are not centred and the
constant is 0.  Aliased coefficients count as 0.  Standard errors (``se=True``) are
sqrt((x - x̄)_t' V_tt (x - x̄)_t) with V ``cov_params()`` (R: the model-based V).

Everything is computed by blocks (a dense design is one dense block), so a fit whose design keeps
its large factors as codes (``CategoricalDesign``) never has its dummies written out:

* x̄: the dense block's column means, and per categorical block a group count (or sum of g:x's x);
* x_t' beta_t: the dense block times a (dense columns, terms) matrix routing each coefficient to its
  term, plus per block the coefficients gathered by the rows' codes, for the terms it belongs to;
* the standard errors: the quadratic forms of ``prediction_variance`` on each term's columns shifted
  by -x̄_t (``RowParts``), with V's columns and products for all the terms in one batched request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from glmformula.design.categorical import CategoricalDesign
from glmformula.engine.design_protocol import Design
from glmformula.formula.frame import ArrayOrColumn
from glmformula.results.prediction import design_rows
from glmformula.results.prediction_variance import RowParts, parts_variances

if TYPE_CHECKING:
    from glmformula.results.glm_results import GLMResults


@dataclass(frozen=True)
class TermsPrediction:
    """R's ``predict(type = "terms", se.fit = TRUE)``: ``fit`` and ``se_fit`` (one column per term) and the
    ``constant`` that the centred terms leave out."""

    fit: pd.DataFrame
    se_fit: pd.DataFrame
    constant: float


def predict_terms(results: GLMResults, newdata: Any = None, se: bool = False, offset: ArrayOrColumn = None,
                  exposure: ArrayOrColumn = None, unseen: Literal["error", "nan"] = "error"
                  ) -> pd.DataFrame | TermsPrediction:
    """The terms frame (``attrs["constant"]`` holds the constant), or with ``se=True`` a ``TermsPrediction``."""
    data = results.model_data
    design, _, index, unseen_rows = design_rows(results, newdata, offset, exposure, unseen)
    fitted = as_blocks(data.design)
    rows = fitted if newdata is None else as_blocks(design)
    names = [name for name in results.term_slices if name != "1"]
    term_of = _term_of(results.term_slices, names, rows.shape[1])
    beta = np.nan_to_num(results.params.to_numpy())
    means = column_means(fitted) if data.has_intercept else np.zeros(len(beta))
    constant = float(means @ beta) if data.has_intercept else 0.0
    by_term = np.where(term_of[:, None] == np.arange(len(names)), beta[:, None], 0.0)  # (p, terms)
    fits = term_products(rows, by_term, term_of) - means @ by_term
    fit = _frame(fits, names, index, unseen_rows)
    fit.attrs["constant"] = constant
    if not se:
        return fit
    parts = [RowParts.select(rows, term_of == t, -means * (term_of == t) if data.has_intercept else None)
             for t in range(len(names))]
    variances = parts_variances(parts, results.column_covariance())
    errors = np.sqrt(np.maximum(np.column_stack(variances), 0.0)) if names else np.zeros((len(index), 0))
    return TermsPrediction(fit, _frame(errors, names, index, unseen_rows), constant)


def as_blocks(design: Design) -> CategoricalDesign:
    """``design`` as a ``CategoricalDesign``: itself, or a dense one as a single dense block."""
    if isinstance(design, CategoricalDesign):
        return design
    matrix = design.to_dense()
    return CategoricalDesign(matrix, np.arange(matrix.shape[1]), [], [str(j) for j in range(matrix.shape[1])])


def column_means(design: CategoricalDesign) -> np.ndarray:
    """The (p,) column means of the design: the dense block's, and each block's column sums (counts, or
    sums of g:x's x) over n."""
    n, p = design.shape
    means = np.zeros(p)
    if len(design.dense_positions):
        means[design.dense_positions] = design.dense_means()
    for block in design.blocks:
        sums = np.bincount(block.codes + 1, weights=block.values, minlength=block.size + 1)[1:]
        means[block.positions] += sums / n
    return means


def term_products(design: CategoricalDesign, coefficients: np.ndarray, term_of: np.ndarray) -> np.ndarray:
    """(n, terms): column t is x_i[T_t]' coefficients[T_t, t], T_t the columns with ``term_of`` t (-1: none),
    ``coefficients`` (p, terms)."""
    n_terms = coefficients.shape[1]
    dense_terms = term_of[design.dense_positions]
    routing = np.zeros((len(design.dense_positions), n_terms))
    own = dense_terms >= 0
    routing[own, dense_terms[own]] = coefficients[design.dense_positions[own], dense_terms[own]]
    out = design.dense_times(routing) if len(design.dense_positions) else np.zeros((design.shape[0], n_terms))
    for block in design.blocks:
        block_terms = term_of[block.positions]
        for t in np.unique(block_terms[block_terms >= 0]):
            gathered = np.append(np.where(block_terms == t, coefficients[block.positions, t], 0.0), 0.0)[block.codes]
            out[:, t] += gathered if block.values is None else gathered * block.values
    return out


def _term_of(term_slices: dict[str, slice], names: list[str], p: int) -> np.ndarray:
    """(p,) the index in ``names`` of each column's term, -1 for the intercept."""
    term_of = np.full(p, -1)
    for t, name in enumerate(names):
        term_of[term_slices[name]] = t
    return term_of


def _frame(values: np.ndarray, names: list[str], index: pd.Index, unseen_rows: np.ndarray) -> pd.DataFrame:
    frame = pd.DataFrame(values, index=index, columns=names)
    frame.loc[unseen_rows, :] = np.nan
    return frame
