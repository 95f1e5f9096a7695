"""Stepwise model selection by AIC: MASS's ``stepAIC`` on a glm.

Each step looks at the terms that may be dropped and added (MASS's ``factor.scope``: a
term is dropped only if no other term contains it, added only if every term it contains
is in the model), scores each candidate by AIC with penalty ``k`` per parameter, and makes
the best move if it lowers the AIC; it stops when no move does.

* Candidates of a glm are scored as MASS's ``dropterm.glm``/``addterm.glm`` (``drop1``/``add1``
  here): a refit of the design columns, AIC from the deviance (n log(D/n) for the gaussian,
  D / phi otherwise) shifted to ``extractAIC`` of the current model.
* A negative binomial fit with estimated theta is refitted in full for every candidate
  (theta re-estimated), as MASS's ``dropterm.default``; its AIC does not count theta.
* A drop that costs no degrees of freedom (an aliased term) is made first, as MASS does.
* The accepted move is refitted with ``update`` and the step is kept only if that model's
  AIC is lower by more than 1e-7; as MASS, the model returned is the last one fitted.

``scope`` is the largest model (a formula, ``"~ .^2"``, or terms relative to the model
through ``.``) or ``{"upper": ..., "lower": ...}``; without a scope only drops are tried
unless ``direction`` says otherwise (R: ``direction`` missing means backward).  The path is
R's ``fit$anova`` table, in ``step_path`` of the model returned.
"""

from __future__ import annotations

import logging
import warnings
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from glmformula.exceptions import DataError, RankDeficiencyWarning
from glmformula.formula.parse import parse_formula
from glmformula.results import anova as _anova
from glmformula.results.update import terms_formula, update, update_formula

if TYPE_CHECKING:
    from glmformula.results.glm_results import GLMResults

Direction = Literal["both", "backward", "forward"]
logger = logging.getLogger("glmformula.step")


def step(results: GLMResults, scope: str | dict[str, str] | None = None, direction: Direction | None = None,
         k: float = 2.0, steps: int = 1000) -> GLMResults:
    """MASS's ``stepAIC(results, scope, direction, k = k)``; ``k=np.log(nobs)`` gives BIC."""
    if direction is not None and direction not in ("both", "backward", "forward"):
        raise DataError(f"direction must be 'both', 'backward' or 'forward', got {direction!r}")
    chosen = direction or "both"
    backward = chosen in ("both", "backward")
    forward = chosen in ("both", "forward") and not (scope is None and direction is None)  # R: missing direction
    upper, lower = _scope_terms(results, scope)
    if upper is None:
        upper = list(_terms(results))
    fit, n = results, results.nobs
    aic = _anova.extract_aic(fit, k)
    if not np.isfinite(aic):
        raise DataError(f"AIC is not defined for a {results.family.name} fit, so step cannot proceed")
    logger.info("Start: AIC=%.2f %s", aic, fit.formula)
    models = [_path_row(fit, "", aic)]
    while steps > 0:
        steps -= 1
        best_aic = aic
        drops, adds = factor_scope(_terms(fit), lower, upper)
        change, table = None, None
        if backward and drops:
            table = _candidates(fit, drops, k, dropping=True)
            change = _zero_df_drop(table)
        if change is None:
            if forward and adds:
                added = _candidates(fit, adds, k, dropping=False)
                table = added if table is None else pd.concat([table, added.iloc[1:]])
            if table is None:
                break
            table = table[(table["Df"] != 0) | table["Df"].isna()]
            order = np.argsort(table["AIC"].to_numpy(), kind="stable")
            if order[0] == 0:
                break
            change = table.index[order[0]]
        fit = _move(fit, change)
        if fit.nobs != n:
            raise DataError("the number of rows in use has changed: drop the rows with missing values first")
        aic = _anova.extract_aic(fit, k)
        logger.info("Step: AIC=%.2f %s", aic, fit.formula)
        if aic >= best_aic + 1e-7:
            break
        models.append(_path_row(fit, change, aic))
    return _with_path(fit, models, results)


def factor_scope(terms: list[str], lower: list[str], upper: list[str]) -> tuple[list[str], list[str]]:
    """MASS's ``factor.scope``: the terms that may be dropped and those that may be added."""
    present = {_key(t) for t in terms}
    outside = [t for t in lower if _key(t) not in present]
    if outside:
        raise DataError(f"the lower scope has terms not in the model: {', '.join(outside)}")
    upper_keys = {_key(t) for t in upper}
    outside = [t for t in terms if _key(t) not in upper_keys]
    if outside:
        raise DataError(f"the upper scope leaves out terms of the model: {', '.join(outside)}")
    lower_keys = {_key(t) for t in lower}
    droppable = [t for t in terms if _key(t) not in lower_keys]
    factors = {t: _factors(t) for t in droppable}
    drops = [t for t in droppable if not any(factors[t] <= factors[o] for o in droppable if o != t)]
    candidates = [t for t in upper if _key(t) not in present]
    factors = {t: _factors(t) for t in candidates}
    adds = [t for t in candidates if not any(factors[o] <= factors[t] for o in candidates if o != t)]
    return drops, adds


