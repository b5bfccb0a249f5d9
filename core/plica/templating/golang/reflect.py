"""Go ``reflect`` as templates see it: type names (``%T``), kinds and ``DeepEqual``."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from typing import Any

from .types import MISSING, Duration, Int64, TypedNil, kind_from_type_name

__all__ = ["deep_equal", "go_kind", "go_type_name", "is_map", "is_slice"]

_SIMPLE_TYPE_NAMES: dict[type, str] = {
    str: "string",
    bool: "bool",
    int: "int",
    float: "float64",
    dict: "map[string]interface {}",
    list: "[]interface {}",
    tuple: "[]interface {}",
    bytes: "[]uint8",
    bytearray: "[]uint8",
    _dt.datetime: "time.Time",
    _dt.timedelta: "time.Duration",
    _dt.date: "time.Time",
}


def go_type_name(v: Any) -> str:
    """The ``fmt`` ``%T`` text of a value."""
    t = type(v)
    name = _SIMPLE_TYPE_NAMES.get(t)
    if name is not None:
        return name
    if v is None or v is MISSING:
        return "<nil>"
    if t is TypedNil:
        return v.go_type
    gt = getattr(v, "__go_type__", None)
    if isinstance(gt, str):
        return gt
    for base, bname in _SIMPLE_TYPE_NAMES.items():
        if isinstance(v, base):
            return bname
    return t.__name__


def go_kind(v: Any) -> str:
    """The ``reflect.Kind`` text of a value (``kindOf``)."""
    if v is None or v is MISSING:
        return "invalid"
    t = type(v)
    if t is str:
        return "string"
    if t is bool:
        return "bool"
    if t is int:
        return "int"
    if t is float:
        return "float64"
    if isinstance(v, TypedNil):
        return v.kind
    gk = getattr(v, "__go_kind__", None)
    if isinstance(gk, str):
        return gk
    if isinstance(v, Duration | _dt.timedelta):
        return "int64"
    if isinstance(v, Int64):
        return "int64"
    if isinstance(v, Mapping):
        return "map"
    if isinstance(v, list | tuple | bytes | bytearray):
        return "slice"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return kind_from_type_name(go_type_name(v)) if hasattr(v, "__go_type__") else "int"
    if isinstance(v, float):
        return "float64"
    if isinstance(v, str):
        return "string"
    if isinstance(v, _dt.datetime):
        return "struct"
    return kind_from_type_name(go_type_name(v))


def is_slice(v: Any) -> bool:
    if isinstance(v, list | tuple | bytes | bytearray):
        return True
    return isinstance(v, TypedNil) and v.kind == "slice"


def is_map(v: Any) -> bool:
    if isinstance(v, Mapping):
        return True
    return isinstance(v, TypedNil) and v.kind == "map"


def deep_equal(a: Any, b: Any) -> bool:
    if a is MISSING:
        a = None
    if b is MISSING:
        b = None
    if a is None or b is None:
        return a is None and b is None
    if go_type_name(a) != go_type_name(b):
        return False
    if isinstance(a, Mapping):
        if not isinstance(b, Mapping) or len(a) != len(b):
            return False
        return all(k in b and deep_equal(x, b[k]) for k, x in a.items())
    if isinstance(a, list | tuple):
        if not isinstance(b, list | tuple) or len(a) != len(b):
            return False
        return all(deep_equal(x, y) for x, y in zip(a, b, strict=True))
    try:
        return bool(a == b)
    except Exception:
        return a is b
