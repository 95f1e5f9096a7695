"""Prediction from a fitted GLM, with standard errors and intervals (R's ``predict.glm``).

New data are encoded by replaying the formula's spec: the same categorical
levels and contrasts, spline knots and polynomial bases, and the ``offset()``
terms evaluated on the new rows.  With ``se=True``:

    se(eta) = sqrt(x' V x)                          V = cov_params()
    se(mu)  = |d mu / d eta| se(eta)                (delta method, as R)
    interval = g^{-1}(eta -/+ q se(eta))            built on the link scale

with q the normal quantile, or the t quantile on df_resid when the dispersion
is estimated.

A fit whose design is in blocks (``CategoricalDesign``: large factors kept as codes) predicts
on blocks too: the new rows are encoded by the fast path's builder replaying the spec
(``formula.block_replay``), x' beta is the blocks' product, and x' V x is computed row-wise
from a few columns of V (``results.prediction_variance``), never from the dense rows or the
(p, p) covariance.
"""

from __future__ import annotations

import ast
import numbers
import warnings
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from glmformula.design.categorical import CategoricalDesign
from glmformula.design.dense import DenseDesign
from glmformula.engine.design_protocol import Design
from glmformula.exceptions import DataError, FormulaError
from glmformula.formula import safe_eval
from glmformula.formula.block_replay import replay_blocks
from glmformula.formula.frame import ArrayOrColumn
from glmformula.formula.materializer import NAME as INTERPRETER_NAME
from glmformula.results.prediction_variance import row_variances

if TYPE_CHECKING:
    from glmformula.results.glm_results import GLMResults

PredictType = Literal["response", "link"]


def predict(
    results: GLMResults,
    newdata: Any = None,
    *,
    type: PredictType = "response",  # noqa: A002 - R's and statsmodels' name
    se: bool = False,
    level: float = 0.95,
    offset: ArrayOrColumn = None,
    exposure: ArrayOrColumn = None,
    unseen: Literal["error", "nan"] = "error",
) -> pd.Series | pd.DataFrame:
    _check_choice("type", type, ("response", "link"))
    _check_choice("unseen", unseen, ("error", "nan"))
    if not isinstance(level, numbers.Real) or not 0 < level < 1:
        raise DataError(f"level must be a number between 0 and 1, got {level!r}")
    design, eta_offset, index, unseen_rows = design_rows(results, newdata, offset, exposure, unseen)
    if results.aliased:
        warnings.warn("prediction from a rank-deficient fit: aliased coefficients are taken as 0", UserWarning,
                      stacklevel=3)
    beta = np.nan_to_num(results.params.to_numpy())
    eta = design.dot(beta) + eta_offset
    eta[unseen_rows] = np.nan
    link = results.family.link
    with np.errstate(all="ignore"):
        fit = eta if type == "link" else link.inverse(eta)
    if not se:
        return pd.Series(fit, index=index, name="fit")
    with np.errstate(invalid="ignore"):  # NaN rows (unseen levels, missing values) are masked below
        se_link = np.sqrt(linear_predictor_variances(results, design))
    se_link[unseen_rows] = np.nan
    q = stats.t.ppf((1 + level) / 2, results.df_resid) if results.use_t else stats.norm.ppf((1 + level) / 2)
    lower, upper = eta - q * se_link, eta + q * se_link
    if type == "response":
        with np.errstate(all="ignore"):
            se_fit = se_link * np.abs(link.mu_eta(eta))
            lower, upper = link.inverse(lower), link.inverse(upper)
        lower, upper = np.minimum(lower, upper), np.maximum(lower, upper)
    else:
        se_fit = se_link
    return pd.DataFrame({"fit": fit, "se": se_fit, "lower": lower, "upper": upper}, index=index)


