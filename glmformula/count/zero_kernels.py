"""The compiled pass of a zero-inflated (or binary logit) likelihood: log-likelihood, score and information from
the parameters in one pass over the rows, with numpy's row models and design products as the fallback.

``_zero_kernels.c`` evaluates X beta and Z gamma, the row model's derivatives (``row_models``: the reference
implementation; the C follows its formulas) and the products X'(w s), X' diag(-w h) X, X' diag(-w h) Z, ... for
each row in turn, so an evaluation reads the data once and writes no array the data's length (numpy's path
writes about eight of them and reads the designs six times).  It serves:

* the zero-inflated model with the logit zero link and a poisson, negative binomial or geometric count part,
  whole counts (up to ``distributions._TABLE_MAX_COUNT``) and dense or categorical designs;
* the binary model of the logit link (the zero part's start, ``fitting.binomial_start``).

Other links (probit, cloglog, cauchit, log, ...), the hurdle's truncated count part, designs of other
kinds or with more than ``MAX_BLOCKS`` categorical blocks, and more than ``MAX_SMALL`` parameters outside
the largest categorical block (each thread adds into a square of them) take numpy's path.  EM's per-row
work (``em``) has its compiled passes here too.  ``AVAILABLE``: the library loaded; ``in_use()``: and
``glmformula.settings`` allow it (``kernels`` and ``count_kernels``).
"""

from __future__ import annotations

import ctypes
import math
from pathlib import Path

import numpy as np

from glmformula import settings
from glmformula._native import INT, POINTER, load_library, map_ranges, row_ranges
from glmformula.count import distributions
from glmformula.count.row_models import BinaryRows, ZeroInflatedRows
from glmformula.design.categorical import CategoricalDesign
from glmformula.design.dense import DenseDesign
from glmformula.design.kernels import optional_pointers

#: Models of ``gf_zero_pass``.
ZERO_INFLATED, BINARY = 0, 1
#: Count distributions of ``gf_zero_pass``.
_DISTRIBUTIONS = {"poisson": 0, "negbin": 1, "geometric": 2}
#: Categorical blocks over all designs that the pass takes (its tile buffers).
MAX_BLOCKS = 16
#: Parameters outside the largest block up to which the pass runs (each thread adds into a square of them).
MAX_SMALL = 512
#: Entries of the information's accumulators over all row ranges above which ranges are merged.
MAX_ACCUMULATED = 1 << 22


class _Design(ctypes.Structure):
    _fields_ = [("n_dense", INT), ("dense", POINTER), ("dense_index", POINTER), ("n_blocks", INT),
                ("codes", POINTER), ("values", POINTER), ("block_index", POINTER), ("offset", POINTER)]


class _Rows(ctypes.Structure):
    _fields_ = [("y", POINTER), ("counts", POINTER), ("weights", POINTER), ("theta", ctypes.c_double),
                ("dist", INT), ("lgamma_diff", POINTER), ("log_factorial", POINTER), ("digamma_diff", POINTER),
                ("trigamma_diff", POINTER), ("log_theta", ctypes.c_double)]


class _Information(ctypes.Structure):
    _fields_ = [("slot", POINTER), ("n_small", INT), ("small", POINTER), ("table", POINTER), ("diagonal", POINTER)]


_LIBRARY = load_library(Path(__file__).parent, "_zero_kernels", {
    "gf_zero_pass": ([INT] * 5 + [POINTER, POINTER, POINTER, INT, POINTER, POINTER, POINTER], ctypes.c_int),
    "gf_zero_em_working": ([INT, INT, INT, INT, ctypes.c_double] + [POINTER] * 7, None),
    "gf_nb_theta_sums": ([INT, INT, ctypes.c_double] + [POINTER] * 7, None),
})
#: Whether the compiled library loaded (a fact; whether it is used is ``in_use()``).
AVAILABLE = _LIBRARY is not None


