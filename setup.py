"""Build the optional C kernels; everything else is in pyproject.toml.

glmformula/design/_kernels.c    X'WX, X'Wz and X beta of the categorical-aware design, and the fused
                                IRLS step under the log link
glmformula/penalized/_cd.c      the coordinate descent of penalized fits
glmformula/families/_log_link.c IRLS's elementwise work under the log link (poisson, gamma)
glmformula/count/_zero_kernels.c a zero-inflated model's log-likelihood, score and information in one
                                pass over the rows (logit zero link; and the binary logit start's)

The two log-link passes share their per-row math, glmformula/families/log_link_math.h, and the
zero-inflated pass its compensated sums and build attributes (MANIFEST.in ships it in the sdist).

All four are optional: without a C compiler the install still succeeds and glmformula
uses its numpy and Python paths (the ``AVAILABLE`` flags of
``glmformula.design.kernels``, ``glmformula.penalized.kernels``,
``glmformula.families.log_link`` and ``glmformula.count.zero_kernels`` are then False).
"""

import sys

from setuptools import Extension, setup

flags = [] if sys.platform == "win32" else ["-O3"]
# FP operations may be taken as not trapping (no effect on any result): the compiler may then vectorise the
# fused log-link steps, whose loops have selects and comparisons that could raise FP exceptions
kernel_flags = flags if sys.platform == "win32" else [*flags, "-fno-trapping-math"]
# the log link's per-row math, included by _kernels.c, _log_link.c and _zero_kernels.c (a change to it rebuilds
# all three)
log_link_math = {"include_dirs": ["glmformula/families"], "depends": ["glmformula/families/log_link_math.h"]}
setup(ext_modules=[Extension("glmformula.design._kernels", ["glmformula/design/_kernels.c"],
                             extra_compile_args=kernel_flags, optional=True, **log_link_math),
                   Extension("glmformula.penalized._cd", ["glmformula/penalized/_cd.c"],
                             extra_compile_args=flags, optional=True),
                   Extension("glmformula.families._log_link", ["glmformula/families/_log_link.c"],
                             extra_compile_args=kernel_flags, optional=True, **log_link_math),
                   Extension("glmformula.count._zero_kernels", ["glmformula/count/_zero_kernels.c"],
                             extra_compile_args=flags, optional=True, **log_link_math)])
