"""Template arguments converted to the Go parameter types of the function they are passed to (Go's
``validateType`` and ``evalArg``), with Go's error texts."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from typing import Any

from .golang.reflect import go_type_name
from .golang.types import MISSING, Int64, TypedNil
from .nodes import Node, NumberNode
from .runtime import ExecError

__all__ = ["GO_PARAM_TYPES", "NILABLE", "convert", "ideal_constant"]

GO_PARAM_TYPES = {
    "any": "interface {}",
    "value": "reflect.Value",
    "string": "string",
    "int": "int",
    "int64": "int64",
    "float64": "float64",
    "bool": "bool",
    "map": "map[string]interface {}",
    "time": "time.Time",
}
NILABLE = frozenset({"any", "value", "map"})
# parameter types that take only that very Python type (a bool is no int, an int no int64)
_EXACT_TYPES: dict[str, type] = {"int": int, "int64": Int64, "float64": float, "bool": bool}


def _wrong(v: Any, ptype: str, node: Node | None, from_field: bool) -> ExecError:
    tn = GO_PARAM_TYPES[ptype]
    if v is MISSING or (v is None and not from_field):
        return ExecError(node, f"invalid value; expected {tn}")
    got = "interface {}" if v is None else go_type_name(v)
    return ExecError(node, f"wrong type for value; expected {tn}; got {got}")


def convert(v: Any, ptype: str, node: Node | None, from_field: bool) -> Any:
    if ptype == "any":
        return None if v is MISSING else v
    if ptype == "value":
        return v
    t = type(v)
    if ptype == "string":
        if t is str or (isinstance(v, str) and not hasattr(v, "__go_type__")):
            return v
    elif ptype in _EXACT_TYPES:
        if t is _EXACT_TYPES[ptype]:
            return v
    elif ptype == "map":
        if v is None or v is MISSING:
            return None
        if isinstance(v, Mapping):
            return v
        if isinstance(v, TypedNil) and v.kind == "map":
            return None
    elif ptype == "time" and isinstance(v, _dt.datetime):
        return v
    raise _wrong(v, ptype, node, from_field)


def ideal_constant(n: NumberNode) -> tuple[Any, str | None]:
    """Value of a number literal passed where any type is accepted; or an error message."""
    text = n.text
    is_hex = len(text) > 2 and text[0] == "0" and text[1] in "xX" and not any(c in text for c in "pP")
    if n.is_float and not is_hex and not text.startswith("'") and any(c in text for c in ".eEpP"):
        return n.float_val, None
    if n.is_int:
        return n.int_val, None
    if n.is_uint:
        return None, f"{text} overflows int"
    return None, f"{text} overflows int"
