"""One partition of a Dask fit on its worker: its arrays, built once, and the passes over them.

``PartitionModel`` says how a pandas partition becomes arrays (the formula, the categorical
levels learned from the whole data, the transform state learned from the whole data);
``PartitionData`` holds those arrays (the design as blocks of codes, never dummies) with the
in-memory engine's pass (``engine.memory_pass.InMemoryPass``: its buffers, the fused log-link
step) so that every distributed pass does on each partition exactly what an in-memory pass does
on all rows.  The operations (``point``, ``summaries``, ...) are stateless functions of their
arguments: a partition may be rebuilt from its source at each pass (out-of-core data) or kept
on its worker between passes (data in memory), with the same result.

Each operation returns a dict of partial sums that ``combine`` adds (``valid`` by and, the
largest |y| by max); only such sums, of size p x p at most, leave a worker.
"""

from __future__ import annotations

import pickle
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from glmformula.design.categorical import CategoricalDesign
from glmformula.design.dense import DenseDesign
from glmformula.engine.block_gram import BlockGram
from glmformula.engine.irls import WorkingResiduals
from glmformula.engine.memory_pass import InMemoryPass
from glmformula.exceptions import FormulaError
from glmformula.families.base import Family
from glmformula.families.standard import Binomial
from glmformula.formula.frame import FormulaSpec, build_model_frame


def as_levels(values: pd.Series, levels: list) -> pd.Categorical:
    """``values`` as a categorical of exactly ``levels`` (values outside them missing), as
    ``pd.Categorical(values, categories=levels)`` but text backed by Arrow (what ``read_parquet`` gives) is
    looked up by Arrow's hash table: pandas would first make a Python object of every row's value."""
    if not isinstance(values.dtype, pd.CategoricalDtype) and pd.api.types.is_string_dtype(values.dtype) and hasattr(
            values.array, "__arrow_array__") and all(isinstance(level, str) for level in levels):
        import pyarrow as pa
        import pyarrow.compute as pc

        codes = pc.index_in(pa.array(values.array), value_set=pa.array(levels, type=pa.string()))
        return pd.Categorical.from_codes(codes.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int32),
                                         categories=pd.Index(levels))
    return pd.Categorical(values, categories=levels)


def _aligned(partition: pd.DataFrame) -> bool:
    """Whether every numeric column's memory is aligned.  A partition unpickled on a worker may hold its
    columns in misaligned buffers, which compiled code refuses (scipy's splines: "Expected a 1-dim C
    contiguous array"): such a partition is copied; one read from files is used as it is."""
    return all(partition.iloc[:, position].to_numpy().flags.aligned
               for position, dtype in enumerate(partition.dtypes) if dtype.kind in "fiub")


@dataclass(frozen=True)
class PartitionModel:
    """How every partition is turned into arrays: the formula, the categorical levels and (for stateful
    transforms) the spec whose transform state was learned from the whole data, replayed per partition."""

    formula: str
    levels: dict[str, list]
    weights: str | None
    offset: str | None
    exposure: str | None
    na_action: str
    family: Family
    columns: list[str]
    replay: FormulaSpec | None = None

    @property
    def transform_state(self) -> dict | None:
        """The whole data's state of the formula's stateful transforms (None without them)."""
        return None if self.replay is None else self.replay.model_spec.transform_state

    def frame_of(self, partition: pd.DataFrame):
        """The model frame of one partition (its categoricals cast to the learned levels)."""
        if not _aligned(partition):
            partition = partition.copy()
        partition = partition.assign(**{column: as_levels(partition[column], levels)
                                        for column, levels in self.levels.items()})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frame = build_model_frame(self.formula, partition, weights=self.weights, offset=self.offset,
                                      exposure=self.exposure, na_action=self.na_action,
                                      categorical_response=isinstance(self.family, Binomial),
                                      drop_unused_levels=False, transform_state=self.transform_state)
        if frame.column_names != self.columns:
            raise FormulaError("a partition was encoded with different columns; check the categorical levels")
        return frame

    def data(self, partition: pd.DataFrame) -> PartitionData | None:
        """The ``PartitionData`` of one partition (None when it has no rows)."""
        if len(partition) == 0:
            return None
        frame = self.frame_of(partition)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            response = self.family.initialize(frame.y, frame.weights)
        return PartitionData(frame.design, response.y, response.prior_weights, frame.offset, response.n_trials,
                             response.mustart, frame.n_dropped)


