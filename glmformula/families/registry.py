"""Name → object registries for families and links (the links' half lives in ``link_registry``).

``get_family`` accepts a ``Family`` instance, a registered name, or an R-style
call string such as ``"binomial(link='probit')"``, ``"Gamma(link=log)"`` or
``"quasi(variance='mu^2', link='log')"``.  Call strings are parsed with
``ast`` and only literal arguments (or bare names, read as strings as in R)
are accepted: nothing in them is evaluated.

Users extend the registries with ``register_family`` and ``register_link``.
"""

from __future__ import annotations

from typing import Any

from glmformula.exceptions import FamilyError
from glmformula.families import links as _links
from glmformula.families.base import Family
from glmformula.families.link_registry import (  # the links' half, re-exported here
    LinkFactory,
    _normalise,
    _parse_call,
    _unknown,
    get_link,
    link_names,
    register_link,
)

__all__ = ["LinkFactory", "family_names", "get_family", "get_link", "link_names", "register_family", "register_link"]

_FAMILIES: dict[str, type[Family]] = {}


def register_family(name: str, family_class: type[Family], aliases: tuple[str, ...] = ()) -> None:
    """Make ``family_class`` available to ``gf.family(name)`` and ``gf.glm(family=name)``.

    Parameters
    ----------
    name : str
        The name to register (case and ``.``/``_`` are ignored when looking it up).
    family_class : type[Family]
        A subclass of ``glmformula.families.base.Family``.
    aliases : tuple of str, default ()
        Further names for the same family."""
    if not (isinstance(family_class, type) and issubclass(family_class, Family)):
        raise FamilyError(f"register_family needs a Family subclass, got {family_class!r}")
    for key in (name, *aliases):
        _FAMILIES[_normalise(key)] = family_class


def family_names() -> list[str]:
    return sorted({cls.name for cls in _FAMILIES.values()})


def get_family(spec: str | Family, link: str | _links.Link | None = None, **params: Any) -> Family:
    """Return a ``Family`` from an instance, a registered name or an R-style call string.

    Examples: ``get_family("poisson")``, ``get_family("binomial", link="probit")``,
    ``get_family("binomial(link='probit')")``, ``get_family("negative_binomial", theta=2)``,
    ``get_family("tweedie(var_power=1.5)")``.

    Parameters
    ----------
    spec : str or Family
        A registered name (``"poisson"``, ``"Gamma"``), an R-style call
        (``"binomial(link='probit')"``), a ``Family`` subclass or an instance (returned as is).
    link : str or Link, optional
        The link, when ``spec`` does not name one; the family's default otherwise.
    **params
        The family's parameters: ``theta`` (negative binomial), ``var_power`` (tweedie),
        ``variance`` (quasi).

    Returns
    -------
    Family
    """
    if isinstance(spec, Family):
        if link is not None or params:
            raise FamilyError("pass link and parameters to the family constructor, not beside an instance")
        return spec
    if isinstance(spec, type) and issubclass(spec, Family):
        return _construct(spec, spec.name, link, params)
    if not isinstance(spec, str):
        raise FamilyError(f"a family is a name or a Family object, got {type(spec).__name__}")
    name, args, kwargs = _parse_call(spec, "family")
    if args:
        kwargs.setdefault("link", args[0])
    if "link" in kwargs and link is not None:
        raise FamilyError(f"family {spec!r} names a link and link={link!r} was also given")
    if link is not None:
        kwargs["link"] = link
    family_class = _FAMILIES.get(_normalise(name))
    if family_class is None:
        raise _unknown("family", name, family_names())
    return _construct(family_class, name, kwargs.pop("link", None), {**kwargs, **params})


def _construct(family_class: type[Family], name: str, link: Any, params: dict[str, Any]) -> Family:
    try:
        return family_class(link, **params)
    except TypeError as exc:
        raise FamilyError(f"family {name!r} does not take these parameters: {exc}") from None


def _register_builtins() -> None:
    from glmformula.families import standard as s

    register_family("gaussian", s.Gaussian, aliases=("normal",))
    register_family("binomial", s.Binomial)
    register_family("quasibinomial", s.QuasiBinomial)
    register_family("poisson", s.Poisson)
    register_family("quasipoisson", s.QuasiPoisson)
    register_family("gamma", s.Gamma)
    register_family("inverse_gaussian", s.InverseGaussian, aliases=("inverse.gaussian", "inversegaussian"))
    register_family(
        "negative_binomial", s.NegativeBinomial, aliases=("negative.binomial", "negbin", "nb")
    )
    register_family("tweedie", s.Tweedie)
    register_family("quasi", s.Quasi)


_register_builtins()
