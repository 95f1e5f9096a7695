"""Analysis of deviance: sequential tables, nested-model comparison, drop1/add1, Wald tests per term.

The tables follow R's ``anova.glm``, ``anova.glmlist``, ``drop1.glm`` and
``add1.glm`` row for row and column for column.  With phi the dispersion
(1 for poisson/binomial, the Pearson estimate otherwise):

* Chisq / LRT:  P(chi2_df > D / phi), D the drop in deviance;
* F:            F = (D / df) / phi on (df, df_resid) — for drop1/add1, R uses
                deviance / df_resid in place of phi;
* Rao:          the score statistic S / phi, S the drop in weighted residual sum
                of squares when the working residuals of the smaller model are
                regressed (with its working weights) on the larger design
                (``score_statistic``, with R's choices of intercept and offset).

Refits reuse the model's family, prior weights, offset and IRLS settings: every
one goes through ``results.refit.refit`` (add1 first builds the larger design from the
original call's data, ``expanded_frame``).  Without an intercept the smallest model
has no columns: its refit is glm.fit's empty model (mu = linkinv(offset), with the
working weights and residuals there), against which R scores the first term.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
from scipy import stats

from glmformula.exceptions import DataError, GLMWarning
from glmformula.families.standard import Binomial
from glmformula.formula.frame import ModelFrame, build_model_frame
from glmformula.report.r_anova import as_anova_table
from glmformula.report.r_deparse import deparse
from glmformula.report.r_summary import R_LINK, family_label
from glmformula.results import negbin_anova as _negbin
from glmformula.results.refit import refit

if TYPE_CHECKING:
    from glmformula.results.glm_results import GLMResults

Test = Literal["Chisq", "LRT", "F", "Rao"] | None
_TESTS = ("Chisq", "LRT", "F", "Rao", None)


def score_statistic(matrix: np.ndarray, residuals: np.ndarray, weights: np.ndarray, intercept: bool,
                    offset: np.ndarray | None = None) -> float:
    """R's Rao score: null deviance minus deviance of the gaussian ``glm.fit(matrix, residuals, weights,
    intercept = intercept, offset = offset)`` that R's tables call, r the working residuals and w the working
    weights of the smaller model, on the larger design.

    deviance = sum w (r - offset - X b)^2, b the weighted least squares fit of r - offset on X;
    null deviance = sum w (r - c)^2, c the weighted mean of r with an intercept, else the offset (0 if none).

    Without an offset this is the drop in weighted RSS of r.  R's callers: anova.glm and anova.glmlist pass
    the (smaller) model's intercept and no offset; drop1.glm the default intercept = TRUE (even for a model
    without one: the statistic can then be negative, and the table shows 0) and no offset; add1.glm
    intercept = TRUE and the model's offset (R 4.2's add.R), which is subtracted from r in the regression
    but, glm.fit's null deviance ignoring the offset when there is an intercept, not in the null: R's figure,
    reproduced here, is then not the drop in RSS of r alone.
    """
    used = weights > 0
    r, w, X = residuals[used], weights[used], matrix[used]
    shift = 0.0 if offset is None else offset[used]
    centre = np.sum(w * r) / np.sum(w) if intercept else shift
    null = np.sum(w * (r - centre) ** 2)
    sw = np.sqrt(w)
    coefficients, *_ = np.linalg.lstsq(X * sw[:, None], (r - shift) * sw, rcond=None)
    return float(null - np.sum(w * (r - shift - X @ coefficients) ** 2))


def _check_test(test) -> None:
    if test not in _TESTS:
        raise ValueError(f"test must be one of 'Chisq', 'LRT', 'F', 'Rao' or None; got {test!r}")


def _add_test(table: pd.DataFrame, test, dispersion: float, df_dispersion: float) -> pd.DataFrame:
    """R's ``stat.anova`` on a table with Df and Deviance (and Rao) columns.  Chisq, LRT and Rao alike: the
    statistic (Deviance, or Rao) over the dispersion times sign(Df), so that a comparison listed larger model
    first (Df and statistic negative) gets the same p-value; NA where Df is 0 or the signed statistic < 0."""
    dfs = table["Df"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        if test in ("Chisq", "LRT", "Rao"):
            statistic = table["Rao" if test == "Rao" else "Deviance"].to_numpy(dtype=float)
            values = statistic / dispersion * np.sign(dfs)
            values[(dfs == 0) | (values < 0)] = np.nan
            table["Pr(>Chi)"] = stats.chi2.sf(values, np.abs(dfs))
        elif test == "F":
            f_values = table["Deviance"].to_numpy(dtype=float) / dfs / dispersion
            f_values[(dfs == 0) | (f_values < 0)] = np.nan
            table["F"] = f_values
            table["Pr(>F)"] = _f_sf(f_values, np.abs(dfs), df_dispersion)
    return table


def _f_sf(f_values, df1, df2) -> np.ndarray:
    if np.isinf(df2):
        return stats.chi2.sf(f_values * df1, df1)
    return stats.f.sf(f_values, df1, df2)


def _warn_f_with_fixed_dispersion(results: GLMResults, test) -> None:
    if test == "F" and results.family.dispersion_fixed:
        warnings.warn(f"using F test with a {results.family.name} family is inappropriate", UserWarning,
                      stacklevel=4)


def _dispersion(results: GLMResults) -> tuple[float, float]:
    """The dispersion for tests and its degrees of freedom (infinite when fixed at 1)."""
    scale = results.scale
    return scale, (np.inf if scale == 1 else float(results.df_resid))


def sequential_anova(results: GLMResults, test: Test = None) -> pd.DataFrame:
    """R's ``anova(fit, test=...)``: terms added one at a time, first to last.  For a ``glm.nb`` fit, as MASS's
    ``anova.negbin``: the refits keep the final theta (with MASS's warning) and the test is "Chisq" by default."""
    _check_test(test)
    _negbin.warn_theta_fixed(results)
    if test is None and results.theta_estimate is not None:
        test = "Chisq"
    _warn_f_with_fixed_dispersion(results, test)
    design = results.model_data.design
    X = design.to_dense() if test == "Rao" else None  # the score regressions are on dense columns
    width = design.n_columns
    term_slices = results.term_slices
    labels = [name for name in term_slices if name != "1"]
    intercept = "1" in term_slices
    columns_upto: list[np.ndarray] = []
    used = np.zeros(width, dtype=bool)
    if intercept:
        used[term_slices["1"]] = True
    for name in labels:
        used = used.copy()
        used[term_slices[name]] = True
        columns_upto.append(used)

    resid_dev, resid_df, scores = [results.null_deviance], [results.df_null], [np.nan]
    previous = refit(results, design.select(_only(term_slices, "1", width))) if test == "Rao" else None
    for index, mask in enumerate(columns_upto):
        last = index == len(columns_upto) - 1
        fit = None if last else refit(results, design.select(mask))
        if test == "Rao":
            residuals = previous.working_residuals()
            scores.append(score_statistic(X[:, mask], residuals, previous.working_weights, intercept))
            previous = fit
        resid_dev.append(results.deviance if last else fit.deviance)
        resid_df.append(results.df_resid if last else results.nobs - fit.rank)
    table = pd.DataFrame(
        {
            "Df": np.r_[np.nan, -np.diff(resid_df)],
            "Deviance": np.r_[np.nan, np.maximum(0, -np.diff(resid_dev))],
            "Resid. Df": resid_df,
            "Resid. Dev": resid_dev,
        },
        index=pd.Index(["NULL", *labels]),
    )
    if test == "Rao":
        table["Rao"] = scores
    if test is not None:
        table = _add_test(table, test, *_dispersion(results))
    link = R_LINK.get(results.family.link.name, results.family.link.name)
    return as_anova_table(table, [
        f"Analysis of Deviance Table\n\nModel: {family_label(results)}, link: {link}\n\n"
        f"Response: {results.model_data.response_name}\n\nTerms added sequentially (first to last)\n\n"
    ], results.formula)


def _only(term_slices: dict[str, slice], name: str, width: int) -> np.ndarray:
    mask = np.zeros(width, dtype=bool)
    if name in term_slices:
        mask[term_slices[name]] = True
    return mask


def compare_models(models: list[GLMResults], test: Test = None) -> pd.DataFrame:
    """R's ``anova(m0, m1, ...)``: consecutive nested models; tests use the largest model's dispersion.  Fits of
    different families are refused, and ``glm.nb`` fits compared as MASS does (``results.negbin_anova``)."""
    _check_test(test)
    if len(models) < 2:
        raise ValueError("gf.anova needs at least two models (or call res.anova() for one)")
    responses = {m.model_data.response_name for m in models}
    if len(responses) > 1:
        raise DataError(f"models have different responses ({', '.join(sorted(responses))}); they are not nested")
    sizes = {len(m.model_data.y) for m in models}
    if len(sizes) > 1:
        raise DataError("models were not all fitted to the same rows (check for dropped missing values)")
    if _negbin.check_comparable(models):  # glm.nb fits: likelihood ratios, as MASS's anova.negbin
        return _negbin.compare_negbin(models, test)
    resid_df = np.array([m.df_resid for m in models], dtype=float)
    resid_dev = np.array([m.deviance for m in models])
    table = pd.DataFrame(
        {
            "Resid. Df": resid_df,
            "Resid. Dev": resid_dev,
            "Df": np.r_[np.nan, -np.diff(resid_df)],
            "Deviance": np.r_[np.nan, -np.diff(resid_dev)],
        },
        index=pd.RangeIndex(1, len(models) + 1),
    )
    if test == "Rao":
        scores = [np.nan]
        for first, second in zip(models[:-1], models[1:]):
            df = first.df_resid - second.df_resid
            # anova.glmlist: the first model is the smaller one only when Df > 0 (with Df = 0, the second's
            # residuals are scored on the first's columns); the score is negated when Df < 0
            small, large = (first, second) if df > 0 else (second, first)
            value = score_statistic(
                large.model_data.design.to_dense(), small._working_residuals(), small._fit.working_weights,
                small.model_data.has_intercept,
            )
            scores.append(-value if df < 0 else value)
        table["Rao"] = scores
    if test is not None:
        biggest = models[int(np.argmin(resid_df))]
        _warn_f_with_fixed_dispersion(biggest, test)
        scale = biggest.scale
        table = _add_test(table, test, scale, np.inf if scale == 1 else float(resid_df.min()))
    numbers = [str(i).rjust(len(str(len(models)))) for i in range(1, len(models) + 1)]
    return as_anova_table(table, ["Analysis of Deviance Table\n", "\n".join(
        f"Model {number}: " + "\n".join(_deparsed(m.formula)) for number, m in zip(numbers, models))])


def _deparsed(formula: str) -> list[str]:
    """The formula's lines as R's ``deparse`` writes them (as written when the deparser cannot read it)."""
    try:
        return deparse(formula)
    except ValueError:
        return [formula]


def drop_scope(term_slices: dict[str, slice]) -> list[str]:
    """Terms that can be dropped without breaking marginality (R's ``drop.scope``)."""
    terms = {name: frozenset(name.split(":")) for name in term_slices if name != "1"}
    return [name for name, factors in terms.items() if not any(factors < other for other in terms.values())]


def drop1(results: GLMResults, scope: list[str] | None = None, test: Test = None, k: float = 2.0) -> pd.DataFrame:
    """R's ``drop1``: refit without each term in ``scope`` (default: the marginal terms); AIC with penalty ``k``."""
    _check_test(test)
    term_slices = results.term_slices
    scope = drop_scope(term_slices) if scope is None else list(scope)
    unknown = [term for term in scope if term not in term_slices]
    if unknown:
        raise DataError(f"drop1 scope has terms not in the model: {', '.join(unknown)}")
    design = results.model_data.design
    X = design.to_dense() if test == "Rao" else None
    rows = []
    for term in scope:
        keep = ~_only(term_slices, term, design.n_columns)
        fit = refit(results, design.select(keep))
        score = np.nan
        if test == "Rao":
            score = score_statistic(X, fit.working_residuals(), fit.working_weights, intercept=True)
        rows.append((term, fit.rank, fit.deviance, score))
    return _single_term_table(results, rows, test, "Single term deletions", dropping=True, k=k)


def add1(results: GLMResults, scope: str | list[str], test: Test = None, k: float = 2.0) -> pd.DataFrame:
    """R's ``add1``: refit with each term of ``scope`` added (a list of terms or ``"~ x + z"``); AIC with
    penalty ``k``.  The Rao score is add1.glm's, offset included (``score_statistic``): with an offset it is R's
    figure, which can be 0 where the deviance drops, and a warning says so."""
    _check_test(test)
    if test == "Rao" and results.model_data.has_offset:
        warnings.warn(
            "add1(test='Rao') on a model with an offset gives R's add1.glm figures, which subtract the offset "
            "in the score regression but not in its baseline: a score can be 0 (p = 1) where the deviance drops. "
            "For the score of each added term use anova(model, larger, test='Rao') or test='Chisq'",
            GLMWarning, stacklevel=2)
    present = [sorted(name.replace(" ", "").split(":")) for name in results.term_slices]
    terms = [t for t in _scope_terms(scope) if sorted(t.replace(" ", "").split(":")) not in present]
    if not terms:
        raise DataError("every term in the add1 scope is already in the model")
    big = expanded_frame(results, results.formula + " + " + " + ".join(terms))
    big_slices = big.spec.term_slices
    design = big.design
    if design.shape[0] != len(results.model_data.y):
        raise DataError("the added terms have missing values in other rows; refit on complete rows first")
    X = design.to_dense() if test == "Rao" else None

    def columns(names) -> np.ndarray:
        mask = np.zeros(design.n_columns, dtype=bool)
        for name in names:
            mask |= _only(big_slices, _match_term(name, big_slices), design.n_columns)
        return mask

    base = columns(list(results.term_slices))
    base_fit = refit(results, design.select(base))
    rows = [("<none>", base_fit.rank, base_fit.deviance, np.nan)]
    for term in terms:
        mask = base | columns([term])
        fit = refit(results, design.select(mask))
        score = np.nan
        if test == "Rao":
            score = score_statistic(X[:, mask], base_fit.working_residuals(), base_fit.working_weights,
                                    intercept=True, offset=results.model_data.offset)
        rows.append((term, fit.rank, fit.deviance, score))
    return _single_term_table(results, rows[1:], test, "Single term additions", dropping=False, base=rows[0],
                              k=k)


def expanded_frame(results: GLMResults, formula: str) -> ModelFrame:
    """The model frame of ``formula`` (the model's with terms added) on the data, weights, offset and options
    of the original call (its ``subset`` too): the design add1 refits on, through ``refit``."""
    call = results.call
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build_model_frame(formula, call.data, weights=call.weights, offset=call.offset,
                                 exposure=call.exposure, na_action=call.na_action,
                                 categorical_response=isinstance(results.family, Binomial), trusted=call.trusted,
                                 subset=call.arguments.get("subset"))


def _scope_terms(scope: str | list[str]) -> list[str]:
    if isinstance(scope, str):
        text = scope.split("~", 1)[-1]
        terms = [t.strip() for t in text.replace(". +", "").split("+") if t.strip() and t.strip() != "."]
    else:
        terms = [str(t).strip() for t in scope]
    if not terms:
        raise DataError("add1 needs at least one term in scope")
    return terms


def _match_term(name: str, slices: dict[str, slice]) -> str:
    wanted = sorted(name.replace(" ", "").split(":"))
    for candidate in slices:
        if sorted(candidate.replace(" ", "").split(":")) == wanted:
            return candidate
    raise DataError(f"term {name!r} is not in the design; terms are: {', '.join(slices)}")


def _single_term_table(results: GLMResults, rows, test, title: str, *, dropping: bool, base=None,
                       k: float = 2.0) -> pd.DataFrame:
    """Df, Deviance, AIC (penalty k per parameter) and the test columns of R's drop1/add1."""
    first = ("<none>", results.rank, results.deviance, np.nan) if base is None else base
    names = [first[0]] + [r[0] for r in rows]
    ranks = np.array([first[1]] + [r[1] for r in rows], dtype=float)
    deviances = np.array([first[2]] + [r[2] for r in rows])
    scores = np.array([first[3]] + [r[3] for r in rows])
    dispersion = results.scale
    n = n_rows(results)
    if results.family.name == "gaussian":
        loglik = n * np.log(deviances / n)
    else:
        loglik = deviances / dispersion
    aic = loglik + k * ranks
    aic = aic + (extract_aic(results, k) - aic[0])  # R shifts to extractAIC
    dfs = (ranks[0] - ranks) if dropping else (ranks - ranks[0])
    dfs[0] = np.nan
    table = pd.DataFrame({"Df": dfs, "Deviance": deviances}, index=pd.Index(names))
    if not np.all(np.isnan(aic)):
        table["AIC"] = aic
    _warn_f_with_fixed_dispersion(results, test)
    with np.errstate(invalid="ignore", divide="ignore"):
        if test in ("Chisq", "LRT"):
            lr = np.maximum(0, (loglik - loglik[0]) if dropping else (loglik[0] - loglik))
            lr[0] = np.nan
            table["LRT" if dispersion == 1 else "scaled dev."] = lr
            table["Pr(>Chi)"] = stats.chi2.sf(lr, dfs)
        elif test == "Rao":
            score = np.maximum(0, scores) / dispersion
            table["Rao score" if dispersion == 1 else "scaled Rao sc."] = score
            table["Pr(>Chi)"] = stats.chi2.sf(score, dfs)
        elif test == "F":
            rdf = results.df_resid
            if dropping:
                rms = deviances[0] / rdf
                f_values = np.maximum(0, deviances - deviances[0]) / dfs / rms
                p_values = stats.f.sf(f_values, dfs, rdf)
            else:
                f_values = np.maximum(0, (deviances[0] - deviances) / dfs) / (deviances / (rdf - dfs))
                p_values = stats.f.sf(f_values, dfs, rdf - dfs)
            table["F value"] = f_values
            table["Pr(>F)"] = p_values
    return as_anova_table(table, [title, "\nModel:", *_deparsed(results.formula)], results.formula)


def n_rows(results: GLMResults) -> float:
    """The rows of the fit, zero weights included (R's ``nrow(model.matrix(fit))``); with frequency weights, the
    rows of the expanded data."""
    freq = results.model_data.freq_weights
    return len(results.model_data.y) if freq is None else float(np.sum(freq))


def extract_aic(results: GLMResults, k: float = 2.0) -> float:
    """R's ``extractAIC``: -2 llf + k edf, edf = rows - df_resid (the rank, plus any zero-weight rows); for
    ``glm.nb`` fits theta is not counted (MASS's extractAIC.negbin), for other families the dispersion is."""
    edf = n_rows(results) - results.df_resid
    if results.theta_estimate is not None:
        return -2 * results.llf + k * edf
    return results.aic + (k - 2) * edf


def wald_test_terms(results: GLMResults) -> pd.DataFrame:
    """One joint Wald test per term: W = b' V^{-1} b over the term's estimable columns.

    chi2 on df = number of columns when the dispersion is fixed; otherwise
    F = W / df on (df, df_resid).
    """
    params = results.params.to_numpy()
    covariance = results.cov_params().to_numpy()
    rows = []
    for name, columns in results.term_slices.items():
        index = np.arange(len(params))[columns]
        index = index[~np.isnan(params[index])]
        if index.size == 0:
            continue
        b = params[index]
        statistic = float(b @ np.linalg.solve(covariance[np.ix_(index, index)], b))
        df = index.size
        if results.use_t:
            rows.append((name, df, statistic / df, stats.f.sf(statistic / df, df, results.df_resid)))
        else:
            rows.append((name, df, statistic, stats.chi2.sf(statistic, df)))
    label, p_label = ("F", "Pr(>F)") if results.use_t else ("chi2", "Pr(>Chi)")
    names = ["Intercept" if r[0] == "1" else r[0] for r in rows]
    return pd.DataFrame(
        {"Df": [r[1] for r in rows], label: [r[2] for r in rows], p_label: [r[3] for r in rows]},
        index=pd.Index(names),
    )
