"""The Python stand-ins for Go values that Python has no type for, and ``text/template`` truthiness."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from typing import Any

from .duration import duration_string

__all__ = [
    "MISSING",
    "Duration",
    "Int64",
    "RawJSON",
    "StringSlice",
    "TypedNil",
    "go_empty",
    "kind_from_type_name",
    "truth",
]


class _Missing:
    """The invalid ``reflect.Value`` that a missing map key yields."""

    __slots__ = ()
    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class Int64(int):
    """A Go ``int64`` (sprig's arithmetic returns these; Python ``int`` stands for Go ``int``)."""

    __slots__ = ()
    __go_type__ = "int64"


class Duration(int):
    """A Go ``time.Duration``: an ``int`` count of nanoseconds that prints like ``1h30m0s``."""

    __slots__ = ()
    __go_type__ = "time.Duration"

    def String(self) -> str:
        return duration_string(int(self))

    def Seconds(self) -> float:
        return int(self) / 1e9

    def Hours(self) -> float:
        return int(self) / 3.6e12

    def Minutes(self) -> float:
        return int(self) / 6e10


class StringSlice(list):  # type: ignore[type-arg]
    """A Go ``[]string``."""

    __go_type__ = "[]string"


class TypedNil:
    """A nil value of a known Go type: a nil slice, map or pointer (``TypedNil("*x509.Certificate")``)."""

    __slots__ = ("go_type",)

    def __init__(self, go_type: str) -> None:
        self.go_type = go_type

    @property
    def kind(self) -> str:
        return kind_from_type_name(self.go_type)

    def __bool__(self) -> bool:
        return False

    def __len__(self) -> int:
        return 0

    def __iter__(self) -> Any:
        return iter(())

    def __repr__(self) -> str:
        return f"TypedNil({self.go_type!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TypedNil) and other.go_type == self.go_type

    def __hash__(self) -> int:
        return hash(("TypedNil", self.go_type))


class RawJSON:
    """Pre-encoded JSON (Go ``json.RawMessage``) that ``toJson`` copies into its output."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"RawJSON({self.text!r})"


def kind_from_type_name(name: str) -> str:
    if name.startswith("*"):
        return "ptr"
    if name.startswith("[]") or name.startswith("["):
        return "slice"
    if name.startswith("map["):
        return "map"
    if name.startswith("func"):
        return "func"
    if name == "interface {}":
        return "interface"
    if name in _BASIC_KINDS:
        return name
    if name in ("time.Duration",):
        return "int64"
    return "struct"


_BASIC_KINDS = frozenset(
    [
        "bool",
        "int",
        "int8",
        "int16",
        "int32",
        "int64",
        "uint",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "uintptr",
        "float32",
        "float64",
        "complex64",
        "complex128",
        "string",
    ]
)


def truth(v: Any) -> bool:
    """``text/template`` truthiness: zero values and empty containers are false, structs are true."""
    t = type(v)
    if t is bool:
        return v  # type: ignore[no-any-return]
    if t is str or t is dict or t is list:
        return len(v) > 0
    if v is None or v is MISSING:
        return False
    if t is int or t is float:
        return v != 0
    if isinstance(v, TypedNil):
        return False
    if isinstance(v, int | float | str | Mapping | list | tuple | bytes | bytearray):
        return bool(v)
    if isinstance(v, _dt.timedelta):
        return bool(v)
    return True


def go_empty(v: Any) -> bool:
    """sprig's ``empty``: like ``not truth(v)`` (structs are never empty)."""
    return not truth(v)