class PartitionData:
    """The arrays of one partition and, per family and column subset, the in-memory engine's pass over them
    (at most ``PASSES_KEPT`` of those, each with its buffers)."""

    PASSES_KEPT = 2

    def __init__(self, design, y, prior_weights, offset, n_trials, mustart, dropped: int):
        self.design, self.y, self.prior_weights, self.offset = design, y, prior_weights, offset
        self.n_trials, self.mustart, self.dropped = n_trials, mustart, dropped
        self._passes: OrderedDict = OrderedDict()
        self._mu: tuple | None = None
        self.constants = {
            "nobs": int(np.count_nonzero(prior_weights)), "rows": len(y), "dropped": dropped,
            "sum_wy": float(np.sum(prior_weights * y)), "sum_w": float(np.sum(prior_weights)),
            "has_offset": bool(np.any(offset != 0)), "max_abs_y": float(np.max(np.abs(y))) if len(y) else 0.0}

    def __getstate__(self) -> dict:
        """The arrays only: the engine's passes hold compiled-kernel handles, and are made again where the
        partition lands (a worker may hand it to another)."""
        return {**self.__dict__, "_passes": OrderedDict(), "_mu": None}

    def columns(self, keep: np.ndarray | None):
        """The design of the columns ``keep`` (all when None)."""
        if keep is None or keep.all():
            return self.design
        if not keep.any():
            return DenseDesign(np.zeros((len(self.y), 0)), [])
        return self.design.select(keep)

    def pass_for(self, family: Family, keep: np.ndarray | None) -> InMemoryPass:
        """The engine's pass for this family and these columns, made once and kept (its buffers reused)."""
        key = (pickle.dumps(family), None if keep is None or keep.all() else keep.tobytes())
        found = self._passes.get(key)
        if found is None:
            found = self._passes[key] = InMemoryPass(self.columns(keep), self.y, family, self.prior_weights,
                                                     self.offset)
            while len(self._passes) > self.PASSES_KEPT:
                self._passes.popitem(last=False)
        self._passes.move_to_end(key)
        return found

    def mu_at(self, link, beta: np.ndarray, keep: np.ndarray | None = None) -> np.ndarray:
        """mu = linkinv(X beta + offset) (not to be written to: the last one is kept for the next call at
        the same coefficients, as theta's Newton steps make)."""
        key = (link.name, beta.tobytes(), None if keep is None else keep.tobytes())
        if self._mu is None or self._mu[0] != key:
            with np.errstate(all="ignore"):
                self._mu = (key, link.inverse(self.columns(keep).dot(beta) + self.offset))
        return self._mu[1]


# -- the operations (each a function of a partition and small arguments) -------------------------


def point(data: PartitionData, family: Family, keep: np.ndarray | None, beta: np.ndarray | None = None,
          start: tuple | None = None, generic: bool = False) -> dict:
    """The deviance, validity, X'WX and X'Wz at ``beta`` (or at a start: ``starting_values``), as the
    in-memory pass computes them; X'WX and X'Wz are zero where the point is not valid (the loop halves)."""
    engine_pass = data.pass_for(family, keep)
    if start is not None:
        mustart, etastart = starting_values(data, family, start)
        deviance, valid = engine_pass.start(mustart, None, etastart), True
    else:
        engine_pass.n_iter = 0  # move writes the weights that working(1) reads
        deviance, valid = engine_pass.move(beta, generic=generic)
    if valid and np.isfinite(deviance) and engine_pass.working(1):
        gram, xtw = products(engine_pass.design, engine_pass.working_weights, engine_pass.z)
    else:  # nothing to add: the loop halves, or no row of this partition is informative
        p = engine_pass.design.shape[1]
        gram, xtw = np.zeros((p, p)), np.zeros(p)
    return {"deviance": float(deviance), "valid": bool(valid), "gram": gram, "xtw": xtw, **data.constants}


