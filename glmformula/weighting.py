"""statsmodels' ``freq_weights=`` and ``var_weights=`` beside R's ``weights=``.

Three kinds of weight, all multiplying the working weights of IRLS:

* ``weights`` (R's prior weights) and ``var_weights`` (statsmodels' name for the same
  thing): Var(y_i) = phi V(mu_i) / w_i.  A row stays one observation; for the binomial a
  proportion's weight is its number of trials.
* ``freq_weights``: row i stands for f_i identical observations.  The fit is the fit of the
  data with each row repeated f_i times: the same estimates, deviance and standard errors,
  and every count of observations (``nobs``, ``df_resid``, the Pearson dispersion, the
  log-likelihood, AIC, BIC, the sandwich's n) is that of the expanded data.  Residuals stay
  one per row, each the residual of any of its copies (as statsmodels').

The fitter passes one product w v f to the model frame (so rows with a missing weight are
dropped as for ``weights=``), and keeps f for the rows used.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from glmformula.engine.unit_weights import all_ones
from glmformula.exceptions import DataError
from glmformula.families.base import Family, Response
from glmformula.formula.validation import ArrayOrColumn, as_dataframe, external_vector


@dataclass(frozen=True)
class CombinedWeights:
    """The weights a fit uses: ``prior`` for the model frame (a column name or an array over the data's rows,
    the product of the weights given) and ``freq``, the frequency weights of every data row (None if not given)."""

    prior: ArrayOrColumn
    freq: np.ndarray | None


def combine_weights(data: Any, weights: ArrayOrColumn, var_weights: ArrayOrColumn,
                    freq_weights: ArrayOrColumn) -> CombinedWeights:
    """R's ``weights``, ``var_weights`` and ``freq_weights`` as one prior weight per row (see the module doc)."""
    given = [(value, name) for value, name in
             ((weights, "weights"), (var_weights, "var_weights"), (freq_weights, "freq_weights")) if value is not None]
    if len(given) <= 1 and freq_weights is None:  # at most one prior weight: the frame takes it as given
        return CombinedWeights(var_weights if var_weights is not None else weights, None)
    frame = as_dataframe(data)
    arrays = {}
    for value, name in given:
        array, _ = external_vector(value, name, frame)
        negative = np.count_nonzero(array < 0)
        if negative:
            raise DataError(f"{name} must be non-negative: {negative} row(s) are negative")
        arrays[name] = array
    # freq_weights alone: the frame takes it as given (a column name stays one, out of the formula's ``.``)
    prior = freq_weights if len(given) == 1 else np.prod(list(arrays.values()), axis=0)
    return CombinedWeights(prior, arrays.get("freq_weights"))


def freq_of_rows(freq: np.ndarray | None, data: Any, row_labels: pd.Index) -> np.ndarray | None:
    """The frequency weights of the rows a fit used (those of ``row_labels``), or None."""
    if freq is None:
        return None
    index = as_dataframe(data).index
    if len(row_labels) == len(index):  # every row used, in order
        return freq
    if not index.is_unique:
        raise DataError("freq_weights= on data with rows dropped for missing values needs an index without "
                        "duplicate labels; call data.reset_index(drop=True) before fitting")
    return freq[index.get_indexer(row_labels)]


def initialize(family: Family, y: np.ndarray, prior_weights: np.ndarray, freq: np.ndarray | None) -> Response:
    """The family's ``initialize`` on the rows' own weights, the frequencies multiplied in afterwards: the
    starting means are those of the expanded data, so IRLS takes the expanded fit's steps."""
    if freq is None:
        return _shared_unit_trials(family.initialize(y, prior_weights))
    with np.errstate(divide="ignore", invalid="ignore"):
        row_weights = np.where(freq > 0, prior_weights / np.where(freq > 0, freq, 1.0), 0.0)
    response = family.initialize(y, row_weights)
    return replace(response, prior_weights=response.prior_weights * freq)


def _shared_unit_trials(response: Response) -> Response:
    """``response`` with its numbers of trials being its prior weights' array when both are all 1 (every family
    but a binomial of counts, fitted without weights): one array of ones the data's length, not two."""
    trials, weights = response.n_trials, response.prior_weights
    if trials is weights or trials.shape != weights.shape or not (all_ones(weights) and all_ones(trials)):
        return response
    return replace(response, n_trials=weights)
