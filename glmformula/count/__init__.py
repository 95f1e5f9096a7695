"""Zero-inflated and hurdle count models (the counterparts of R's pscl)."""

from glmformula.count.models import hurdle, zeroinfl
from glmformula.count.results import CountModelResults

__all__ = ["CountModelResults", "hurdle", "zeroinfl"]
