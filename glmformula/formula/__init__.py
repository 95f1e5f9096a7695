"""Formula handling: R vocabulary on formulaic, restricted evaluation, model frames."""

from glmformula.formula.frame import FormulaSpec, ModelFrame, build_model_frame
from glmformula.formula.parse import ParsedFormula, parse_formula

__all__ = ["FormulaSpec", "ModelFrame", "ParsedFormula", "build_model_frame", "parse_formula"]
