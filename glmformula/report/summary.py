"""Summaries as data (header pairs + a coefficient table) plus renderers.

``Summary`` knows nothing about GLMs: it holds a title, two columns of
(label, value) header pairs, a coefficient DataFrame and notes, and renders them
with tabulate.  ``glm_summary`` fills one from a ``GLMResults``.  Nothing in
a summary depends on the clock, so the same fit always prints the same text.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from tabulate import tabulate


@dataclass(frozen=True)
class Summary:
    """A printable model summary.

    title : the line above the header.
    header : (label, value) pairs; the first ``header_split`` go in the left
        column, the rest in the right one.
    table : coefficient table, one row per coefficient (NaN shown as blanks).
    notes : lines printed below the table.
    """

    title: str
    header: list[tuple[str, str]]
    table: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    header_split: int | None = None

    def _table_rows(self) -> list[list[str]]:
        rows = []
        for name, row in self.table.iterrows():
            if np.isnan(row.iloc[0]):
                rows.append([str(name), "(aliased)"] + [""] * (len(row) - 1))
            else:
                rows.append([str(name)] + [_format_number(value) for value in row])
        return rows

    def as_text(self) -> str:
        coef_text = tabulate(
            self._table_rows(), headers=["", *self.table.columns], tablefmt="simple",
            disable_numparse=True, colalign=("left",) + ("right",) * len(self.table.columns),
        )
        coef_lines = coef_text.splitlines()
        width = max(78, *(len(line) for line in coef_lines))
        half = self.header_split if self.header_split is not None else len(self.header) - len(self.header) // 2
        left, right = self.header[:half], self.header[half:]
        pair_width = (width - 3) // 2
        header_lines = []
        for index in range(max(len(left), len(right))):
            line = _pair(*left[index], pair_width) if index < len(left) else " " * pair_width
            if index < len(right):
                line += "   " + _pair(*right[index], pair_width)
            header_lines.append(line.rstrip())
        rule, thin = "=" * width, "-" * width
        body = [coef_lines[0], thin, *coef_lines[2:]]
        parts = [self.title.center(width).rstrip(), rule, *header_lines, rule, *body, rule]
        parts += self.notes
        return "\n".join(parts)

    def as_html(self) -> str:
        header = "".join(
            f"<tr><th>{html.escape(label)}</th><td>{html.escape(value)}</td></tr>" for label, value in self.header
        )
        coef = tabulate(self._table_rows(), headers=["", *self.table.columns], tablefmt="html", disable_numparse=True)
        notes = "".join(f"<p>{html.escape(note)}</p>" for note in self.notes)
        return f"<div><h4>{html.escape(self.title)}</h4><table>{header}</table>{coef}{notes}</div>"

    def _repr_html_(self) -> str:
        return self.as_html()

    def __str__(self) -> str:
        return self.as_text()

    def __repr__(self) -> str:
        return self.as_text()


def _pair(label: str, value: str, width: int) -> str:
    label = f"{label}:"
    return label + " " * max(1, width - len(label) - len(value)) + value


def _format_number(value: float) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    magnitude = abs(value)
    if magnitude != 0 and (magnitude >= 1e5 or magnitude < 1e-3):
        return f"{value:.3e}"
    return f"{value:.4f}"


def _fmt(value: float, digits: int = 4) -> str:
    if value is None or not np.isfinite(value):
        return "nan"
    return f"{value:.{digits}f}" if abs(value) < 1e7 else f"{value:.6g}"


def glm_summary(results, alpha: float = 0.05) -> Summary:
    """Build the statsmodels-style summary of a ``GLMResults``."""
    family = results.family
    statistic = "t" if results.use_t else "z"
    intervals = results.conf_int(alpha)
    table = pd.DataFrame(
        {
            "coef": results.params,
            "std err": results.bse,
            statistic: results.tvalues,
            f"P>|{statistic}|": results.pvalues,
            f"[{alpha / 2:g}": intervals.iloc[:, 0],
            f"{1 - alpha / 2:g}]": intervals.iloc[:, 1],
        }
    )
    header = [
        ("Dep. Variable", results.model_data.response_name),
        ("Model", "GLM"),
        ("Model Family", str(family)),
        ("Link Function", family.link.name),
        ("Method", "IRLS"),
        ("No. Iterations", str(results.n_iter)),
        ("Covariance Type", "nonrobust"),
        ("Rows dropped (NA)", str(results.n_dropped)),
        ("No. Observations", str(results.nobs)),
        ("Df Residuals", str(results.df_resid)),
        ("Df Model", str(results.df_model)),
        ("Scale", _fmt(results.scale)),
        ("Log-Likelihood", _fmt(results.llf)),
        ("Deviance", _fmt(results.deviance)),
        ("Null deviance", _fmt(results.null_deviance)),
        ("Pearson chi2", _fmt(results.pearson_chi2)),
        ("AIC", _fmt(results.aic)),
    ]
    notes = []
    if results.aliased:
        notes.append(
            f"{len(results.aliased)} coefficient(s) not defined because of singularities (aliased): "
            + ", ".join(results.aliased)
        )
    if not results.converged:
        notes.append(f"Warning: IRLS did not converge in {results.n_iter} iterations.")
    if not family.dispersion_fixed and not results.use_t:
        notes.append(f"Dispersion fixed at {results.scale:g} by the caller.")
    return Summary("Generalized Linear Model Regression Results", header, table, notes, header_split=8)