#: A categorical block of at least this many columns leaves its worker as a ``BlockGram`` (its diagonal,
#: not its k x k block): 8 MB of X'WX for a 1,000-level factor become 160 kB to pickle and add.
BLOCK_GRAM_COLUMNS = 64


def products(design, w: np.ndarray, z: np.ndarray) -> tuple:
    """X'WX and X'Wz of one partition; X'WX as a ``BlockGram`` around a large categorical block."""
    with np.errstate(over="ignore", invalid="ignore"):
        if isinstance(design, CategoricalDesign) and design.blocks and max(
                block.size for block in design.blocks) >= BLOCK_GRAM_COLUMNS:
            return design._block_products(w, z)  # the design's own BlockGram, whatever the in-memory threshold
        return design.gram_xtw(w, z)


def starting_values(data: PartitionData, family: Family, start: tuple) -> tuple[np.ndarray, np.ndarray | None]:
    """(mustart, etastart) of a start: ("mustart",) the model family's, ("initialize",) this family's,
    ("rate", r) mu = r exp(offset), ("fitted", beta, keep) mu at those coefficients, ("eta", beta, keep)
    etastart = link(mu) at those coefficients (``glm.nb``'s restart)."""
    kind = start[0]
    if kind == "mustart":
        return data.mustart, None
    if kind == "initialize":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return family.initialize(data.y, data.prior_weights).mustart, None
    if kind == "rate":
        return np.exp(data.offset) * start[1], None
    mu = data.mu_at(family.link, start[1], start[2])
    if kind == "fitted":
        return mu, None
    with np.errstate(all="ignore"):
        return data.mustart, family.link.link(mu)


def summaries(data: PartitionData, family: Family, beta: np.ndarray, beta_previous: np.ndarray | None,
              dispersion: float | None) -> dict:
    """What the results need at the final coefficients: deviance, Pearson statistics, log-likelihood;
    ``beta_previous`` are those of the last solve's weights (None: the starting means)."""
    link, y, weights = family.link, data.y, data.prior_weights
    with np.errstate(all="ignore"):
        eta = data.design.dot(beta) + data.offset
        mu = link.inverse(eta)
        deviance = family.deviance(y, mu, weights)
        eta_previous = (link.link(data.mustart) if beta_previous is None
                        else data.design.dot(beta_previous) + data.offset)
        mu_previous = link.inverse(eta_previous)
        last_weights = weights * link.mu_eta_at(eta_previous, mu_previous) ** 2 / family.variance(mu_previous)
        working_residuals = WorkingResiduals(y, eta, mu, link)()  # the in-memory fit's definition
        used = last_weights > 0
        out = {"deviance": float(deviance),
               "pearson_working": float(np.sum((last_weights * working_residuals**2)[used])),
               "pearson_chi2": float(np.sum(weights * (y - mu) ** 2 / family.variance(mu))),
               "loglik": float(family.loglik(y, mu, weights, data.n_trials, deviance, dispersion=dispersion))}
    return {**out, **data.constants}


def deviance_at_rate(data: PartitionData, family: Family, log_rate: float) -> dict:
    """The deviance at eta = log_rate + offset (the closed-form null model of a log link with an offset)."""
    with np.errstate(all="ignore"):
        eta = log_rate + data.offset
        mu = family.link.inverse(eta)
        return {"deviance": float(family.deviance(data.y, mu, data.prior_weights)),
                "valid": bool(family.valid_mu(mu))}


def deviance_at(data: PartitionData, family: Family, mu: float | None) -> dict:
    """The deviance at a constant mean ``mu``, or at mu = linkinv(offset) when ``mu`` is None; ``valid``:
    whether those means are in the family's range (the null deviance is NaN when not, as in memory:
    ``engine.null_deviance.null_deviance``)."""
    with np.errstate(all="ignore"):
        means = family.link.inverse(data.offset) if mu is None else np.full(len(data.y), mu)
        return {"deviance": float(family.deviance(data.y, means, data.prior_weights)),
                "valid": bool(family.valid_mu(means))}


