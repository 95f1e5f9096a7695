"""IRLS's elementwise work under the log link for V = mu^p, p = 1 (poisson) or 2 (gamma), and for the
negative binomial's V = mu + mu^2 / theta (with the sums of ``glm.nb``'s theta and log-likelihood).

The deviance takes log(y) once per fit and log(mu) = max(eta, log(eps)) (the
link floors mu at eps), which saves two logarithms per row and iteration:

    p = 1:  2 sum w (y (log y - log mu) - (y - mu))
    p = 2:  2 sum w (log mu - log y + y / mu - 1)

With the compiled library (``_log_link.c``) it and the working response and
weights take one pass over the rows; without it (or with ``glmformula.settings``'
``kernels`` or ``log_link_kernels`` off) numpy computes the same numbers by row
chunks.

numpy is the reference implementation: ``by_chunks`` below, and the families'
``unit_deviance`` and IRLS's generic working response.  The C per-row formulas,
shared by ``_log_link.c`` and the fused step of ``design/_kernels.c``, are in
``log_link_math.h``; the tests compare both compiled passes with numpy.

The negative binomial (theta known) has the same passes with its own per-row math,

    deviance / 2 = sum w (y (log y - log mu) - (y + theta) log((y + theta) / (mu + theta)))
    w            = prior mu^2 / (mu + mu^2 / theta)

and ``NegativeBinomialStep``: IRLS's step after X beta (mean, deviance, next z and w) in one pass.  These
run on row ranges on threads (``glmformula._native``); numpy computes the same by row chunks.
"""

from __future__ import annotations

import ctypes
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from glmformula import settings
from glmformula._native import INT, POINTER, load_library, map_ranges, row_ranges
from glmformula.engine.unit_weights import contiguous_or_none
from glmformula.families.base import chunk_rows, chunks, log_of_mean, log_or_zero
from glmformula.families.ranges import weighted_sum

_LIBRARY = load_library(Path(__file__).parent, "_log_link", {
    "gf_log_working": ([INT, INT] + [POINTER] * 7, ctypes.c_int),
    "gf_log_deviance": ([INT, INT] + [POINTER] * 5, ctypes.c_double),
    "gf_nb_step": ([INT, INT, ctypes.c_double, INT] + [POINTER] * 8, ctypes.c_int),
    "gf_nb_working": ([INT, INT, ctypes.c_double] + [POINTER] * 7, ctypes.c_int),
    "gf_nb_half_deviance": ([INT, INT, ctypes.c_double] + [POINTER] * 5, ctypes.c_double),
    "gf_nb_sums": ([INT, INT, INT, ctypes.c_double] + [POINTER] * 4, None),
})
#: Whether the compiled library loaded (a fact; whether it is used is ``in_use()``).
AVAILABLE = _LIBRARY is not None


def in_use() -> bool:
    """Whether the compiled pass runs: the library loaded and the settings allow it."""
    current = settings.current()
    return AVAILABLE and current.kernels and current.log_link_kernels


@dataclass(frozen=True)
class LogVariance:
    """A variance function whose IRLS step under the log link a compiled pass takes
    (``Family.log_step_response``): V(mu) = mu^power, power 1 (poisson) or 2 (gamma), or with ``theta``
    finite the negative binomial's mu + mu^2 / theta (power 1)."""

    power: int
    theta: float = math.inf

    @property
    def negative_binomial(self) -> bool:
        return math.isfinite(self.theta)


def _contiguous(*arrays: np.ndarray) -> list[np.ndarray]:
    return [np.ascontiguousarray(a, dtype=float) for a in arrays]


def _address(array: np.ndarray | None) -> int | None:
    """The data address of a C-contiguous array, None (NULL: every weight 1) for none."""
    return None if array is None else array.ctypes.data


def working_function(power: int, y: np.ndarray, prior_weights: np.ndarray, offset: np.ndarray):
    """(eta, mu, z_out, w_out) -> bool writing z and w in one pass (False: IRLS's generic path must take
    over), or None when the compiled pass is not in use."""
    if not in_use():
        return None
    (y, offset), prior_weights = _contiguous(y, offset), contiguous_or_none(prior_weights)

    def working(eta, mu, z_out, w_out) -> bool:
        eta, mu = _contiguous(eta, mu)
        if not (z_out.flags.c_contiguous and w_out.flags.c_contiguous):
            return False
        status = _LIBRARY.gf_log_working(len(y), power, y.ctypes.data, eta.ctypes.data, mu.ctypes.data,
                                         offset.ctypes.data, _address(prior_weights), z_out.ctypes.data,
                                         w_out.ctypes.data)
        return status == 0

    return working


