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

from glmformula.report.r_format import SIGNIFICANCE_LEGEND, significance_codes

Style = Literal["statsmodels", "r"]
SIGNIFICANCE_NOTE = f"Signif. codes:  {SIGNIFICANCE_LEGEND}"


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


class Rendered:
    """A table that shows itself as its text (print, repr) and in notebooks as its HTML: the class provides
    ``as_text()`` and ``as_html()``."""

    def _repr_html_(self) -> str:
        return self.as_html()

    def __str__(self) -> str:
        return self.as_text()

    def __repr__(self) -> str:
        return self.as_text()


class Summary(Rendered):
    """A printable model summary.

    title : the line above the header.
    header : (label, value) pairs; the first ``header_split`` go in the left
        column of the text layout, the rest in the right one.
    table : one row per coefficient, a DataFrame (or ``TableCells``, turned into one when
        read); numbers are formatted, NaN shown blank, a first-column NaN row shown as
        "(aliased)"; text columns are kept.
    notes : lines printed below the table.
    style : "statsmodels", or "r" for ``r_summary.RSummary``, which prints R's layout.
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
    def _rows(self) -> list[list[str]]:
        """The table's cells as text, each numeric column in one format (``column_formatter``)."""
        if self._cells is not None:
            names, _, values = self._cells
            values = values.tolist()  # Python floats: formatting them is cheaper than numpy scalars
        else:
            names, values = self.table.index, self.table.to_numpy(dtype=object).tolist()
        headers = self._headers()[1:]
        formatters = [column_formatter([row[j] for row in values], header) for j, header in enumerate(headers)]
        rows = []
        for name, row in zip(names, values):
            first = row[0] if row else None
            if isinstance(first, float) and first != first:  # NaN (np.isnan costs more on a Python float)
                rows.append([str(name), "(aliased)"] + [""] * (len(headers) - 1))
            else:
                rows.append([str(name)] + [value if isinstance(value, str) else formatter(value)
                                           for value, formatter in zip(row, formatters)])
        return rows

    def _headers(self) -> list[str]:
        columns = self._cells.columns if self._cells is not None else self.table.columns
        return ["", *map(str, columns)]

    # -- renderers -----------------------------------------------------------
    def as_text(self) -> str:
        return _text_statsmodels(self)  # RSummary (report/r_summary.py) prints R's layout

    def as_markdown(self) -> str:
        def cells(rows):
            return [[str(cell).replace("|", "\\|") for cell in row] for row in rows]

        header = tabulate(cells(self.header), headers=["", ""], tablefmt="github", disable_numparse=True)
        table = tabulate(cells(self._rows()), headers=cells([self._headers()])[0], tablefmt="github",
                         disable_numparse=True)
        notes = "\n".join(f"*{note}*" for note in self.notes)
        return f"**{self.title}**\n\n{header}\n\n{table}\n" + (f"\n{notes}\n" if notes else "")

    def as_html(self) -> str:
        header = "".join(
            f"<tr><th>{html.escape(label)}</th><td>{html.escape(value)}</td></tr>" for label, value in self.header
        )
        rows = [[html.escape(cell) for cell in row] for row in self._rows()]
        table = tabulate(rows, headers=[html.escape(h) for h in self._headers()], tablefmt="unsafehtml",
                         disable_numparse=True)
        notes = "".join(f"<p>{html.escape(note)}</p>" for note in self.notes)
        return f"<div><h4>{html.escape(self.title)}</h4><table>{header}</table>{table}{notes}</div>"

    def as_latex(self) -> str:
        header = tabulate(self.header, tablefmt="latex_booktabs", disable_numparse=True)
        table = tabulate(self._rows(), headers=self._headers(), tablefmt="latex_booktabs",
                         disable_numparse=True)
        notes = "".join(f"\n\\par {_latex_escape(note)}" for note in self.notes)
        return (
            "\\begin{table}[ht]\n\\centering\n"
            f"\\caption{{{_latex_escape(self.title)}}}\n{header}\n\n{table}{notes}\n\\end{{table}}"
        )



def _latex_escape(text: str) -> str:
    for char, replacement in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("$", r"\$"),
                              ("#", r"\#"), ("_", r"\_"), ("{", r"\{"), ("}", r"\}")):
        text = text.replace(char, replacement)
    return text


