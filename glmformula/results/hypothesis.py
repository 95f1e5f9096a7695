"""Tests of linear hypotheses R beta = q: statsmodels' ``t_test``, ``f_test`` and ``wald_test``.

Constraints are a string of equations on the coefficient names (``"x1 = 0"``,
``"x1 = x2, x3 = 0"``, ``"2*x1 - x2 = 1"``; a side without ``=`` means ``= 0``), a
(q, p) matrix R (q = 0), or a tuple (R, q).  With b the estimates and V ``cov_params()``
(robust when the fit's ``cov_type`` is):

    t_test:     each row: (R b - q)_j / sqrt((R V R')_jj), on t(df_resid) when the
                dispersion is estimated (``use_t``), else normal
    wald_test:  W = (R b - q)' (R V R')^{-1} (R b - q), chi2 on rank(R V R') degrees of
                freedom; with ``use_f`` (the default when ``use_t``) F = W / q on
                (q, df_resid), as statsmodels
    f_test:     the Wald test as an F test, always

statsmodels' GLM takes z and chi2 unless fitted with ``use_t=True``; here ``use_t`` follows
R (t and F when the dispersion is estimated), which is statsmodels with ``use_t=True``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from scipy import special, stats

from glmformula.exceptions import DataError

if TYPE_CHECKING:
    from glmformula.results.glm_results import GLMResults

Constraints = str | Sequence[str] | np.ndarray | tuple[Any, Any]


@dataclass(frozen=True)
class TTestResults:
    """One test per constraint row: ``effect`` = R b, ``sd``, ``statistic``, ``pvalue`` (two-sided)."""

    effect: np.ndarray
    sd: np.ndarray
    statistic: np.ndarray
    pvalue: np.ndarray
    q: np.ndarray
    df_denom: float
    distribution: Literal["t", "norm"]
    names: list[str]

    @property
    def tvalue(self) -> np.ndarray:
        return self.statistic

    def _quantile(self, p: float) -> float:
        return float(special.stdtrit(self.df_denom, p) if self.distribution == "t" else special.ndtri(p))

    def conf_int(self, alpha: float = 0.05) -> np.ndarray:
        """(q, 2) intervals for R b at level 1 - alpha."""
        half = self._quantile(1 - alpha / 2) * self.sd
        return np.column_stack([self.effect - half, self.effect + half])

    def summary_frame(self, alpha: float = 0.05) -> pd.DataFrame:
        """statsmodels' columns: coef, std err, t (or z), P>|t|, Conf. Int. Low, Conf. Int. Upp."""
        label = "t" if self.distribution == "t" else "z"
        bounds = self.conf_int(alpha)
        return pd.DataFrame({"coef": self.effect, "std err": self.sd, label: self.statistic,
                             f"P>|{label}|": self.pvalue, "Conf. Int. Low": bounds[:, 0],
                             "Conf. Int. Upp.": bounds[:, 1]}, index=pd.Index(self.names))

    def __str__(self) -> str:
        return "Test for Constraints\n" + self.summary_frame().to_string()


@dataclass(frozen=True)
class WaldTestResults:
    """A joint test of all constraints: ``statistic`` (W, or F = W / df_num), ``pvalue``, its degrees of freedom."""

    statistic: float
    pvalue: float
    df_num: int
    df_denom: float | None
    distribution: Literal["F", "chi2"]

    @property
    def fvalue(self) -> float:
        return self.statistic

    def __str__(self) -> str:
        if self.distribution == "F":
            return (f"<F test: F={self.statistic!r}, p={self.pvalue!r}, df_denom={self.df_denom:g}, "
                    f"df_num={self.df_num}>")
        return f"<Wald test (chi2): statistic={self.statistic!r}, p-value={self.pvalue!r}, df={self.df_num}>"

    __repr__ = __str__


def t_test(results: GLMResults, constraints: Constraints) -> TTestResults:
    R, q, names = linear_constraints(constraints, results.coefficient_names)
    b, V = _estimable(results, R)
    effect = R @ b
    sd = np.sqrt(np.einsum("ij,jk,ik->i", R, V, R))
    statistic = (effect - q) / sd
    if results.use_t:
        pvalue = 2 * special.stdtr(results.df_resid, -np.abs(statistic))
        return TTestResults(effect, sd, statistic, pvalue, q, float(results.df_resid), "t", names)
    return TTestResults(effect, sd, statistic, 2 * special.ndtr(-np.abs(statistic)), q, np.inf, "norm", names)


def wald_test(results: GLMResults, constraints: Constraints, use_f: bool | None = None) -> WaldTestResults:
    R, q, _ = linear_constraints(constraints, results.coefficient_names)
    b, V = _estimable(results, R)
    difference = R @ b - q
    middle = R @ V @ R.T
    statistic = float(difference @ np.linalg.pinv(middle) @ difference)
    df_num = int(np.linalg.matrix_rank(middle))
    if use_f if use_f is not None else results.use_t:
        df_denom = float(results.df_resid)
        value = statistic / df_num
        return WaldTestResults(value, float(stats.f.sf(value, df_num, df_denom)), df_num, df_denom, "F")
    return WaldTestResults(statistic, float(stats.chi2.sf(statistic, df_num)), df_num, None, "chi2")