def in_use() -> bool:
    """Whether the compiled pass runs: the library loaded and the settings allow it."""
    current = settings.current()
    return AVAILABLE and current.kernels and current.count_kernels


class _DesignRows:
    """A design as the pass reads it (dense block, blocks' codes and values, parameter indices), kept alive."""

    def __init__(self, design, start: int, offset: np.ndarray):
        if isinstance(design, CategoricalDesign):
            dense, dense_positions, blocks = design.dense, design.dense_positions, design.blocks
        else:
            dense, dense_positions, blocks = design.matrix, np.arange(design.n_columns), []
        self.dense = np.ascontiguousarray(dense, dtype=float)
        self.dense_index = np.ascontiguousarray(np.asarray(dense_positions, dtype=np.int64) + start)
        self.codes = [np.ascontiguousarray(block.codes, dtype=np.int32) for block in blocks]
        self.values = [None if block.values is None else np.ascontiguousarray(block.values, dtype=float)
                       for block in blocks]
        self.block_index = [np.ascontiguousarray(np.asarray(block.positions, dtype=np.int64) + start)
                            for block in blocks]
        self.offset = np.ascontiguousarray(offset, dtype=float)
        self.pointers = [optional_pointers(self.codes), optional_pointers(self.values),
                         optional_pointers(self.block_index)]
        self.structure = _Design(self.dense.shape[1], self.dense.ctypes.data, self.dense_index.ctypes.data,
                                 len(blocks), *[ctypes.addressof(p) for p in self.pointers],
                                 self.offset.ctypes.data)

    @property
    def n_blocks(self) -> int:
        return len(self.codes)


def _takes(design) -> bool:
    return isinstance(design, (CategoricalDesign, DenseDesign))


