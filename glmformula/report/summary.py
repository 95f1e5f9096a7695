"""Summaries as data (header pairs + a coefficient table) plus renderers.

``Summary`` knows nothing about GLMs: it holds a title, (label, value) header
pairs, a table and notes, and renders them with tabulate as text, markdown,
HTML or LaTeX.  ``glm_summary`` fills one from a ``GLMResults`` in the layout
of statsmodels or of R's ``summary.glm``.  Nothing in a summary depends on the
clock, so the same fit always prints the same text.

``glm_summary`` reads a results object through its public attributes only:
``params``, ``bse``, ``tvalues``, ``pvalues``, ``conf_int(alpha)`` and the fit
statistics; a results class may also offer ``coefficient_names`` (a list) and
``coefficient_values(alpha)`` (the (p, 6) array params, bse, statistic, p-value,
lower, upper), which the summary then reads instead of building pandas objects.
"""

from __future__ import annotations

import html
from typing import Literal, NamedTuple

import numpy as np
import pandas as pd
from tabulate import tabulate

Style = Literal["statsmodels", "r"]
SIGNIFICANCE_NOTE = "Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1"


class TableCells(NamedTuple):
    """A numeric table as arrays: row names, column names and a (rows, columns) float array.

    A summary given its table this way renders it without building pandas objects (for a
    small fit they cost more than the numbers); ``Summary.table`` builds the DataFrame when read.
    """

    names: list[str]
    columns: list[str]
    values: np.ndarray

    def frame(self) -> pd.DataFrame:
        # one float block with object indexes: a frame built from a dict of columns costs far more
        return pd.DataFrame(self.values, index=pd.Index(self.names, dtype=object),
                            columns=pd.Index(self.columns, dtype=object))


class Summary:
    """A printable model summary.

    title : the line above the header.
    header : (label, value) pairs; the first ``header_split`` go in the left
        column of the text layout, the rest in the right one.
    table : one row per coefficient, a DataFrame (or ``TableCells``, turned into one when
        read); numbers are formatted, NaN shown blank, a first-column NaN row shown as
        "(aliased)"; text columns are kept.
    notes : lines printed below the table.
    style : "statsmodels" or "r" (the plain-text layout).
    """

    def __init__(self, title: str, header: list[tuple[str, str]], table: pd.DataFrame | TableCells,
                 notes: list[str] | None = None, header_split: int | None = None, style: Style = "statsmodels"):
        self.title, self.header, self.notes = title, header, list(notes or [])
        self.header_split, self.style = header_split, style
        self._table, self._cells = (None, table) if isinstance(table, TableCells) else (table, None)

    @property
    def table(self) -> pd.DataFrame:
        if self._table is None:
            self._table = self._cells.frame()
        return self._table

    # -- cells ---------------------------------------------------------------
    def _rows(self, formatter) -> list[list[str]]:
        if self._cells is not None:
            names, _, values = self._cells
            values = values.tolist()  # Python floats: formatting them is cheaper than numpy scalars
        else:
            names, values = self.table.index, self.table.to_numpy(dtype=object)
        rows = []
        width = len(self._headers()) - 1
        for name, row in zip(names, values):
            first = row[0]
            if isinstance(first, float) and first != first:  # NaN (np.isnan costs more on a Python float)
                rows.append([str(name), "(aliased)"] + [""] * (width - 1))
            else:
                rows.append([str(name)] + [value if isinstance(value, str) else formatter(value) for value in row])
        return rows

    def _headers(self) -> list[str]:
        columns = self._cells.columns if self._cells is not None else self.table.columns
        return ["", *map(str, columns)]

    # -- renderers -----------------------------------------------------------
    def as_text(self) -> str:
        return _text_r(self) if self.style == "r" else _text_statsmodels(self)

    def as_markdown(self) -> str:
        def cells(rows):
            return [[str(cell).replace("|", "\\|") for cell in row] for row in rows]

        header = tabulate(cells(self.header), headers=["", ""], tablefmt="github", disable_numparse=True)
        table = tabulate(cells(self._rows(format_number)), headers=cells([self._headers()])[0], tablefmt="github",
                         disable_numparse=True)
        notes = "\n".join(f"*{note}*" for note in self.notes)
        return f"**{self.title}**\n\n{header}\n\n{table}\n" + (f"\n{notes}\n" if notes else "")

    def as_html(self) -> str:
        header = "".join(
            f"<tr><th>{html.escape(label)}</th><td>{html.escape(value)}</td></tr>" for label, value in self.header
        )
        rows = [[html.escape(cell) for cell in row] for row in self._rows(format_number)]
        table = tabulate(rows, headers=[html.escape(h) for h in self._headers()], tablefmt="unsafehtml",
                         disable_numparse=True)
        notes = "".join(f"<p>{html.escape(note)}</p>" for note in self.notes)
        return f"<div><h4>{html.escape(self.title)}</h4><table>{header}</table>{table}{notes}</div>"

    def as_latex(self) -> str:
        header = tabulate(self.header, tablefmt="latex_booktabs", disable_numparse=True)
        table = tabulate(self._rows(format_number), headers=self._headers(), tablefmt="latex_booktabs",
                         disable_numparse=True)
        notes = "".join(f"\n\\par {_latex_escape(note)}" for note in self.notes)
        return (
            "\\begin{table}[ht]\n\\centering\n"
            f"\\caption{{{_latex_escape(self.title)}}}\n{header}\n\n{table}{notes}\n\\end{{table}}"
        )

    def _repr_html_(self) -> str:
        return self.as_html()

    def __str__(self) -> str:
        return self.as_text()

    def __repr__(self) -> str:
        return self.as_text()


