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
