"""``ns(x, df=4)``: R's natural cubic splines (``splines::ns``), basis and knots as R computes them.

A natural cubic spline is a cubic B-spline constrained to be linear beyond the
boundary knots.  As in R:

* the boundary knots are the range of ``x``; with ``df`` and no ``knots`` the
  ``df - 1 - intercept`` interior knots are quantiles of ``x`` at equal
  probabilities (R's type-7 quantiles, numpy's default);
* the basis is the cubic B-spline basis on the knots (each boundary knot four
  times), without its first column unless ``intercept=True``, projected on the
  null space of the second derivatives at the two boundary knots: with
  Q R = C' the QR decomposition of those constraints (Householder, as LINPACK's
  ``dqrdc2``, which R's ``qr`` uses), the basis is ``B Q`` (R's ``qr.qty``) without
  its first two columns;
* outside the boundary knots each basis function continues linearly, from its
  value and slope at the nearer boundary knot.

The knots are learned on the training data and kept in formulaic's transform
state, so prediction replays them (with the training boundary knots, so new
values beyond them are extrapolated linearly, as R's ``predict`` does).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from formulaic.materializers.types import FactorValues
from formulaic.utils.stateful_transforms import stateful_transform
from scipy.interpolate import BSpline

from glmformula.exceptions import FormulaError

_ORDER = 4  # cubic


@stateful_transform
def ns(x: Any, df: int | None = None, knots: Any = None, intercept: bool = False, boundary_knots: Any = None,
       _state: dict | None = None) -> FactorValues:
    """The natural cubic spline basis of ``x`` (R's ``splines::ns``); columns named 1..df."""
    state = {} if _state is None else _state
    x = np.asarray(x, dtype=float)
    if x.ndim != 1:
        raise FormulaError("ns(): x must be a single numeric column")
    if "knots" not in state:
        state.update(_learn_knots(x, df, knots, bool(intercept), boundary_knots))
    interior = np.asarray(state["knots"], dtype=float)
    boundary = np.asarray(state["boundary_knots"], dtype=float)
    basis = natural_spline_basis(x, interior, boundary, bool(state["intercept"]))
    return FactorValues(
        {j + 1: basis[:, j] for j in range(basis.shape[1])},
        kind="numerical",
        spans_intercept=False,  # R keeps every column, also with intercept=True (then aliased with the intercept)
        format="{name}[{field}]",
        encoded=False,
    )


def _learn_knots(x: np.ndarray, df: int | None, knots: Any, intercept: bool, boundary_knots: Any) -> dict:
    """R's knots for ``ns(x, df, knots, intercept, Boundary.knots)`` on the training values ``x``."""
    finite = x[np.isfinite(x)]
    if finite.size == 0:
        raise FormulaError("ns(): x has no finite values")
    if boundary_knots is None:
        boundary = np.array([finite.min(), finite.max()])
    else:
        boundary = np.sort(np.asarray(boundary_knots, dtype=float))
        if boundary.shape != (2,):
            raise FormulaError("ns(): boundary_knots must be two numbers")
    if knots is not None:
        interior = np.sort(np.atleast_1d(np.asarray(knots, dtype=float)))
    elif df is not None:
        n_interior = int(df) - 1 - int(intercept)
        if n_interior < 0:
            raise FormulaError(f"ns(): df = {df} is too small; it must be at least {1 + int(intercept)}")
        inside = finite[(finite >= boundary[0]) & (finite <= boundary[1])]
        probabilities = np.linspace(0, 1, n_interior + 2)[1:-1]
        interior = np.quantile(inside, probabilities) if n_interior else np.empty(0)
    else:
        interior = np.empty(0)
    if interior.size and (interior.min() <= boundary[0] or interior.max() >= boundary[1]):
        raise FormulaError("ns(): the interior knots must lie strictly between the boundary knots")
    return {"knots": interior.tolist(), "boundary_knots": boundary.tolist(), "intercept": intercept}


def natural_spline_basis(x: np.ndarray, interior: np.ndarray, boundary: np.ndarray, intercept: bool) -> np.ndarray:
    """The (n, len(interior) + 1 + intercept) natural spline basis at ``x`` (see the module doc)."""
    all_knots = np.sort(np.r_[np.repeat(boundary, _ORDER), interior])
    basis = np.full((len(x), len(all_knots) - _ORDER), np.nan)
    finite = np.isfinite(x)
    below, above = finite & (x < boundary[0]), finite & (x > boundary[1])
    inside = finite & ~below & ~above
    basis[inside] = _bspline_values(all_knots, x[inside])
    for side, pivot in ((below, boundary[0]), (above, boundary[1])):
        if side.any():
            value, slope = _bspline_values(all_knots, np.array([pivot])), _bspline_values(all_knots, [pivot], 1)
            basis[side] = value + np.outer(x[side] - pivot, slope[0])
    constraints = _bspline_values(all_knots, boundary, derivative=2)
    if not intercept:
        basis, constraints = basis[:, 1:], constraints[:, 1:]
    return _householder_qty_rows(constraints.T, basis)[:, 2:]


def _bspline_values(all_knots: np.ndarray, x: Any, derivative: int = 0) -> np.ndarray:
    """(len(x), n_basis) values (or derivatives) of the cubic B-splines on ``all_knots`` at ``x`` (R's
    ``splineDesign``; at the right boundary knot, the limit from the left)."""
    x = np.asarray(x, dtype=float)
    n_basis = len(all_knots) - _ORDER
    spline = BSpline(all_knots, np.eye(n_basis), _ORDER - 1, extrapolate=True)
    if derivative:
        spline = spline.derivative(derivative)
    return np.asarray(spline(x)).reshape(len(x), n_basis)


def _householder_qty_rows(matrix: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``t(qr.qty(qr(matrix), t(rows)))``: Q' times each row of ``rows``, Q the orthogonal factor of
    ``matrix``'s QR decomposition by LINPACK's Householder reflections (no pivoting: the two boundary
    constraints are independent)."""
    work = np.array(matrix, dtype=float)
    k, m = work.shape
    reflections = []
    for j in range(min(m, k - 1)):
        column = work[j:, j]
        norm = np.linalg.norm(column)
        if norm == 0:
            continue
        norm = np.copysign(norm, column[0]) if column[0] != 0 else norm
        u = column / norm
        u[0] += 1.0
        for later in range(j + 1, m):
            work[j:, later] -= (u @ work[j:, later]) / u[0] * u
        reflections.append((j, u))
    result = np.array(rows, dtype=float)
    for j, u in reflections:  # Q'y = H_k (... (H_1 y)): the first reflection first
        result[:, j:] -= np.outer(result[:, j:] @ u / u[0], u)
    return result
