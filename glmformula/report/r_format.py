"""R's number formatting, so that an R-style summary prints the digits R prints.

A port of the parts of R 4.2 that ``print(summary(glm))`` goes through:

* ``format_real`` is R's ``formatReal`` (``format(x, digits = d)`` on a numeric vector): one
  format for all the values, fixed or scientific, with the fewest digits that show every value
  to ``digits`` significant digits; fixed when it is not wider than scientific.
* ``format_pvalues`` is ``format.pval`` (tiny values as ``"<2e-16"`` or ``"< 2e-16"``).
* ``coefficient_matrix`` is ``printCoefmat``: estimates and standard errors formatted together,
  test statistics rounded to ``dig.tst`` decimals, p-values by ``format.pval``, the significance
  codes of ``symnum``.
* ``named_vector`` is ``print.default`` of a named numeric vector (names right-aligned above the
  values, ``print.gap`` spaces after each, wrapped at 80 columns).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

#: R's .Machine$double.eps, below which format.pval prints "<eps".
DOUBLE_EPS = 2.220446049250313e-16
STAR_CUTPOINTS = (0.001, 0.01, 0.05, 0.1)
STAR_SYMBOLS = ("***", "**", "*", ".", " ")
SIGNIFICANCE_LEGEND = "0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1"
_KP_MAX = 22


def scientific(value: float, digits: int) -> tuple[int, int, bool]:
    """R's ``scientific()``: the decimal exponent of ``value`` rounded to ``digits`` significant digits,
    the significant digits needed (trailing zeros dropped), and whether rounding carried it into
    the next power of ten."""
    if value == 0:
        return 0, 1, False
    mantissa, exponent = f"{abs(value):.{digits - 1}e}".split("e")
    kpower = int(exponent)
    nsig = max(1, len(mantissa.replace(".", "").rstrip("0")))
    right = min(max(digits - kpower, 0), _KP_MAX)
    widens = 0 < kpower <= _KP_MAX and abs(value) < 10.0**kpower - 0.5 / 10.0**right
    return kpower, nsig, widens


def real_format(values: Sequence[float], digits: int = 7, nsmall: int = 0) -> tuple[int, int, bool]:
    """(width, decimals, scientific) that R's ``formatReal`` picks for ``values`` (NaN is NA)."""
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return 0, 0, False
    negative = any(v < 0 for v in finite)
    right_max = left_max = sleft_max = sig_max = -(10**9)
    left_min = 10**9
    for value in finite:
        kpower, nsig, widens = scientific(value, digits)
        left = kpower + 1 - int(widens)
        sleft = int(value < 0) + (1 if left <= 0 else left)
        right_max = max(right_max, nsig - left)
        left_max, left_min = max(left_max, left), min(left_min, left)
        sleft_max, sig_max = max(sleft_max, sleft), max(sig_max, nsig)
    if left_max < 0:
        sleft_max = 1 + int(negative)
    right_max = max(right_max, 0)
    fixed_width = sleft_max + right_max + int(right_max != 0)
    exponent_digits = 2 if (left_max > 100 or left_min <= -99) else 1
    decimals = sig_max - 1
    sci_width = int(negative) + int(decimals > 0) + decimals + 4 + exponent_digits
    if fixed_width <= sci_width:
        if nsmall > right_max:
            right_max = nsmall
            fixed_width = sleft_max + right_max + int(right_max != 0)
        return fixed_width, right_max, False
    return sci_width, decimals, True


def format_real(values: Sequence[float], digits: int = 7, nsmall: int = 0, na: str = "NA") -> list[str]:
    """``format(values, digits = digits)`` in R: one format for all, right-aligned to one width."""
    width, decimals, scientific = real_format(values, digits, nsmall)
    cells = []
    for value in values:
        if value is None or math.isnan(value):
            cells.append(na)
        elif math.isinf(value):
            cells.append("Inf" if value > 0 else "-Inf")
        elif scientific:
            cells.append(f"{value:.{decimals}e}")
        else:
            cells.append(f"{value:.{decimals}f}")
    width = max([width, *map(len, cells)])
    return [cell.rjust(width) for cell in cells]


def format_one(value: float, digits: int = 7) -> str:
    """``format(value, digits = digits)`` of a single number (``"NA"`` for NaN or None)."""
    return format_real([np.nan if value is None else float(value)], digits)[0]


def zapsmall(values: np.ndarray, digits: int) -> np.ndarray:
    """R 4.2's ``zapsmall``: round to ``digits - log10(largest)`` places (R's ``round`` takes the nearest
    whole number of places), so that values tiny beside the largest print as 0."""
    values = np.asarray(values, dtype=float)
    finite = np.abs(values[np.isfinite(values)])
    largest = finite.max() if finite.size else 0.0
    places = max(0.0, digits - math.log10(largest)) if largest > 0 else digits
    return np.round(values, math.floor(places + 0.5))


def format_pvalues(pvalues: Sequence[float], digits: int, eps: float = DOUBLE_EPS) -> list[str]:
    """R's ``format.pval``: the p-values from 1e-4 up formatted together in fixed notation, the rest
    together (scientific), and those below ``eps`` as ``"<eps"`` (``"< 2e-16"`` beside wide values)."""
    values = [float(p) for p in pvalues]
    cells = ["NA"] * len(values)
    regular = [i for i, p in enumerate(values) if math.isfinite(p) and p >= eps]
    tiny = [i for i, p in enumerate(values) if math.isfinite(p) and p < eps]
    exponents = {i: math.floor(math.log10(values[i])) if values[i] > 0 else -50 for i in regular}
    fixed = [i for i in regular if exponents[i] >= -3 or (exponents[i] == -4 and digits > 1)]
    for group in (fixed, [i for i in regular if i not in fixed]):
        for index, cell in zip(group, format_real([values[i] for i in group], digits)):
            cells[index] = cell
    if tiny:
        small_digits = max(1, digits - 2)
        if regular:
            widest = max(len(cells[i]) for i in regular)
            if small_digits > 1 and small_digits + 6 > widest:
                small_digits = max(1, widest - 7)
            separator = "" if small_digits == 1 and widest <= 6 else " "
        else:
            separator = "" if small_digits == 1 else " "
        text = "<" + separator + format_one(eps, small_digits)
        for index in tiny:
            cells[index] = text
    return cells