def _latex_escape(text: str) -> str:
    for char, replacement in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("$", r"\$"),
                              ("#", r"\#"), ("_", r"\_"), ("{", r"\{"), ("}", r"\}")):
        text = text.replace(char, replacement)
    return text


def _text_statsmodels(summary: Summary) -> str:
    coef_text = tabulate(
        summary._rows(format_number), headers=summary._headers(), tablefmt="simple", disable_numparse=True,
        colalign=("left",) + ("right",) * (len(summary._headers()) - 1),
    )
    coef_lines = coef_text.splitlines()
    width = max(78, *(len(line) for line in coef_lines))
    split = summary.header_split if summary.header_split is not None else (len(summary.header) + 1) // 2
    left, right = summary.header[:split], summary.header[split:]
    pair_width = (width - 3) // 2
    header_lines = []
    for index in range(max(len(left), len(right))):
        line = _pair(*left[index], pair_width) if index < len(left) else " " * pair_width
        if index < len(right):
            line += "   " + _pair(*right[index], pair_width)
        header_lines.append(line.rstrip())
    rule, thin = "=" * width, "-" * width
    body = [coef_lines[0], thin, *coef_lines[2:]]
    return "\n".join([summary.title.center(width).rstrip(), rule, *header_lines, rule, *body, rule, *summary.notes])


def _text_r(summary: Summary) -> str:
    table = tabulate(summary._rows(_format_r), headers=summary._headers(), tablefmt="plain", disable_numparse=True,
                     colalign=("left",) + ("right",) * (len(summary._headers()) - 1))
    lines = [f"{label}:\n{value}" for label, value in summary.header]
    return "\n".join(["", *lines, "", "Coefficients:", table, *summary.notes])


def _pair(label: str, value: str, width: int) -> str:
    label = f"{label}:"
    return label + " " * max(1, width - len(label) - len(value)) + value


def format_number(value: float) -> str:
    """A table cell: 4 decimals, or 3 significant digits in scientific notation for magnitudes from 1e5 or
    below 1e-3; blank for NaN or None."""
    if value is None or value != value:  # NaN
        return ""
    magnitude = abs(value)
    if magnitude != 0 and (magnitude >= 1e5 or magnitude < 1e-3):
        return f"{value:.3e}"
    return f"{value:.4f}"


def _format_r(value: float) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "NA"
    return f"{value:.4g}" if abs(value) >= 1e-4 or value == 0 else f"{value:.3e}"


def _format_r_pvalue(value: float) -> str:
    """R's ``format.pval``: values below machine precision as "<2e-16"."""
    if not np.isfinite(value):
        return "NA"
    return "<2e-16" if value < 2.2e-16 else f"{value:.4g}"


def format_statistic(value: float, digits: int = 4) -> str:
    """A header value (deviance, log-likelihood, AIC, ...): ``digits`` decimals below 1e7, else 6 significant
    digits; "nan" for None or a value that is not finite."""
    if value is None or not np.isfinite(value):
        return "nan"
    return f"{value:.{digits}f}" if abs(value) < 1e7 else f"{value:.6g}"


