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
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime as _dt
import functools
import hashlib
import hmac
import math
import os
import random
import re
import secrets
import socket
import struct
import urllib.parse
import uuid
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from . import asn1funcs
from .errors import FailSignal, GoError
from .golang.duration import as_duration_ns, duration_string, parse_duration
from .golang.fmt import sprint, sprint_value, sprintf, sprintln
from .golang.json import from_json, go_json
from .golang.reflect import deep_equal, go_kind, go_type_name, is_slice
from .golang.strconv import atoi, go_quote, parse_int
from .golang.time import (
    as_aware,
    format_time,
    load_location,
    local_tz,
    now_local,
    parse_time,
    time_unix,
    unix_time,
)
from .golang.types import MISSING, Duration, Int64, StringSlice, TypedNil, go_empty, truth

__all__ = ["FUNCSETS", "FuncSpec"]


@dataclass(frozen=True, slots=True)
class FuncSpec:
    name: str
    impl: Callable[..., Any]
    params: tuple[str, ...]
    variadic: str | None = None
    special: str | None = None


_BUILTINS: dict[str, FuncSpec] = {}
_SPRIG: dict[str, FuncSpec] = {}
_STEP: dict[str, FuncSpec] = {}
_ASN1: dict[str, FuncSpec] = {}


