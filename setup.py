"""Build the optional C kernels (glmformula/design/_kernels.c); everything else is in pyproject.toml.

The extension is optional: without a C compiler the install still succeeds and
glmformula uses its numpy path (``glmformula.design.kernels.AVAILABLE`` is False).
"""

import sys

from setuptools import Extension, setup

flags = [] if sys.platform == "win32" else ["-O3"]
setup(ext_modules=[Extension("glmformula.design._kernels", ["glmformula/design/_kernels.c"],
                             extra_compile_args=flags, optional=True),
                   Extension("glmformula.penalized._cd", ["glmformula/penalized/_cd.c"],
                             extra_compile_args=flags, optional=True)])