#: The range of y a compiled pass takes its log in (``gf_log_response`` in ``log_link_math.h``): 0, or positive,
#: normal and finite.
_SMALLEST_NORMAL, _LARGEST = float(np.finfo(float).tiny), float(np.finfo(float).max)


def logs_in_pass(y: np.ndarray) -> bool:
    """Whether the compiled passes may take log y themselves, row by row, instead of reading an array of it:
    every y is 0 or positive, normal and finite (the range of their vectorised log).  By row chunks: no
    temporary the data's length."""
    for rows in chunks(len(y)):
        chunk = y[rows]
        if chunk.size and not (chunk.min() >= 0 and chunk.max() <= _LARGEST
                               and np.min(chunk, where=chunk > 0, initial=1.0) >= _SMALLEST_NORMAL):
            return False
    return True


def deviance_function(power: int, y: np.ndarray, log_y: np.ndarray | None, weights: np.ndarray, log_response=None):
    """(eta, mu) -> the deviance (see the module docstring); ``log_y`` is log(y), 0 where y = 0.

    ``log_y`` None: no array of it is kept.  The compiled pass then takes log y row by row when ``logs_in_pass``
    allows (else ``log_response(y)``, the family's log y, is taken once), numpy's by row chunks."""
    if in_use():
        if log_y is None and not logs_in_pass(y):
            log_y = log_response(y)
        (y,), weights = _contiguous(y), contiguous_or_none(weights)
        log_y = None if log_y is None else _contiguous(log_y)[0]

        def compiled(eta, mu) -> float:
            eta, mu = _contiguous(eta, mu)
            return float(_LIBRARY.gf_log_deviance(len(y), power, y.ctypes.data, _address(log_y),
                                                  _address(weights), eta.ctypes.data, mu.ctypes.data))

        return compiled
    size = chunk_rows()
    scratch, ratio = np.empty(min(len(y), size)), np.empty(min(len(y), size))  # reused by each call

    def by_chunks(eta, mu) -> float:
        total = 0.0
        for rows in chunks(len(y), size):
            log_mu = log_of_mean(eta[rows], out=scratch[: len(y[rows])])
            chunk_log_y = log_response(y[rows]) if log_y is None else log_y[rows]
            if power == 1:
                unit = np.subtract(chunk_log_y, log_mu, out=log_mu)
                unit *= y[rows]
                unit -= y[rows]
                unit += mu[rows]
            else:
                unit = np.subtract(log_mu, chunk_log_y, out=log_mu)
                unit += np.divide(y[rows], mu[rows], out=ratio[: len(unit)])
                unit -= 1.0
            total += weighted_sum(weights[rows], unit)
        return 2.0 * total

    return by_chunks


# -- the negative binomial ---------------------------------------------------------------------------------


def nb_working_function(theta: float, y: np.ndarray, prior_weights: np.ndarray, offset: np.ndarray):
    """The negative binomial's (eta, mu, z_out, w_out) -> bool (see ``working_function``), or None."""
    if not in_use():
        return None
    (y, offset), prior_weights = _contiguous(y, offset), contiguous_or_none(prior_weights)
    ranges = row_ranges(len(y))

    def working(eta, mu, z_out, w_out) -> bool:
        eta, mu = _contiguous(eta, mu)
        if not (z_out.flags.c_contiguous and w_out.flags.c_contiguous):
            return False
        addresses = [_address(a) for a in (y, eta, mu, offset, prior_weights, z_out, w_out)]
        return not any(map_ranges(lambda start, stop: _LIBRARY.gf_nb_working(start, stop, theta, *addresses),
                                  ranges))

    return working


def nb_deviance_function(theta: float, y: np.ndarray, log_y: np.ndarray | None, weights: np.ndarray):
    """The negative binomial's (eta, mu) -> deviance under the log link, with log mu = max(eta, log eps) and
    ``log_y`` = log(y), 0 where y = 0 (see the module docstring); None: taken at the first call (a fit whose
    steps are fused calls it only to halve a step)."""
    logs = [log_y]

    def log_response() -> np.ndarray:
        if logs[0] is None:
            logs[0] = log_or_zero(y)
        return logs[0]

    if in_use():
        y, weights = _contiguous(y)[0], contiguous_or_none(weights)
        ranges = row_ranges(len(y))

        def compiled(eta, mu) -> float:
            eta, mu, log_y = _contiguous(eta, mu, log_response())
            addresses = [_address(a) for a in (y, log_y, weights, eta, mu)]
            halves = map_ranges(lambda start, stop: _LIBRARY.gf_nb_half_deviance(start, stop, theta, *addresses),
                                ranges)
            return 2.0 * math.fsum(halves)

        return compiled
    size = chunk_rows()

    def by_chunks(eta, mu) -> float:
        log_y, total = log_response(), 0.0
        for rows in chunks(len(y), size):
            y_rows = y[rows]
            log_mu = log_of_mean(eta[rows], out=np.empty(len(y_rows)))
            unit = np.subtract(log_y[rows], log_mu, out=log_mu)
            unit *= y_rows
            unit -= (y_rows + theta) * np.log((y_rows + theta) / (mu[rows] + theta))
            total += weighted_sum(weights[rows], unit)
        return 2.0 * total

    return by_chunks


