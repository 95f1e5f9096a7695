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
from glmformula.results.refit import refit

if TYPE_CHECKING:
    from glmformula.results.glm_results import GLMResults

_MAX_DOUBLINGS = 12


def profile_conf_int(results: GLMResults, alpha: float = 0.05) -> pd.DataFrame:
    X = results.model_data.design.to_dense()
    params, bse = results.params.to_numpy(), results.bse.to_numpy()
    q = stats.norm.ppf(1 - alpha / 2)
    kept = ~np.isnan(params)
    eta_hat = results.linear_predictor.to_numpy()
    lower, upper = np.full(len(params), np.nan), np.full(len(params), np.nan)

    for j in np.flatnonzero(kept):
        others = kept.copy()
        others[j] = False
        signed_root = _ProfilePath(results, X, j, others, eta_hat, bse[j] / 2).signed_root
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


class _ProfilePath:
    """z_j(b) by refits that each start from the nearest point already fitted, walking there in steps of at
    most ``max_step`` (as MASS's profile walks its grid from the estimate, each fit starting from the last):
    IRLS started from the family's default means, or too far from its solution, can diverge far from the
    estimate (a logistic fit with a large offset)."""

    def __init__(self, results: GLMResults, X: np.ndarray, j: int, others: np.ndarray, eta_hat: np.ndarray,
                 max_step: float):
        self.results, self.X, self.j, self.others, self.max_step = results, X, j, others, max_step
        self.centre = results.params.to_numpy()[j]
        self.fitted = {self.centre: (eta_hat, results.deviance)}  # beta_j -> (linear predictor, deviance) of a fit

    def signed_root(self, value: float) -> float:
        nearest = min(self.fitted, key=lambda b: abs(b - value))
        deviance = self.fitted[nearest][1]
        steps = int(np.ceil(abs(value - nearest) / self.max_step)) if self.max_step > 0 else 1
        for point in np.linspace(nearest, value, steps + 1)[1:] if value != nearest else ():
            deviance = self._fit(point, nearest)
            nearest = point if point in self.fitted else nearest
        results = self.results
        return np.sign(value - self.centre) * np.sqrt(max(deviance - results.deviance, 0.0) / results.scale)

    def _fit(self, value: float, start_from: float) -> float:
        """The profile deviance at ``value``: the lower of the refits from the nearest fit's linear predictor and
        from the family's starting means (the profile is a minimum, and IRLS without a line search can run
        away from either start)."""
        x_j = self.X[:, self.j]
        start = self.fitted[start_from][0] + (value - start_from) * x_j
        matrix, offset = self.X[:, self.others], self.results.model_data.offset + value * x_j
        fits = [refit(self.results, matrix, offset=offset, etastart=start), refit(self.results, matrix, offset=offset)]
        fit = min(fits, key=lambda f: f.deviance if np.isfinite(f.deviance) else np.inf)
        if np.isfinite(fit.deviance):
            self.fitted[value] = (np.array(fit.eta), fit.deviance)
        return fit.deviance


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
