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
from glmformula.formula import output_target

_ORDER = 4  # cubic


@stateful_transform
def ns(x: Any, df: int | None = None, knots: Any = None, intercept: bool = False, boundary_knots: Any = None,
       _state: dict | None = None, out: np.ndarray | None = None, _metadata: Any = None) -> FactorValues:
    """The natural cubic spline basis of ``x`` (R's ``splines::ns``); columns named 1..df.

    ``out``: an (n, df) float64 array (or a view of some columns of one, as of a design's dense block) that the
    basis is written into, its columns returned; else a new array, or the target of an ``output_into`` block
    when the call is a whole factor (formulaic passes its ``_metadata``): ``_output``.  Not a formula keyword."""
    state = {} if _state is None else _state
    x = np.ascontiguousarray(x, dtype=float)
    if x.ndim != 1:
        raise FormulaError("ns(): x must be a single numeric column")
    if "knots" not in state:
        state.update(_learn_knots(x, df, knots, bool(intercept), boundary_knots))
    interior = np.asarray(state["knots"], dtype=float)
    boundary = np.asarray(state["boundary_knots"], dtype=float)
    intercept = bool(state["intercept"])
    out = _output(out, _metadata, (len(x), len(interior) + 1 + intercept))
    basis = natural_spline_basis(x, interior, boundary, intercept, out=out)
    return _columns(basis)


def _output(out: np.ndarray | None, metadata: Any, shape: tuple[int, int]) -> np.ndarray | None:
    """Where a basis of ``shape`` is written: ``out`` when given; else, for a call that is a whole factor
    (formulaic passes the factor's ``metadata`` only then; the interpreter likewise), the target of the
    enclosing ``output_into`` block if it is of ``shape`` and unclaimed (``output_target.claim``: a factor's
    columns are then the term's, unless the term is a product, whose columns are computed before they are
    written there); else None (a new array)."""
    if out is not None or metadata is None:
        return out
    return output_target.claim(shape)


def _columns(basis: np.ndarray) -> FactorValues:
    """A spline basis as formulaic's factor: its columns (views), named 1..k."""
    return FactorValues(
        {j + 1: basis[:, j] for j in range(basis.shape[1])},
        kind="numerical",
        spans_intercept=False,  # R keeps every column, also with intercept=TRUE (then aliased with the intercept)
        format="{name}[{field}]",
        encoded=False,
    )


#: Rows per chunk of a basis's evaluation: the temporaries (masks, scipy's design matrix, the chunk's full
#: basis) are chunk-sized, beside the basis written in place.
_CHUNK_ROWS = 1 << 16


def _checked_output(out: np.ndarray | None, shape: tuple[int, int], function: str) -> np.ndarray:
    """``out`` when it is a float64 array of ``shape``, a new Fortran-ordered one when None."""
    if out is None:
        return np.empty(shape, order="F")
    if out.shape != shape or out.dtype != np.float64:
        raise ValueError(f"{function}(): out must be a float64 array of shape {shape}, not {out.dtype} {out.shape}")
    return out


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


def natural_spline_basis(x: np.ndarray, interior: np.ndarray, boundary: np.ndarray, intercept: bool,
                         out: np.ndarray | None = None, chunk_rows: int = _CHUNK_ROWS) -> np.ndarray:
    """The (n, len(interior) + 1 + intercept) natural spline basis at ``x`` (see the module doc), written into
    ``out`` when given (else a new array) and returned; ``chunk_rows`` rows at a time (each row's values are
    its own: the chunks change no figure)."""
    all_knots = np.sort(np.r_[np.repeat(boundary, _ORDER), interior])
    first = 0 if intercept else 1
    reflections = _householder_reflections(_bspline_values(all_knots, boundary, derivative=2)[:, first:].T)
    sides = [(pivot, _bspline_values(all_knots, [pivot]), _bspline_values(all_knots, [pivot], 1))
             for pivot in boundary]
    out = _checked_output(out, (len(x), len(all_knots) - _ORDER - first - 2), "ns")
    for begin in range(0, len(x), chunk_rows):
        values = x[begin:begin + chunk_rows]
        basis = np.full((len(values), len(all_knots) - _ORDER), np.nan)
        finite = np.isfinite(values)
        below, above = finite & (values < boundary[0]), finite & (values > boundary[1])
        inside = finite & ~below & ~above
        basis[inside] = _bspline_values(all_knots, values[inside])
        for side, (pivot, value, slope) in zip((below, above), sides):
            if side.any():
                basis[side] = value + np.outer(values[side] - pivot, slope[0])
        out[begin:begin + chunk_rows] = _householder_qty_rows(reflections, basis[:, first:])[:, 2:]
    return out