def _reg(
    table: dict[str, FuncSpec], names: str, params: tuple[str, ...], variadic: str | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        for n in names.split():
            table[n] = FuncSpec(n, fn, params, variadic)
        return fn

    return deco


def builtin(names: str, *params: str, variadic: str | None = None) -> Callable[..., Any]:
    return _reg(_BUILTINS, names, params, variadic)


def sprig(names: str, *params: str, variadic: str | None = None) -> Callable[..., Any]:
    return _reg(_SPRIG, names, params, variadic)


def step(names: str, *params: str, variadic: str | None = None) -> Callable[..., Any]:
    return _reg(_STEP, names, params, variadic)


class IntSlice(list):  # type: ignore[type-arg]
    __go_type__ = "[]int"


class StringMap(dict):  # type: ignore[type-arg]
    __go_type__ = "map[string]string"


class ListOfLists(list):  # type: ignore[type-arg]
    __go_type__ = "[][]interface {}"


_NIL_DEREF = "runtime error: invalid memory address or nil pointer dereference"


def _valid(v: Any) -> bool:
    return v is not None and v is not MISSING


# ========================================================================================================
# Go builtins

_BUILTINS["and"] = FuncSpec("and", lambda *a: None, ("value",), "value", "and")
_BUILTINS["or"] = FuncSpec("or", lambda *a: None, ("value",), "value", "or")
_BUILTINS["call"] = FuncSpec("call", lambda *a: None, ("value",), "value", "call")


@builtin("not", "value")
def _not(v: Any) -> bool:
    return not truth(v)


@builtin("len", "value")
def _len(v: Any) -> int:
    if v is None or v is MISSING:
        raise GoError("reflect: call of reflect.Value.Type on zero Value")
    if isinstance(v, str):
        return len(v.encode("utf-8", "surrogateescape"))
    if isinstance(v, TypedNil):
        if v.kind == "ptr":
            raise GoError("len of nil pointer")
        if v.kind in ("slice", "map"):
            return 0
    if isinstance(v, list | tuple | Mapping | bytes | bytearray):
        return len(v)
    if go_kind(v) in ("slice", "map", "array", "string") and hasattr(v, "__len__"):
        return len(v)
    raise GoError(f"len of type {go_type_name(v)}")


def _index_arg(idx: Any, cap: int) -> int:
    if idx is None or idx is MISSING:
        raise GoError("cannot index slice/array with nil")
    if isinstance(idx, bool) or not isinstance(idx, int):
        raise GoError(f"cannot index slice/array with type {go_type_name(idx)}")
    x = int(idx)
    if x < 0 or x > cap:
        raise GoError(f"index out of range: {x}")
    return x


@builtin("index", "value", variadic="value")
def _index(item: Any, *indexes: Any) -> Any:
    if item is None or item is MISSING:
        raise GoError("index of untyped nil")
    for idx in indexes:
        if isinstance(item, TypedNil) and item.kind == "ptr":
            raise GoError("index of nil pointer")
        if item is None:
            raise GoError("index of nil pointer")
        if isinstance(item, str):
            b = item.encode("utf-8", "surrogateescape")
            x = _index_arg(idx, len(b))
            if x >= len(b):
                raise GoError("reflect: string index out of range")
            item = b[x]
        elif isinstance(item, list | tuple | bytes | bytearray):
            x = _index_arg(idx, len(item))
            if x >= len(item):
                raise GoError("reflect: slice index out of range")
            item = item[x]
        elif isinstance(item, Mapping) or (isinstance(item, TypedNil) and item.kind == "map"):
            if idx is None or idx is MISSING:
                raise GoError("value is nil; should be of type string")
            if not isinstance(idx, str):
                raise GoError(f"value has type {go_type_name(idx)}; should be string")
            item = item.get(idx) if isinstance(item, Mapping) else None
        elif isinstance(item, TypedNil) and item.kind == "slice":
            _index_arg(idx, 0)
            raise GoError("reflect: slice index out of range")
        else:
            raise GoError(f"can't index item of type {go_type_name(item)}")
    return item


# -- comparisons -----------------------------------------------------------------------------------------

_K_INVALID, _K_BOOL, _K_INT, _K_FLOAT, _K_STRING, _K_COMPLEX = range(6)


def _basic_kind(v: Any) -> int:
    t = type(v)
    if t is str:
        return _K_STRING
    if t is int:
        return _K_INT
    if t is float:
        return _K_FLOAT
    if t is bool:
        return _K_BOOL
    if isinstance(v, bool):
        return _K_BOOL
    if isinstance(v, int) and not isinstance(v, TypedNil):
        return _K_INT
    if isinstance(v, float):
        return _K_FLOAT
    if isinstance(v, str):
        return _K_STRING
    if isinstance(v, complex):
        return _K_COMPLEX
    if isinstance(v, _dt.timedelta):
        return _K_INT
    return _K_INVALID


def _is_nil(v: Any) -> bool:
    return v is None or v is MISSING or isinstance(v, TypedNil)


def _incompatible(a: Any, b: Any) -> GoError:
    return GoError(f"incompatible types for comparison: {go_type_name(a)} and {go_type_name(b)}")


def _num(v: Any) -> Any:
    if isinstance(v, _dt.timedelta):
        return as_duration_ns(v)
    return v


@builtin("eq", "value", variadic="value")
def _eq(arg1: Any, *arg2: Any) -> bool:
    if not arg2:
        raise GoError("missing argument for comparison")
    k1 = _basic_kind(arg1)
    for arg in arg2:
        k2 = _basic_kind(arg)
        truth = False
        if k1 != k2:
            if _valid(arg1) and _valid(arg):
                raise _incompatible(arg1, arg)
        elif k1 != _K_INVALID:
            truth = _num(arg1) == _num(arg)
        else:
            if _is_nil(arg1) or _is_nil(arg):
                truth = _is_nil(arg1) == _is_nil(arg)
            else:
                if go_kind(arg1) != go_kind(arg):
                    raise GoError(
                        f"non-comparable types {sprint_value(arg1)}: {go_type_name(arg1)}, "
                        f"{go_type_name(arg)}: {sprint_value(arg)}"
                    )
                if isinstance(arg, list | tuple | Mapping | bytes | bytearray):
                    raise GoError(f"non-comparable type {sprint_value(arg)}: {go_type_name(arg)}")
                truth = arg1 is arg or (go_type_name(arg1) == go_type_name(arg) and arg1 == arg)
        if truth:
            return True
    return False


@builtin("ne", "value", "value")
def _ne(a: Any, b: Any) -> bool:
    return not _eq(a, b)


@builtin("lt", "value", "value")
def _lt(a: Any, b: Any) -> bool:
    k1 = _basic_kind(a)
    if k1 == _K_INVALID:
        raise GoError("invalid type for comparison")
    k2 = _basic_kind(b)
    if k2 == _K_INVALID:
        raise GoError("invalid type for comparison")
    if k1 != k2:
        raise _incompatible(a, b)
    if k1 in (_K_BOOL, _K_COMPLEX):
        raise GoError("invalid type for comparison")
    if k1 == _K_STRING:
        return bool(str(a).encode("utf-8", "surrogateescape") < str(b).encode("utf-8", "surrogateescape"))
    return bool(_num(a) < _num(b))


@builtin("le", "value", "value")
def _le(a: Any, b: Any) -> bool:
    return _lt(a, b) or _eq(a, b)


@builtin("gt", "value", "value")
def _gt(a: Any, b: Any) -> bool:
    return not _le(a, b)


@builtin("ge", "value", "value")
def _ge(a: Any, b: Any) -> bool:
    return not _lt(a, b)


# -- printing --------------------------------------------------------------------------------------------


@builtin("print", variadic="any")
def _print(*args: Any) -> str:
    return sprint(list(args))


@builtin("printf", "string", variadic="any")
def _printf(fmt: str, *args: Any) -> str:
    return sprintf(fmt, list(args))


@builtin("println", variadic="any")
def _println(*args: Any) -> str:
    return sprintln(list(args))


def _eval_args(args: tuple[Any, ...]) -> str:
    if len(args) == 1 and isinstance(args[0], str):
        return args[0]
    conv = ["<no value>" if a is None or a is MISSING else a for a in args]
    return sprint(conv)


_HTML_ESC = {"\0": "\ufffd", '"': "&#34;", "'": "&#39;", "&": "&amp;", "<": "&lt;", ">": "&gt;"}
_HTML_RE = re.compile("[\0\"'&<>]")


def html_escape(s: str) -> str:
    return _HTML_RE.sub(lambda m: _HTML_ESC[m.group()], s)


@builtin("html", variadic="any")
def _html(*args: Any) -> str:
    return html_escape(_eval_args(args))


def js_escape(s: str) -> str:
    out = []
    for c in s:
        o = ord(c)
        if c == "\\":
            out.append("\\\\")
        elif c == "'":
            out.append("\\'")
        elif c == '"':
            out.append('\\"')
        elif c == "<":
            out.append("\\u003C")
        elif c == ">":
            out.append("\\u003E")
        elif c == "&":
            out.append("\\u0026")
        elif c == "=":
            out.append("\\u003D")
        elif o < 0x20:
            out.append(f"\\u00{o:02X}")
        elif o < 0x80 or c.isprintable():
            out.append(c)
        else:
            out.append(f"\\u{o:04X}")
    return "".join(out)


@builtin("js", variadic="any")
def _js(*args: Any) -> str:
    return js_escape(_eval_args(args))


@builtin("urlquery", variadic="any")
def _urlquery(*args: Any) -> str:
    return urllib.parse.quote_plus(_eval_args(args).encode("utf-8", "surrogateescape"), safe="-_.~")


# ========================================================================================================
# spf13/cast conversions used by sprig


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


def to_int64(v: Any) -> int:
    if v is None or v is MISSING:
        return 0
    if isinstance(v, bool):
        return 1 if v else 0
    if isinstance(v, Duration):
        return 0
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
    if v is None or v is MISSING:
        return 0.0
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    if isinstance(v, Duration):
        return 0.0
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


def _strslice(v: Any) -> list[str]:
    if isinstance(v, list | tuple):
        return StringSlice(strval(s) for s in v if s is not None and s is not MISSING)
    if isinstance(v, TypedNil) and v.kind == "slice":
        return StringSlice()
    if v is None or v is MISSING:
        return StringSlice()
    return StringSlice([strval(v)])


# ========================================================================================================
# sprig: dates

sprig("hello")(lambda: "Hello!")


def _date_arg(date: Any) -> _dt.datetime:
    if isinstance(date, _dt.datetime):
        return as_aware(date)
    if isinstance(date, int) and not isinstance(date, bool | Duration):
        return unix_time(int(date))
    return now_local()


@sprig("date_in_zone dateInZone", "string", "any", "string")
def date_in_zone(fmt: str, date: Any, zone: str) -> str:
    t = _date_arg(date)
    loc = load_location(zone) or _dt.UTC
    return format_time(t.astimezone(loc), fmt)


@sprig("date", "string", "any")
def _date(fmt: str, date: Any) -> str:
    return date_in_zone(fmt, date, "Local")


@sprig("htmlDate", "any")
def _html_date(date: Any) -> str:
    return date_in_zone("2006-01-02", date, "Local")


@sprig("htmlDateInZone", "any", "string")
def _html_date_in_zone(date: Any, zone: str) -> str:
    return date_in_zone("2006-01-02", date, zone)


def _add_ns(t: _dt.datetime, ns: int) -> _dt.datetime:
    return (
        t + _dt.timedelta(microseconds=ns // 1000)
        if ns >= 0
        else t - _dt.timedelta(microseconds=(-ns) // 1000)
    )


@sprig("date_modify dateModify", "string", "time")
def _date_modify(fmt: str, date: _dt.datetime) -> _dt.datetime:
    try:
        d = parse_duration(fmt)
    except GoError:
        return date
    return _add_ns(date, d)


@sprig("must_date_modify mustDateModify", "string", "time")
def _must_date_modify(fmt: str, date: _dt.datetime) -> _dt.datetime:
    return _add_ns(date, parse_duration(fmt))


@sprig("ago", "any")
def _ago(date: Any) -> str:
    if isinstance(date, _dt.datetime):
        t = as_aware(date)
    elif isinstance(date, int) and not isinstance(date, bool | Duration):
        t = unix_time(int(date))
    else:
        t = now_local()
    delta = _dt.datetime.now(_dt.UTC) - t
    secs = round(delta.total_seconds())
    return duration_string(secs * 1_000_000_000)


@sprig("duration", "any")
def _duration(sec: Any) -> str:
    n = 0
    if isinstance(sec, str):
        n = _atoi_or_zero(sec)
    elif isinstance(sec, Int64):
        n = int(sec)
    return duration_string(n * 1_000_000_000)


def _atoi_or_zero(s: str) -> int:
    try:
        return atoi(s)
    except GoError:
        return 0


@sprig("durationRound", "any")
def _duration_round(duration: Any) -> str:
    d = 0
    if isinstance(duration, str):
        try:
            d = parse_duration(duration)
        except GoError:
            d = 0
    elif isinstance(duration, Int64):
        d = int(duration)
    elif isinstance(duration, _dt.datetime):
        d = int((_dt.datetime.now(_dt.UTC) - as_aware(duration)).total_seconds() * 1e9)
    u = abs(d)
    year = 3600 * 24 * 365 * 10**9
    month = 3600 * 24 * 30 * 10**9
    day = 3600 * 24 * 10**9
    hour = 3600 * 10**9
    minute = 60 * 10**9
    second = 10**9
    for unit, suffix in ((year, "y"), (month, "mo"), (day, "d"), (hour, "h"), (minute, "m"), (second, "s")):
        if u > unit:
            return f"{u // unit}{suffix}"
    return "0s"


@sprig("now")
def _now() -> _dt.datetime:
    return now_local()


_ZERO_TIME = _dt.datetime(1, 1, 1, tzinfo=_dt.UTC)


@sprig("toDate", "string", "string")
def _to_date(fmt: str, s: str) -> _dt.datetime:
    try:
        return parse_time(fmt, s, local_tz())
    except GoError:
        return _ZERO_TIME


@sprig("mustToDate", "string", "string")
def _must_to_date(fmt: str, s: str) -> _dt.datetime:
    return parse_time(fmt, s, local_tz())


@sprig("unixEpoch", "time")
def _unix_epoch(date: _dt.datetime) -> str:
    return str(time_unix(date))


# ========================================================================================================
# sprig: strings


def _b(s: str) -> bytes:
    return s.encode("utf-8", "surrogateescape")


def _s(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


def _abbreviate_full(s: str, offset: int, max_width: int) -> str:
    if s == "":
        return ""
    if max_width < 4:
        return ""
    n = len(s)
    if n <= max_width:
        return s
    offset = min(offset, n)
    if n - offset < max_width - 3:
        offset = n - (max_width - 3)
    if offset <= 4:
        return s[: max_width - 3] + "..."
    if max_width < 7:
        return ""
    if offset + max_width - 3 < n:
        return "..." + _abbreviate_full(s[offset:], 0, max_width - 3)
    return "..." + s[n - (max_width - 3) :]


@sprig("abbrev", "int", "string")
def _abbrev(width: int, s: str) -> str:
    if width < 4:
        return s
    return _abbreviate_full(s, 0, width)


@sprig("abbrevboth", "int", "int", "string")
def _abbrevboth(left: int, right: int, s: str) -> str:
    if right < 4 or (left > 0 and right < 7):
        return s
    return _abbreviate_full(s, left, right)


@sprig("trunc", "int", "string")
def _trunc(c: int, s: str) -> str:
    b = _b(s)
    if c < 0 and len(b) + c > 0:
        return _s(b[len(b) + c :])
    if c >= 0 and len(b) > c:
        return _s(b[:c])
    return s


@sprig("trim", "string")
def _trim(s: str) -> str:
    return s.strip(_GO_SPACE)


_GO_SPACE = " \t\n\v\f\r\x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"


sprig("upper", "string")(lambda s: s.upper())
sprig("lower", "string")(lambda s: s.lower())


def _is_separator(c: str) -> bool:
    if c.isascii():
        return not (c.isalnum() or c == "_")
    if c.isalpha() or c.isdigit():
        return False
    return c.isspace()


@sprig("title", "string")
def _title(s: str) -> str:
    out = []
    prev = " "
    for c in s:
        out.append(c.title() if _is_separator(prev) else c)
        prev = c
    return "".join(out)


@sprig("untitle", "string")
def _untitle(s: str) -> str:
    out = []
    nxt = True
    for c in s:
        if c.isspace():
            nxt = True
            out.append(c)
        elif nxt:
            out.append(c.lower())
            nxt = False
        else:
            out.append(c)
    return "".join(out)


def _slice_bounds(lo: int, hi: int, n: int) -> None:
    if hi < 0 or hi > n:
        raise GoError(f"runtime error: slice bounds out of range [:{hi}] with length {n}")
    if lo < 0 or lo > hi:
        raise GoError(f"runtime error: slice bounds out of range [{lo}:{hi}]")


@sprig("substr", "int", "int", "string")
def _substr(start: int, end: int, s: str) -> str:
    b = _b(s)
    if start < 0:
        _slice_bounds(0, end, len(b))
        return _s(b[:end])
    if end < 0 or end > len(b):
        _slice_bounds(start, len(b), len(b))
        return _s(b[start:])
    _slice_bounds(start, end, len(b))
    return _s(b[start:end])


@sprig("repeat", "int", "string")
def _repeat(count: int, s: str) -> str:
    if count < 0:
        raise GoError("strings: negative Repeat count")
    return s * count


@sprig("trimall trimAll", "string", "string")
def _trim_all(cutset: str, s: str) -> str:
    return s.strip(cutset) if cutset else s


@sprig("trimSuffix", "string", "string")
def _trim_suffix(suffix: str, s: str) -> str:
    return s[: -len(suffix)] if suffix and s.endswith(suffix) else s


@sprig("trimPrefix", "string", "string")
def _trim_prefix(prefix: str, s: str) -> str:
    return s[len(prefix) :] if prefix and s.startswith(prefix) else s


@sprig("nospace", "string")
def _nospace(s: str) -> str:
    return "".join(c for c in s if not c.isspace())


@sprig("initials", "string")
def _initials(s: str) -> str:
    out = []
    gap = True
    for c in s:
        if c.isspace():
            gap = True
        elif gap:
            out.append(c)
            gap = False
    return "".join(out)


_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def _rand_chars(n: int, alphabet: str) -> str:
    if n < 0:
        return ""
    return "".join(secrets.choice(alphabet) for _ in range(n))


sprig("randAlphaNum", "int")(lambda n: _rand_chars(n, _ALNUM))
sprig("randAlpha", "int")(lambda n: _rand_chars(n, _ALNUM[:52]))
sprig("randNumeric", "int")(lambda n: _rand_chars(n, "0123456789"))
sprig("randAscii", "int")(lambda n: _rand_chars(n, "".join(chr(c) for c in range(32, 127))))


@sprig("swapcase", "string")
def _swapcase(s: str) -> str:
    return s.swapcase()


@sprig("shuffle", "string")
def _shuffle(s: str) -> str:
    chars = list(s)
    random.SystemRandom().shuffle(chars)
    return "".join(chars)


def _words(s: str) -> list[str]:
    # split like xstrings: on non-alphanumerics and at lower→upper / acronym boundaries
    parts = re.split(r"[^0-9A-Za-z\u00c0-\uffff]+", s)
    words: list[str] = []
    for p in parts:
        if not p:
            continue
        words.extend(re.findall(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z\u00c0-\uffff]+|[A-Z]+|[0-9]+", p) or [p])
    return words


@sprig("snakecase", "string")
def _snakecase(s: str) -> str:
    return "_".join(w.lower() for w in _words(s))


@sprig("kebabcase", "string")
def _kebabcase(s: str) -> str:
    return "-".join(w.lower() for w in _words(s))


@sprig("camelcase", "string")
def _camelcase(s: str) -> str:
    out = []
    for part in s.split("_"):
        if part:
            out.append(part[0].upper() + part[1:])
    return "".join(out)


def _wrap_custom(s: str, width: int, newline: str, wrap_long: bool) -> str:
    if s == "":
        return ""
    if newline == "":
        newline = "\n"
    width = max(width, 1)
    n = len(s)
    offset = 0
    out: list[str] = []
    while n - offset > width:
        if s[offset] == " ":
            offset += 1
            continue
        end = width + offset + 1
        space = s.rfind(" ", offset, end)
        if space >= offset:
            out.append(s[offset:space])
            out.append(newline)
            offset = space + 1
        elif wrap_long:
            out.append(s[offset : offset + width])
            out.append(newline)
            offset += width
        else:
            idx = s.find(" ", offset + width)
            if idx < 0:
                out.append(s[offset:])
                offset = n
            else:
                out.append(s[offset:idx])
                out.append(newline)
                offset = idx + 1
    out.append(s[offset:])
    return "".join(out)


sprig("wrap", "int", "string")(lambda n, s: _wrap_custom(s, n, "\n", False))
sprig("wrapWith", "int", "string", "string")(lambda n, sep, s: _wrap_custom(s, n, sep, True))
sprig("contains", "string", "string")(lambda sub, s: sub in s)
sprig("hasPrefix", "string", "string")(lambda p, s: s.startswith(p))
sprig("hasSuffix", "string", "string")(lambda p, s: s.endswith(p))


@sprig("quote", variadic="any")
def _quote(*args: Any) -> str:
    return " ".join(go_quote(strval(a)) for a in args if a is not None)


@sprig("squote", variadic="any")
def _squote(*args: Any) -> str:
    return " ".join(f"'{sprint_value(a)}'" for a in args if a is not None)


@sprig("cat", variadic="any")
def _cat(*args: Any) -> str:
    return " ".join(sprint_value(a) for a in args if a is not None)


@sprig("indent", "int", "string")
def _indent(n: int, s: str) -> str:
    pad = " " * max(n, 0)
    return pad + s.replace("\n", "\n" + pad)


@sprig("nindent", "int", "string")
def _nindent(n: int, s: str) -> str:
    return "\n" + _indent(n, s)


@sprig("replace", "string", "string", "string")
def _replace(old: str, new: str, s: str) -> str:
    if old == "":
        # Go inserts ``new`` around every rune when old is empty
        return new + new.join(s) + new if s else new
    return s.replace(old, new)


@sprig("plural", "string", "string", "int")
def _plural(one: str, many: str, count: int) -> str:
    return one if count == 1 else many


sprig("sha1sum", "string")(lambda s: hashlib.sha1(_b(s)).hexdigest())
sprig("sha256sum", "string")(lambda s: hashlib.sha256(_b(s)).hexdigest())
sprig("sha512sum", "string")(lambda s: hashlib.sha512(_b(s)).hexdigest())
sprig("adler32sum", "string")(lambda s: str(zlib.adler32(_b(s))))
sprig("toString", "any")(strval)


@sprig("atoi", "string")
def _atoi(s: str) -> int:
    return _atoi_or_zero(s)


sprig("int64", "any")(lambda v: Int64(to_int64(v)))
sprig("int", "any")(to_int64)
sprig("float64", "any")(to_float64)


def _until_step(start: int, stop: int, step_: int) -> list[int]:
    v = IntSlice()
    if stop < start:
        if step_ >= 0:
            return v
        i = start
        while i > stop:
            v.append(i)
            i += step_
        return v
    if step_ <= 0:
        return v
    return IntSlice(range(start, stop, step_))


@sprig("seq", variadic="int")
def _seq(*params: int) -> str:
    n = len(params)
    if n == 0:
        return ""
    if n == 1:
        start, end = 1, params[0]
        inc = -1 if end < start else 1
        r = _until_step(start, end + inc, inc)
    elif n == 2:
        start, end = params
        st = -1 if end < start else 1
        r = _until_step(start, end + st, st)
    elif n == 3:
        start, step_, end = params
        inc = 1
        if end < start:
            inc = -1
            if step_ > 0:
                return ""
        r = _until_step(start, end + inc, step_)
    else:
        return ""
    return " ".join(str(x) for x in r)


@sprig("toDecimal", "any")
def _to_decimal(v: Any) -> Int64:
    s = sprint_value(v)
    body = s[1:] if s[:1] in "+-" else s
    if not body or any(c not in "01234567" for c in body):
        return Int64(0)
    r = int(s, 8)
    return Int64(r if -(1 << 63) <= r < (1 << 63) else 0)


def _go_split(s: str, sep: str, n: int = -1) -> list[str]:
    if n == 0:
        return []
    if sep == "":
        chars = list(s)
        if n > 0 and len(chars) > n:
            return [*chars[: n - 1], "".join(chars[n - 1 :])]
        return chars
    if n < 0:
        return s.split(sep)
    return s.split(sep, n - 1)


@sprig("split", "string", "string")
def _split(sep: str, s: str) -> StringMap:
    return StringMap((f"_{i}", p) for i, p in enumerate(_go_split(s, sep)))


@sprig("splitn", "string", "int", "string")
def _splitn(sep: str, n: int, s: str) -> StringMap:
    return StringMap((f"_{i}", p) for i, p in enumerate(_go_split(s, sep, n)))


@sprig("splitList", "string", "string")
def _split_list(sep: str, s: str) -> list[str]:
    return StringSlice(_go_split(s, sep))


sprig("toStrings", "any")(_strslice)


@sprig("until", "int")
def _until(count: int) -> list[int]:
    return _until_step(0, count, -1 if count < 0 else 1)


sprig("untilStep", "int", "int", "int")(_until_step)


# ========================================================================================================
# sprig: math


def _i64(v: int) -> Int64:
    # Go int64 arithmetic wraps around
    v = (v + (1 << 63)) % (1 << 64) - (1 << 63)
    return Int64(v)


sprig("add1", "any")(lambda a: _i64(to_int64(a) + 1))
sprig("add", variadic="any")(lambda *a: _i64(sum(to_int64(x) for x in a)))
sprig("sub", "any", "any")(lambda a, b: _i64(to_int64(a) - to_int64(b)))


def _go_div(a: int, b: int) -> int:
    if b == 0:
        raise GoError("runtime error: integer divide by zero")
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


sprig("div", "any", "any")(lambda a, b: _i64(_go_div(to_int64(a), to_int64(b))))


@sprig("mod", "any", "any")
def _mod(a: Any, b: Any) -> Int64:
    x, y = to_int64(a), to_int64(b)
    if y == 0:
        raise GoError("runtime error: integer divide by zero")
    return _i64(x - _go_div(x, y) * y)


@sprig("mul", "any", variadic="any")
def _mul(a: Any, *v: Any) -> Int64:
    r = to_int64(a)
    for x in v:
        r = int(_i64(r * to_int64(x)))
    return _i64(r)


@sprig("randInt", "int", "int")
def _rand_int(lo: int, hi: int) -> int:
    if hi - lo <= 0:
        raise GoError("invalid argument to Intn")
    return random.randrange(lo, hi)


def _dec(v: Any) -> Any:
    import decimal

    f = to_float64(v)
    return decimal.Decimal(repr(f)) if math.isfinite(f) else decimal.Decimal(0)


def _dec_op(a: Any, rest: tuple[Any, ...], op: Callable[[Any, Any], Any]) -> float:
    import decimal

    ctx = decimal.Context(prec=40)
    r = _dec(a)
    for x in rest:
        d = _dec(x)
        if op is _DIV and d == 0:
            raise GoError("decimal division by 0")
        r = op(ctx, (r, d))
    return float(r)


def _DIV(ctx: Any, ab: tuple[Any, Any]) -> Any:
    return ctx.divide(ab[0], ab[1])


sprig("add1f", "any")(lambda a: _dec_op(a, (1,), lambda c, ab: c.add(*ab)))
sprig("addf", variadic="any")(lambda *a: _dec_op(0.0, a, lambda c, ab: c.add(*ab)))
sprig("subf", "any", variadic="any")(lambda a, *v: _dec_op(a, v, lambda c, ab: c.subtract(*ab)))
sprig("divf", "any", variadic="any")(lambda a, *v: _dec_op(a, v, _DIV))
sprig("mulf", "any", variadic="any")(lambda a, *v: _dec_op(a, v, lambda c, ab: c.multiply(*ab)))
sprig("biggest max", "any", variadic="any")(
    lambda a, *v: Int64(max([to_int64(a), *(to_int64(x) for x in v)]))
)
sprig("min", "any", variadic="any")(lambda a, *v: Int64(min([to_int64(a), *(to_int64(x) for x in v)])))


def _fmax(a: float, b: float) -> float:
    if (math.isinf(a) and a > 0) or (math.isinf(b) and b > 0):
        return math.inf
    if math.isnan(a) or math.isnan(b):
        return math.nan
    return max(a, b)


def _fmin(a: float, b: float) -> float:
    if (math.isinf(a) and a < 0) or (math.isinf(b) and b < 0):
        return -math.inf
    if math.isnan(a) or math.isnan(b):
        return math.nan
    return min(a, b)


sprig("maxf", "any", variadic="any")(
    lambda a, *v: functools.reduce(_fmax, (to_float64(x) for x in v), to_float64(a))
)
sprig("minf", "any", variadic="any")(
    lambda a, *v: functools.reduce(_fmin, (to_float64(x) for x in v), to_float64(a))
)
sprig("ceil", "any")(lambda a: float(math.ceil(x)) if math.isfinite(x := to_float64(a)) else x)
sprig("floor", "any")(lambda a: float(math.floor(x)) if math.isfinite(x := to_float64(a)) else x)


@sprig("round", "any", "int", variadic="float64")
def _round(a: Any, places: int, *ropt: float) -> float:
    round_on = ropt[0] if ropt else 0.5
    val = to_float64(a)
    pow_ = math.pow(10, places)
    digit = pow_ * val
    frac, _ = math.modf(digit)
    if not math.isfinite(digit):
        return digit / pow_
    r = math.ceil(digit) if frac >= round_on else math.floor(digit)
    return r / pow_


# ========================================================================================================
# sprig: string lists


@sprig("join", "string", "any")
def _join(sep: str, v: Any) -> str:
    return sep.join(_strslice(v))


@sprig("sortAlpha", "any")
def _sort_alpha(v: Any) -> list[str]:
    if is_slice(v):
        return StringSlice(sorted(_strslice(v), key=_b))
    return StringSlice([strval(v)])


# ========================================================================================================
# sprig: defaults, JSON, reflection


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


# ========================================================================================================
# sprig: network, paths, encoding


@sprig("getHostByName", "string")
def _get_host_by_name(name: str) -> str:
    try:
        infos = socket.getaddrinfo(name, None)
        addrs = sorted({str(i[4][0]) for i in infos})
    except OSError:
        addrs = []
    if not addrs:
        raise GoError("invalid argument to Intn")
    return random.choice(addrs)


def path_clean(p: str) -> str:
    if p == "":
        return "."
    rooted = p.startswith("/")
    stack: list[str] = []
    for seg in p.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if stack and stack[-1] != "..":
                stack.pop()
            elif not rooted:
                stack.append("..")
            continue
        stack.append(seg)
    out = "/".join(stack)
    if rooted:
        return "/" + out
    return out or "."


def path_base(p: str) -> str:
    if p == "":
        return "."
    p = p.rstrip("/")
    if p == "":
        return "/"
    return p[p.rfind("/") + 1 :]


def path_dir(p: str) -> str:
    i = p.rfind("/")
    return path_clean(p[: i + 1])


def path_ext(p: str) -> str:
    for i in range(len(p) - 1, -1, -1):
        if p[i] == "/":
            break
        if p[i] == ".":
            return p[i:]
    return ""


sprig("base osBase", "string")(path_base)
sprig("dir osDir", "string")(path_dir)
sprig("clean osClean", "string")(path_clean)
sprig("ext osExt", "string")(path_ext)
sprig("isAbs osIsAbs", "string")(lambda p: p.startswith("/"))


sprig("b64enc", "string")(lambda s: base64.b64encode(_b(s)).decode())
sprig("b32enc", "string")(lambda s: base64.b32encode(_b(s)).decode())


def _go_b64decode(s: str, alphabet: str, quantum: int) -> bytes:
    data = s.replace("\r", "").replace("\n", "")
    for i, c in enumerate(s):
        if c in "\r\n":
            continue
        if c not in alphabet and c != "=":
            raise GoError(
                f"illegal base64 data at input byte {i}"
                if quantum == 4
                else f"illegal base32 data at input byte {i}"
            )
    try:
        if quantum == 4:
            return base64.b64decode(data, validate=True)
        return base64.b32decode(data)
    except (binascii.Error, ValueError):
        n = len(data)
        pos = n - n % quantum if n % quantum else max(n - 1, 0)
        eq = data.find("=")
        if eq >= 0 and (n % quantum == 0):
            pos = eq
        kind = "base64" if quantum == 4 else "base32"
        raise GoError(f"illegal {kind} data at input byte {pos}") from None


_B64_ALPHA = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B32_ALPHA = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


@sprig("b64dec", "string")
def _b64dec(s: str) -> str:
    try:
        return _s(_go_b64decode(s, _B64_ALPHA, 4))
    except GoError as e:
        return str(e)


@sprig("b32dec", "string")
def _b32dec(s: str) -> str:
    try:
        return _s(_go_b64decode(s, _B32_ALPHA, 8))
    except GoError as e:
        return str(e)


# ========================================================================================================
# sprig: lists


def _list_kind(v: Any, what: str) -> Any:
    """The items of a slice argument, or the error sprig raises (``Cannot find first on type string``)."""
    if v is None or v is MISSING:
        raise GoError(_NIL_DEREF)
    if isinstance(v, list | tuple | bytes | bytearray):
        return v
    if isinstance(v, TypedNil) and v.kind == "slice":
        return ()
    raise GoError(f"{what} {go_kind(v)}")


@sprig("list tuple", variadic="any")
def _list(*v: Any) -> list[Any]:
    return list(v)


@sprig("append push mustAppend mustPush", "any", "any")
def _push(lst: Any, v: Any) -> list[Any]:
    return [*_list_kind(lst, "Cannot push on type"), v]


@sprig("prepend mustPrepend", "any", "any")
def _prepend(lst: Any, v: Any) -> list[Any]:
    return [v, *_list_kind(lst, "Cannot prepend on type")]


@sprig("first mustFirst", "any")
def _first(lst: Any) -> Any:
    items = _list_kind(lst, "Cannot find first on type")
    return items[0] if len(items) else None


@sprig("last mustLast", "any")
def _last(lst: Any) -> Any:
    items = _list_kind(lst, "Cannot find last on type")
    return items[-1] if len(items) else None


@sprig("rest mustRest", "any")
def _rest(lst: Any) -> Any:
    items = _list_kind(lst, "Cannot find rest on type")
    return list(items[1:]) if len(items) else TypedNil("[]interface {}")


@sprig("initial mustInitial", "any")
def _initial(lst: Any) -> Any:
    items = _list_kind(lst, "Cannot find initial on type")
    return list(items[:-1]) if len(items) else TypedNil("[]interface {}")


@sprig("reverse mustReverse", "any")
def _reverse(lst: Any) -> list[Any]:
    return list(reversed(list(_list_kind(lst, "Cannot find reverse on type"))))


def _in_list(haystack: Any, needle: Any) -> bool:
    return any(deep_equal(needle, h) for h in haystack)


@sprig("uniq mustUniq", "any")
def _uniq(lst: Any) -> list[Any]:
    dest: list[Any] = []
    for item in _list_kind(lst, "Cannot find uniq on type"):
        if not _in_list(dest, item):
            dest.append(item)
    return dest


@sprig("without mustWithout", "any", variadic="any")
def _without(lst: Any, *omit: Any) -> list[Any]:
    return [x for x in _list_kind(lst, "Cannot find without on type") if not _in_list(omit, x)]


@sprig("has mustHas", "any", "any")
def _has(needle: Any, haystack: Any) -> bool:
    if haystack is None:
        return False
    return _in_list(_list_kind(haystack, "Cannot find has on type"), needle)


@sprig("compact mustCompact", "any")
def _compact(lst: Any) -> list[Any]:
    return [x for x in _list_kind(lst, "Cannot compact on type") if not go_empty(x)]


@sprig("slice mustSlice", "any", variadic="any")
def _slice(lst: Any, *indices: Any) -> Any:
    if lst is None or lst is MISSING:
        raise GoError(_NIL_DEREF)
    if not is_slice(lst):
        raise GoError(f"list should be type of slice or array but {go_kind(lst)}")
    n = len(lst)
    if n == 0:
        return None
    start = to_int64(indices[0]) if indices else 0
    end = to_int64(indices[1]) if len(indices) >= 2 else n
    if start < 0 or end < start or end > n:
        raise GoError("reflect: slice index out of range")
    out = lst[start:end]
    return type(lst)(out) if isinstance(lst, StringSlice | IntSlice) else list(out)


@sprig("concat", variadic="any")
def _concat(*lists: Any) -> Any:
    res: list[Any] | None = None
    for lst in lists:
        if lst is None or lst is MISSING:
            raise GoError(_NIL_DEREF)
        if not is_slice(lst):
            raise GoError(f"Cannot concat type {go_kind(lst)} as list")
        res = [*(res or []), *lst]
    return res if res is not None else TypedNil("[]interface {}")


@sprig("chunk mustChunk", "int", "any")
def _chunk(size: int, lst: Any) -> list[list[Any]]:
    items = list(_list_kind(lst, "Cannot chunk type"))
    if size <= 0:
        raise GoError(
            "runtime error: integer divide by zero"
            if size == 0
            else "runtime error: makeslice: len out of range"
        )
    return ListOfLists(items[i : i + size] for i in range(0, len(items), size))


@sprig("dig", variadic="any")
def _dig(*ps: Any) -> Any:
    if len(ps) < 3:
        raise GoError("dig needs at least three arguments")
    d = ps[-1]
    default = ps[-2]
    keys = ps[:-2]
    for k in keys:
        if not isinstance(k, str):
            raise GoError(f"interface conversion: interface {{}} is {go_type_name(k)}, not string")
    if not isinstance(d, Mapping):
        raise GoError(
            f"interface conversion: interface {{}} is {go_type_name(d)}, not map[string]interface {{}}"
        )
    for i, k in enumerate(keys):
        if k not in d:
            return default
        v = d[k]
        if i == len(keys) - 1:
            return v
        if not isinstance(v, Mapping):
            raise GoError(
                f"interface conversion: interface {{}} is {go_type_name(v)}, not map[string]interface {{}}"
            )
        d = v
    return default


# ========================================================================================================
# sprig: dicts


@sprig("dict", variadic="any")
def _dict(*v: Any) -> dict[str, Any]:
    d: dict[str, Any] = {}
    for i in range(0, len(v), 2):
        key = strval(v[i])
        d[key] = v[i + 1] if i + 1 < len(v) else ""
    return d


@sprig("get", "map", "string")
def _get(d: Any, key: str) -> Any:
    if d is not None and key in d:
        return d[key]
    return ""


@sprig("set", "map", "string", "any")
def _set(d: Any, key: str, value: Any) -> Any:
    if d is None:
        raise GoError("assignment to entry in nil map")
    d[key] = value
    return d


@sprig("unset", "map", "string")
def _unset(d: Any, key: str) -> Any:
    if d is not None:
        d.pop(key, None)
    return d


sprig("hasKey", "map", "string")(lambda d, k: d is not None and k in d)


@sprig("pluck", "string", variadic="map")
def _pluck(key: str, *ds: Any) -> list[Any]:
    return [d[key] for d in ds if d is not None and key in d]


@sprig("keys", variadic="map")
def _keys(*ds: Any) -> list[str]:
    out = StringSlice()
    for d in ds:
        if d is not None:
            out.extend(d.keys())
    return out


@sprig("pick", "map", variadic="string")
def _pick(d: Any, *keys: str) -> dict[str, Any]:
    if d is None:
        return {}
    return {k: d[k] for k in keys if k in d}


@sprig("omit", "map", variadic="string")
def _omit(d: Any, *keys: str) -> dict[str, Any]:
    if d is None:
        return {}
    return {k: v for k, v in d.items() if k not in keys}


@sprig("values", "map")
def _values(d: Any) -> list[Any]:
    return list(d.values()) if d is not None else []


def _mergo(dst: Any, src: Any, overwrite: bool) -> None:
    for k, sv in src.items():
        if k in dst:
            dv = dst[k]
            if isinstance(dv, Mapping) and isinstance(sv, Mapping):
                _mergo(dv, sv, overwrite)
            elif (overwrite and not go_empty(sv)) or go_empty(dv):
                dst[k] = sv
        else:
            dst[k] = sv


def _merge_impl(overwrite: bool, must: bool) -> Callable[..., Any]:
    def merge(dst: Any, *srcs: Any) -> Any:
        if dst is None:
            if must:
                raise GoError("src and dst must be of same type")
            return ""
        for src in srcs:
            if src is not None:
                _mergo(dst, src, overwrite)
        return dst

    return merge


sprig("merge", "map", variadic="map")(_merge_impl(False, False))
sprig("mergeOverwrite", "map", variadic="map")(_merge_impl(True, False))
sprig("mustMerge", "map", variadic="map")(_merge_impl(False, True))
sprig("mustMergeOverwrite", "map", variadic="map")(_merge_impl(True, True))


# ========================================================================================================
# sprig: crypto


def _unsupported(name: str) -> Callable[..., Any]:
    def fn(*args: Any) -> Any:
        raise GoError(f"{name} is not supported by Plica")

    return fn


sprig("bcrypt", "string")(_unsupported("bcrypt"))
sprig("htpasswd", "string", "string")(_unsupported("htpasswd"))


@sprig("genPrivateKey", "string")
def _gen_private_key(typ: str) -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa

    key: Any
    fmt = serialization.PrivateFormat.TraditionalOpenSSL
    if typ == "rsa":
        key = rsa.generate_private_key(65537, 4096)
    elif typ == "dsa":
        key = dsa.generate_private_key(2048)
    elif typ in ("ecdsa", ""):
        key = ec.generate_private_key(ec.SECP256R1())
    elif typ == "ed25519":
        key = ed25519.Ed25519PrivateKey.generate()
        fmt = serialization.PrivateFormat.PKCS8
    else:
        return f"Unknown type {typ}"
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()


_MP_TEMPLATES = {
    "maximum": ["anoxxxxxxxxxxxxxxxxx", "axxxxxxxxxxxxxxxxxno"],
    "long": [
        "CvcvnoCvcvCvcv",
        "CvcvCvcvnoCvcv",
        "CvcvCvcvCvcvno",
        "CvccnoCvcvCvcv",
        "CvccCvcvnoCvcv",
        "CvccCvcvCvcvno",
        "CvcvnoCvccCvcv",
        "CvcvCvccnoCvcv",
        "CvcvCvccCvcvno",
        "CvcvnoCvcvCvcc",
        "CvcvCvcvnoCvcc",
        "CvcvCvcvCvccno",
        "CvccnoCvccCvcv",
        "CvccCvccnoCvcv",
        "CvccCvccCvcvno",
        "CvcvnoCvccCvcc",
        "CvcvCvccnoCvcc",
        "CvcvCvccCvccno",
        "CvccnoCvcvCvcc",
        "CvccCvcvnoCvcc",
        "CvccCvcvCvccno",
    ],
    "medium": ["CvcnoCvc", "CvcCvcno"],
    "short": ["Cvcn"],
    "basic": ["aaanaaan", "aannaaan", "aaannaaa"],
    "pin": ["nnnn"],
}
_MP_CHARS = {
    "V": "AEIOU",
    "C": "BCDFGHJKLMNPQRSTVWXYZ",
    "v": "aeiou",
    "c": "bcdfghjklmnpqrstvwxyz",
    "A": "AEIOUBCDFGHJKLMNPQRSTVWXYZ",
    "a": "AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz",
    "n": "0123456789",
    "o": "@&%?,=[]_:-+*$#!'^~;()/.",
    "x": "AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz0123456789!@#$%^&*()",
}


@sprig("derivePassword", "int", "string", "string", "string", "string")
def _derive_password(counter: int, ptype: str, password: str, user: str, site: str) -> str:
    templates = _MP_TEMPLATES.get(ptype)
    if templates is None:
        return f"cannot find password template {ptype}"
    seed_prefix = b"com.lyndir.masterpassword"
    salt = seed_prefix + struct.pack(">I", len(_b(user))) + _b(user)
    key = hashlib.scrypt(_b(password), salt=salt, n=32768, r=8, p=2, dklen=64, maxmem=128 * 1024 * 1024)
    msg = seed_prefix + struct.pack(">I", len(_b(site))) + _b(site) + struct.pack(">I", counter & 0xFFFFFFFF)
    seed = hmac.new(key, msg, hashlib.sha256).digest()
    tmpl = templates[seed[0] % len(templates)]
    return "".join(_MP_CHARS[c][seed[i + 1] % len(_MP_CHARS[c])] for i, c in enumerate(tmpl))


class SprigCertificate:
    """sprig's ``certificate`` struct (``.Cert``, ``.Key`` PEM strings)."""

    __go_type__ = "sprig.certificate"

    def __init__(self, cert: str, key: str) -> None:
        self.Cert = cert
        self.Key = key

    def __go_str__(self) -> str:
        return "{" + self.Cert + " " + self.Key + "}"


def _cert_tools() -> Any:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    return x509, hashes, serialization, rsa, NameOID


def _new_rsa_key() -> Any:
    _, _, _, rsa, _ = _cert_tools()
    return rsa.generate_private_key(65537, 2048)


def _load_key(pem: str) -> Any:
    _, _, serialization, _, _ = _cert_tools()
    try:
        return serialization.load_pem_private_key(_b(pem), None)
    except Exception as e:
        raise GoError(f"parse pem key: {e}") from None


def _key_pem(key: Any) -> str:
    _, _, serialization, rsa, _ = _cert_tools()
    fmt = (
        serialization.PrivateFormat.TraditionalOpenSSL
        if isinstance(key, rsa.RSAPrivateKey)
        else serialization.PrivateFormat.PKCS8
    )
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()


def _build_cert(
    cn: str, ips: Any, dns: Any, days: int, is_ca: bool, key: Any, signer: SprigCertificate | None
) -> SprigCertificate:
    import ipaddress

    x509, hashes, serialization, _, NameOID = _cert_tools()
    now = _dt.datetime.now(_dt.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]) if cn else x509.Name([])
    if signer is not None:
        ca_cert = x509.load_pem_x509_certificate(_b(signer.Cert))
        ca_key = _load_key(signer.Key)
        issuer = ca_cert.subject
    else:
        ca_key = key
        issuer = subject
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + _dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=is_ca,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )
    if not is_ca:
        from cryptography.x509.oid import ExtendedKeyUsageOID

        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
    sans: list[Any] = []
    for ip in list(ips or []):
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(strval(ip))))
        except ValueError:
            raise GoError(f"error parsing ip: {strval(ip)}") from None
    sans.extend(x509.DNSName(strval(d)) for d in list(dns or []))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256() if not _is_ed(ca_key) else None)
    return SprigCertificate(cert.public_bytes(serialization.Encoding.PEM).decode(), _key_pem(key))


