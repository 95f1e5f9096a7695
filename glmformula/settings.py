"""Every speed switch and size tunable of glmformula in one place.

The fast paths (compiled kernels, the categorical-aware design, row chunking,
threads) give the same numbers as their reference paths; these settings only
choose between them and size their pieces.  Modules read ``current()`` when they
run (an attribute read), so a change applies to the next call::

    from glmformula import settings

    with settings.override(kernels=False):  # the numpy / Python paths throughout
        res = glmformula.glm(...)
    settings.current().dense_cells          # 2000000

``override`` is for a block of code (tests compare paths with it); ``configure``
changes the settings for the rest of the process.  Both are process-wide, not
per thread: do not change them while fits run on other threads.

Whether a compiled library *loaded* is a fact of its module, not a setting:
``glmformula.design.kernels.AVAILABLE``, ``glmformula.families.log_link.AVAILABLE``,
``glmformula.penalized.kernels.AVAILABLE`` and ``glmformula.count.zero_kernels.AVAILABLE``
(all False when the environment variable ``GLMFORMULA_NO_KERNELS`` is set or no C
compiler built them).  A kernel
runs when its library is available *and* the settings allow it
(``kernels`` and its own switch).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

__all__ = ["Settings", "configure", "current", "override"]


@dataclass(frozen=True)
class Settings:
    """The tunables; every default is the fast configuration.

    Kernel switches (each effective only where its library is ``AVAILABLE``):

    kernels : all compiled kernels at once; False takes the numpy/Python path everywhere.
    design_kernels : ``design/_kernels.c``: X'WX, X'Wz and X beta of the categorical-aware and dense
        designs, and the fused log-link IRLS step.
    fused_log_step : the fused step alone (``engine.fused_step``: X beta, mean, deviance and the next
        working response of a poisson or gamma log-link fit in one compiled pass); needs ``design_kernels``.
    log_link_kernels : ``families/_log_link.c``: the poisson/gamma log-link working response and
        deviance in one pass.
    penalized_kernels : ``penalized/_cd.c``: the coordinate descent of covariance-mode penalised fits.
    count_kernels : ``count/_zero_kernels.c``: a zero-inflated model's (logit zero link) log-likelihood, score
        and information, and the binary logit start's, in one pass over the rows.

    Design construction:

    fast_categorical_design : build designs of plain columns and categorical main effects from the
        columns and codes (``formula.categorical``) instead of through formulaic's materialiser.
    dense_cells : designs from that fast path with at most this many cells (rows x columns) are
        handed on as dense matrices; larger ones keep categoricals as codes (``CategoricalDesign``).

    Sizes of the pieces of work:

    rows_per_thread : rows per thread below which the compiled row passes use one thread.
    ranges_per_thread : row ranges per thread, handed out as threads finish (a core slowed by another
        process then takes fewer).
    categorical_chunk_rows : rows per chunk of the categorical design's numpy products.
    dense_cached_cells : dense designs of at most this many cells are scaled whole for X'WX; larger ones
        are multiplied in blocks of about this many cells.
    penalized_chunk_rows : rows per chunk when penalised fits standardise columns and form X'VX.
    covariance_max_columns : penalised fits with at most this many columns (and at least as many rows)
        hold their quadratic model as a (p x p) matrix ("covariance" mode); wider ones work on the
        residuals ("naive" mode).
    elementwise_chunk_rows : rows per chunk of the families' numpy work (deviance, working response),
        so that its temporaries stay in cache.
    null_deviance_chunk_rows : rows per chunk of the null deviance at a constant mean (no constant
        array the data's length is written).
    block_gram_min_columns : a categorical design whose largest block has at least this many columns
        hands IRLS its X'WX without that block's k x k part (``engine.block_gram.BlockGram``).
    schur_pcg : after the first IRLS iteration, solve a large dense Schur complement (two crossed factors
        of thousands of levels) by conjugate gradients preconditioned by the previous factor
        (``engine.schur_pcg``); False forms a fresh factor at every iteration.
    zeroinfl_subsample_min_rows : zero-inflated fits on at least this many rows start Newton on all rows
        from the optimum of a systematic subsample (``count.fitting``; 0: never) ...
    zeroinfl_subsample_rows : ... of about this many rows.
    """

    kernels: bool = True
    design_kernels: bool = True
    fused_log_step: bool = True
    log_link_kernels: bool = True
    penalized_kernels: bool = True
    count_kernels: bool = True
    fast_categorical_design: bool = True
    dense_cells: int = 2_000_000
    rows_per_thread: int = 250_000
    ranges_per_thread: int = 4
    categorical_chunk_rows: int = 1 << 14
    dense_cached_cells: int = 1 << 18
    penalized_chunk_rows: int = 8192
    covariance_max_columns: int = 1000
    elementwise_chunk_rows: int = 1 << 15
    null_deviance_chunk_rows: int = 1 << 17
    block_gram_min_columns: int = 2000
    schur_pcg: bool = True
    zeroinfl_subsample_min_rows: int = 400_000
    zeroinfl_subsample_rows: int = 100_000

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.type == "bool":
                if not isinstance(value, bool):
                    raise TypeError(f"settings.{field.name} is True or False, got {value!r}")
            elif isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"settings.{field.name} is a non-negative integer, got {value!r}")
        for name in ("rows_per_thread", "ranges_per_thread", "categorical_chunk_rows", "penalized_chunk_rows",
                     "elementwise_chunk_rows", "null_deviance_chunk_rows", "zeroinfl_subsample_rows"):
            if getattr(self, name) < 1:
                raise ValueError(f"settings.{name} is at least 1, got {getattr(self, name)!r}")


DEFAULTS = Settings()
_current = DEFAULTS


def current() -> Settings:
    """The settings in force."""
    return _current


def configure(**changes) -> Settings:
    """Change some settings for the rest of the process (``Settings`` names them); returns the new settings."""
    global _current
    _current = dataclasses.replace(_current, **changes)
    return _current


@contextmanager
def override(**changes) -> Iterator[Settings]:
    """Change some settings inside a ``with`` block, restoring the previous ones when it exits.

    ``with settings.override(kernels=False, dense_cells=0): ...``
    """
    global _current
    previous = _current
    _current = dataclasses.replace(previous, **changes)
    try:
        yield _current
    finally:
        _current = previous