class CompiledPass:
    """``gf_zero_pass`` bound to a likelihood's data: ``(params, order) -> (l, gradient, information)``."""

    def __init__(self, model: int, likelihood, y: np.ndarray, dist_name: str | None, has_theta: bool):
        designs, n_params = likelihood.designs, likelihood.n_params
        self.model, self.n_params, self.has_theta = model, n_params, has_theta
        starts = np.cumsum([0] + [design.n_columns for design in designs])
        self.designs = [_DesignRows(design, int(start), offset) for design, start, offset in
                        zip(designs, starts, likelihood.offsets)]
        self.structures = (_Design * len(designs))(*[d.structure for d in self.designs])
        self.y = np.ascontiguousarray(y, dtype=float)
        self.weights = None if likelihood.unit_weights else np.ascontiguousarray(likelihood.weights, dtype=float)
        self.dist = _DISTRIBUTIONS.get(dist_name, 0)
        self.counts = None
        if model == ZERO_INFLATED:
            counts = distributions._whole_counts(self.y)
            self.counts = None if counts is None else np.ascontiguousarray(counts, dtype=np.int64)
        self._tables: tuple[float, list[np.ndarray]] | None = None
        orthogonal = likelihood.orthogonal_parameters()
        self.large, self.small, self.slot = _split(
            np.zeros(0, dtype=np.int64) if orthogonal is None else orthogonal.astype(np.int64), n_params)

    @classmethod
    def for_likelihood(cls, likelihood) -> CompiledPass | None:
        """The pass of a ``ZeroInflated`` likelihood or of a ``BlockLikelihood`` of ``BinaryRows`` with the logit
        link, or None when it does not serve it (see the module docstring)."""
        if not AVAILABLE or not all(map(_takes, likelihood.designs)):
            return None
        rows = likelihood.rows
        if isinstance(rows, ZeroInflatedRows) and rows.link.name == "logit" and rows.dist.name in _DISTRIBUTIONS:
            compiled = cls(ZERO_INFLATED, likelihood, rows.y, rows.dist.name, likelihood.has_theta)
            if compiled.counts is None:
                return None
        elif isinstance(rows, BinaryRows) and rows.link.name == "logit" and len(likelihood.designs) == 1:
            compiled = cls(BINARY, likelihood, rows.positive, None, False)
        else:
            return None
        fits = sum(d.n_blocks for d in compiled.designs) <= MAX_BLOCKS and len(compiled.small) <= MAX_SMALL
        return compiled if fits else None

    def _count_tables(self, theta: float) -> list[np.ndarray]:
        """lgamma(y + theta) - lgamma(theta), log y!, and the digamma and trigamma differences by count: the
        partial sums of ``distributions`` (the same numbers as numpy's path)."""
        if self._tables is None or self._tables[0] != theta:
            top = int(self.counts.max()) if len(self.counts) else 0
            counts = np.arange(top + 1)
            tables = [distributions.lgamma_difference(counts, theta), distributions.lgamma_difference(counts, 1.0),
                      distributions.digamma_difference(counts, theta),
                      distributions.trigamma_difference(counts, theta)]
            self._tables = (theta, [np.ascontiguousarray(t, dtype=float) for t in tables])
        return self._tables[1]

    def __call__(self, params: np.ndarray, theta: float | None, order: int
                 ) -> tuple[float, np.ndarray | None, np.ndarray | None]:
        """(sum w l, the score, the observed information -H) at ``params`` (the last two None below ``order``)."""
        params = np.ascontiguousarray(params, dtype=float)
        theta = 1.0 if theta is None else float(theta)
        tables = self._count_tables(theta) if self.model == ZERO_INFLATED else [None] * 4
        rows = _Rows(self.y.ctypes.data, None if self.counts is None else self.counts.ctypes.data,
                     None if self.weights is None else self.weights.ctypes.data, theta, self.dist,
                     *[None if t is None else t.ctypes.data for t in tables], 0.0)
        size, n_small, n_large = self.n_params, len(self.small), len(self.large)
        theta_index = size - 1 if self.has_theta else -1

        def run(start: int, stop: int):
            sums, gradient = np.zeros(6), np.zeros(size)
            accumulators = None
            if order >= 2:
                accumulators = (np.zeros((n_small, n_small)), np.zeros((n_large, n_small)), np.zeros(n_large))
                information = _Information(self.slot.ctypes.data, n_small, *[a.ctypes.data for a in accumulators])
            status = _LIBRARY.gf_zero_pass(start, stop, self.model, order, len(self.designs), self.structures,
                                           ctypes.byref(rows), params.ctypes.data, theta_index, sums.ctypes.data,
                                           gradient.ctypes.data, ctypes.byref(information) if order >= 2 else None)
            if status != 0:
                raise ValueError(f"the zero-inflated pass takes at most {MAX_BLOCKS} categorical blocks")
            return sums, gradient, accumulators

        accumulated = (n_large + n_small) * n_small + n_large if order >= 2 else 0
        parts = map_ranges(run, _ranges(len(self.y), accumulated))
        loglik = math.fsum(s for part in parts for s in part[0][:2])
        if order < 1:
            return loglik, None, None
        gradient = np.sum([part[1] for part in parts], axis=0)
        if self.has_theta:
            gradient[-1] = math.fsum(s for part in parts for s in part[0][2:4])
        if order < 2:
            return loglik, gradient, None
        return loglik, gradient, self._information(parts)

    def em_working(self, part: int, eta_count: np.ndarray, eta_zero: np.ndarray, weights_out: np.ndarray,
                   response_out: np.ndarray | None, theta: float | None) -> bool:
        """EM's working weights and response of ``part`` (0 count, 1 zero; 2: the count part's prior weights
        (1 - z) w alone) written into the outputs (``em``; ``gf_zero_em_working``); False when the arrays are not
        as the pass reads them (numpy's path then)."""
        arrays = [eta_count, eta_zero, weights_out] + ([] if response_out is None else [response_out])
        if self.model != ZERO_INFLATED or not all(map(_contiguous, arrays)):
            return False
        offset = self.designs[0 if part == 0 else 1].offset
        prior = None if self.weights is None else self.weights.ctypes.data
        fixed = (part, self.dist, 1.0 if theta is None else float(theta), self.y.ctypes.data, eta_count.ctypes.data,
                 eta_zero.ctypes.data, offset.ctypes.data, prior, weights_out.ctypes.data,
                 None if response_out is None else response_out.ctypes.data)
        map_ranges(lambda start, stop: _LIBRARY.gf_zero_em_working(start, stop, *fixed), _ranges(len(self.y)))
        return True

    def theta_sums(self, mu: np.ndarray, weights: np.ndarray, theta: float) -> tuple[float, float] | None:
        """(sum w s_t, sum w h_tt) of the negative binomial's log f in log theta at ``mu`` (EM's theta step), or
        None when the pass does not take it."""
        if self.model != ZERO_INFLATED or self.dist != 1 or not (_contiguous(mu) and _contiguous(weights)):
            return None
        tables = self._count_tables(theta)
        fixed = (float(theta), self.y.ctypes.data, self.counts.ctypes.data, mu.ctypes.data, weights.ctypes.data,
                 tables[2].ctypes.data, tables[3].ctypes.data)
        ranges = _ranges(len(self.y))
        sums = np.zeros((len(ranges), 4))
        map_ranges(lambda index: _LIBRARY.gf_nb_theta_sums(*ranges[index], *fixed, sums[index].ctypes.data),
                   [(index,) for index in range(len(ranges))])
        return math.fsum(sums[:, :2].ravel()), math.fsum(sums[:, 2:].ravel())

    def _information(self, parts) -> np.ndarray:
        """-H from the accumulators of the row ranges (see ``_zero_kernels.c``)."""
        small, table, diagonal = (np.sum([part[2][k] for part in parts], axis=0) for k in range(3))
        small_diagonal = np.diag(small).copy()
        small += small.T
        small[np.diag_indices_from(small)] -= small_diagonal
        information = np.zeros((self.n_params, self.n_params))
        information[np.ix_(self.small, self.small)] = small
        information[np.ix_(self.large, self.small)] = table
        information[np.ix_(self.small, self.large)] = table.T
        information[self.large, self.large] = diagonal
        if self.has_theta:
            information[-1, -1] = -math.fsum(s for part in parts for s in part[0][4:6])
        return information