def linear_predictor_variances(results: GLMResults, design: Design) -> np.ndarray:
    """Var(x_i' beta) = x_i' V x_i for the rows of ``design``, V ``cov_params()``: for a block design
    from a few of V's columns (``prediction_variance``), for a dense one from V, by chunks of rows."""
    if isinstance(design, CategoricalDesign):
        return row_variances(design, results.column_covariance())
    X = design.to_dense()
    covariance = np.nan_to_num(results.cov_params().to_numpy())
    out = np.empty(len(X))
    step = max(1, 2**22 // max(1, X.shape[1]))
    for start in range(0, len(X), step):
        rows = X[start:start + step]
        out[start:start + step] = np.einsum("ij,ij->i", rows @ covariance, rows)
    return out


def design_rows(results: GLMResults, newdata: Any, offset: ArrayOrColumn = None, exposure: ArrayOrColumn = None,
                unseen: Literal["error", "nan"] = "error") -> tuple[Design, np.ndarray, pd.Index, np.ndarray]:
    """The rows to predict: their design (the fit's own for ``newdata=None``; for new data in blocks when
    the fit's is, else formulaic's dense encoding), the offset, the row labels and the mask of rows with
    levels not seen in fitting or missing values."""
    data = results.model_data
    if newdata is None:
        return data.design, data.offset, data.row_labels, np.zeros(len(data.row_labels), dtype=bool)
    if data.spec is None:
        raise DataError("this model was not fitted from a formula; predict needs newdata=None")
    newdata = as_frame(newdata)
    _check_unique_columns(newdata)
    needed = _check_columns(results, newdata, offset, exposure)
    unseen_rows = unseen_levels(data.spec.model_spec, newdata, unseen)
    unseen_rows |= newdata[needed].isna().any(axis=1).to_numpy()  # formulaic would encode NA as a level
    design = replay_blocks(data.spec.model_spec, newdata) if isinstance(data.design, CategoricalDesign) else None
    if design is None:
        frame = data.spec.design(newdata)
        matrix = frame.mask(frame.isna()).to_numpy(dtype=float)  # pd.NA (nullable dtypes) -> NaN, as for floats
        design = DenseDesign(matrix, data.column_names)
    eta_offset = data.spec.offset(newdata, offset=offset, exposure=exposure)
    return design, eta_offset, newdata.index, unseen_rows


def _check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if not isinstance(value, str) or value not in allowed:
        raise DataError(f"{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}")


def _check_unique_columns(newdata: pd.DataFrame) -> None:
    duplicated = newdata.columns[newdata.columns.duplicated()].unique()
    if len(duplicated):
        names = ", ".join(repr(str(name)) for name in duplicated)
        raise DataError(f"newdata has duplicate column names: {names}; drop or rename the copies")


def as_frame(newdata: Any) -> pd.DataFrame:
    """``newdata`` as a DataFrame: a DataFrame as it is, a dict of columns (of scalars: one row), or anything
    with ``to_pandas()`` (polars, Arrow); a DataError for anything else.  Shared by the models' ``predict``."""
    if isinstance(newdata, pd.DataFrame):
        return newdata
    if isinstance(newdata, dict):
        try:
            return pd.DataFrame(newdata)
        except ValueError:  # all scalars: one row
            return pd.DataFrame([newdata])
    if hasattr(newdata, "to_pandas"):
        return newdata.to_pandas()
    raise DataError(f"newdata must be a pandas DataFrame (or a dict of columns), got {type(newdata).__name__}")


def _check_columns(results: GLMResults, newdata: pd.DataFrame, offset, exposure) -> list[str]:
    """The columns prediction needs; a missing one is an error naming it."""
    spec = results.model_data.spec
    if spec.model_spec.materializer == INTERPRETER_NAME:  # the interpreter records whole column names
        needed = {str(variable) for variable in spec.model_spec.variables_by_source.get("data", set())}
    else:  # formulaic's own evaluation (trusted=True): the roots of what it read (``a`` of ``a.fillna(0)``)
        needed = set(spec.model_spec.required_variables)
    for expr in spec.parsed.offsets:
        needed |= safe_eval.names_in(expr)
    for given, column in ((offset, spec.offset_column), (exposure, spec.exposure_column)):
        if given is None and column is not None:
            needed.add(column)
    columns = [str(c) for c in newdata.columns]
    for name in sorted(needed):
        if name not in columns:
            error = safe_eval.missing_name(name, columns)
            raise type(error)(f"newdata: {error}")
    return sorted(needed)


def unseen_levels(model_spec, newdata: pd.DataFrame, unseen: str) -> np.ndarray:
    """Rows of ``newdata`` whose categorical values were not seen in training (a boolean mask), for the
    formulaic ``model_spec`` of a fit; with ``unseen="error"`` a DataError naming the new levels instead.
    Shared by the models' ``predict``."""
    rows = np.zeros(len(newdata), dtype=bool)
    for expr, (kind, state) in model_spec.encoder_state.items():
        if getattr(kind, "value", kind) != "categorical" or "categories" not in state:
            continue
        values = _factor_values(expr, newdata)
        if values is None:
            continue
        known = pd.Index(state["categories"])
        series = pd.Series(np.asarray(values, dtype=object))
        new = series.notna() & ~series.isin(known)
        if new.any():
            if unseen == "error":
                levels = ", ".join(_show_level(v) for v in pd.unique(series[new])[:5])
                raise DataError(
                    f"newdata column {expr!r} has level(s) {levels} not seen when fitting "
                    f"(known: {', '.join(map(str, known[:10]))}); use unseen='nan' to predict NaN for those rows"
                )
            rows |= new.to_numpy()
    return rows


def _factor_values(expr: str, newdata: pd.DataFrame):
    """Values of a categorical factor: a column, or the first argument of C(...)."""
    if expr in newdata.columns:
        return newdata[expr]
    if len(expr) > 1 and expr[0] == expr[-1] == "`" and expr[1:-1] in newdata.columns:  # `1`, `Intercept`
        return newdata[expr[1:-1]]
    try:
        node = ast.parse(expr, mode="eval").body
    except SyntaxError:
        return None
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "C" and node.args:
        try:
            return safe_eval.evaluate(ast.unparse(node.args[0]), newdata)
        except FormulaError:
            return None
    return None


def _show_level(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value)
