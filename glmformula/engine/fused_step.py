"""IRLS's step under the log link in one compiled pass (poisson, gamma and negative binomial fits).

After each weighted least squares solve, R's loop computes eta = X beta + offset,
mu = linkinv(eta) and the deviance, checks eta and mu, and (in the next iteration)
the working response and weights.  In numpy that is half a dozen passes over the
rows besides the one that reads X; for a design of a few columns and ten million
rows they cost more than the cross-product itself.  Two compiled passes do all of it:

* variance mu^p (poisson, gamma): ``engine.log_step_kernel.log_step`` reads X once and
  computes everything else in the same pass, with a vectorised exp;
* the negative binomial's mu + mu^2 / theta: the design's X beta (``Design.dot``, into the
  eta buffer), then ``families.log_link.NegativeBinomialStep``, one pass for the rest.

The next iteration then starts from the z and w it wrote.  Under poisson without prior weights the working
weights are the means (mu^2 / mu), and the step writes the means only (``means_are_weights``).

It serves fits whose family says how (``Family.log_step_response``: a log link on
a variance the passes know, ``log_link.LogVariance``) with every prior weight
positive and, for mu^p, a design that hands over its arrays (``kernel_parts``).
Whatever the pass cannot vouch for (an eta that is not finite or would overflow
exp, a working value that is not finite) makes it return None, and IRLS takes its
generic path for that step, which reports or halves as R does.
"""

from __future__ import annotations

import numpy as np

from glmformula.engine import log_step_kernel as kernels
from glmformula.engine.unit_weights import all_ones, unit_weights
from glmformula.families import log_link
from glmformula.families.base import Family


class FusedLogStep:
    """The compiled step for one fit: y, log y, prior weights and offset fixed, and the buffers it writes
    (eta, mu and z) too; the design, beta and the buffer of the working weights change per call.

    ``means_are_weights``: a poisson fit without prior weights (or with every one 1) has working weights
    mu^2 / mu = mu, and the step writes its means into the weights' buffer alone (no mu buffer: IRLS reads
    the means there); ``log_y`` None: the pass takes log y row by row (``log_link.logs_in_pass``), and the
    fit keeps no array of it.
    """

    def __init__(self, variance: log_link.LogVariance, y: np.ndarray, log_y: np.ndarray | None,
                 prior_weights: np.ndarray, offset: np.ndarray, buffers: tuple):
        self.log_y, self._y, self._variance, self._eta = log_y, y, variance, buffers[0]
        eta, mu, z, weights = buffers
        self.means_are_weights = not variance.negative_binomial and variance.power == 1 and all_ones(prior_weights)
        if self.means_are_weights:  # the kernel reads NULL as every prior weight 1
            prior_weights, mu = unit_weights(len(y)), None
        elif callable(mu):
            mu = mu()
        if variance.negative_binomial:
            self._pass = log_link.NegativeBinomialStep(variance.theta, offset, y, prior_weights, eta, mu, z, weights)
        else:
            self._pass = kernels.LogStep(offset, y, log_y, prior_weights, variance.power, eta, mu, z, weights)

    @classmethod
    def for_fit(cls, family: Family, y: np.ndarray, prior_weights: np.ndarray, offset: np.ndarray,
                buffers: tuple) -> FusedLogStep | None:
        """The fused step for this fit, or None when the generic path must do every step.

        ``buffers`` are (eta, mu, z, (w, w')): C-contiguous float64 arrays of the data's length that
        every call overwrites (w, w': the negative binomial's weights go into the one of them it is given).
        mu may be a function giving its buffer, called only when the step writes means apart from weights
        (not under ``means_are_weights``).
        """
        if y.ndim != 1 or not (len(y) and prior_weights.min() > 0):
            return None
        response = family.log_step_response(y)
        if response is None:
            return None
        variance, log_y = response
        if not (log_link.in_use() if variance.negative_binomial else kernels.in_use()):
            return None
        return cls(variance, y, log_y, prior_weights, offset, buffers)

    @property
    def weights_are_prior(self) -> bool:
        """Whether the working weights it writes are the prior weights themselves, at every call (gamma:
        mu_eta^2 / V(mu) = mu^2 / mu^2 is exactly 1 for every mu the pass accepts), so that X'WX is the
        same at every iteration."""
        return self._variance.power == 2

    def starts_at_y(self, mustart: np.ndarray) -> bool:
        """Whether the starting means are y itself, all positive (as the gamma family starts), so that the
        starting linear predictor log(mustart) is the log y taken already (when the pass took it)."""
        y = self._y
        return (self.log_y is not None and mustart.shape == y.shape and bool(np.array_equal(mustart[:64], y[:64]))
                and bool(np.array_equal(mustart, y)) and y.min() > 0)

    def __call__(self, design, coefficients: np.ndarray, w: np.ndarray) -> float | None:
        """Write eta, mu, z and ``w`` for ``coefficients`` (with ``means_are_weights``, the means into ``w``);
        return the deviance, or None (not usable)."""
        if self._variance.negative_binomial:
            eta = design.dot(coefficients, out=self._eta)
            if eta is not self._eta:
                np.copyto(self._eta, eta)
            return self._pass(True, w)
        parts = design.kernel_parts(coefficients)
        if parts is None:
            return None
        dense, beta_dense, codes, beta_blocks, intercept = parts
        return self._pass(dense, beta_dense, codes, beta_blocks, w, intercept)

    def start(self, w: np.ndarray) -> float | None:
        """The same from a given linear predictor (IRLS's start), which the eta buffer holds, offset included."""
        if self._variance.negative_binomial:
            return self._pass(False, w)
        return self._pass(None, None, [], [], w)
