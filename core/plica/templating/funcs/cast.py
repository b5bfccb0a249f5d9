"""spf13/cast conversions as sprig applies them to its arguments, the byte/string conversions and the Go
slice and map types that sprig functions return."""

from __future__ import annotations

import math
from typing import Any

from ..errors import GoError
from ..golang.fmt import sprint_value
from ..golang.strconv import atoi, parse_int
from ..golang.types import MISSING, Duration, StringSlice, TypedNil


class IntSlice(list):  # type: ignore[type-arg]
    __go_type__ = "[]int"


class StringMap(dict):  # type: ignore[type-arg]
    __go_type__ = "map[string]string"


class ListOfLists(list):  # type: ignore[type-arg]
    __go_type__ = "[][]interface {}"


def go_bytes(s: str) -> bytes:
    """Go ``[]byte(s)``: invalid UTF-8 kept by surrogateescape comes back as the original bytes."""
    return s.encode("utf-8", "surrogateescape")


def go_string(b: bytes) -> str:
    """Go ``string(b)``: bytes that are not UTF-8 are kept (surrogateescape)."""
    return b.decode("utf-8", "surrogateescape")


def atoi_or_zero(s: str) -> int:
    """``strconv.Atoi`` with its error dropped, as sprig's ``atoi`` and ``duration`` do."""
    try:
        return atoi(s)
    except GoError:
        return 0


def _trim_zero_decimal(s: str) -> str:
    found_zero = False
    for i in range(len(s), 0, -1):
        c = s[i - 1]
        if c == ".":
            if found_zero:
                return s[: i - 1]
        elif c == "0":
            found_zero = True
        else:
            return s
    return s


def _parse_int_base0(s: str) -> int | None:
    if not s:
        return None
    v = parse_int(s)
    if v is None or not -(1 << 63) <= v < (1 << 63):
        return None
    return v


def _number_alike(v: Any) -> int | None:
    """The number `to_int64` and `to_float64` both make of `v`: 0 for nil (or a missing value) and for a
    Duration, 1 or 0 for a bool; None for any other value, which each converts its own way."""
    if v is None or v is MISSING:
        return 0
    if isinstance(v, bool):
        return 1 if v else 0
    if isinstance(v, Duration):
        return 0
    return None


def to_int64(v: Any) -> int:
    alike = _number_alike(v)
    if alike is not None:
        return alike
    if isinstance(v, int):
        return int(v)
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            return -(1 << 63)
        return int(v)
    if isinstance(v, str):
        r = _parse_int_base0(_trim_zero_decimal(v))
        return 0 if r is None else r
    return 0


def to_float64(v: Any) -> float:
    alike = _number_alike(v)
    if alike is not None:
        return float(alike)
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, str):
        try:
            if "_" in v or v.strip() != v:
                return 0.0
            return float(v)
        except ValueError:
            return 0.0
    return 0.0


def strval(v: Any) -> str:
    if isinstance(v, str):
        return str.__str__(v)
    if isinstance(v, bytes | bytearray):
        return bytes(v).decode("utf-8", "surrogateescape")
    if isinstance(v, BaseException):
        return str(v)
    gs = getattr(v, "__go_str__", None)
    if callable(gs):
        return str(gs())
    return sprint_value(v)


def strslice(v: Any) -> list[str]:
    if isinstance(v, list | tuple):
        return StringSlice(strval(s) for s in v if s is not None and s is not MISSING)
    if isinstance(v, TypedNil) and v.kind == "slice":
        return StringSlice()
    if v is None or v is MISSING:
        return StringSlice()
    return StringSlice([strval(v)])