#: gf_nb_sums's kinds: theta.ml's start, a Newton step of theta.ml, the log-likelihood's terms in mu, and
#: sum w y log y (the deviance's term in y alone).
NB_START, NB_NEWTON, NB_LOGLIK, NB_Y_LOG_Y = 0, 1, 2, 3


def nb_sums(kind: int, theta: float, y: np.ndarray, mu: np.ndarray,
            weights: np.ndarray | None) -> tuple[float, float] | None:
    """The sums over rows in mu of ``glm.nb``'s theta.ml and log-likelihood in one compiled pass (``gf_nb_sums``
    in ``_log_link.c`` says which; ``weights`` None: all 1, not read), or None when the compiled pass is not in
    use (numpy's then)."""
    if not in_use():
        return None
    y, mu = _contiguous(y, mu)
    weights = None if weights is None else contiguous_or_none(weights)
    addresses = [y.ctypes.data, mu.ctypes.data, _address(weights)]
    ranges = row_ranges(len(y))
    sums = np.zeros((len(ranges), 2))

    def run(index: int) -> None:
        start, stop = ranges[index]
        _LIBRARY.gf_nb_sums(start, stop, kind, theta, *addresses, sums[index].ctypes.data)

    map_ranges(run, [(index,) for index in range(len(ranges))])
    return math.fsum(sums[:, 0]), math.fsum(sums[:, 1])


class NegativeBinomialStep:
    """IRLS's step for the negative binomial (theta known) under the log link after X beta, in one compiled
    pass: eta += offset, mu = max(exp(eta), eps), the deviance and the next z and w (``gf_nb_step``), bound to
    one fit's fixed arrays (offset, y, prior weights) and the buffers it writes (eta, mu, z and the two
    working-weight buffers IRLS alternates between).  The deviance's term in y alone, sum w y log y, is summed
    once, when the step is made: no array of log y is taken."""

    def __init__(self, theta: float, offset: np.ndarray, y: np.ndarray, prior: np.ndarray,
                 eta: np.ndarray, mu: np.ndarray, z: np.ndarray, weights: tuple[np.ndarray, np.ndarray]):
        n = len(y)
        if not all(a.flags.c_contiguous and a.dtype == np.float64 and a.shape == (n,) for a in (eta, mu, z, *weights)):
            raise ValueError("the outputs of the negative binomial step must be C-contiguous float64 arrays of "
                             "the data's length")
        self._theta = float(theta)
        # kept alive while their addresses are used; prior None: all 1 (NULL)
        self._arrays = (*_contiguous(offset, y), contiguous_or_none(prior), eta, mu, z)
        self._addresses = [_address(array) for array in self._arrays]
        self._weights = weights
        self._ranges = row_ranges(n)
        self._halves = np.zeros(len(self._ranges))
        self._y_log_y = nb_sums(NB_Y_LOG_Y, self._theta, self._arrays[1], self._arrays[1], self._arrays[2])[0]

    def __call__(self, add_offset: bool, w: np.ndarray) -> float | None:
        """Writes eta (+ offset when ``add_offset``), mu, z and ``w`` (one of the two weight buffers) from the
        eta buffer; returns the deviance, or None when a value fell outside the pass's range (the outputs are
        then not to be used)."""
        if not any(w is buffer for buffer in self._weights):
            raise ValueError("the negative binomial step writes its weights into one of the two buffers it was given")
        offset, y, prior, eta, mu, z = self._addresses
        fixed = (self._theta, int(add_offset), offset, y, prior, eta, mu, z, w.ctypes.data)
        ranges, halves, halves_address = self._ranges, self._halves, self._halves.ctypes.data

        def run(index: int) -> int:
            start, stop = ranges[index]
            return _LIBRARY.gf_nb_step(start, stop, *fixed, halves_address + 8 * index)

        if any(map_ranges(run, [(index,) for index in range(len(ranges))])):
            return None
        return 2.0 * math.fsum([*halves, self._y_log_y])
