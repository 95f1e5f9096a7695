"""Results of a penalised GLM: coefficients on the original scale, the penalty, no p-values.

Standard errors and p-values of the unpenalised theory do not hold for a
penalised fit, so none are printed; the summary states the penalty and lambda.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from glmformula.report.summary import Summary, format_number, format_statistic


class PenalizedResults:
    """A GLM fitted with a ridge, lasso or elastic-net penalty at one lambda.

    ``alpha`` is the penalty weight, glmnet's lambda (also readable as ``lambda_``), and
    ``l1_ratio`` the mixing, glmnet's alpha; after ``cv_glm``, ``alpha_min`` and ``alpha_1se``
    (also ``lambda_min``, ``lambda_1se``) are glmnet's ``lambda.min`` and ``lambda.1se``.
    """

    def __init__(self, formula, problem, fit, alpha: float, l1_ratio: float, penalty: str):
        self.formula, self._problem, self._fit = formula, problem, fit
        self.alpha, self.l1_ratio, self.penalty = alpha, l1_ratio, penalty
        self.family = problem.family
        values, penalised = [], iter(fit.coefficients)
        for is_penalised in problem.penalised:
            values.append(next(penalised) if is_penalised else fit.intercept)
        self.params = pd.Series(values, index=problem.names, name="coef")
        self.cv_table: pd.DataFrame | None = None
        self.alpha_min = self.alpha_1se = None

    @property
    def lambda_(self) -> float:
        """The penalty weight under glmnet's name (the same as ``alpha``)."""
        return self.alpha

    @property
    def lambda_min(self) -> float | None:
        """glmnet's ``lambda.min`` after ``cv_glm`` (the same as ``alpha_min``)."""
        return self.alpha_min

    @property
    def lambda_1se(self) -> float | None:
        """glmnet's ``lambda.1se`` after ``cv_glm`` (the same as ``alpha_1se``)."""
        return self.alpha_1se

    @property
    def deviance(self) -> float:
        return self._fit.deviance * self._problem.weight_total

    @property
    def nobs(self) -> int:
        return int(np.count_nonzero(self._problem.weights))

    @property
    def df_model(self) -> int:
        """Number of non-zero penalised coefficients (the lasso's degrees of freedom)."""
        return int(np.count_nonzero(self._fit.coefficients))

    @property
    def converged(self) -> bool:
        return self._fit.converged

    @property
    def n_iter(self) -> int:
        return self._fit.n_iter

    def predict(self, newdata: Any = None, type: str = "response") -> pd.Series:  # noqa: A002
        spec = self._problem.frame.spec
        if newdata is None:
            X, offset, index = self._problem.frame.X, self._problem.offset, self._problem.frame.row_labels
        else:
            X = spec.design(newdata).to_numpy(dtype=float)
            offset, index = spec.offset(newdata), newdata.index
        eta = X @ self.params.to_numpy() + offset
        return pd.Series(eta if type == "link" else self.family.link.inverse(eta), index=index, name="fit")

    def summary(self) -> Summary:
        table = pd.DataFrame({"coef": self.params.to_numpy()}, index=self.params.index)
        header = [
            ("Dep. Variable", self._problem.frame.response_name),
            ("Model Family", self.family.name),
            ("Link Function", self.family.link.name),
            ("Penalty", {"l1": "lasso (l1)", "l2": "ridge (l2)"}.get(self.penalty, "elastic net")),
            ("lambda (alpha=)", format_number(self.alpha)),
            ("l1_ratio", f"{self.l1_ratio:g}"),
            ("No. Observations", str(self.nobs)),
            ("Non-zero coefs", str(self.df_model)),
            ("Deviance", format_statistic(self.deviance)),
            ("No. Iterations", str(self.n_iter)),
        ]
        notes = [f"lambda = {self.alpha:.6g} (given as alpha=, scikit-learn's name; in glmnet's terms "
                 f"lambda = {self.alpha:.6g}, alpha = {self.l1_ratio:g}, which is l1_ratio here).",
                 "Penalized fit: standard errors and p-values of unpenalized inference do not apply and are "
                 "not shown.", "Objective: deviance / (2 sum of weights) + lambda * penalty on standardized "
                 "predictors (glmnet's); coefficients on the original scale."]
        if self.alpha_min is not None:
            notes.append(f"Cross-validated: lambda_min = {self.alpha_min:.6g}, lambda_1se = {self.alpha_1se:.6g}.")
        return Summary("Penalized Generalized Linear Model", header, table, notes, header_split=5)

    def __str__(self) -> str:
        return str(self.summary())

    def __repr__(self) -> str:
        return f"<PenalizedResults {self.penalty} lambda={self.alpha:g}: {self.formula!r}>"
