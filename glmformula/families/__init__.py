"""Families and links: an open registry of distributions and link functions."""

from glmformula.families.base import Family, Response
from glmformula.families.links import (
    Cauchit,
    CLogLog,
    Identity,
    Inverse,
    InverseSquared,
    Link,
    Log,
    Logit,
    LogLog,
    Power,
    Probit,
    Sqrt,
)
from glmformula.families.registry import (
    family_names,
    get_family,
    get_link,
    link_names,
    register_family,
    register_link,
)
from glmformula.families.standard import (
    Binomial,
    Gamma,
    Gaussian,
    InverseGaussian,
    NegativeBinomial,
    Poisson,
    Quasi,
    QuasiBinomial,
    QuasiPoisson,
    Tweedie,
)

__all__ = [
    "Binomial", "CLogLog", "Cauchit", "Family", "Gamma", "Gaussian", "Identity", "Inverse",
    "InverseGaussian", "InverseSquared", "Link", "Log", "LogLog", "Logit", "NegativeBinomial",
    "Poisson", "Power", "Probit", "Quasi", "QuasiBinomial", "QuasiPoisson", "Response", "Sqrt",
    "Tweedie", "family_names", "get_family", "get_link", "link_names", "register_family",
    "register_link",
]