def _bspline_values(all_knots: np.ndarray, x: Any, derivative: int = 0) -> np.ndarray:
    """(len(x), n_basis) values (or derivatives) of the cubic B-splines on ``all_knots`` at ``x`` (R's
    ``splineDesign``; at the right boundary knot, the limit from the left)."""
    x = np.ascontiguousarray(x, dtype=float)
    n_basis = len(all_knots) - _ORDER
    spline = BSpline(all_knots, np.eye(n_basis), _ORDER - 1, extrapolate=True)
    if derivative:
        spline = spline.derivative(derivative)
    return np.asarray(spline(x)).reshape(len(x), n_basis)


def _householder_reflections(matrix: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """The Householder reflections (column j, vector u) of ``matrix``'s QR decomposition as LINPACK's (no
    pivoting: the two boundary constraints are independent), Q = H_1 ... H_k."""
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
    return reflections


def _householder_qty_rows(reflections: list[tuple[int, np.ndarray]], rows: np.ndarray) -> np.ndarray:
    """``t(qr.qty(qr(matrix), t(rows)))``: Q' times each row of ``rows`` (a new array), Q the orthogonal factor
    of ``matrix``'s QR decomposition given by its ``reflections`` (``_householder_reflections``)."""
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
       upper_bound: float | None = None, extrapolation: str = "extend", _state: dict | None = None,
       out: np.ndarray | None = None, _metadata: Any = None) -> FactorValues:
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

    ``out``: an (n, k) float64 array (or a view of some columns of one, as of a design's dense block) that the
    basis is written into, its columns returned; else a new array, or the target of an ``output_into`` block
    when the call is a whole factor (formulaic passes its ``_metadata``): ``_output``.  Not a formula keyword.
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
    first = 0 if intercept else 1
    out = _output(out, _metadata, (len(x), len(all_knots) - degree - 1 - first))
    basis = bspline_basis(x, all_knots, degree, first=first, out=out)
    return _columns(basis)


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


def bspline_basis(x: np.ndarray, all_knots: np.ndarray, degree: int, first: int = 0,
                  out: np.ndarray | None = None, chunk_rows: int = _CHUNK_ROWS) -> np.ndarray:
    """The B-spline basis at ``x`` (R's ``splineDesign``, extrapolated beyond the boundary knots as R's ``bs``;
    missing values give missing rows) without its first ``first`` columns: (n, len(all_knots) - degree - 1 -
    first), written into ``out`` when given (else a new Fortran-ordered array) and returned.  ``chunk_rows``
    rows at a time (``_bspline_chunk``; each row's values are its own: the chunks change no figure)."""
    out = _checked_output(out, (len(x), len(all_knots) - degree - 1 - first), "bs")
    extrapolated = False
    for begin in range(0, len(x), chunk_rows):
        rows = slice(begin, begin + chunk_rows)
        extrapolated |= _bspline_chunk(x[rows], all_knots, degree, first, out[rows])
    if extrapolated:
        warnings.warn("bs(): some 'x' values beyond boundary knots may cause ill-conditioned bases (extrapolated "
                      "as R's bs() does)", GLMWarning, stacklevel=2)
    return out


def _bspline_chunk(values: np.ndarray, all_knots: np.ndarray, degree: int, first: int, out: np.ndarray) -> bool:
    """Write the basis at ``values`` (its columns from ``first`` on) into ``out``; whether a value lies beyond the
    boundary knots.  Within them: scipy's sparse ``BSpline.design_matrix``, whose row i holds the ``degree + 1``
    consecutive non-zeros from column ``indices[i * (degree + 1)]``, scattered into the chunk's full (C-ordered)
    basis (``extrapolate=True``: the values are inside already, and scipy then skips its bounds check in Python);
    beyond them, ``_taylor_extension``."""
    n_basis, width = len(all_knots) - degree - 1, degree + 1
    lower, upper = all_knots[degree], all_knots[-degree - 1]
    basis = np.zeros((len(values), n_basis))
    finite = np.isfinite(values)
    below, above = finite & (values < lower), finite & (values > upper)
    inside = finite & ~below & ~above
    rows = np.flatnonzero(inside)
    if rows.size:
        design = BSpline.design_matrix(values if rows.size == len(values) else values[rows], all_knots, degree,
                                       extrapolate=True)
        first_nonzero = rows * n_basis + design.indices[::width]  # flat position of each row's first non-zero
        flat, data = basis.reshape(-1), design.data.reshape(-1, width)
        for offset in range(width):  # one vector write per position in the rows (faster than a 2-d scatter)
            flat[first_nonzero + offset] = data[:, offset]
    basis[~finite] = np.nan
    sides = ((below, lower, all_knots[degree + 1]), (above, upper, all_knots[-degree - 2]))
    for side, boundary, neighbour in sides:
        if side.any():
            basis[side] = _taylor_extension(values[side], all_knots, degree, boundary, neighbour)
    out[...] = basis[:, first:]
    return bool(below.any() or above.any())


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
