"""Log-likelihoods, analytic gradients and analytic Hessians of zero-inflated and hurdle count models.

Parameters are stacked as (beta, gamma[, log theta]): beta for the count part
(log link, design X), gamma for the zero part (design Z, link g), log theta for
a negative binomial count part.  With mu = exp(X beta + offset_x) and
pi = g^{-1}(Z gamma + offset_z):

zero-inflated (pi = probability of a structural zero)
    y = 0:  log(pi + (1 - pi) P(0))
    y > 0:  log(1 - pi) + log P(y)

hurdle (pi = probability of crossing the hurdle, y > 0; the count part is
fitted to the positive counts, truncated at zero)
    y = 0:  log(1 - pi)
    y > 0:  log(pi) + log P(y) - log(1 - P(0))

``BlockLikelihood`` is the general form: parts with designs X_i and linear predictors
eta_i = X_i b_i + o_i, optionally log theta, prior weights w, and a row model (``row_models``)
giving per-row l and its derivatives in (eta_i, log theta).  Then

    log-likelihood   sum_r w_r l_r
    gradient         X_i' (w s_i),  sum w s_t
    information      -H:  X_i' diag(-w h_ij) X_j  (``design_products``),  X_i' (-w h_it),  -sum w h_tt

all from products of the designs (no dense dummies).  The row model runs over chunks of rows so
that its temporaries stay the size of a chunk.  ``per_row`` gives the unweighted contributions for the
Vuong test.  Where the compiled pass serves the model (``zero_kernels``: the zero-inflated and the binary
logit likelihoods) l, the score and -H come from it instead, in one pass over the rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from glmformula import settings
from glmformula.count import zero_kernels
from glmformula.count.design_products import cross_gram, signed_gram
from glmformula.count.row_models import HurdleRows, ZeroInflatedRows
from glmformula.engine.design_protocol import Design
from glmformula.families.links import Link


@dataclass(frozen=True)
class TwoPartData:
    """Response, designs (``Design``: dense or categorical), offsets and prior weights of a two-part model."""

    y: np.ndarray
    X: Design
    Z: Design
    offset_x: np.ndarray
    offset_z: np.ndarray
    weights: np.ndarray

    @property
    def n_count(self) -> int:
        return self.X.n_columns

    @property
    def n_zero(self) -> int:
        return self.Z.n_columns


class BlockLikelihood:
    """A likelihood over parts with their own designs (see the module docstring)."""

    def __init__(self, designs: list[Design], offsets: list[np.ndarray], weights: np.ndarray, rows,
                 dist=None):
        self.designs, self.offsets, self.weights, self.rows, self.dist = designs, offsets, weights, rows, dist
        self.has_theta = bool(dist is not None and dist.has_theta)
        bounds = np.cumsum([0] + [design.n_columns for design in designs])
        self.slices = [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]
        self.n_params = int(bounds[-1]) + int(self.has_theta)
        self.unit_weights = bool(np.all(weights == 1.0))  # then the weighted sums need no products
        self._compiled: zero_kernels.CompiledPass | None | bool = False  # False: not looked for yet

    def __getstate__(self) -> dict:
        """The state to copy or pickle: the compiled pass (which holds addresses) is bound again when needed."""
        return {**self.__dict__, "_compiled": False}

    def _compiled_pass(self) -> zero_kernels.CompiledPass | None:
        """The compiled pass of this likelihood when it serves it and the settings allow it, else None."""
        if not zero_kernels.in_use():
            return None
        if self._compiled is False:
            self._compiled = zero_kernels.CompiledPass.for_likelihood(self)
        return self._compiled

    def orthogonal_parameters(self) -> np.ndarray | None:
        """Positions (in the parameters) of the largest set of one design's columns that never share a row
        (a categorical's levels; ``Design.orthogonal_columns``): their block of the information is diagonal."""
        best = None
        for design, part in zip(self.designs, self.slices):
            columns = design.orthogonal_columns()
            if columns is not None and (best is None or len(columns) > len(best)):
                best = np.asarray(columns, dtype=int) + part.start
        return best

    def theta(self, params: np.ndarray):
        """theta = exp(log theta) for a negative binomial, 1 for the geometric, None otherwise."""
        if self.has_theta:
            return float(np.exp(params[-1]))
        return 1.0 if self.dist is not None and self.dist.name == "geometric" else None

    def etas(self, params: np.ndarray) -> list[np.ndarray]:
        """The linear predictors X_i b_i + o_i of the parts."""
        etas = []
        for design, part, offset in zip(self.designs, self.slices, self.offsets):
            eta = design.dot(np.ascontiguousarray(params[part]))
            eta += offset
            etas.append(eta)
        return etas

    def evaluate(self, params: np.ndarray, order: int, summed: bool = False) -> dict[str, np.ndarray | float]:
        """The row model's per-row arrays up to ``order`` (0: l, 1: scores, 2: second derivatives).

        ``summed``: what the fit needs and no more, chunk by chunk: l, s_t and h_tt as weighted sums
        (floats), the second derivatives h_ij of two parts as the information's weights -w h_ij, the rest
        as they are (so that few arrays the data's length are held)."""
        etas, theta = self.etas(params), self.theta(params)
        n = len(self.weights)
        out: dict[str, np.ndarray | float] = {}
        reused: list[str] = []  # keys stored in the linear predictors' arrays (see ``_reuse_etas``)
        step = settings.current().elementwise_chunk_rows
        with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
            for start in range(0, n, step):
                rows = slice(start, min(start + step, n))
                pieces = self.rows(rows, etas, theta, order)
                pieces = [(None, pieces)] if isinstance(pieces, dict) else pieces
                if start == 0 and summed:
                    reused = _reuse_etas(out, etas, pieces)
                for key in reused:  # this chunk's linear predictors are read: the rows are free
                    out[key][rows] = 0.0
                for positions, piece in pieces:
                    self._store(out, piece, rows if positions is None else start + positions, summed)
        return out

    def _store(self, out: dict, piece: dict, at, summed: bool) -> None:
        """Put a piece of rows ``at`` into ``evaluate``'s ``out`` (its prior weights gathered once)."""
        n = len(self.weights)
        w = None if self.unit_weights else self.weights[at]
        for key, values in piece.items():
            if summed and key in _SUMMED:
                total = float(np.sum(values)) if w is None else _dot(w, values)
                out[key] = out.get(key, 0.0) + total
                continue
            if key not in out:
                out[key] = np.zeros(n)  # rows a piece leaves out are 0
            if summed and key in _GRAM_WEIGHTS:
                out[key][at] = -values if w is None else -w * values
            else:
                out[key][at] = values

    def per_row(self, params: np.ndarray) -> np.ndarray:
        """Unweighted per-row log-likelihood contributions, (n,)."""
        return self.evaluate(params, 0)["loglik"]

    def loglik(self, params: np.ndarray) -> float:
        """sum w l; -inf where it is not finite (a step out of the parameter space)."""
        compiled = self._compiled_pass()
        if compiled is not None:
            value = compiled(params, self.theta(params), 0)[0]
        else:
            value = self.evaluate(params, 0, summed=True)["loglik"]
        return value if np.isfinite(value) else -np.inf

    def gradient(self, params: np.ndarray) -> np.ndarray:
        """The analytic score, (n_params,)."""
        compiled = self._compiled_pass()
        if compiled is not None:
            return compiled(params, self.theta(params), 1)[1]
        return self._gradient(self.evaluate(params, 1, summed=True))

    def _gradient(self, rows: dict) -> np.ndarray:
        parts = [design.xtw(self.weights, rows.pop(f"s{i}")) for i, design in enumerate(self.designs)]  # freed
        if self.has_theta:
            parts.append(np.array([rows["st"]]))
        return np.concatenate(parts)

    def derivatives(self, params: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """(log-likelihood, gradient, observed information -H) at ``params``, from one row evaluation."""
        compiled = self._compiled_pass()
        if compiled is not None:
            loglik, gradient, information = compiled(params, self.theta(params), 2)
            return (loglik if np.isfinite(loglik) else -np.inf), gradient, information
        rows = self.evaluate(params, 2, summed=True)
        loglik = rows["loglik"]
        return (loglik if np.isfinite(loglik) else -np.inf), self._gradient(rows), self._information(rows)

    def _information(self, rows: dict) -> np.ndarray:
        """-H from the information weights -w h_ij of ``evaluate(..., summed=True)``."""
        n_params = self.n_params
        information = np.zeros((n_params, n_params))
        for i, (design, part) in enumerate(zip(self.designs, self.slices)):
            information[part, part] = signed_gram(design, rows.pop(f"h{i}{i}"))  # each freed once used
            for j in range(i + 1, len(self.designs)):
                if f"h{i}{j}" in rows:
                    cross = cross_gram(design, self.designs[j], rows.pop(f"h{i}{j}"))
                    information[part, self.slices[j]] = cross
                    information[self.slices[j], part] = cross.T
            if self.has_theta and f"h{i}t" in rows:
                column = -design.xtw(self.weights, rows.pop(f"h{i}t"))
                information[part, -1] = column
                information[-1, part] = column
        if self.has_theta:
            information[-1, -1] = -rows["htt"]
        return information



def _reuse_etas(out: dict, etas: list[np.ndarray], pieces: list) -> list[str]:
    """Give the per-row arrays of ``evaluate(..., summed=True)`` that the first chunk's pieces hold the arrays of
    the linear predictors, one each while they last (two fewer arrays the data's length at the peak).  A chunk's
    rows of eta are read by the row model before anything is stored there, and the caller zeroes them first."""
    keys = [key for _, piece in pieces for key in piece if key not in _SUMMED]
    keys = list(dict.fromkeys(keys))[:len(etas)]
    for key, eta in zip(keys, etas):
        out[key] = eta
    return keys


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """sum a b by numpy's own loop: a 1-D BLAS ddot on a chunk waits for its threads (milliseconds per call on a
    busy machine), einsum does not."""
    return float(np.einsum("i,i->", a, b))


#: Keys of the row models that the fit needs only as weighted sums, and those it needs as the weights -w h of grams.
_SUMMED = frozenset({"loglik", "st", "htt"})
_GRAM_WEIGHTS = frozenset({"h00", "h11", "h01"})


class TwoPartLikelihood(BlockLikelihood):
    """A two-part model's likelihood over (beta, gamma[, log theta]); ``data`` holds its inputs."""

    def __init__(self, data: TwoPartData, dist, link: Link, rows):
        super().__init__([data.X, data.Z], [data.offset_x, data.offset_z], data.weights, rows, dist)
        self.data, self.link = data, link


class ZeroInflated(TwoPartLikelihood):
    def __init__(self, data: TwoPartData, dist, link: Link):
        super().__init__(data, dist, link, ZeroInflatedRows(data.y, dist, link))


class Hurdle(TwoPartLikelihood):
    def __init__(self, data: TwoPartData, dist, link: Link):
        super().__init__(data, dist, link, HurdleRows(data.y, dist, link))
