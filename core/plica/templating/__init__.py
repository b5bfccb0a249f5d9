"""Go ``text/template`` with step-ca's function map (sprig v3.3.0 + step additions), in pure Python.

Public API::

    from plica.templating import render, parse, TemplateError

    tmpl = parse(text, name="template")      # parse once (raises TemplateError on a parse error)
    out = tmpl.execute(data)                 # execute many times (raises TemplateError)
    out = render(text, data, name="leaf")    # parse (cached) + execute

``funcs`` selects the function map: ``"x509"`` (default: X.509 certificate templates, with the asn1
functions), ``"ssh"`` (SSH certificate templates) or ``"webhook"`` (webhook URLs: sprig only).

This package is a leaf: it imports only the standard library, ``cryptography`` (sprig's crypto functions)
and ``plica.asn1`` (the asn1 functions). The Go value model that template data follows is described in
``plica.templating.golang``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from .errors import TemplateError
from .executor import Template
from .funcs import FUNCSETS
from .golang.types import MISSING, Duration, Int64, RawJSON, StringSlice, TypedNil
from .parser import parse_trees

__all__ = [
    "MISSING",
    "Duration",
    "Int64",
    "RawJSON",
    "StringSlice",
    "Template",
    "TemplateError",
    "TypedNil",
    "function_names",
    "parse",
    "render",
]


def parse(text: str, *, name: str = "template", funcs: str = "x509") -> Template:
    """Parse ``text`` (Go template syntax) into a reusable Template."""
    table = FUNCSETS.get(funcs)
    if table is None:
        raise ValueError(f"unknown function set {funcs!r}; expected one of {sorted(FUNCSETS)}")
    if not isinstance(text, str):
        raise TemplateError(f"template: {name}: template text must be a string", name=name, phase="parse")
    try:
        trees = parse_trees(text, name, table)
        return Template(name, text, trees, table, funcs)
    except TemplateError:
        raise
    except RecursionError:
        raise TemplateError(
            f"template: {name}: max expression depth exceeded", name=name, phase="parse"
        ) from None
    except Exception as e:  # pragma: no cover - defensive: a parser bug must still be a TemplateError
        raise TemplateError(f"template: {name}: internal parse error: {e!r}", name=name, phase="parse") from e


@functools.lru_cache(maxsize=512)
def _cached_parse(text: str, name: str, funcs: str) -> Template:
    return parse(text, name=name, funcs=funcs)


def render(text: str, data: Mapping[str, Any], *, name: str = "template", funcs: str = "x509") -> str:
    """Parse (with a small cache) and execute ``text`` on ``data``."""
    return _cached_parse(text, name, funcs).execute(data)


def function_names(funcs: str = "x509") -> list[str]:
    """Names of the functions available to templates in the given function set."""
    return sorted(FUNCSETS[funcs])
