"""Field access on template values (Go's ``evalField``): map keys, struct fields and methods, and the
methods of ``time.Time`` and ``time.Duration`` (from ``golang.time``); and how an action prints its value."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from typing import Any

from .golang.fmt import sprint_value
from .golang.reflect import go_type_name
from .golang.time import duration_method, time_method
from .golang.types import MISSING, Duration, TypedNil
from .nodes import Node
from .runtime import ExecError, guarded_call

__all__ = ["field_slow", "print_value"]

_NO = object()
_BASIC = (str, bool, int, float, list, tuple, bytes, bytearray)


_FK_MAP, _FK_TYPEDNIL, _FK_TIME, _FK_DURATION, _FK_BASIC, _FK_OBJECT = range(6)
_field_kinds: dict[type, int] = {}


def _field_kind(t: type) -> int:
    """How field access treats instances of ``t`` (cached: ABC isinstance checks are slow)."""
    k = _field_kinds.get(t)
    if k is None:
        if issubclass(t, Mapping):
            k = _FK_MAP
        elif issubclass(t, TypedNil):
            k = _FK_TYPEDNIL
        elif issubclass(t, _dt.datetime):
            k = _FK_TIME
        elif issubclass(t, Duration | _dt.timedelta):
            k = _FK_DURATION
        elif issubclass(t, _BASIC) and not hasattr(t, "__go_type__"):
            k = _FK_BASIC
        else:
            k = _FK_OBJECT
        _field_kinds[t] = k
    return k


def field_slow(recv: Any, name: str, node: Node, args: list[Any] | None, has_args: bool) -> Any:
    """Go ``evalField``: ``recv.name``, calling methods with ``args``."""
    if recv is MISSING:
        return MISSING
    if recv is None:
        raise ExecError(node, f"nil pointer evaluating interface {{}}.{name}")
    kind = _field_kind(type(recv))
    if kind == _FK_OBJECT:
        attr = _NO if name[:1] == "_" else getattr(recv, name, _NO)
        if attr is _NO:
            raise ExecError(node, f"can't evaluate field {name} in type {go_type_name(recv)}")
        if callable(attr) and hasattr(attr, "__self__") and not isinstance(attr, type):
            return guarded_call(node, name, attr, *(args or ()))
        if has_args:
            raise ExecError(node, f"{name} has arguments but cannot be invoked as function")
        return attr
    if kind == _FK_MAP:
        meth = getattr(type(recv), name, None) if not hasattr(dict, name) and name[:1] != "_" else None
        if callable(meth):
            return guarded_call(node, name, getattr(recv, name), *(args or ()))
        if has_args:
            raise ExecError(node, f"{name} is not a method but has arguments")
        return recv.get(name, MISSING)
    if kind == _FK_TYPEDNIL:
        k = recv.kind
        if k == "map":
            if has_args:
                raise ExecError(node, f"{name} is not a method but has arguments")
            return MISSING
        if k == "ptr":
            raise ExecError(node, f"nil pointer evaluating {recv.go_type}.{name}")
        raise ExecError(node, f"can't evaluate field {name} in type {recv.go_type}")
    if kind == _FK_TIME:
        fn = time_method(recv, name)
        if fn is None:
            raise ExecError(node, f"can't evaluate field {name} in type time.Time")
        return guarded_call(node, name, fn, *(args or ()))
    if kind == _FK_DURATION:
        fn = duration_method(recv, name)
        if fn is None:
            raise ExecError(node, f"can't evaluate field {name} in type time.Duration")
        return guarded_call(node, name, fn, *(args or ()))
    raise ExecError(node, f"can't evaluate field {name} in type {go_type_name(recv)}")


def print_value(v: Any) -> str:
    if v is MISSING or v is None:
        return "<no value>"
    if isinstance(v, TypedNil) and v.kind == "ptr":
        return "<nil>"
    return sprint_value(v)
