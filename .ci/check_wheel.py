"""The release path: a wheel built from the sdist installs in a fresh venv with everything in it.

Run by .ci/run with the venv's Python, from outside the checkout, as
``python check_wheel.py WHEEL``: the wheel must hold the compiled kernels and the datasets, and the
installed package must load them (not the checkout's copy).
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

wheel = Path(sys.argv[1])
names = zipfile.ZipFile(wheel).namelist()
for kernel in ("glmformula/design/_kernels", "glmformula/penalized/_cd", "glmformula/families/_log_link",
               "glmformula/count/_zero_kernels"):
    assert any(name.startswith(kernel) and name.endswith((".so", ".pyd")) for name in names), f"{kernel} not in {wheel}"

import glmformula as gf  # noqa: E402 - after checking the archive
from glmformula.count import zero_kernels  # noqa: E402
from glmformula.design import kernels as design_kernels  # noqa: E402
from glmformula.families import log_link  # noqa: E402
from glmformula.penalized import kernels as penalized_kernels  # noqa: E402

location = Path(gf.__file__).resolve()
assert "site-packages" in location.parts, f"glmformula imported from {location}, not from the installed wheel"
assert design_kernels.AVAILABLE and penalized_kernels.AVAILABLE and log_link.AVAILABLE and zero_kernels.AVAILABLE, (
    "compiled kernels not loaded")
for name in gf.datasets.names():
    assert f"glmformula/datasets/data/{name}.csv" in names, f"dataset {name} not in the wheel"
    assert len(gf.datasets.load(name)) > 0
res = gf.glm("Claims ~ C(District) + Group + Age + offset(log(Holders))", gf.datasets.load("insurance"), "poisson")
assert res.converged
version = subprocess.run([sys.executable, "-m", "glmformula", "--version"], capture_output=True, text=True, check=True)
print(f"wheel ok: {wheel.name} ({len(names)} files), kernels loaded, {len(gf.datasets.names())} datasets, "
      f"{version.stdout.strip()}")
