"""R's ordered rank rule on X'WX, and certificates that it aliases nothing without running it.

A column is aliased when its squared residual on the kept earlier columns, relative to its squared norm,
is below tol^2 (``rank_qr.aliased_columns`` is the same rule on sqrt(W) X), or within the rounding of
X'WX's entries (``ordered_aliasing.within_rounding``: an exact dependence shows a residual of
O(eps ||v||^2) on X'WX, where R's QR on X sees ~0).  The certificates bound the smallest eigenvalue of the
unit-diagonal cross-product from its block structure, so that a full-rank design of thousands of columns is
proved so without a column-by-column factorisation; when they fail, a categorical's levels are eliminated
first (``ordered_aliasing.block_aliased_columns``), so that no p x p matrix is formed either.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg, sparse

from glmformula.engine.block_gram import BlockGram
from glmformula.engine.block_solve import (
    BLOCK_ELIMINATION_MIN_COLUMNS,
    EXACT_NORM_COLUMNS,
    BlockFactor,
    coupling_bound,
    local_groups,
    schur_factor,
)
from glmformula.engine.matrix_products import columns_of, dense_enough, outer_rows
from glmformula.engine.ordered_aliasing import ROUNDING_FLOOR, block_aliased_columns, ordered_cholesky
from glmformula.exceptions import FitError


def certainly_full_rank_by_gram(gram: np.ndarray, n_rows: int, tol: float) -> bool:
    """Whether R's QR rule (``aliased_columns``) with tolerance ``tol`` surely aliases no column, from X'WX.

    The Cholesky pivots of the unit-diagonal E = D^-1 X'WX D^-1, in column order, are
    exactly the ratios |r_jj| / ||x_j|| that the rule compares with ``tol``, and each is
    at least sqrt(lambda_min(E)).  Every entry of E is a sum of n products whose
    absolute values sum to at most 1 (Cauchy-Schwarz), so in floating point it is off
    by at most about (n + 4) eps, and the 2-norm of the error is below p (n + p + 4) eps
    (with eigvalsh's own error).  Hence

        lambda_min(computed E) - p (n + p + 4) eps > tol^2

    proves that no column is aliased, and the QR is needed only when it fails: nearly
    dependent columns, or a tolerance set high.
    """
    p = len(gram)
    if p > n_rows:  # more columns than rows: some column is aliased, no bound can prove otherwise
        return False
    norms = np.sqrt(np.diag(gram))
    if p == 0 or not np.all(norms > 0) or not np.all(np.isfinite(gram)):
        return False
    unit = gram / norms[:, None]
    unit /= norms
    smallest = np.linalg.eigvalsh(unit)[0]
    return bool(smallest - p * (n_rows + p + 4) * np.finfo(float).eps > tol**2)


def other_rows(gram: np.ndarray, scale: np.ndarray, orthogonal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(r, E[r, :]): the columns r outside the mutually orthogonal ``orthogonal`` and their rows of the
    equilibrated E = D^-1 X'WX D^-1 (D = diag(``scale``), the columns' norms).

    Block elimination and its rank certificate read nothing else: E's block of the orthogonal
    columns is the identity.  Equilibrating these m rows costs O(m p) instead of O(p^2) for the
    whole cross-product of a large categorical (a million entries for a thousand levels).
    """
    if isinstance(gram, BlockGram) and np.array_equal(gram.orthogonal, orthogonal):
        return gram.rest, gram.rows(scale)
    others = np.ones(len(gram), dtype=bool)
    others[orthogonal] = False
    rest = np.flatnonzero(others)
    rows = gram[rest] / scale[rest, None]
    rows /= scale
    return rest, rows


def certainly_full_rank(rest: np.ndarray, rows, orthogonal: np.ndarray, tol: float, groups: tuple = ()) -> bool:
    """Whether no column of the unit-diagonal X'WX can be aliased, proved from its block structure;
    ``rest`` and ``rows`` are the other columns and their rows of it (``other_rows``; dense or sparse).

    With the mutually orthogonal columns d first, E = L diag(I, S) L' where
    L = [[I, 0], [B, I]], B = E_rd and S = E_rr - B B' (the Schur complement), so

        lambda_min(E) >= min(1, lambda_min(S)) / (1 + ||B||_2)^2.

    Every pivot^2 of a Cholesky of E taken in any column order is at least
    lambda_min(E); when the bound exceeds tol^2, R's ordered rule aliases nothing.
    Costs O(k m^2) for k orthogonal and m other columns, instead of the O(p^3)
    Cholesky of all p columns.  ||B||_2^2 = ||B B'||_2 is bounded by row sums
    (``coupling_bound``) and, for large S, lambda_min(S) by 1 / trace(S^-1) from its
    factor (``certified_factor``, which eliminates the ``groups`` of other
    mutually orthogonal columns that stay so in S), then exactly.  False means
    "not proved": take the ordered route.
    """
    return full_rank_proof(rest, rows, orthogonal, tol, groups)[0]


def full_rank_proof(rest: np.ndarray, rows, orthogonal: np.ndarray, tol: float, groups: tuple = ()
                    ) -> tuple[bool, BlockFactor | None]:
    """(``certainly_full_rank``, the block factor that proved it when a large Schur complement's factor did, for
    the first solve to reuse).  S and ||B B'||'s bound are formed once: the factor's, when its bound 1 /
    trace(S^-1) falls short, serve the exact eigenvalue (S is formed again only when the factor overwrote it:
    a nested block eliminated in it)."""
    if not len(rest):
        return 1.0 > tol**2, None
    large = len(rest) > EXACT_NORM_COLUMNS
    schur = None
    if large:
        factor = _block_factor(rest, rows, orthogonal, groups)
        if factor is not None:
            if _certifies(factor, tol):
                factor.release_schur_matrix()
                return True, factor
            schur, coupling = factor.release_schur_matrix(), factor.coupling
    if schur is None:
        b_bt = outer_rows(dense_enough(columns_of(rows, orthogonal)))
        schur = columns_of(rows, rest)
        schur = schur.toarray() if sparse.issparse(schur) else schur.copy()  # E_rr, then S in its memory
        coupling = coupling_bound(b_bt, schur)
        schur -= b_bt
        del b_bt
    b_norm = np.sqrt(coupling)
    local = local_groups(groups, rest, rows.shape[1])
    for exact in (True,) if large else (False, True):  # the large case's bound was tried above
        smallest = _smallest_eigenvalue(schur, exact, local)
        if min(1.0, smallest) / (1.0 + b_norm) ** 2 > tol**2:
            return True, None
    return False, None


def certified_factor(rest: np.ndarray, rows, orthogonal: np.ndarray, tol: float, groups: tuple = ()
                     ) -> BlockFactor | None:
    """The block factor of the unit-diagonal X'WX (given as in ``certainly_full_rank``) when it proves that no
    column is aliased, else None: the bound of ``certainly_full_rank`` with lambda_min(S) >= 1 / trace(S^-1)
    and ||B||_2^2 bounded as there, both read from the factor, which the first solve then reuses."""
    factor = _block_factor(rest, rows, orthogonal, groups)
    return factor if factor is not None and _certifies(factor, tol) else None


def _block_factor(rest: np.ndarray, rows, orthogonal: np.ndarray, groups: tuple) -> BlockFactor | None:
    """The block factor, keeping its dense Schur complement for an exact eigenvalue (None: S is not numerically
    positive definite)."""
    try:
        return BlockFactor(rest, rows, orthogonal, groups, keep_schur_matrix=True)
    except linalg.LinAlgError:
        return None


def _certifies(factor: BlockFactor, tol: float) -> bool:
    """The bound min(1, 1 / trace(S^-1)) / (1 + ||B||_2)^2 > tol^2, read from the factor."""
    try:
        trace = factor.schur_inverse_trace()
    except linalg.LinAlgError:
        return False
    smallest = 1.0 / trace if trace > 0 and np.isfinite(trace) else (np.inf if trace == 0 else -np.inf)
    return bool(min(1.0, smallest) / (1.0 + np.sqrt(factor.coupling)) ** 2 > tol**2)


#: Schur complements of at most this many columns get their smallest eigenvalue exactly (cheap at this size);
#: beyond the second bound, not at all (an eigenvalue decomposition of thousands of columns).
_EXACT_EIGENVALUE_COLUMNS = (256, 2000)


def _smallest_eigenvalue(schur: np.ndarray, exact: bool, groups: list[np.ndarray]) -> float:
    """lambda_min(``schur``), or a lower bound of it (not ``exact``, large matrices):
    lambda_min(S) >= 1 / trace(S^-1), the trace from the factor's inverse diagonal (``schur_factor``);
    -inf when S is not numerically positive definite (or too large for the exact value)."""
    small, large = _EXACT_EIGENVALUE_COLUMNS
    if exact or len(schur) <= small:
        return float(np.linalg.eigvalsh(schur)[0]) if len(schur) <= large else -np.inf
    try:
        factor = schur_factor(schur, groups)  # which leaves ``schur`` as it is
        trace = float(np.sum(factor.inverse_diagonal()))
    except linalg.LinAlgError:
        return -np.inf
    return 1.0 / trace if trace > 0 and np.isfinite(trace) else -np.inf


def aliased_columns_from_gram(gram: np.ndarray, tol: float, overwrite: bool = False,
                              orthogonal: np.ndarray | None = None) -> np.ndarray:
    """The same ordered rule as ``aliased_columns``, on X'WX instead of sqrt(W) X.

    A column is aliased when its squared residual on the kept earlier columns,
    relative to its squared norm, is below tol^2 (the pivots of a Cholesky taken
    in column order on the unit-diagonal cross-product), or within the rounding
    of X'WX (``ordered_aliasing``).  With ``orthogonal`` (columns of one categorical;
    a ``BlockGram`` names its own) a full-rank design is usually proved so without
    a factorisation (``certainly_full_rank``, asked for lambda_min > ROUNDING_FLOOR
    too, below which the rounding criterion could alias), else the rule runs with
    those columns eliminated first (``block_aliased_columns``: O(k m^2), no p x p
    matrix).  Otherwise the rule runs on the dense matrix (``ordered_cholesky``: one
    LAPACK Cholesky when no column is aliased, else factorisations restarted after
    each aliased column); with ``overwrite`` the caller's ``gram`` is scaled in place
    (no copy of a large cross-product).
    """
    n_columns = len(gram)
    norms = np.sqrt(gram.diagonal())
    empty = norms == 0
    norms = np.where(empty, 1.0, norms)
    if isinstance(gram, BlockGram):
        orthogonal = gram.orthogonal
    groups = gram.groups if isinstance(gram, BlockGram) else ()
    if orthogonal is not None and len(orthogonal) >= BLOCK_ELIMINATION_MIN_COLUMNS:
        rest, rows = other_rows(gram, norms, orthogonal)
        if _certainly_only_empty_aliased(gram, norms, empty, orthogonal, max(tol, np.sqrt(ROUNDING_FLOOR)), groups,
                                         (rest, rows)):
            return empty.copy()  # an empty column is aliased (R's rule) and changes no other column's residual
        aliased = block_aliased_columns(rest, rows, orthogonal, empty, tol)
        if aliased is not None:
            return aliased
        del rest, rows
    if n_columns - int(empty.sum()) > ORDERED_RULE_MAX_COLUMNS:
        raise FitError(_too_wide_message(n_columns, orthogonal is not None))
    if isinstance(gram, BlockGram):
        gram, overwrite = gram.to_dense(), True
    unit = gram if overwrite else gram.copy()
    unit /= norms[:, None]
    unit /= norms
    return _dense_ordered_rule(unit, empty, tol)


def _too_wide_message(n_columns: int, blocks: bool) -> str:
    """The FitError of a rank-deficient design too wide for the dense rule."""
    why = ("the block elimination of its largest categorical met a Schur complement that is not numerically "
           "positive definite (columns dependent at the tolerance's edge), and the dense rule "
           if blocks else "R's ordered rule for which to alias ")
    return (f"the design's {n_columns:,} columns are (nearly) linearly dependent beyond its empty cells, and {why}"
            f"needs a dense {n_columns:,} x {n_columns:,} factorisation; drop the terms that nest in others (e.g. "
            "the main effects beside a:b), or merge sparse levels")


def _dense_ordered_rule(unit: np.ndarray, empty: np.ndarray, tol: float) -> np.ndarray:
    """R's ordered rule on a unit-diagonal X'WX, read from its upper triangle: ``ordered_cholesky`` on the columns
    that are not empty (those are aliased, and change no other column's pivot).  One LAPACK Cholesky settles the
    usual full-rank case; a deficient matrix is factored again after each aliased or doubtful column (one panel
    at a time): O(p^3) in all, plus O(p^2) per aliased column, where the former column-by-column rule took one
    triangular solve per column in a Python loop."""
    aliased = empty.copy()
    filled = np.flatnonzero(~empty)
    if not len(filled):
        return aliased
    filled_unit = unit if len(filled) == len(unit) else unit[np.ix_(filled, filled)]
    kept, _ = ordered_cholesky(filled_unit.T, tol, overwrite=True)  # its lower triangle: unit's upper one
    aliased[filled[~kept]] = True
    return aliased


#: Rank-deficient designs wider than this (empty columns aside) are refused when no large categorical's levels
#: can be eliminated first (``block_aliased_columns``): the ordered rule would take a dense p x p factorisation.
ORDERED_RULE_MAX_COLUMNS = 5000


def _certainly_only_empty_aliased(gram, norms: np.ndarray, empty: np.ndarray, orthogonal: np.ndarray,
                                  tol: float, groups: tuple = (), other: tuple | None = None) -> bool:
    """``certainly_full_rank`` on the columns that are not empty (all zero): when it holds, the empty
    columns are the only aliased ones.  ``other``: ``other_rows``'s (rest, rows) when the caller has them."""
    rest, rows = other if other is not None else other_rows(gram, norms, orthogonal)
    if not empty.any():
        proved, factor = full_rank_proof(rest, rows, orthogonal, tol, groups)
        if factor is not None and isinstance(gram, BlockGram):
            gram.keep_factor(norms, factor)  # the first solve's factor: the same X'WX, equilibrated alike
        return proved
    filled = np.flatnonzero(~empty)
    position = np.full(len(empty), -1)
    position[filled] = np.arange(len(filled))
    kept_rest = np.flatnonzero(~empty[rest])
    return certainly_full_rank(position[rest[kept_rest]], rows[kept_rest][:, filled],
                               position[orthogonal[~empty[orthogonal]]], tol,
                               tuple(position[group[~empty[group]]] for group in groups))