def _is_ed(key: Any) -> bool:
    from cryptography.hazmat.primitives.asymmetric import ed448, ed25519

    return isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey)


def _as_cert(v: Any) -> SprigCertificate:
    if isinstance(v, SprigCertificate):
        return v
    raise GoError(f"wrong type for value; expected sprig.certificate; got {go_type_name(v)}")


sprig("genCA", "string", "int")(
    lambda cn, days: _build_cert(cn, None, None, days, True, _new_rsa_key(), None)
)
sprig("genCAWithKey", "string", "int", "string")(
    lambda cn, days, key: _build_cert(cn, None, None, days, True, _load_key(key), None)
)
sprig("genSelfSignedCert", "string", "any", "any", "int")(
    lambda cn, ips, dns, days: _build_cert(cn, ips, dns, days, False, _new_rsa_key(), None)
)
sprig("genSelfSignedCertWithKey", "string", "any", "any", "int", "string")(
    lambda cn, ips, dns, days, key: _build_cert(cn, ips, dns, days, False, _load_key(key), None)
)
sprig("genSignedCert", "string", "any", "any", "int", "any")(
    lambda cn, ips, dns, days, ca: _build_cert(cn, ips, dns, days, False, _new_rsa_key(), _as_cert(ca))
)
sprig("genSignedCertWithKey", "string", "any", "any", "int", "any", "string")(
    lambda cn, ips, dns, days, ca, key: _build_cert(cn, ips, dns, days, False, _load_key(key), _as_cert(ca))
)


