"""R's ``print.anova``: analysis-of-deviance tables printed as R prints them.

``print.anova`` writes the table's heading (each element followed by a newline), then the table
through ``printCoefmat`` with ``digits = 5`` (R's default of ``max(getOption("digits") - 2, 3)``),
no estimate columns, missing values as blanks, and:

* test statistics (``F``, ``Chisq`` and any ``"... value"`` column) rounded to ``dig.tst = 4`` decimals;
* every other column but the ``Df`` ones and the p-value ``zapsmall``-ed to 5 digits, then formatted on
  its own (``format(x, digits = 5)``);
* the last column, when it is a p-value (``P...``/``Pr(...``), by ``format.pval`` with the
  significance stars and their legend when some p-value is below 0.1.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from glmformula.report import r_format
from glmformula.report.r_deparse import r_term_names

#: print.anova's digits: max(getOption("digits") - 2, 3) with R's default of 7 digits.
ANOVA_DIGITS = 5
_PVALUE = re.compile(r"^(P|Pr)\(")


def anova_text(table: pd.DataFrame, heading: list[str], formula: str | None = None, digits: int = ANOVA_DIGITS,
               stars: bool = True) -> str:
    """The text R's ``print.anova`` prints for ``table`` (numeric columns) under ``heading``; with the model's
    ``formula``, the rows (terms) are named as R names them (``factor(race)`` for formulaic's ``C(race)``)."""
    columns = [str(column) for column in table.columns]
    values = table.to_numpy(dtype=float, na_value=np.nan).copy()
    has_pvalue = bool(columns) and _PVALUE.match(columns[-1]) is not None
    tests = [j for j, name in enumerate(columns) if name[1:7] == " value" or name in ("F", "Cp", "Chisq")]
    last = len(columns) - 1 if has_pvalue else len(columns)
    for j in range(last):
        if j not in tests and not columns[j].endswith("Df"):
            values[:, j] = r_format.zapsmall(values[:, j], digits)
    rows = [str(name) for name in table.index]
    if formula is not None:
        rows = r_term_names(rows, formula)
    lines, printed_stars = r_format.coefficient_matrix(
        rows, columns, values, coef_columns=[], test_columns=tests,
        pvalue_column=len(columns) - 1 if has_pvalue else None, digits=digits, stars=stars, na_print="",
    )
    if printed_stars:
        lines += ["---", f"Signif. codes:  {r_format.SIGNIFICANCE_LEGEND}"]
    return "".join(line + "\n" for line in heading) + "\n".join(lines)


class AnovaTable(pd.DataFrame):
    """An analysis-of-deviance table: a pandas DataFrame (select, compute and export as usual) whose
    text form is R's ``print.anova``; ``attrs["heading"]`` holds R's heading lines, ``attrs["title"]``
    the same as one string, ``attrs["formula"]`` the model whose terms name the rows.  Tables derived
    from it are plain DataFrames."""

    @property
    def _constructor(self):
        return pd.DataFrame

    def __repr__(self) -> str:
        return anova_text(self, self.attrs.get("heading", []), self.attrs.get("formula"))

    def __str__(self) -> str:
        return self.__repr__()


def as_anova_table(table: pd.DataFrame, heading: list[str], formula: str | None = None) -> AnovaTable:
    """``table`` as an ``AnovaTable`` with R's ``heading`` (a list of lines, each printed with a newline);
    ``formula``, when its rows are the terms of a model, names them as R does in print."""
    printed = AnovaTable(table)
    printed.attrs.update(table.attrs)
    if formula is not None:
        printed.attrs["formula"] = formula
    printed.attrs["heading"] = list(heading)
    printed.attrs["title"] = "\n".join(heading).strip("\n")
    return printed