def f_test(results: GLMResults, constraints: Constraints) -> WaldTestResults:
    return wald_test(results, constraints, use_f=True)


def _estimable(results: GLMResults, R: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """b and V with aliased coefficients at 0, after checking that no constraint involves one."""
    b = results.params.to_numpy()
    aliased = np.isnan(b)
    if np.any(R[:, aliased] != 0):
        names = [n for n, flag in zip(results.coefficient_names, aliased) if flag]
        raise DataError(f"the constraints involve aliased (non-estimable) coefficients: {', '.join(names)}")
    return np.nan_to_num(b), np.nan_to_num(results.cov_params().to_numpy())


# -- constraints --------------------------------------------------------------------------------
def linear_constraints(constraints: Constraints, names: list[str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(R, q, row names) from a constraint string, a list of strings, a matrix R or a tuple (R, q)."""
    p = len(names)
    if isinstance(constraints, str) or (isinstance(constraints, (list, tuple)) and constraints
                                        and all(isinstance(c, str) for c in constraints)):
        text = constraints if isinstance(constraints, str) else ", ".join(constraints)
        R, q = _parse_constraints(text, names)
    else:
        if isinstance(constraints, tuple) and len(constraints) == 2:
            R, q = np.atleast_2d(np.asarray(constraints[0], dtype=float)), np.asarray(constraints[1], dtype=float)
        else:
            R = np.atleast_2d(np.asarray(constraints, dtype=float))
            q = np.zeros(R.shape[0])
        q = np.broadcast_to(q.ravel() if q.size > 1 else q.reshape(-1), (R.shape[0],)).astype(float)
        if R.shape[1] != p:
            raise DataError(f"the constraint matrix has {R.shape[1]} columns but the model has {p} coefficients")
    return R, q, [f"c{j}" for j in range(R.shape[0])]


def _parse_constraints(text: str, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Each coefficient name becomes a placeholder (longest first, so ``wt`` is not found inside ``wt:hp``); the
    equations are then split at commas and ``=`` and each side read as a linear expression."""
    placeholders = {}
    for index in sorted(range(len(names)), key=lambda j: -len(names[j])):
        token = f"__b{index}__"
        pattern = re.compile(r"(?<![\w.\]\)])" + re.escape(names[index]) + r"(?![\w.\[(:])")
        text, count = pattern.subn(token, text)
        if count:
            placeholders[token] = index
    rows, constants = [], []
    for equation in text.split(","):
        if not equation.strip():
            raise DataError("an empty constraint: write constraints as 'x1 = 0, x2 = x3'")
        sides = equation.split("=")
        if len(sides) > 2:
            raise DataError(f"a constraint has more than one '=': {equation.strip()!r}")
        left = _linear(sides[0], names)
        right = _linear(sides[1], names) if len(sides) == 2 else (np.zeros(len(names)), 0.0)
        rows.append(left[0] - right[0])
        constants.append(right[1] - left[1])
    R = np.array(rows)
    if np.any(~R.any(axis=1)):
        raise DataError("a constraint does not involve any coefficient; coefficients are: " + ", ".join(names))
    return R, np.array(constants)


def _linear(text: str, names: list[str]) -> tuple[np.ndarray, float]:
    """(coefficients, constant) of a linear expression in the placeholders ``__b<j>__`` and numbers."""
    try:
        node = ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        raise DataError(f"cannot read the constraint {_show(text, names)!r}; coefficients are: "
                        + ", ".join(names)) from None

    def walk(node) -> tuple[np.ndarray, float]:
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value,
                                                                                                     bool):
            return np.zeros(len(names)), float(node.value)
        if isinstance(node, ast.Name):
            match = re.fullmatch(r"__b(\d+)__", node.id)
            if not match:
                raise DataError(f"{node.id!r} in a constraint is not a coefficient; coefficients are: "
                                + ", ".join(names))
            vector = np.zeros(len(names))
            vector[int(match.group(1))] = 1.0
            return vector, 0.0
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            vector, constant = walk(node.operand)
            sign = -1.0 if isinstance(node.op, ast.USub) else 1.0
            return sign * vector, sign * constant
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
            (a, c), (b, d) = walk(node.left), walk(node.right)
            sign = 1.0 if isinstance(node.op, ast.Add) else -1.0
            return a + sign * b, c + sign * d
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mult, ast.Div)):
            (a, c), (b, d) = walk(node.left), walk(node.right)
            if isinstance(node.op, ast.Div):
                if b.any() or d == 0:
                    raise DataError(f"a constraint divides by a coefficient or zero: {_show(text, names)!r}")
                return a / d, c / d
            if a.any() and b.any():
                raise DataError(f"a constraint multiplies two coefficients (not linear): {_show(text, names)!r}")
            return a * d + b * c, c * d
        raise DataError(f"cannot read the constraint {_show(text, names)!r}: only numbers, coefficient names, "
                        "+, -, * and / are allowed")

    return walk(node)


def _show(text: str, names: list[str]) -> str:
    """The constraint text with the placeholders turned back into coefficient names."""
    return re.sub(r"__b(\d+)__", lambda m: names[int(m.group(1))], text).strip()