@sprig("buildCustomCert", "string", "string")
def _build_custom_cert(b64cert: str, b64key: str) -> SprigCertificate:
    try:
        cert = _s(base64.b64decode(b64cert))
        key = _s(base64.b64decode(b64key))
    except (binascii.Error, ValueError) as e:
        raise GoError(f"unable to decode base64 certificate: {e}") from None
    return SprigCertificate(cert, key)


def _aes_key(password: str) -> bytes:
    return (_b(password) + bytes(32))[:32]


@sprig("encryptAES", "string", "string")
def _encrypt_aes(password: str, plaintext: str) -> str:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    if plaintext == "":
        return ""
    content = _b(plaintext)
    pad = 16 - len(content) % 16
    content += bytes([pad]) * pad
    iv = os.urandom(16)
    enc = Cipher(algorithms.AES(_aes_key(password)), modes.CBC(iv)).encryptor()
    return base64.b64encode(iv + enc.update(content) + enc.finalize()).decode()


@sprig("decryptAES", "string", "string")
def _decrypt_aes(password: str, crypt64: str) -> str:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    if crypt64 == "":
        return ""
    data = _go_b64decode(crypt64, _B64_ALPHA, 4)
    if len(data) < 16:
        raise GoError("ciphertext too short")
    iv, ct = data[:16], data[16:]
    if len(ct) % 16:
        raise GoError("crypto/cipher: input not full blocks")
    dec = Cipher(algorithms.AES(_aes_key(password)), modes.CBC(iv)).decryptor()
    out = dec.update(ct) + dec.finalize()
    if not out:
        return ""
    pad = out[-1]
    return _s(out[: len(out) - pad] if pad <= len(out) else b"")


