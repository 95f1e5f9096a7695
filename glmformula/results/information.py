"""Information criteria shared by every likelihood-based results class."""

from __future__ import annotations

import numpy as np


class InformationCriteria:
    """AIC = -2 llf + 2 k and BIC = -2 llf + log(n) k, with k = ``df_loglik`` (the estimated parameters).

    The class using it provides ``llf``, ``nobs`` and ``df_loglik``; n is ``nobs_bic``,
    which is ``nobs`` unless the class says otherwise.
    """

    @property
    def nobs_bic(self) -> int:
        """The n of BIC's log(n)."""
        return self.nobs

    @property
    def aic(self) -> float:
        return -2 * self.llf + 2 * self.df_loglik

    @property
    def bic(self) -> float:
        return -2 * self.llf + np.log(self.nobs_bic) * self.df_loglik


class NegativeBinomialTheta:
    """theta, its standard error and statsmodels' alpha of a negative binomial fit, for every GLM results class.

    The class using it provides ``theta_estimate`` (an estimated theta, or None) and ``family`` (whose
    ``theta`` is a given one)."""

    @property
    def theta(self) -> float | None:
        """Negative binomial theta (estimated, or as given); None for other families."""
        if self.theta_estimate is not None:
            return self.theta_estimate.theta
        return getattr(self.family, "theta", None)

    @property
    def theta_se(self) -> float | None:
        """Standard error of an estimated theta (from its observed information, as MASS)."""
        return self.theta_estimate.se if self.theta_estimate is not None else None

    @property
    def alpha(self) -> float | None:
        """statsmodels' negative binomial parameter alpha = 1 / theta."""
        return None if self.theta is None else 1.0 / self.theta
