"""The driver's side of a Dask fit: the distributed IRLS pass (``DaskPass``), the fitter that runs passes
over the partitions (``DaskFitter``), and what a fitted model keeps (``DaskFit``); see ``dask_glm``."""

from __future__ import annotations

import logging
import time

import numpy as np

from glmformula.distributed import partition as ops
from glmformula.distributed.executor import Partitions
from glmformula.distributed.partition import PartitionModel
from glmformula.distributed.solve import kept_gram, solve_from_products
from glmformula.engine.irls import IRLSControl, run_irls
from glmformula.engine.linalg import SolveResult, aliased_columns_from_gram
from glmformula.families.base import Family

logger = logging.getLogger("glmformula")


class DaskFitter:
    """Drives the passes over the partitions (``executor.Partitions``)."""

    def __init__(self, model: PartitionModel, partitions: Partitions, control: IRLSControl, verbose: bool):
        self.model, self.partitions, self.control, self.verbose = model, partitions, control, verbose
        self.passes = 0
        self.attached: dict[str, dict] = {}  # the sums of attached operations, by name
        self._pending: dict[str, tuple] = {}
        #: Called with (family, last IRLS sums) before the pass of the final summaries: it may ``attach``
        #: what that pass should carry (the null model's deviance, ``dask_glm.NullDeviance``).
        self.before_final = None

    def attach(self, name: str, operation, **arguments) -> None:
        """Carry ``operation`` in the next pass (its sums land in ``attached[name]``): sums that do not
        depend on the iteration take no round trip of their own (a pass costs about the same whatever
        it computes; the scheduler's latency is a good part of it)."""
        self._pending[name] = (operation, arguments)

    def run(self, operation, **arguments) -> dict:
        """One distributed pass: the sum over the partitions of ``operation`` (and of the attached ones)."""
        self.passes += 1
        if not self._pending:
            return self.partitions.map_reduce(operation, **arguments)
        pending, self._pending = self._pending, {}
        total = self.partitions.map_reduce(ops.together, main=(operation, arguments), attached=pending)
        self.attached.update(total.pop("attached"))
        return total

    def irls(self, family: Family, start: tuple, keep: np.ndarray | None = None, label: str = "model"):
        """The engine's IRLS loop (``run_irls``) with every data pass distributed (``DaskPass``), from
        ``start`` (``partition.starting_values``); (coefficients of the keep columns, outcome, pass)."""
        data = DaskPass(self, keep, family)
        deviance = data.start(start)
        callback = self._progress(time.perf_counter(), label) if self.verbose else None
        control = IRLSControl(tol=self.control.tol, maxiter=self.control.maxiter, rank_tol=self.control.rank_tol,
                              callback=callback)
        outcome = run_irls(data, deviance, control)
        return data.coefficients(outcome.coefficients), outcome, data

    @staticmethod
    def _progress(began: float, label: str):
        """Progress of one IRLS sequence, labelled ("model", "null model"): a fit runs two."""
        def report(n_iter: int, deviance: float, elapsed: float) -> None:
            logger.info("%s, iteration %d: deviance %.10g (%.1f s)", label, n_iter, deviance, elapsed)
            print(f"{label}, iteration {n_iter}: deviance {deviance:.10g}, "
                  f"elapsed {time.perf_counter() - began:.1f} s")
        return report


class DaskPass:
    """The ``IRLSPass`` of a Dask fit: each point is one distributed pass that returns the deviance, the
    validity and X'WX, X'Wz summed over the partitions (the working response and weights never leave
    the workers).  Aliased columns stay in the partitions' designs with coefficient 0."""

    def __init__(self, fitter: DaskFitter, keep: np.ndarray | None, family: Family):
        self.fitter, self.family = fitter, family
        self.keep = None if keep is None or keep.all() else keep
        self.n_columns = len(fitter.model.columns) if self.keep is None else int(self.keep.sum())
        self.kept: np.ndarray | None = None  # of the keep columns, those not aliased
        self.state: dict = {}

    def _point(self, **arguments) -> dict:
        self.state = self.fitter.run(ops.point, family=self.family, keep=self.keep, **arguments)
        return self.state

    def start(self, start: tuple) -> float:
        return self._point(start=start)["deviance"]

    def working(self, n_iter: int) -> bool:
        return bool(np.any(self.state["gram"].diagonal() > 0))

    def aliased(self, tol: float) -> np.ndarray:
        # on X'WX the detectable residual is ~sqrt(eps) of a column's norm: at least 1e-7, as in memory
        aliased = aliased_columns_from_gram(self.state["gram"], max(tol, 1e-7))
        self.kept = ~aliased
        return aliased

    def solve(self) -> SolveResult:
        return solve_from_products(kept_gram(self.state["gram"], self.kept), self.state["xtw"][self.kept])

    def reject(self) -> None:
        """Nothing to undo: the solve is kept by the loop's outcome."""

    def move(self, coefficients: np.ndarray, *, generic: bool = False) -> tuple[float, bool]:
        state = self._point(beta=self.coefficients(coefficients), generic=generic)
        return state["deviance"], state["valid"]

    def largest_response(self) -> float:
        return self.state["max_abs_y"]

    def coefficients(self, kept_coefficients: np.ndarray) -> np.ndarray:
        """The coefficients of every keep column: 0 where aliased."""
        full = np.zeros(self.n_columns)
        full[self.kept] = kept_coefficients
        return full


class DaskFit:
    """One fitted model: the family of its last IRLS, the coefficients (0 where aliased), the loop's
    outcome, the final pass's sums, and theta's estimate (negative binomial) or None."""

    def __init__(self, family: Family, beta: np.ndarray, outcome, final: dict, theta=None,
                 null_family: Family | None = None):
        self.family, self.beta, self.outcome, self.final, self.theta = family, beta, outcome, final, theta
        self.null_family = null_family or family


def fit_model(fitter: DaskFitter, family: Family) -> DaskFit:
    """IRLS from the family's starting means, then the pass of the final summaries."""
    beta, outcome, data = fitter.irls(family, ("mustart",))
    return DaskFit(family, beta, outcome, final_summaries(fitter, family, beta, outcome, data))


def final_summaries(fitter: DaskFitter, family: Family, beta: np.ndarray, outcome, data: DaskPass,
                    loglik: float | None = None) -> dict:
    """The pass of the results' sums at the final coefficients (``partition.summaries``)."""
    state = data.state
    if fitter.before_final is not None:
        fitter.before_final(family, state)
    previous = None if outcome.previous is None else data.coefficients(outcome.previous)
    dispersion = family.ml_dispersion(state["deviance"], state["nobs"], state["sum_w"])
    final = fitter.run(ops.summaries, family=family, beta=beta, beta_previous=previous,
                       dispersion=dispersion if np.isfinite(dispersion) else None)
    if loglik is not None:
        final["loglik"] = loglik
    return final
