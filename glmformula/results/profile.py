"""Profile-likelihood confidence intervals (as ``confint`` on a glm in MASS / R >= 4.4).

For coefficient j the profile deviance D_j(b) refits every other coefficient
with beta_j fixed at b (x_j b moves into the offset).  The signed root

    z_j(b) = sign(b - b_hat) sqrt((D_j(b) - D) / phi)

is compared with standard normal quantiles: the interval is {b : |z_j(b)| <= q},
q = Phi^{-1}(1 - alpha/2), found here by root finding rather than MASS's
spline through a coarse grid.  A side where z never reaches q (a separated or
flat likelihood) is reported as infinite, with a warning.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import optimize, stats

from glmformula.exceptions import ConvergenceWarning
from glmformula.results.anova import refit

if TYPE_CHECKING:
    from glmformula.results.glm_results import GLMResults

_MAX_DOUBLINGS = 12


def profile_conf_int(results: GLMResults, alpha: float = 0.05) -> pd.DataFrame:
    X = results.model_data.design.to_dense()
    params, bse = results.params.to_numpy(), results.bse.to_numpy()
    q = stats.norm.ppf(1 - alpha / 2)
    phi, deviance = results.scale, results.deviance
    kept = ~np.isnan(params)
    lower, upper = np.full(len(params), np.nan), np.full(len(params), np.nan)

    for j in np.flatnonzero(kept):
        others = kept.copy()
        others[j] = False

        def signed_root(value: float, j=j, others=others) -> float:
            fit = refit(results, X[:, others], offset=results.model_data.offset + value * X[:, j])
            return np.sign(value - params[j]) * np.sqrt(max(fit.deviance - deviance, 0.0) / phi)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # refits far out may not converge; the bracket handles it
            bounds = [_solve(signed_root, params[j], bse[j], direction, q) for direction in (-1.0, 1.0)]
        lower[j], upper[j] = bounds
        if not np.all(np.isfinite(bounds)):
            warnings.warn(
                f"the profile of {results.params.index[j]} does not reach the interval's level on one side "
                "(a flat or separated likelihood): that bound is infinite",
                ConvergenceWarning,
                stacklevel=3,
            )
    return pd.DataFrame({f"{alpha / 2:g}": lower, f"{1 - alpha / 2:g}": upper}, index=results.params.index)


def _solve(signed_root, centre: float, step: float, direction: float, q: float) -> float:
    target = direction * q
    near = centre
    far = centre + direction * step
    for _ in range(_MAX_DOUBLINGS):
        value = signed_root(far)
        if direction * (value - target) >= 0:
            return optimize.brentq(lambda b: signed_root(b) - target, min(near, far), max(near, far), xtol=1e-12,
                                   rtol=1e-10)
        near, far = far, centre + 2 * (far - centre)
    return direction * np.inf
