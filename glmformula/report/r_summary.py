"""``summary(style="r")``: the layout and the digits of R 4.2's ``print(summary(glm))``.

``r_glm_summary`` reads a fit into an ``RSummary`` (the call, the deviance residuals, the
coefficient table under R's names, the lines below it); ``RSummary.as_text`` prints it as R's
``print.summary.glm`` (and MASS's ``print.summary.negbin`` for a negative binomial with estimated
theta) does: the Call deparsed and wrapped as R wraps it, the "Deviance Residuals" quantiles,
``printCoefmat``'s one format per column and significance codes, ``format.pval``'s ``< 2e-16``.
The tests compare it with R's printed output, character for character.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from glmformula.report import r_format
from glmformula.report.r_deparse import deparse, r_coefficient_names
from glmformula.report.summary import Summary, significance_stars

#: glmformula's family and link names as R spells them.
R_FAMILY = {"gamma": "Gamma", "inverse_gaussian": "inverse.gaussian", "tweedie": "Tweedie",
            "negative_binomial": "negative.binomial"}
R_LINK = {"inverse_squared": "1/mu^2"}
#: What exp(coefficient) is on each link.
RATIO_NAMES = {"log": "rate ratios", "logit": "odds ratios", "cloglog": "hazard ratios"}
DIGITS = 4  # print.summary.glm: max(3, getOption("digits") - 3)


class RSummary(Summary):
    """A summary that prints as R's ``print(summary(glm))``.

    call : the lines of the deparsed call; residual_names, residuals : the deviance residuals'
    quantiles (Min, 1Q, Median, 3Q, Max) or, with 5 residual degrees of freedom or fewer, all of
    them; table : the coefficient table (numbers; NaN rows are aliased coefficients); stars :
    print significance codes; footer : the lines after the table; notes : glmformula's own
    remarks (robust standard errors, exponentiated columns), printed last.
    """

    def __init__(self, call: list[str], residual_names: list[str], residuals: np.ndarray, table: pd.DataFrame,
                 footer: list[str], stars: bool, notes: list[str]):
        shown = table.copy()
        if stars:
            shown[""] = significance_stars(table[_pvalue_column(table)])
        super().__init__("Call", [("Call", " ".join(line.strip() for line in call))], shown,
                         [line for line in footer if line.strip()] + notes, style="r")
        self.call_lines, self.residual_names, self.residuals = call, residual_names, residuals
        self.coefficients, self.stars, self.footer, self.remarks = table, stars, footer, notes

    def as_text(self) -> str:
        table = self.coefficients
        columns = list(table.columns)
        role = {name: index for index, name in enumerate(columns)}
        coefficient_lines, printed_stars = r_format.coefficient_matrix(
            list(table.index), columns, table.to_numpy(dtype=float),
            coef_columns=[role["Estimate"], role["Std. Error"]],
            test_columns=[index for index, name in enumerate(columns) if name in ("z value", "t value")],
            pvalue_column=role[_pvalue_column(table)], digits=DIGITS, stars=self.stars)
        n_aliased = int(table["Estimate"].isna().sum())
        heading = (f"Coefficients: ({n_aliased} not defined because of singularities)" if n_aliased
                   else "Coefficients:")
        residuals = r_format.zapsmall(self.residuals, DIGITS + 1)
        lines = ["", "Call:", *self.call_lines, "", "Deviance Residuals: ",
                 *r_format.named_vector(self.residual_names, residuals, DIGITS), "", heading, *coefficient_lines]
        if printed_stars:
            lines += ["---", f"Signif. codes:  {r_format.SIGNIFICANCE_LEGEND}"]
        return "\n".join([*lines, *self.footer, *self.remarks])


def _pvalue_column(table: pd.DataFrame) -> str:
    return next(name for name in table.columns if str(name).startswith("Pr("))


def r_family_call(family, theta: float | None = None) -> str:
    """The family as R code: ``binomial(link = "logit")``, ``Gamma(link = "inverse")``."""
    link = R_LINK.get(family.link.name, family.link.name)
    name = R_FAMILY.get(family.name, family.name)
    if family.name == "negative_binomial":
        return f'negative.binomial(theta = {r_format.format_one(theta, 7)}, link = "{link}")'
    if family.name == "tweedie":
        return f"tweedie(var.power = {family.var_power:g}, link.power = {_link_power(family.link)})"
    if family.name == "quasi":
        return f'quasi(link = "{link}", variance = "{family.variance_name}")'
    return f'{name}(link = "{link}")'


def _link_power(link) -> str:
    return {"log": "0", "identity": "1", "inverse": "-1", "sqrt": "0.5"}.get(link.name, f'"{link.name}"')


def family_label(results) -> str:
    """``family$family`` in R: the name in the dispersion line."""
    if results.theta is not None:
        return f"Negative Binomial({r_format.format_one(round(results.theta, 4), 7)})"
    return R_FAMILY.get(results.family.name, results.family.name)


def r_call(results, data_name: str) -> list[str]:
    """The deparsed call of the fit (``glm.nb`` for a negative binomial with estimated theta)."""
    formula = results.formula
    weights = results.call.weights
    extra = f", weights = {weights}" if isinstance(weights, str) else ""
    if results.theta_estimate is not None:
        link = results.family.link.name
        text = (f"glm.nb(formula = {formula}, data = {data_name}{extra}, "
                f"init.theta = {float(f'{results.theta:.10g}')!r}, link = {link})")
    else:
        text = f"glm(formula = {formula}, family = {r_family_call(results.family, results.theta)}, " \
               f"data = {data_name}{extra})"
    try:
        return deparse(text)
    except ValueError:  # a formula this deparser cannot read: show it as written
        return [text]


def _residual_summary(results) -> tuple[list[str], np.ndarray]:
    residuals = results.resid("deviance").to_numpy()
    used = results.model_data.prior_weights != 0
    residuals = residuals[used]
    if results.df_resid > 5:
        return ["Min", "1Q", "Median", "3Q", "Max"], np.quantile(residuals, [0, 0.25, 0.5, 0.75, 1])
    labels = [str(label) for label in np.asarray(results.model_data.row_labels)[used]]
    return labels, residuals


def _coefficient_table(results, exp: bool, alpha: float) -> tuple[pd.DataFrame, list[str]]:
    statistic = "t" if results.use_t else "z"
    values = np.array(results.coefficient_values(alpha), dtype=float)
    names = r_coefficient_names(list(results.coefficient_names), results.formula)
    table = pd.DataFrame({"Estimate": values[:, 0], "Std. Error": values[:, 1], f"{statistic} value": values[:, 2]},
                         index=pd.Index(names, dtype=object))
    notes = []
    if exp:
        lower, upper = f"{100 * alpha / 2:g} %", f"{100 * (1 - alpha / 2):g} %"
        table["exp(Estimate)"] = np.exp(values[:, 0])
        table[f"exp({lower})"] = np.exp(values[:, 4])
        table[f"exp({upper})"] = np.exp(values[:, 5])
        ratios = RATIO_NAMES.get(results.family.link.name)
        meaning = f" ({ratios})" if ratios else ""
        notes.append(f"exp(Estimate) and its Wald {100 * (1 - alpha):g}% interval exp({lower}), exp({upper}) "
                     f"are on the exponentiated scale{meaning}.")
    table[f"Pr(>|{statistic}|)"] = values[:, 3]
    return table, notes


def _footer(results) -> list[str]:
    deviances = r_format.format_real([results.null_deviance, results.deviance], max(5, DIGITS + 1))
    dfs = [str(df).rjust(max(len(str(results.df_null)), len(str(results.df_resid))))
           for df in (results.df_null, results.df_resid)]
    footer = ["", f"(Dispersion parameter for {family_label(results)} family taken to be "
              f"{r_format.format_one(results.scale, 7)})", "",
              f"    Null deviance: {deviances[0]}  on {dfs[0]}  degrees of freedom",
              f"Residual deviance: {deviances[1]}  on {dfs[1]}  degrees of freedom"]
    if results.n_dropped:
        noun = "observation" if results.n_dropped == 1 else "observations"
        footer.append(f"  ({results.n_dropped} {noun} deleted due to missingness)")
    aic = results.aic if np.isfinite(results.aic) else float("nan")
    footer += [f"AIC: {r_format.format_one(aic, max(4, DIGITS + 1))}", "",
               f"Number of Fisher Scoring iterations: {results.n_iter}", ""]
    if results.theta_estimate is not None and results.theta_se is not None and np.isfinite(results.theta_se):
        places = max(2 - math.floor(math.log10(results.theta_se)), 0)
        theta, se = (r_format.format_real([round(v, places)], 7, nsmall=places)[0]
                     for v in (results.theta, results.theta_se))
        two_loglik = r_format.format_real([round(2 * results.llf, 3)], 7, nsmall=places)[0]
        footer = footer[:-1] + ["", "", f"              Theta:  {theta} ", f"          Std. Err.:  {se} ", "",
                                f" 2 x log-likelihood:  {two_loglik} "]
    return footer


def r_glm_summary(results, alpha: float = 0.05, exp: bool = False, stars: bool = True,
                  data_name: str = "data") -> RSummary:
    """The ``RSummary`` of a ``GLMResults`` (see ``GLMResults.summary``)."""
    table, notes = _coefficient_table(results, exp, alpha)
    if results.cov_type != "nonrobust":
        notes.append(f"Standard errors are {results.cov_type} robust (sandwich) estimates.")
    if not results.converged:
        notes.append(f"Warning: IRLS did not converge in {results.n_iter} iterations.")
    names, residuals = _residual_summary(results)
    return RSummary(r_call(results, data_name), names, residuals, table, _footer(results), stars, notes)
