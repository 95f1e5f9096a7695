"""``python -m glmformula``: the same as the ``glmformula`` console script."""

import sys

from glmformula.cli import main

sys.exit(main())
