"""Penalised GLMs: ridge, lasso and elastic net with glmnet's objective, paths and cross-validation."""

from glmformula.penalized.models import cv_glm, glm_path, glm_penalized
from glmformula.penalized.results import PenalizedResults

__all__ = ["PenalizedResults", "cv_glm", "glm_path", "glm_penalized"]