def _candidates(fit: GLMResults, terms: list[str], k: float, *, dropping: bool) -> pd.DataFrame:
    """Df and AIC of the model and of each move (rows ``<none>``, ``- t`` / ``+ t``), as dropterm/addterm."""
    if fit.theta_estimate is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RankDeficiencyWarning)
            table = _anova.drop1(fit, terms, k=k) if dropping else _anova.add1(fit, terms, k=k)
        table = table[["Df", "AIC"]].copy()
    else:  # negative binomial: full refits, theta re-estimated (MASS's dropterm.default)
        rows = [(np.nan, _anova.extract_aic(fit, k))]
        for term in terms:
            other = _move(fit, f"{'-' if dropping else '+'} {term}")
            rows.append(((fit.rank - other.rank) if dropping else (other.rank - fit.rank),
                         _anova.extract_aic(other, k)))
        table = pd.DataFrame(rows, columns=["Df", "AIC"], index=["<none>", *terms])
    sign = "-" if dropping else "+"
    table.index = ["<none>", *(f"{sign} {term}" for term in table.index[1:])]
    return table


def _zero_df_drop(table: pd.DataFrame) -> str | None:
    """MASS: a drop with Df 0 (an aliased term) that leaves the AIC within 0.01 is made at once (the last one)."""
    zero = table.index[(table["Df"] == 0).to_numpy()]
    if not len(zero):
        return None
    changing = np.abs(table.loc[zero, "AIC"].to_numpy() - table["AIC"].iloc[0]) > 0.01
    if changing.any():
        warnings.warn("0 df terms are changing AIC", UserWarning, stacklevel=4)
    keep = zero[~changing]
    return keep[-1] if len(keep) else None


def _move(fit: GLMResults, change: str) -> GLMResults:
    """The model with the term of ``change`` (``"- t"`` or ``"+ t"``) dropped or added, refitted."""
    sign, term = change[0], change[2:]
    terms = _terms(fit)
    terms = [t for t in terms if _key(t) != _key(term)] if sign == "-" else [*terms, term]
    rhs = terms_formula(terms, fit.model_data.has_intercept)
    offsets = "".join(f" + offset({expr})" for expr in parse_formula(fit.formula).offsets)
    lhs = fit.formula.split("~", 1)[0].strip()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RankDeficiencyWarning)
        return update(fit, f"{lhs} ~ {rhs}{offsets}")


def _scope_terms(results: GLMResults, scope) -> tuple[list[str] | None, list[str]]:
    """(upper, lower) term lists of ``scope`` (formulas relative to the model through ``.``)."""
    if scope is None:
        return None, []
    if isinstance(scope, dict):
        unknown = set(scope) - {"upper", "lower"}
        if unknown:
            raise DataError(f"scope takes 'upper' and 'lower'; got {', '.join(sorted(unknown))}")
        upper = _formula_terms(results, scope["upper"]) if scope.get("upper") is not None else None
        lower = _formula_terms(results, scope["lower"]) if scope.get("lower") is not None else []
        return upper, lower
    return _formula_terms(results, scope), []


def _formula_terms(results: GLMResults, formula: str) -> list[str]:
    """The terms of ``formula`` (relative to the model's) as formulaic expands them on the model's data."""
    if "~" not in formula:
        formula = f"~ {formula}"
    frame = _anova.expanded_frame(results, update_formula(results.formula, formula))
    return [term for term in frame.spec.term_slices if term != "1"]


def _terms(fit: GLMResults) -> list[str]:
    return [term for term in fit.term_slices if term != "1"]


def _factors(term: str) -> frozenset[str]:
    """The variables of an interaction term (``a:b`` → {a, b}), split at top-level colons."""
    parts, depth, start = [], 0, 0
    for index, char in enumerate(term):
        depth += char in "([{"
        depth -= char in ")]}"
        if char == ":" and depth == 0:
            parts.append(term[start:index].strip())
            start = index + 1
    parts.append(term[start:].strip())
    return frozenset(parts)


def _key(term: str) -> frozenset[str]:
    return _factors(term.replace(" ", ""))


def _path_row(fit: GLMResults, change: str, aic: float) -> tuple[str, float, float, float]:
    edf = _anova.n_rows(fit) - fit.df_resid
    return change, fit.deviance, fit.nobs - edf, aic


def _with_path(fit: GLMResults, models: list[tuple], start: GLMResults) -> GLMResults:
    """A copy of ``fit`` with R's ``stepAIC(...)$anova`` table in ``step_path``."""
    import copy

    changes, deviances, dfs, aics = (list(column) for column in zip(*models))
    path = pd.DataFrame({
        "Step": changes,
        "Df": np.r_[np.nan, np.abs(np.diff(dfs))],
        "Deviance": np.r_[np.nan, np.abs(np.diff(deviances))],
        "Resid. Df": dfs,
        "Resid. Dev": deviances,
        "AIC": aics,
    })
    path.attrs["title"] = (f"Stepwise Model Path\nAnalysis of Deviance Table\n\nInitial Model:\n{start.formula}\n\n"
                           f"Final Model:\n{fit.formula}")
    final = copy.copy(fit)
    final.step_path = path
    return final