@sprig("randBytes", "int")
def _rand_bytes(n: int) -> str:
    if n < 0:
        raise GoError("runtime error: makeslice: len out of range")
    return base64.b64encode(os.urandom(n)).decode()


sprig("uuidv4")(lambda: str(uuid.uuid4()))


# -- semver (Masterminds/semver v3, main features) --------------------------------------------------------

_SEMVER_RE = re.compile(
    r"^v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?"
    r"(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?"
    r"(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?$"
)


class SemverVersion:
    """Masterminds ``*semver.Version``."""

    __go_type__ = "*semver.Version"

    def __init__(self, original: str) -> None:
        m = _SEMVER_RE.match(original)
        if m is None:
            raise GoError("Invalid Semantic Version")
        self._orig = original
        self._major = int(m.group(1))
        self._minor = int(m.group(2)[1:]) if m.group(2) else 0
        self._patch = int(m.group(3)[1:]) if m.group(3) else 0
        self._pre = m.group(5) or ""
        self._meta = m.group(8) or ""

    def Major(self) -> int:
        return self._major

    def Minor(self) -> int:
        return self._minor

    def Patch(self) -> int:
        return self._patch

    def Prerelease(self) -> str:
        return self._pre

    def Metadata(self) -> str:
        return self._meta

    def Original(self) -> str:
        return self._orig

    def String(self) -> str:
        s = f"{self._major}.{self._minor}.{self._patch}"
        if self._pre:
            s += "-" + self._pre
        if self._meta:
            s += "+" + self._meta
        return s

    def __go_str__(self) -> str:
        return self.String()

    def __go_json__(self) -> Any:
        return self.String()

    def key(self) -> tuple[Any, ...]:
        return (self._major, self._minor, self._patch)

    def compare(self, other: SemverVersion) -> int:
        a, b = self.key(), other.key()
        if a != b:
            return -1 if a < b else 1
        return _cmp_pre(self._pre, other._pre)


