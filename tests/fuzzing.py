"""How many examples the fuzzers draw: their default, or ``GLMFORMULA_FUZZ_EXAMPLES`` when set (a longer run,
``GLMFORMULA_FUZZ_EXAMPLES=2000 python -m pytest tests/test_security.py tests/test_formula_evaluation.py``)."""

from __future__ import annotations

import os


def fuzz_examples(default: int) -> int:
    """``max_examples`` for a fuzzer: the environment's ``GLMFORMULA_FUZZ_EXAMPLES``, else ``default``."""
    value = os.environ.get("GLMFORMULA_FUZZ_EXAMPLES")
    return int(value) if value else default
