"""``ns(x, df=4)`` and ``bs(x, df=4)``: R's natural cubic splines (``splines::ns``) and B-splines
(``splines::bs``), basis and knots as R computes them.  ``bs`` is documented at its definition (below);
``ns`` here.

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

import warnings
from typing import Any

import numpy as np
from formulaic.materializers.types import FactorValues
from formulaic.utils.stateful_transforms import stateful_transform
from scipy import special
from scipy.interpolate import BSpline

from glmformula.exceptions import FormulaError, GLMWarning

_ORDER = 4  # cubic


@stateful_transform
def ns(x: Any, df: int | None = None, knots: Any = None, intercept: bool = False, boundary_knots: Any = None,
       _state: dict | None = None) -> FactorValues:
    """The natural cubic spline basis of ``x`` (R's ``splines::ns``); columns named 1..df."""
    state = {} if _state is None else _state
    x = np.ascontiguousarray(x, dtype=float)
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


def _training_values_and_boundary(x: np.ndarray, boundary_knots: Any, function: str
                                  ) -> tuple[np.ndarray, np.ndarray]:
    """(the finite training values, the sorted boundary knots: given, else their range), as R's ns() and bs()."""
    finite = x[np.isfinite(x)]
    if finite.size == 0:
        raise FormulaError(f"{function}(): x has no finite values")
    if boundary_knots is None:
        return finite, np.array([finite.min(), finite.max()])
    boundary = np.sort(np.asarray(boundary_knots, dtype=float))
    if boundary.shape != (2,):
        raise FormulaError(f"{function}(): boundary_knots must be two numbers")
    return finite, boundary


def _learn_knots(x: np.ndarray, df: int | None, knots: Any, intercept: bool, boundary_knots: Any) -> dict:
    """R's knots for ``ns(x, df, knots, intercept, Boundary.knots)`` on the training values ``x``."""
    finite, boundary = _training_values_and_boundary(x, boundary_knots, "ns")
    if knots is not None:
        interior = np.sort(np.atleast_1d(np.asarray(knots, dtype=float)))
    elif df is not None:
        n_interior = int(df) - 1 - int(intercept)
        if n_interior < 0:  # R: warning "'df' was too small; have used 1 + intercept", no interior knot
            warnings.warn(f"ns(..., df={df}): 'df' was too small; have used {1 + int(intercept)} (1 + intercept), "
                          f"as R does; give df >= {1 + int(intercept)} for that basis, or more for a more "
                          "flexible one", GLMWarning, stacklevel=2)
            n_interior = 0
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
    x = np.ascontiguousarray(x, dtype=float)
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


# ---------------------------------------------------------------------------------------------------------
# bs(): R's B-spline basis (splines::bs)
# ---------------------------------------------------------------------------------------------------------

_EXTENSION = 0.25  # R's bs: the Taylor pivot lies a quarter of the way from the boundary knot to the next knot


@stateful_transform
def bs(x: Any, df: int | None = None, knots: Any = None, degree: int = 3, intercept: bool = False,
       boundary_knots: Any = None, include_intercept: bool | None = None, lower_bound: float | None = None,
       upper_bound: float | None = None, extrapolation: str = "extend", _state: dict | None = None) -> FactorValues:
    """The B-spline basis of ``x`` of degree ``degree`` (R's ``splines::bs``); columns named 1..k.

    With ``t`` the knot sequence (each boundary knot ``degree + 1`` times, the interior knots between),
    column j is the B-spline ``B_j(x)`` of order ``degree + 1`` on ``t`` (Cox-de Boor), without ``B_1``
    unless ``intercept``: ``k = len(knots) + degree + intercept`` columns.  Given ``df`` and no ``knots``,
    the ``m = df - degree - intercept`` interior knots are R's type-7 quantiles of the values within the
    boundary knots at probabilities ``1/(m+1), ..., m/(m+1)``; a ``df`` giving ``m < 0`` is raised to
    ``degree + intercept`` with R's warning.  The boundary knots default to the range of ``x``.

    A value beyond a boundary knot ``b`` is extrapolated as R does, by the Taylor polynomial of each basis
    function at the pivot ``p = (3 b + t')/4`` (``t'`` the knot after ``b``'s ``degree + 1`` copies
    inwards: the nearest interior knot, or the other boundary knot):
    ``B_j(x) = sum_{d=0}^{degree} B_j^{(d)}(p) (x - p)^d / d!`` (the polynomial piece of the end interval,
    continued), with R's warning.

    ``include_intercept``, ``lower_bound``/``upper_bound`` are formulaic's spellings of ``intercept`` and
    ``boundary_knots``; ``extrapolation`` may only be ``"extend"`` (R's).  The knots are learned on the
    training data and kept in ``_state`` (formulaic's keys: ``lower_bound``, ``upper_bound`` and ``knots``,
    the full knot sequence), so prediction replays them.
    """
    state = {} if _state is None else _state
    if extrapolation != "extend":
        raise FormulaError(f"bs(): extrapolation={extrapolation!r} is not supported; values beyond the boundary "
                           "knots are extrapolated as R's bs() does (extrapolation='extend')")
    degree = _bs_degree(degree)
    intercept = bool(intercept if include_intercept is None else include_intercept)
    x = np.ascontiguousarray(x, dtype=float)
    if x.ndim != 1:
        raise FormulaError("bs(): x must be a single numeric column")
    if "knots" not in state:
        if boundary_knots is None and (lower_bound is not None or upper_bound is not None):
            finite = x[np.isfinite(x)]
            boundary_knots = [finite.min() if lower_bound is None else lower_bound,
                              finite.max() if upper_bound is None else upper_bound]
        state.update(_learn_bs_knots(x, df, knots, degree, intercept, boundary_knots))
    all_knots = np.ascontiguousarray(state["knots"], dtype=float)
    if len(all_knots) < 2 * (degree + 1):
        raise FormulaError(f"bs(): the learned knots do not fit degree = {degree}")
    basis = bspline_basis(x, all_knots, degree)
    first = 0 if intercept else 1
    return FactorValues(
        {j + 1 - first: basis[:, j] for j in range(first, basis.shape[1])},
        kind="numerical",
        spans_intercept=False,  # R keeps every column, also with intercept=TRUE (then aliased with the intercept)
        format="{name}[{field}]",
        encoded=False,
    )


def _bs_degree(degree: Any) -> int:
    """``degree`` as an integer >= 1 (R: "'degree' must be integer >= 1")."""
    if isinstance(degree, bool) or not isinstance(degree, (int, float, np.integer, np.floating)) \
            or degree != int(degree) or degree < 1:
        raise FormulaError(f"bs(): degree = {degree!r}; it must be a whole number >= 1, as in R")
    return int(degree)


def _learn_bs_knots(x: np.ndarray, df: int | None, knots: Any, degree: int, intercept: bool,
                    boundary_knots: Any) -> dict:
    """R's knot sequence for ``bs(x, df, knots, degree, intercept, Boundary.knots)`` on the training ``x``:
    ``{"lower_bound", "upper_bound", "knots"}`` (the full sequence, boundary knots ``degree + 1`` times)."""
    if df is not None and knots is not None:
        raise FormulaError("bs(): give df or knots, not both")
    finite, boundary = _training_values_and_boundary(x, boundary_knots, "bs")
    if not np.isfinite(boundary).all():
        raise FormulaError("bs(): boundary_knots must be two finite numbers")
    if knots is not None:
        interior = np.sort(np.atleast_1d(np.asarray(knots, dtype=float)))
    elif df is not None:
        n_interior = int(df) - degree - int(intercept)
        if n_interior < 0:
            warnings.warn(f"bs(..., df={df}): 'df' was too small; have used {degree + int(intercept)} "
                          f"(degree + intercept), as R does; give df >= {degree + int(intercept)} for that basis "
                          "(or a lower degree)", GLMWarning, stacklevel=2)
            n_interior = 0
        inside = finite[(finite >= boundary[0]) & (finite <= boundary[1])]
        interior = r_quantile(inside, np.linspace(0, 1, n_interior + 2)[1:-1])
    else:
        interior = np.empty(0)
    all_knots = np.sort(np.r_[np.repeat(boundary, degree + 1), interior])
    return {"lower_bound": float(boundary[0]), "upper_bound": float(boundary[1]), "knots": all_knots.tolist()}


def r_quantile(values: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """R's ``quantile(values, probabilities)`` (type 7), with R's arithmetic: with ``i = 1 + (n - 1) p``,
    ``lo = floor(i)``, ``hi = ceiling(i)`` and ``h = i - lo``, the quantile is ``(1 - h) x_(lo) + h x_(hi)``
    (``x_(lo)`` alone when ``h = 0`` or ``x_(hi) = x_(lo)``); only those order statistics are selected."""
    probabilities = np.asarray(probabilities, dtype=float)
    if probabilities.size == 0:
        return np.empty(0)
    if values.size == 0:
        raise FormulaError("bs(): no values within the boundary knots to place the knots at")
    index = 1 + (values.size - 1) * probabilities
    lo, hi = np.floor(index).astype(np.intp) - 1, np.ceil(index).astype(np.intp) - 1
    ordered = np.partition(values, np.unique(np.r_[lo, hi]))
    result = ordered[lo].copy()
    h = index - (lo + 1)
    mix = (h > 0) & (ordered[hi] != result)
    result[mix] = (1 - h[mix]) * result[mix] + h[mix] * ordered[hi][mix]
    return result


def bspline_basis(x: np.ndarray, all_knots: np.ndarray, degree: int) -> np.ndarray:
    """The (n, len(all_knots) - degree - 1) B-spline basis at ``x`` (R's ``splineDesign``, extrapolated beyond
    the boundary knots as R's ``bs``; missing values give missing rows), as a Fortran-ordered array (each
    column contiguous).  Inside the boundary knots: scipy's sparse ``design_matrix`` (the ``degree + 1``
    consecutive non-zero values of each row), scattered into the dense array (``_fill_design``)."""
    n_basis = len(all_knots) - degree - 1
    lower, upper = all_knots[degree], all_knots[-degree - 1]
    basis = np.zeros((len(x), n_basis), order="F")
    finite = np.isfinite(x)
    below, above = finite & (x < lower), finite & (x > upper)
    outside = below | above
    if not finite.all() or outside.any():
        inside = np.flatnonzero(finite & ~outside)
        basis[~finite] = np.nan
    else:
        inside = None
    _fill_design(basis, x if inside is None else x[inside], inside, all_knots, degree)
    if outside.any():
        warnings.warn("bs(): some 'x' values beyond boundary knots may cause ill-conditioned bases (extrapolated "
                      "as R's bs() does)", GLMWarning, stacklevel=2)
        sides = ((below, lower, all_knots[degree + 1]), (above, upper, all_knots[-degree - 2]))
        for side, boundary, neighbour in sides:
            if side.any():
                basis[side] = _taylor_extension(x[side], all_knots, degree, boundary, neighbour)
    return basis


#: Rows per call of scipy's design matrix: its sparse temporaries stay small beside the dense basis.
_CHUNK_ROWS = 1 << 16


def _fill_design(basis: np.ndarray, values: np.ndarray, rows: np.ndarray | None, all_knots: np.ndarray,
                 degree: int) -> None:
    """Write the B-spline basis at ``values`` (within the boundary knots) into the rows ``rows`` (None: all) of
    the F-ordered ``basis``: scipy's ``BSpline.design_matrix`` per chunk of rows, whose row i holds the
    ``degree + 1`` consecutive non-zeros from column ``indices[i * (degree + 1)]``; each position in the row
    is one vector write into the flat basis (``extrapolate=True``: the values are inside already, and scipy
    then skips its bounds check in Python)."""
    n, width = basis.shape[0], degree + 1
    flat = basis.reshape(-1, order="F")  # a view: basis is F-ordered
    for begin in range(0, values.size, _CHUNK_ROWS):
        chunk = values[begin:begin + _CHUNK_ROWS]
        design = BSpline.design_matrix(chunk, all_knots, degree, extrapolate=True)
        target = np.arange(begin, begin + chunk.size, dtype=np.int64) if rows is None \
            else rows[begin:begin + chunk.size].astype(np.int64)
        target += design.indices[::width].astype(np.int64) * n  # flat position of the row's first non-zero
        data = design.data.reshape(-1, width)
        for offset in range(width):
            flat[target + offset * n] = data[:, offset]


def _taylor_extension(x: np.ndarray, all_knots: np.ndarray, degree: int, boundary: float,
                      neighbour: float) -> np.ndarray:
    """R's ``bs`` beyond a boundary knot: ``X (T / d!)``, ``X = [1, (x - p), ..., (x - p)^degree]`` and ``T``
    the derivatives 0..degree of the basis at the pivot ``p = (1 - 1/4) boundary + 1/4 neighbour``."""
    pivot = (1 - _EXTENSION) * boundary + _EXTENSION * neighbour
    n_basis = len(all_knots) - degree - 1
    spline = BSpline(all_knots, np.eye(n_basis), degree, extrapolate=True)
    derivatives = np.vstack([(spline.derivative(d) if d else spline)(np.array([pivot]))[0]
                             for d in range(degree + 1)])
    scaled = derivatives / special.gamma(np.arange(1, degree + 2))[:, None]
    powers = np.power.outer(x - pivot, np.arange(degree + 1))
    return powers @ scaled