def _cmp_pre(a: str, b: str) -> int:
    if a == b:
        return 0
    if a == "":
        return 1
    if b == "":
        return -1
    pa, pb = a.split("."), b.split(".")
    for x, y in zip(pa, pb, strict=False):
        if x == y:
            continue
        xd, yd = x.isdigit(), y.isdigit()
        if xd and yd:
            return -1 if int(x) < int(y) else 1
        if xd:
            return -1
        if yd:
            return 1
        return -1 if x < y else 1
    return -1 if len(pa) < len(pb) else (1 if len(pa) > len(pb) else 0)


sprig("semver", "string")(SemverVersion)

_CONSTRAINT_RE = re.compile(
    r"^\s*(!=|>=|=>|<=|=<|>|<|=|~>|~|\^)?\s*(v?[0-9xX*]+(?:\.[0-9xX*]+){0,2}(?:-[0-9A-Za-z\-.]+)?(?:\+[0-9A-Za-z\-.]+)?)\s*$"
)


def _check_one(op: str, spec: str, v: SemverVersion) -> bool:
    parts = spec.lstrip("v").split("-")[0].split("+")[0].split(".")
    wild = [p in ("x", "X", "*") for p in parts] + [True] * (3 - len(parts))
    nums = [int(p) if p.isdigit() else 0 for p in parts] + [0] * (3 - len(parts))
    pre = spec.split("-", 1)[1].split("+")[0] if "-" in spec else ""
    if v._pre and not pre:
        return False
    c = SemverVersion(f"{nums[0]}.{nums[1]}.{nums[2]}" + (f"-{pre}" if pre else ""))
    first_wild = next((i for i, w in enumerate(wild) if w), 3)
    if op in ("", "="):
        if first_wild < 3:
            return list(v.key()[:first_wild]) == nums[:first_wild]
        return v.compare(c) == 0
    if op == "!=":
        if first_wild < 3:
            return list(v.key()[:first_wild]) != nums[:first_wild]
        return v.compare(c) != 0
    if op == ">":
        if first_wild < 3:
            if first_wild == 0:
                return False
            bumped = list(nums[:first_wild])
            bumped[-1] += 1
            return list(v.key()[:first_wild]) >= bumped
        return v.compare(c) > 0
    if op in (">=", "=>"):
        return v.compare(c) >= 0
    if op == "<":
        return v.compare(c) < 0
    if op in ("<=", "=<"):
        if first_wild < 3:
            if first_wild == 0:
                return True
            return list(v.key()[:first_wild]) <= nums[:first_wild]
        return v.compare(c) <= 0
    if op in ("~", "~>"):
        if v.compare(c) < 0:
            return False
        if first_wild == 1 or (len(parts) == 1 and first_wild >= 1):
            return v.key()[0] == nums[0]
        return v.key()[0] == nums[0] and v.key()[1] == nums[1]
    if op == "^":
        if v.compare(c) < 0:
            return False
        if nums[0] > 0 or first_wild <= 1:
            return v.key()[0] == nums[0]
        if nums[1] > 0 or first_wild == 2:
            return v.key()[0] == 0 and v.key()[1] == nums[1]
        return v.key() == (0, 0, nums[2])
    return False


