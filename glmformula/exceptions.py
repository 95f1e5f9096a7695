"""Exceptions and warnings raised by glmformula.

Every error a user can trigger with bad input derives from ``GLMFormulaError``
(itself a ``ValueError``), so ``except ValueError`` keeps working for callers
who do not care which stage failed.  Statistical trouble that still yields a
result is reported with a warning subclass of ``GLMWarning``.
"""

from __future__ import annotations


class GLMFormulaError(ValueError):
    """Base class for errors caused by the user's input."""


class FormulaError(GLMFormulaError):
    """The formula cannot be parsed or uses a construct that is not allowed."""


class UnsafeFormulaError(FormulaError):
    """The formula contains Python that the restricted evaluator refuses to run."""


class MissingColumnError(FormulaError, KeyError):
    """A name in the formula (or newdata) is not a column of the data."""

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return str(self.args[0]) if self.args else ""


class DataError(GLMFormulaError):
    """The data cannot be used: wrong lengths, non-finite values, nothing left."""


class ResponseError(DataError):
    """The response is not valid for the chosen family."""


class FamilyError(GLMFormulaError):
    """Unknown family or link name, or invalid family parameters."""


class FitError(GLMFormulaError):
    """The fitting algorithm cannot proceed (no valid starting values, ...)."""


class GLMWarning(UserWarning):
    """Base class for statistical warnings."""


class ConvergenceWarning(GLMWarning):
    """IRLS stopped before the convergence criterion was met."""


class BoundaryWarning(GLMWarning):
    """Step-halving was needed or the fit ended on the boundary of the space."""


class PerfectSeparationWarning(GLMWarning):
    """Fitted probabilities or rates numerically 0 (or 1) occurred."""


class NonIntegerResponseWarning(GLMWarning):
    """Counts or successes that are not whole numbers for poisson/binomial."""


class OverdispersionWarning(GLMWarning):
    """The data contradict the dispersion assumed (e.g. no overdispersion for a negative binomial)."""


class RankDeficiencyWarning(GLMWarning):
    """The design is rank deficient; some coefficients are aliased (NaN)."""
