"""sprig's defaults, JSON and reflection functions (``default``, ``empty``, ``toJson``, ``typeOf``, ``kindOf``,
…) and sprig's own ``fail``."""

from __future__ import annotations

import copy
from typing import Any

from ..errors import GoError
from ..golang.json import from_json, go_json
from ..golang.reflect import deep_equal, go_kind, go_type_name
from ..golang.types import go_empty
from .registry import function_table

FUNCS, sprig = function_table()


@sprig("default", "any", variadic="any")
def _default(d: Any, *given: Any) -> Any:
    if not given or go_empty(given[0]):
        return d
    return given[0]


sprig("empty", "any")(go_empty)


@sprig("coalesce", variadic="any")
def _coalesce(*v: Any) -> Any:
    for x in v:
        if not go_empty(x):
            return x
    return None


sprig("all", variadic="any")(lambda *v: all(not go_empty(x) for x in v))
sprig("any", variadic="any")(lambda *v: any(not go_empty(x) for x in v))


@sprig("fromJson", "string")
def _from_json(s: str) -> Any:
    try:
        return from_json(s)
    except GoError:
        return None


sprig("mustFromJson", "string")(from_json)


@sprig("toJson", "any")
def _to_json(v: Any) -> str:
    try:
        return go_json(v)
    except GoError:
        return ""


sprig("mustToJson", "any")(lambda v: go_json(v))


@sprig("toPrettyJson", "any")
def _to_pretty_json(v: Any) -> str:
    try:
        return go_json(v, indent="  ")
    except GoError:
        return ""


sprig("mustToPrettyJson", "any")(lambda v: go_json(v, indent="  "))
sprig("toRawJson mustToRawJson", "any")(lambda v: go_json(v, escape_html=False))
sprig("ternary", "any", "any", "bool")(lambda vt, vf, c: vt if c else vf)


@sprig("deepCopy mustDeepCopy", "any")
def _deep_copy(v: Any) -> Any:
    if v is None:
        raise GoError("deepCopy error: copy: cannot copy nil")
    try:
        return copy.deepcopy(v)
    except Exception as e:
        raise GoError(f"deepCopy error: {e}") from None


sprig("typeOf", "any")(lambda v: go_type_name(v))
sprig("typeIs", "string", "any")(lambda target, v: target == go_type_name(v))
sprig("typeIsLike", "string", "any")(lambda target, v: go_type_name(v) in (target, "*" + target))
sprig("kindOf", "any")(go_kind)
sprig("kindIs", "string", "any")(lambda target, v: target == go_kind(v))
sprig("deepEqual", "any", "any")(deep_equal)


@sprig("fail", "string")
def _sprig_fail(msg: str) -> str:
    raise GoError(msg)
