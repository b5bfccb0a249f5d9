"""Template functions: Go ``text/template`` builtins, sprig v3.3.0 and step's additions.

Every function is registered with its Go parameter types so that the executor can reproduce Go's argument
checks ("wrong type for value; expected string; got float64", "invalid value; expected string", …).
Parameter type codes: ``any`` (interface{}), ``value`` (reflect.Value: the raw value, missing stays missing),
``string``, ``int``, ``int64``, ``float64``, ``bool``, ``map`` (map[string]interface{}), ``time`` (time.Time).

Function sets (``FUNCSETS``):

* ``x509``: builtins + sprig without ``env``/``expandenv``, step's ``fail``, the five time functions and the
  four asn1 functions (step-ca X.509 templates);
* ``ssh``: the same without the asn1 functions;
* ``webhook``: builtins + sprig without ``env``/``expandenv`` (sprig's own ``fail``).

Each module holds one family (``builtins``, ``dates``, ``strings``, ``math``, ``defaults``, ``paths``,
``encoding``, ``network``, ``lists``, ``dicts``, ``crypto``, ``semver``, ``regex``, ``step``, ``asn1``) in its
own ``FUNCS`` table; ``cast`` holds the conversions they share and ``registry`` the ``FuncSpec`` they declare.
"""

from __future__ import annotations

from collections.abc import Mapping

from . import (
    asn1,
    builtins,
    crypto,
    dates,
    defaults,
    dicts,
    encoding,
    lists,
    math,
    network,
    paths,
    regex,
    semver,
    step,
    strings,
)
from .registry import FuncSpec

__all__ = ["ASN1_NAMES", "BUILTIN_NAMES", "FUNCSETS", "SPRIG_NAMES", "STEP_NAMES", "FuncSpec"]

_SPRIG_FAMILIES = (
    dates,
    strings,
    math,
    defaults,
    network,
    paths,
    encoding,
    lists,
    dicts,
    crypto,
    semver,
    regex,
)
_SPRIG: dict[str, FuncSpec] = {
    name: spec for family in _SPRIG_FAMILIES for name, spec in family.FUNCS.items()
}

# sprig functions that step-ca removes from its function map
_REMOVED = ("env", "expandenv")


def _build(*tables: Mapping[str, FuncSpec]) -> dict[str, FuncSpec]:
    out: dict[str, FuncSpec] = {}
    for t in tables:
        out.update(t)
    for name in _REMOVED:
        out.pop(name, None)
    return out


FUNCSETS: dict[str, dict[str, FuncSpec]] = {
    "x509": _build(builtins.FUNCS, _SPRIG, step.FUNCS, asn1.FUNCS),
    "ssh": _build(builtins.FUNCS, _SPRIG, step.FUNCS),
    "webhook": _build(builtins.FUNCS, _SPRIG),
}

BUILTIN_NAMES = frozenset(builtins.FUNCS)
SPRIG_NAMES = frozenset(_SPRIG)
STEP_NAMES = frozenset(step.FUNCS)
ASN1_NAMES = frozenset(asn1.FUNCS)