@sprig("semverCompare", "string", "string")
def _semver_compare(constraint: str, version: str) -> bool:
    v = SemverVersion(version)
    for alt in constraint.split("||"):
        ok = True
        parts = [p for p in re.split(r"\s*,\s*|\s+(?=[<>=!~^])", alt.strip()) if p]
        if not parts:
            raise GoError(f"improper constraint: {constraint}")
        for p in parts:
            if " - " in p:
                lo, hi = p.split(" - ", 1)
                ok = ok and _check_one(">=", lo.strip(), v) and _check_one("<=", hi.strip(), v)
                continue
            m = _CONSTRAINT_RE.match(p)
            if not m:
                raise GoError(f"improper constraint: {constraint}")
            ok = ok and _check_one(m.group(1) or "", m.group(2), v)
        if ok:
            return True
    return False


@sprig("fail", "string")
def _sprig_fail(msg: str) -> str:
    raise GoError(msg)


# ========================================================================================================
# sprig: regular expressions (Go RE2 syntax translated to Python ``re``)

_POSIX = {
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "ascii": "\\x00-\\x7F",
    "blank": "\\t ",
    "cntrl": "\\x00-\\x1F\\x7F",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": "!-/:-@\\[-`{-~",
    "space": "\\t\\n\\v\\f\\r ",
    "upper": "A-Z",
    "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}


@functools.lru_cache(maxsize=256)
def go_regexp(expr: str) -> re.Pattern[str]:
    """Compile a Go RE2 expression; raises GoError with Go-like text on syntax errors."""
    multiline = bool(re.search(r"\(\?[a-zA-Z]*m", expr))
    out: list[str] = []
    i, n = 0, len(expr)
    in_class = False
    while i < n:
        c = expr[i]
        if c == "\\" and i + 1 < n:
            nxt = expr[i + 1]
            if nxt == "z":
                out.append("\\Z")
            elif nxt in "pP":
                raise GoError(f"error parsing regexp: invalid character class range: `{expr[i : i + 3]}`")
            elif nxt == "Q":
                j = expr.find("\\E", i + 2)
                lit = expr[i + 2 : j if j >= 0 else n]
                out.append(re.escape(lit))
                i = (j + 2) if j >= 0 else n
                continue
            else:
                out.append(expr[i : i + 2])
            i += 2
            continue
        if in_class:
            if c == "[" and expr.startswith("[:", i):
                j = expr.find(":]", i + 2)
                if j > 0:
                    name = expr[i + 2 : j]
                    neg = name.startswith("^")
                    body = _POSIX.get(name.lstrip("^"))
                    if body is None:
                        raise GoError(
                            f"error parsing regexp: invalid character class range: `{expr[i : j + 2]}`"
                        )
                    if neg:
                        raise GoError(
                            "error parsing regexp: negated POSIX classes are not supported by Plica"
                        )
                    out.append(body)
                    i = j + 2
                    continue
            if c == "]":
                in_class = False
            elif c == "[":
                out.append("\\[")
                i += 1
                continue
            out.append(c)
            i += 1
            continue
        if c == "[":
            in_class = True
            out.append(c)
            i += 1
            if i < n and expr[i] == "^":
                out.append("^")
                i += 1
            if i < n and expr[i] == "]":
                out.append("\\]")
                i += 1
            continue
        if c == "$" and not multiline:
            out.append("\\Z")
            i += 1
            continue
        if (
            c == "("
            and expr.startswith("(?<", i)
            and not expr.startswith("(?<=", i)
            and not expr.startswith("(?<!", i)
        ):
            out.append("(?P<")
            i += 3
            continue
        if c == "(" and (expr.startswith("(?=", i) or expr.startswith("(?!", i) or expr.startswith("(?<", i)):
            raise GoError(f"error parsing regexp: invalid or unsupported Perl syntax: `{expr[i : i + 3]}`")
        out.append(c)
        i += 1
    try:
        return re.compile("".join(out), re.ASCII)
    except re.error as e:
        raise GoError(f"error parsing regexp: {e.msg}: `{expr}`") from None


def _go_matches(pat: re.Pattern[str], s: str, n: int) -> list[re.Match[str]]:
    """Go's ``allMatches``: successive matches, skipping an empty match right after the previous one."""
    if n < 0:
        n = len(s) + 1
    out: list[re.Match[str]] = []
    pos = 0
    prev_end = -1
    end = len(s)
    while len(out) < n and pos <= end:
        m = pat.search(s, pos)
        if m is None:
            break
        accept = True
        if m.end() == m.start():
            if m.start() == prev_end:
                accept = False
            pos = m.end() + 1 if m.end() >= pos else pos + 1
        else:
            pos = m.end()
        prev_end = m.end()
        if accept:
            out.append(m)
    return out


def _expand(template: str, m: re.Match[str]) -> str:
    out: list[str] = []
    i, n = 0, len(template)
    groups = m.re.groupindex
    while i < n:
        j = template.find("$", i)
        if j < 0:
            out.append(template[i:])
            break
        out.append(template[i:j])
        i = j + 1
        if i < n and template[i] == "$":
            out.append("$")
            i += 1
            continue
        name = ""
        if i < n and template[i] == "{":
            k = template.find("}", i)
            if k < 0:
                out.append("$")
                continue
            name = template[i + 1 : k]
            if not name or not all(c.isalnum() or c == "_" for c in name):
                out.append("$")
                continue
            i = k + 1
        else:
            k = i
            while k < n and (template[k].isalnum() or template[k] == "_"):
                k += 1
            name = template[i:k]
            if not name:
                out.append("$")
                continue
            i = k
        if name.isdigit():
            idx = int(name)
            if idx <= m.re.groups:
                out.append(m.group(idx) or "")
        elif name in groups:
            out.append(m.group(name) or "")
    return "".join(out)


def _replace_all(pat: re.Pattern[str], s: str, repl: Callable[[re.Match[str]], str]) -> str:
    out: list[str] = []
    last_end = 0
    pos = 0
    end = len(s)
    while pos <= end:
        m = pat.search(s, pos)
        if m is None:
            break
        a, b = m.span()
        out.append(s[last_end:a])
        if b > last_end or a == 0:
            out.append(repl(m))
        last_end = b
        if pos + 1 > b:
            pos += 1
        else:
            pos = b
    out.append(s[last_end:])
    return "".join(out)


def _regex_split(pat: re.Pattern[str], s: str, n: int) -> list[str]:
    if n == 0:
        return StringSlice()
    if pat.pattern and s == "":
        return StringSlice([""])
    matches = _go_matches(pat, s, n)
    parts = StringSlice()
    beg = 0
    end = 0
    for m in matches:
        if n > 0 and len(parts) == n - 1:
            break
        end = m.start()
        if m.end() != 0:
            parts.append(s[beg:end])
        beg = m.end()
    if end != len(s):
        parts.append(s[beg:])
    return parts


@sprig("regexMatch", "string", "string")
def _regex_match(regex: str, s: str) -> bool:
    try:
        return go_regexp(regex).search(s) is not None
    except GoError:
        return False


sprig("mustRegexMatch", "string", "string")(lambda r, s: go_regexp(r).search(s) is not None)


@sprig("regexFindAll mustRegexFindAll", "string", "string", "int")
def _regex_find_all(regex: str, s: str, n: int) -> Any:
    if n == 0:
        return TypedNil("[]string")
    ms = _go_matches(go_regexp(regex), s, n)
    return StringSlice(m.group() for m in ms) if ms else TypedNil("[]string")


@sprig("regexFind mustRegexFind", "string", "string")
def _regex_find(regex: str, s: str) -> str:
    m = go_regexp(regex).search(s)
    return m.group() if m else ""


@sprig("regexReplaceAll mustRegexReplaceAll", "string", "string", "string")
def _regex_replace_all(regex: str, s: str, repl: str) -> str:
    return _replace_all(go_regexp(regex), s, lambda m: _expand(repl, m))


@sprig("regexReplaceAllLiteral mustRegexReplaceAllLiteral", "string", "string", "string")
def _regex_replace_all_literal(regex: str, s: str, repl: str) -> str:
    return _replace_all(go_regexp(regex), s, lambda m: repl)


@sprig("regexSplit mustRegexSplit", "string", "string", "int")
def _regex_split_fn(regex: str, s: str, n: int) -> list[str]:
    return _regex_split(go_regexp(regex), s, n)


@sprig("regexQuoteMeta", "string")
def _regex_quote_meta(s: str) -> str:
    return "".join("\\" + c if c in "\\.+*?()|[]{}^$" else c for c in s)


# -- URLs ------------------------------------------------------------------------------------------------


@sprig("urlParse", "string")
def _url_parse(v: str) -> dict[str, Any]:
    try:
        u = urllib.parse.urlsplit(v)
    except ValueError as e:
        raise GoError(f"unable to parse url: {e}") from None
    rest = v[len(u.scheme) + 1 :] if u.scheme else v
    opaque = ""
    path = urllib.parse.unquote(u.path)
    if u.scheme and not rest.startswith("/"):
        opaque = rest.split("#", 1)[0].split("?", 1)[0]
        path = ""
    userinfo = ""
    if "@" in u.netloc:
        userinfo = u.netloc.rsplit("@", 1)[0]
    host = u.netloc.rsplit("@", 1)[-1]
    hostname = host
    if hostname.startswith("["):
        hostname = hostname[1 : hostname.find("]")] if "]" in hostname else hostname
    elif ":" in hostname:
        hostname = hostname.rsplit(":", 1)[0]
    return {
        "scheme": u.scheme,
        "host": host,
        "hostname": hostname,
        "path": path,
        "query": u.query,
        "opaque": opaque,
        "fragment": urllib.parse.unquote(u.fragment),
        "userinfo": userinfo,
    }


@sprig("urlJoin", "map")
def _url_join(d: Any) -> str:
    d = d or {}

    def get(k: str) -> str:
        v = d.get(k, "")
        if not isinstance(v, str):
            raise GoError(f"unable to parse {k} key, must be of type string, but {go_type_name(v)} found")
        return v

    scheme, host, path, query, opaque, fragment = (
        get("scheme"),
        get("host"),
        get("path"),
        get("query"),
        get("opaque"),
        get("fragment"),
    )
    userinfo = get("userinfo")
    out = ""
    if scheme:
        out += scheme + ":"
    if opaque:
        out += opaque
    else:
        if scheme or host or userinfo:
            if host or path or userinfo:
                out += "//"
            if userinfo:
                out += userinfo + "@"
            out += host
        if path and not path.startswith("/") and host:
            out += "/"
        out += urllib.parse.quote(path, safe="/:@!$&'()*+,;=-._~")
    if query:
        out += "?" + query
    if fragment:
        out += "#" + urllib.parse.quote(fragment, safe="/:@!$&'()*+,;=-._~?")
    return out


# ========================================================================================================
# step additions


@step("fail", "string")
def _step_fail(msg: str) -> str:
    raise FailSignal(msg)


def to_time(v: Any) -> _dt.datetime:
    if isinstance(v, _dt.datetime):
        t = as_aware(v)
    elif isinstance(v, float):
        t = unix_time(int(v) if math.isfinite(v) else 0)
    elif isinstance(v, int) and not isinstance(v, bool | Duration):
        t = unix_time(int(v))
    else:
        numeric_date = getattr(v, "Time", None)
        if callable(numeric_date) and getattr(v, "__go_type__", "").endswith("NumericDate"):
            t = as_aware(numeric_date())
        else:
            t = now_local()
    return t.astimezone(_dt.UTC)


step("toTime", "any")(to_time)
step("formatTime", "any")(lambda v: format_time(to_time(v), "2006-01-02T15:04:05Z07:00"))

_LAYOUTS = {
    "layout": "01/02 03:04:05PM '06 -0700",
    "ansic": "Mon Jan _2 15:04:05 2006",
    "unixdate": "Mon Jan _2 15:04:05 MST 2006",
    "rubydate": "Mon Jan 02 15:04:05 -0700 2006",
    "rfc822": "02 Jan 06 15:04 MST",
    "rfc822z": "02 Jan 06 15:04 -0700",
    "rfc850": "Monday, 02-Jan-06 15:04:05 MST",
    "rfc1123": "Mon, 02 Jan 2006 15:04:05 MST",
    "rfc1123z": "Mon, 02 Jan 2006 15:04:05 -0700",
    "rfc3339": "2006-01-02T15:04:05Z07:00",
    "rfc3339nano": "2006-01-02T15:04:05.999999999Z07:00",
    "kitchen": "3:04PM",
    "stamp": "Jan _2 15:04:05",
    "stampmilli": "Jan _2 15:04:05.000",
    "stampmicro": "Jan _2 15:04:05.000000",
    "stampnano": "Jan _2 15:04:05.000000000",
    "datetime": "2006-01-02 15:04:05",
    "dateonly": "2006-01-02",
    "timeonly": "15:04:05",
}


@step("toTimeLayout", "string")
def to_time_layout(fmt: str) -> str:
    key = fmt[5:] if fmt.startswith("time.") else fmt
    return _LAYOUTS.get(key.lower(), fmt)


def _must_parse_time(*v: str) -> _dt.datetime:
    if len(v) == 0:
        return _dt.datetime.now(_dt.UTC)
    if len(v) == 1:
        return parse_time("2006-01-02T15:04:05Z07:00", v[0])
    if len(v) == 2:
        return parse_time(to_time_layout(v[0]), v[1])
    if len(v) == 3:
        loc = load_location(v[2])
        if loc is None:
            raise GoError(f"unknown time zone {v[2]}")
        return parse_time(to_time_layout(v[0]), v[1], loc)
    raise GoError("unsupported number of parameters")


@step("parseTime", variadic="string")
def _parse_time(*v: str) -> _dt.datetime:
    try:
        return _must_parse_time(*v)
    except GoError:
        return _ZERO_TIME


step("mustParseTime", variadic="string")(_must_parse_time)


# ========================================================================================================
# asn1 (X.509 only)

_reg(_ASN1, "asn1Enc", ("string",))(asn1funcs.asn1_enc)
_reg(_ASN1, "asn1Marshal", ("any",), "string")(asn1funcs.asn1_marshal)
_reg(_ASN1, "asn1Seq", (), "string")(asn1funcs.asn1_seq)
_reg(_ASN1, "asn1Set", (), "string")(asn1funcs.asn1_set)


# ========================================================================================================
# function sets

_REMOVED = ("env", "expandenv")


def _build(*tables: Mapping[str, FuncSpec]) -> dict[str, FuncSpec]:
    out: dict[str, FuncSpec] = {}
    for t in tables:
        out.update(t)
    for name in _REMOVED:
        out.pop(name, None)
    return out


FUNCSETS: dict[str, dict[str, FuncSpec]] = {
    "x509": _build(_BUILTINS, _SPRIG, _STEP, _ASN1),
    "ssh": _build(_BUILTINS, _SPRIG, _STEP),
    "webhook": _build(_BUILTINS, _SPRIG),
}

BUILTIN_NAMES = frozenset(_BUILTINS)
SPRIG_NAMES = frozenset(_SPRIG)
STEP_NAMES = frozenset(_STEP)
ASN1_NAMES = frozenset(_ASN1)