def significance_codes(pvalues: Sequence[float]) -> list[str]:
    """R's ``symnum`` codes: ``***`` for p <= 0.001, ``**`` <= 0.01, ``*`` <= 0.05, ``.`` <= 0.1;
    blank for larger or missing p-values."""
    codes = []
    for p in pvalues:
        if p is None or not math.isfinite(p):
            codes.append("")
            continue
        codes.append(next((symbol for cut, symbol in zip(STAR_CUTPOINTS, STAR_SYMBOLS) if p <= cut), " "))
    return codes


def coefficient_matrix(names: list[str], columns: list[str], values: np.ndarray, *, coef_columns: list[int],
                       test_columns: list[int], pvalue_column: int | None, digits: int = 4,
                       stars: bool = True, na_print: str = "NA") -> tuple[list[str], bool]:
    """The lines ``printCoefmat`` prints for a coefficient table, and whether it printed stars.

    ``values`` is (rows, columns); NaN prints as ``NA``.  Columns in ``coef_columns`` (estimate and
    standard error) share one format after rounding to the decimals the smallest needs; those in
    ``test_columns`` are rounded to ``dig.tst`` decimals; the p-value column goes through
    ``format.pval``; any other column is formatted on its own.  Stars are printed when asked and
    some p-value is below 0.1, as R does.  Missing values print as ``na_print``.
    """
    values = np.asarray(values, dtype=float)
    n_rows, n_columns = values.shape
    dig_tst = max(1, min(5, digits - 1))
    cells = [[""] * n_columns for _ in range(n_rows)]

    def put(column: int, texts: list[str]) -> None:
        for row, text in enumerate(texts):
            cells[row][column] = text

    if coef_columns:
        block = values[:, coef_columns]
        magnitudes = np.abs(block[np.isfinite(block) & (block != 0)])
        if np.isfinite(block).any():
            digmin = 1 + (math.floor(math.log10(magnitudes.min())) if magnitudes.size else 0)
            rounded = np.round(block, max(1, digits - digmin))
            texts = format_real(rounded.ravel(order="F").tolist(), digits)
            for k, column in enumerate(coef_columns):
                put(column, texts[k * n_rows:(k + 1) * n_rows])
    for column in test_columns:
        put(column, format_real(np.round(values[:, column], dig_tst).tolist(), digits))
    for column in range(n_columns):
        if column not in coef_columns and column not in test_columns and column != pvalue_column:
            put(column, format_real(values[:, column].tolist(), digits))
    for column in coef_columns + [c for c in range(n_columns) if c not in test_columns + coef_columns
                                  and c != pvalue_column]:
        for row in range(n_rows):  # a non-zero value shown as 0 gets its own format with one digit less
            value = values[row, column]
            if math.isfinite(value) and value != 0 and float(cells[row][column]) == 0:
                cells[row][column] = format_one(value, max(1, digits - 1))
    printed_stars = False
    if pvalue_column is not None:
        pvalues = values[:, pvalue_column]
        finite = np.isfinite(pvalues)
        for row, text in zip(np.flatnonzero(finite), format_pvalues(pvalues[finite].tolist(), dig_tst)):
            cells[row][pvalue_column] = text
        printed_stars = stars and bool(finite.any()) and bool((pvalues[finite] < 0.1).any())
    for row in range(n_rows):
        for column in range(n_columns):
            if math.isnan(values[row, column]):
                cells[row][column] = na_print
    headers = list(columns)
    if printed_stars:
        codes = significance_codes(values[:, pvalue_column].tolist())
        width = max(map(len, codes))
        for row, code in enumerate(codes):
            cells[row].append(code.ljust(width))
        headers.append("")
    return character_matrix(names, headers, cells), printed_stars


def character_matrix(row_names: list[str], headers: list[str], cells: list[list[str]], gap: int = 1) -> list[str]:
    """``print.default`` of a character matrix with ``quote = FALSE, right = TRUE``: row names
    left-aligned, every column right-aligned to the wider of its header and its cells."""
    name_width = max([0, *map(len, row_names)])
    widths = [max([len(header), *(len(row[j]) for row in cells)]) for j, header in enumerate(headers)]
    spacer = " " * gap
    lines = [" " * name_width + "".join(spacer + header.rjust(w) for header, w in zip(headers, widths))]
    for name, row in zip(row_names, cells):
        lines.append(name.ljust(name_width) + "".join(spacer + cell.rjust(w) for cell, w in zip(row, widths)))
    return lines


def named_vector(names: list[str], values: Sequence[float], digits: int, gap: int = 2,
                 line_width: int = 80) -> list[str]:
    """``print.default`` of a named numeric vector: names right-aligned above the values, each
    followed by ``gap`` spaces, as many per line as fit in ``line_width``."""
    texts = [text.strip() for text in format_real(list(values), digits, na="")]
    width = max([*map(len, texts), *map(len, names)])
    per_line = max(1, line_width // (width + gap))
    lines = []
    for start in range(0, len(texts), per_line):
        lines.append("".join(name.rjust(width) + " " * gap for name in names[start:start + per_line]))
        lines.append("".join(text.rjust(width) + " " * gap for text in texts[start:start + per_line]))
    return lines
