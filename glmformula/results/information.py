"""Information criteria shared by every likelihood-based results class."""

from __future__ import annotations

import numpy as np


class InformationCriteria:
    """AIC = -2 llf + 2 k and BIC = -2 llf + log(nobs) k, with k = ``df_loglik`` (the estimated parameters).

    The class using it provides ``llf``, ``nobs`` and ``df_loglik``.
    """

    @property
    def aic(self) -> float:
        return -2 * self.llf + 2 * self.df_loglik

    @property
    def bic(self) -> float:
        return -2 * self.llf + np.log(self.nobs) * self.df_loglik
