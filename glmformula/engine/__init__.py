"""The fitting engine: IRLS with R's glm.fit semantics."""

from glmformula.engine.irls import FitState, IRLSControl, irls

__all__ = ["FitState", "IRLSControl", "irls"]