def _contiguous(array: np.ndarray) -> bool:
    return array.flags.c_contiguous and array.dtype == np.float64


def _split(large: np.ndarray, n_params: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(B, S, slot): the levels of the large block, the other parameters, and each parameter's slot (its position
    in S, or -1 - its level in B)."""
    in_large = np.zeros(n_params, dtype=bool)
    in_large[large] = True
    small = np.flatnonzero(~in_large)
    slot = np.empty(n_params, dtype=np.int64)
    slot[small] = np.arange(len(small))
    slot[large] = -1 - np.arange(len(large))
    return large, small, slot


def _ranges(n: int, accumulated: int = 0) -> list[tuple[int, int]]:
    """``_native.row_ranges``: several row ranges a thread, handed out as threads finish (a core slowed by another
    process takes fewer); each range adds into its own ``accumulated`` entries, so that ranges whose accumulators
    would pass ``MAX_ACCUMULATED`` entries in all are merged, one a thread (or one in all)."""
    ranges = row_ranges(n)
    if accumulated * len(ranges) <= MAX_ACCUMULATED:
        return ranges
    threads = max(1, min(len(ranges), MAX_ACCUMULATED // max(1, accumulated)))
    threads = min(threads, max(1, len(ranges) // settings.current().ranges_per_thread))
    bounds = [n * part // threads for part in range(threads + 1)]
    return list(zip(bounds[:-1], bounds[1:]))
