"""Design matrices behind the interface the IRLS engine uses (gram, xtw, dot)."""

from glmformula.design.dense import DenseDesign

__all__ = ["DenseDesign"]