def significance_stars(p_values: pd.Series) -> pd.Series:
    """R's significance codes: *** < 0.001 < ** < 0.01 < * < 0.05 < . < 0.1."""
    bins = [-np.inf, 0.001, 0.01, 0.05, 0.1, np.inf]
    codes = pd.cut(p_values, bins=bins, labels=["***", "**", "*", ".", ""], right=False)
    return codes.astype(object).where(p_values.notna(), "")


def _ratio_name(results) -> str:
    link = results.family.link.name
    return {"log": "rate ratio", "logit": "odds ratio"}.get(link, f"exp(coef) ({link} link)")


def glm_summary(results, alpha: float = 0.05, style: Style = "statsmodels", exp: bool = False,
                stars: bool = False) -> Summary:
    """Build the summary of a ``GLMResults`` (see ``GLMResults.summary``)."""
    if style not in ("statsmodels", "r"):
        raise ValueError(f"style must be 'statsmodels' or 'r', got {style!r}")
    if style == "r":
        return _r_summary(results, exp=exp, stars=stars, alpha=alpha)
    family = results.family
    statistic = "t" if results.use_t else "z"
    coef_label = "exp(coef)" if exp else "coef"
    columns = [coef_label, "std err", statistic, f"P>|{statistic}|", f"[{alpha / 2:g}", f"{1 - alpha / 2:g}]"]
    values = _coefficient_values(results, alpha)
    if exp:
        values[:, [0, 4, 5]] = np.exp(values[:, [0, 4, 5]])
    names = getattr(results, "coefficient_names", None)  # the names, without building the params Series
    table = TableCells(list(results.params.index) if names is None else list(names), columns, values)
    if stars:
        table = table.frame()
        table[""] = significance_stars(results.pvalues)
    header = [
        ("Dep. Variable", results.model_data.response_name),
        ("Model", "GLM"),
        ("Model Family", family.name),
        ("Link Function", family.link.name),
        ("Method", "IRLS"),
        ("No. Iterations", str(results.n_iter)),
        ("Covariance Type", results.cov_type),
        ("Rows dropped (NA)", str(results.n_dropped)),
        ("No. Observations", str(results.nobs)),
        ("Df Residuals", str(results.df_resid)),
        ("Df Model", str(results.df_model)),
        ("Scale", format_statistic(results.scale)),
        ("Log-Likelihood", format_statistic(results.llf)),
        ("Deviance", format_statistic(results.deviance)),
        ("Null deviance", format_statistic(results.null_deviance)),
        ("Pearson chi2", format_statistic(results.pearson_chi2)),
        ("AIC", format_statistic(results.aic)),
        *_dispersion_rows(results),
    ]
    notes = _common_notes(results)
    if exp:
        notes.insert(0, f"Coefficients and intervals exponentiated: {_ratio_name(results)}s; "
                        "std err, statistics and p-values are for the coefficients on the link scale.")
    if stars:
        notes.append(SIGNIFICANCE_NOTE)
    return Summary("Generalized Linear Model Regression Results", header, table, notes, header_split=8)


def _coefficient_values(results, alpha: float) -> np.ndarray:
    """params, bse, statistic, p-value and interval bounds as one (p, 6) float array (a new one: the caller
    may overwrite it); from ``results.coefficient_values`` when the results offer it."""
    own = getattr(results, "coefficient_values", None)
    if own is not None:
        return np.array(own(alpha), dtype=float)
    return np.column_stack([results.params.to_numpy(), results.bse.to_numpy(), results.tvalues.to_numpy(),
                            results.pvalues.to_numpy(), results.conf_int(alpha).to_numpy()])


def _dispersion_rows(results) -> list[tuple[str, str]]:
    """Theta for negative binomial fits; deviance/df and Pearson/df for Poisson fits."""
    rows = []
    if results.theta is not None:
        se = results.theta_se
        estimated = f" (se {se:.4g})" if se is not None and np.isfinite(se) else ""
        rows += [("Theta", f"{results.theta:.6g}{estimated}"), ("Alpha (1/theta)", f"{results.alpha:.6g}")]
    if results.family.name == "poisson" and results.df_resid > 0:
        rows += [("Deviance/df", format_statistic(results.deviance / results.df_resid)),
                 ("Pearson chi2/df", format_statistic(results.pearson_chi2 / results.df_resid))]
    return rows