def _text_statsmodels(summary: Summary) -> str:
    coef_text = tabulate(
        summary._rows(), headers=summary._headers(), tablefmt="simple", disable_numparse=True,
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


def _pair(label: str, value: str, width: int) -> str:
    label = f"{label}:"
    return label + " " * max(1, width - len(label) - len(value)) + value


def is_pvalue_column(header: str) -> bool:
    """``P>|z|``, ``Pr(>|t|)``, ``p-value``: a column of p-values."""
    return header.startswith(("P>", "Pr(", "Pr>")) or header.lower() in ("p", "p-value", "pvalue", "p_value")


def column_formatter(values: list, header: str = ""):
    """One format for a whole column, so that its numbers line up and read alike.

    p-values: 4 decimals, below 1e-4 as "<0.0001"; other numbers: 4 decimals, or scientific
    notation with 3 decimals for the whole column when some magnitude is from 1e5 or below 1e-3.
    NaN and None are blank; text is left as it is.
    """
    if is_pvalue_column(header):
        return format_pvalue
    magnitudes = [abs(v) for v in values if not isinstance(v, str) and v is not None and v == v and v != 0
                  and abs(v) != float("inf")]
    if magnitudes and (max(magnitudes) >= 1e5 or min(magnitudes) < 1e-3):
        return _format_scientific
    return _format_fixed


def format_pvalue(value: float) -> str:
    """A p-value with 4 decimals; "<0.0001" below 1e-4; blank for NaN or None."""
    if value is None or value != value:
        return ""
    return "<0.0001" if value < 1e-4 else f"{value:.4f}"


def _format_fixed(value: float) -> str:
    return "" if value is None or value != value else f"{value:.4f}"


def _format_scientific(value: float) -> str:
    return "" if value is None or value != value else f"{value:.3e}"


def format_number(value: float) -> str:
    """A table cell: 4 decimals, or 3 significant digits in scientific notation for magnitudes from 1e5 or
    below 1e-3; blank for NaN or None."""
    if value is None or value != value:  # NaN
        return ""
    magnitude = abs(value)
    if magnitude != 0 and (magnitude >= 1e5 or magnitude < 1e-3):
        return f"{value:.3e}"
    return f"{value:.4f}"


def format_statistic(value: float, digits: int = 4) -> str:
    """A header value (deviance, log-likelihood, AIC, ...): ``digits`` decimals below 1e7, else 6 significant
    digits; "inf"/"-inf" for an infinite one (a Gaussian log-likelihood with zero weights is -inf, as
    R's logLik), "nan" for None or NaN."""
    if value is None or np.isnan(value):
        return "nan"
    if np.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.{digits}f}" if abs(value) < 1e7 else f"{value:.6g}"


def significance_stars(p_values: pd.Series) -> pd.Series:
    """R's significance codes (``symnum`` in ``printCoefmat``): *** for p <= 0.001, ** <= 0.01, * <= 0.05,
    . <= 0.1, blank above or for a missing p-value."""
    codes = [code.strip() for code in significance_codes(p_values.tolist())]
    return pd.Series(codes, index=p_values.index, dtype=object)


def _ratio_name(results) -> str | None:
    """What exp(coef) is on the fit's link ("rate ratios", "odds ratios"), or None (identity, ...)."""
    return {"log": "rate ratios", "logit": "odds ratios", "cloglog": "hazard ratios"}.get(results.family.link.name)


def glm_summary(results, alpha: float = 0.05, style: Style = "statsmodels", exp: bool = False,
                stars: bool | None = None) -> Summary:
    """Build the statsmodels-layout summary of a ``GLMResults`` (see ``GLMResults.summary``; R's layout is
    ``glmformula.report.r_summary.r_glm_summary``, which builds on this module).

    ``stars=None`` shows no significance codes.
    """
    if style != "statsmodels":
        raise ValueError(f"glm_summary prints the statsmodels layout; style='r' is r_summary.r_glm_summary, "
                         f"got style={style!r}")
    stars = bool(stars)
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
        ratios = _ratio_name(results)
        notes.insert(0, "Coefficients and intervals exponentiated" + (f" ({ratios})" if ratios else "")
                     + "; std err, statistics and p-values are for the coefficients on the link scale.")
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