def exposure_sums(data: PartitionData, power: float) -> dict:
    """sum w y exp((1 - p) (offset - m)) and sum w exp((2 - p) (offset - m)) with m this partition's largest
    offset, kept with m (``combine`` rescales them to the largest m of all); exp(offset - m) is taken once
    and raised to the powers 0, 1 and 2 by products (p = 0, 1, 2: gaussian, poisson, gamma)."""
    shift = float(np.max(data.offset)) if len(data.offset) else 0.0
    w, y = data.prior_weights, data.y
    with np.errstate(all="ignore"):
        relative = np.exp(data.offset - shift)

        def weighted(values: np.ndarray, exponent: float) -> float:
            if exponent == 0:
                return float(np.sum(values))
            factor = relative if exponent == 1 else relative * relative if exponent == 2 else (
                np.exp(exponent * (data.offset - shift)))
            return float(np.dot(values, factor))

        first, second = weighted(w * y, 1 - power), weighted(w, 2 - power)
        sum_w_exposure = float(np.dot(w, relative)) * np.exp(shift)
    return {"exposure": (shift, first, second, 1 - power, 2 - power), "sum_w_exposure": sum_w_exposure,
            "sum_wy": data.constants["sum_wy"]}


def together(data: PartitionData, main: tuple, attached: dict) -> dict:
    """Several operations in one pass: ``main`` = (operation, arguments) gives the result, with the results of
    the ``attached`` ones (name: (operation, arguments)) under "attached" (``DaskFitter.attach``)."""
    operation, arguments = main
    return {**operation(data, **arguments),
            "attached": {name: function(data, **kwargs) for name, (function, kwargs) in attached.items()}}


# -- adding the partial sums ---------------------------------------------------------------------

_ALL = {"valid"}
_ANY = {"has_offset"}
_MAX = {"max_abs_y"}


def combine(first: dict | None, second: dict | None) -> dict | None:
    """The sums of two partitions' (or groups') results, key by key (see the module doc)."""
    if first is None or second is None:
        return second if first is None else first
    out = {}
    for key, value in first.items():
        other = second[key]
        if isinstance(value, dict):  # the sums of attached operations (``together``), by name
            out[key] = combine(value, other)
        elif key in _ALL:
            out[key] = value and other
        elif key in _ANY:
            out[key] = value or other
        elif key in _MAX:
            out[key] = max(value, other)
        elif key == "exposure":
            out[key] = _combine_exposure(value, other)
        elif key == "response_values":
            out[key] = _combine_values(value, other)
        else:
            out[key] = add(value, other)
    return out


def combine_all(results: list) -> dict | None:
    """``combine`` over a list of results (None entries, of empty partitions, left out)."""
    total = None
    for result in results:
        total = combine(total, result)
    return total


def add(first: Any, second: Any) -> Any:
    """first + second for numbers, arrays and ``BlockGram``s (two of the same structure stay one)."""
    if isinstance(first, BlockGram) or isinstance(second, BlockGram):
        if (isinstance(first, BlockGram) and isinstance(second, BlockGram)
                and np.array_equal(first.orthogonal, second.orthogonal) and np.array_equal(first.rest, second.rest)):
            return BlockGram(first.orthogonal, first.orthogonal_diagonal + second.orthogonal_diagonal, first.rest,
                             first.rest_rows + second.rest_rows)
        return _dense(first) + _dense(second)
    return first + second


def _dense(gram) -> np.ndarray:
    return gram.to_dense() if isinstance(gram, BlockGram) else gram


def _combine_exposure(first: tuple, second: tuple) -> tuple:
    shift = max(first[0], second[0])
    k1, k2 = first[3], first[4]
    scaled = [(s1 * np.exp(k1 * (m - shift)), s2 * np.exp(k2 * (m - shift))) for m, s1, s2, _, _ in (first, second)]
    return shift, scaled[0][0] + scaled[1][0], scaled[0][1] + scaled[1][1], k1, k2


def _combine_values(first: tuple, second: tuple) -> tuple:
    values, inverse = np.unique(np.concatenate([first[0], second[0]]), return_inverse=True)
    return values, np.bincount(inverse.ravel(), weights=np.concatenate([first[1], second[1]]),
                               minlength=len(values))