def _common_notes(results) -> list[str]:
    notes = []
    if results.aliased:
        notes.append(
            f"{len(results.aliased)} coefficient(s) not defined because of singularities (aliased): "
            + ", ".join(results.aliased)
        )
    if not results.converged:
        notes.append(f"Warning: IRLS did not converge in {results.n_iter} iterations.")
    if results.cov_type != "nonrobust":
        notes.append(f"Standard errors are {results.cov_type} robust (sandwich) estimates.")
    return notes


def _r_summary(results, exp: bool, stars: bool, alpha: float) -> Summary:
    family = results.family
    statistic = "t" if results.use_t else "z"
    table = pd.DataFrame(
        {
            "Estimate": results.params,
            "Std. Error": results.bse,
            f"{statistic} value": results.tvalues,
            f"Pr(>|{statistic}|)": results.pvalues.map(_format_r_pvalue),
        }
    )
    if exp:
        intervals = results.conf_int(alpha)
        table.insert(1, "exp(Estimate)", np.exp(results.params))
        table[f"{100 * alpha / 2:g} %"] = np.exp(intervals.iloc[:, 0])
        table[f"{100 * (1 - alpha / 2):g} %"] = np.exp(intervals.iloc[:, 1])
    if stars:
        table[""] = significance_stars(results.pvalues)
    table.index = ["(Intercept)" if name == "Intercept" else name for name in table.index]
    family_label = family.name if results.theta is None else f"Negative Binomial({results.theta:.4g})"
    dispersion = f"(Dispersion parameter for {family_label} family taken to be {results.scale:g})"
    notes = []
    if stars:
        notes += ["---", SIGNIFICANCE_NOTE]
    notes += [
        "",
        dispersion,
        "",
        f"    Null deviance: {results.null_deviance:.4f}  on {results.df_null}  degrees of freedom",
        f"Residual deviance: {results.deviance:.4f}  on {results.df_resid}  degrees of freedom",
    ]
    if results.n_dropped:
        notes.append(f"  ({results.n_dropped} observations deleted due to missingness)")
    notes += [f"AIC: {results.aic:.5g}" if np.isfinite(results.aic) else "AIC: NA", "",
              f"Number of Fisher Scoring iterations: {results.n_iter}"]
    if results.theta_estimate is not None:
        notes += ["", f"              Theta:  {results.theta:.4g}",
                  f"          Std. Err.:  {results.theta_se:.4g}",
                  f" 2 x log-likelihood:  {2 * results.llf:.3f}"]
    notes += [n for n in _common_notes(results) if not n.startswith("Warning")]
    header = [("Call", f"glm(formula = {results.formula}, family = {family.name}(link = \"{family.link.name}\"))")]
    return Summary("Call", header, table, notes, style="r")


def models_table(models: list, labels: list[str] | None = None) -> Summary:
    """Models side by side: each coefficient with its standard error below, then N, deviance, AIC, dispersion."""
    labels = labels or [f"({i})" for i in range(1, len(models) + 1)]
    if len(labels) != len(models):
        raise ValueError("give one label per model")
    names: list[str] = []
    for model in models:
        names += [name for name in model.params.index if name not in names]
    row_names: list[str] = []
    rows: list[list[str]] = []
    for name in names:
        row_names += [name, ""]  # the standard errors go on an unlabelled row below
        rows.append([_cell(model.params.get(name)) for model in models])
        rows.append([f"({format_number(model.bse[name])})" if name in model.bse.index
                     and np.isfinite(model.bse[name]) else "" for model in models])
    for label, values in (
        ("N", [str(model.nobs) for model in models]),
        ("Family", [f"{model.family}({model.family.link.name})" for model in models]),
        ("Deviance", [format_statistic(model.deviance) for model in models]),
        ("AIC", [format_statistic(model.aic) for model in models]),
        ("Dispersion", [format_statistic(model.scale) for model in models]),
    ):
        row_names.append(label)
        rows.append(values)
    table = pd.DataFrame(rows, index=row_names, columns=labels)
    header = [(label, model.formula) for label, model in zip(labels, models)]
    return Summary("Model comparison", header, table, ["Standard errors in parentheses."],
                   header_split=len(header))


def _cell(value) -> str:
    if value is None or not np.isfinite(value):
        return "(aliased)" if value is not None else ""
    return format_number(value)
