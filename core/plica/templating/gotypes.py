"""The Go value model used by the template engine, plus Go ``fmt``, ``encoding/json`` and ``time`` helpers.

Template data is plain Python; each Python type stands for one Go type:

============================  ===============================  ==========================================
Python value                  Go type (``typeOf``)             notes
============================  ===============================  ==========================================
``dict`` (str keys)           ``map[string]interface {}``      ``range`` and ``toJson`` sort the keys
``list`` / ``tuple``          ``[]interface {}``               ``StringSlice`` gives ``[]string``
``str``                       ``string``
``bool``                      ``bool``
``int``                       ``int``                          ``Int64`` gives ``int64`` (sprig math)
``float``                     ``float64``                      JSON numbers; ``%v`` prints ``1.6e+09``
``None``                      untyped nil                      a JSON ``null`` inside a map
``MISSING``                   invalid value                    a missing map key; prints ``<no value>``
``datetime``                  ``time.Time``                    naive datetimes are taken as UTC
``Duration`` / ``timedelta``  ``time.Duration``
``bytes``                     ``[]uint8``                      ``toJson`` gives standard base64
``TypedNil("[]string")``      a typed nil slice/map/pointer    JSON ``null``, length 0, false
any other object              a Go struct (or pointer)         see below
============================  ===============================  ==========================================

An object that stands for a Go struct exposes Go fields as attributes (``.Foo`` reads attribute ``Foo``) and
Go methods as methods (a method is called with the template arguments). It may define:

* ``__go_type__: str``, the ``%T`` text used by ``typeOf``/``typeIs`` (e.g. ``"*rsa.PublicKey"``);
* ``__go_kind__: str``, the reflect kind for ``kindOf`` when the type name does not tell it;
* ``__go_json__(self) -> Any``, the value ``toJson`` encodes. A ``dict`` returned here is a struct: its key
  order is kept (plain ``dict`` values elsewhere are maps and get sorted keys). ``RawJSON`` embeds
  pre-encoded JSON;
* ``__go_str__(self) -> str``, the text ``%v`` prints (default: ``str(obj)``).
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
import math
import re
import zoneinfo
from collections.abc import Callable, Mapping
from typing import Any

__all__ = [
    "MISSING",
    "Duration",
    "FailSignal",
    "GoError",
    "Int64",
    "RawJSON",
    "StringSlice",
    "TemplateError",
    "TypedNil",
]


class TemplateError(Exception):
    """A template failed to parse or execute.

    ``str(err)`` is the Go-style message, e.g.
    ``template: leaf:3:12: executing "leaf" at <.Foo.bar>: nil pointer evaluating interface {}.bar``.
    ``fail_message`` is set (non-empty) when the step ``fail`` function aborted the execution: the CA
    answers 400 with that text instead of a generic 500.
    """

    def __init__(
        self,
        message: str,
        *,
        name: str = "template",
        line: int | None = None,
        column: int | None = None,
        phase: str = "exec",
        fail_message: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.name = name
        self.line = line
        self.column = column
        self.phase = phase
        self.fail_message = fail_message


class GoError(Exception):
    """Raised by template functions; becomes ``error calling NAME: <message>``."""


class FailSignal(GoError):
    """Raised by step's ``fail``: the CA turns a non-empty message into an HTTP 400."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


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
        return _kind_from_type_name(self.go_type)

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


# --------------------------------------------------------------------------------------------------------
# Types and kinds

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


def _kind_from_type_name(name: str) -> str:
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
        return _kind_from_type_name(go_type_name(v)) if hasattr(v, "__go_type__") else "int"
    if isinstance(v, float):
        return "float64"
    if isinstance(v, str):
        return "string"
    if isinstance(v, _dt.datetime):
        return "struct"
    return _kind_from_type_name(go_type_name(v))


def is_slice(v: Any) -> bool:
    if isinstance(v, list | tuple | bytes | bytearray):
        return True
    return isinstance(v, TypedNil) and v.kind == "slice"


def is_map(v: Any) -> bool:
    if isinstance(v, Mapping):
        return True
    return isinstance(v, TypedNil) and v.kind == "map"


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


# --------------------------------------------------------------------------------------------------------
# Floats (strconv.FormatFloat)


def _shortest_digits(x: float) -> tuple[str, int]:
    """Shortest round-trip decimal digits of abs(x) and the decimal point position (0.DIGITS x 10^dp)."""
    r = repr(abs(x))
    if "e" in r:
        mant, exp_s = r.split("e")
        exp = int(exp_s)
    else:
        mant, exp = r, 0
    ip, _, fp = mant.partition(".")
    digits = ip + fp
    dp = len(ip) + exp
    stripped = digits.lstrip("0")
    dp -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    if not digits:
        return "", 0
    return digits, dp


def _fmt_e(neg: bool, digits: str, dp: int, prec: int, e: str = "e") -> str:
    # digits already rounded to prec+1 significant digits (or fewer for shortest)
    first = digits[0] if digits else "0"
    rest = digits[1:]
    if prec > len(rest):
        rest = rest + "0" * (prec - len(rest))
    exp = dp - 1 if digits else 0
    s = first
    if prec > 0:
        s += "." + rest[:prec]
    sign = "+" if exp >= 0 else "-"
    ae = abs(exp)
    s += e + sign + (f"{ae:02d}")
    return ("-" if neg else "") + s


def _fmt_f(neg: bool, digits: str, dp: int) -> str:
    # shortest form: exactly the significant digits, no padding
    if not digits:
        s = "0"
    elif dp <= 0:
        s = "0." + "0" * (-dp) + digits
    elif dp >= len(digits):
        s = digits + "0" * (dp - len(digits))
    else:
        s = digits[:dp] + "." + digits[dp:]
    return ("-" if neg else "") + s


def format_float(x: float, fmt: str = "g", prec: int = -1) -> str:
    """``strconv.FormatFloat(x, fmt, prec, 64)`` for fmt in e, E, f, g, G."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    neg = math.copysign(1.0, x) < 0
    if prec >= 0:
        # Python's correctly rounded formatting uses the same digits and exponent thresholds as Go.
        if fmt in "fF":
            return f"{x:.{prec}f}"
        if fmt in "eE":
            return f"{x:.{prec}{fmt}}"
        out = f"{x:.{prec}g}"
        return out.upper() if fmt == "G" else out
    digits, dp = _shortest_digits(x)
    if fmt in "eE":
        return _fmt_e(neg, digits, dp, max(len(digits) - 1, 0), fmt)
    if fmt in "fF":
        return _fmt_f(neg, digits, dp)
    # 'g' shortest: exponent threshold is 6 for the shortest form
    exp = dp - 1 if digits else 0
    if digits and (exp < -4 or exp >= 6):
        return _fmt_e(neg, digits, dp, max(len(digits) - 1, 0), "e" if fmt == "g" else "E")
    return _fmt_f(neg, digits, dp)


def json_float(x: float) -> str:
    """``encoding/json`` float64 text."""
    if math.isnan(x) or math.isinf(x):
        raise GoError(f"json: unsupported value: {format_float(x)}")
    a = abs(x)
    if a != 0 and (a < 1e-6 or a >= 1e21):
        s = format_float(x, "e", -1)
        n = len(s)
        if n >= 4 and s[n - 4] == "e" and s[n - 3] == "-" and s[n - 2] == "0":
            s = s[: n - 2] + s[n - 1]
        return s
    return format_float(x, "f", -1)


# --------------------------------------------------------------------------------------------------------
# Time


_UTC = _dt.UTC
_WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


def as_aware(t: _dt.datetime) -> _dt.datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=_UTC)


def zone_of(t: _dt.datetime) -> tuple[str, int]:
    """Go zone abbreviation (may be empty for unnamed fixed offsets) and offset in seconds."""
    t = as_aware(t)
    off = t.utcoffset()
    secs = int(off.total_seconds()) if off is not None else 0
    name = t.tzname() or ""
    if name.startswith("UTC") and name != "UTC":
        name = ""  # Python's "UTC+02:00" is Go's unnamed FixedZone, printed as "+0200"
    if name == "UTC" and secs != 0:
        name = ""
    return name, secs


def load_location(name: str) -> _dt.tzinfo | None:
    """Go ``time.LoadLocation``; None when unknown."""
    if name in ("", "UTC"):
        return _UTC
    if name == "Local":
        return local_tz()
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return None


def local_tz() -> _dt.tzinfo:
    tz = _dt.datetime.now().astimezone().tzinfo
    return tz if tz is not None else _UTC


def now_local() -> _dt.datetime:
    return _dt.datetime.now().astimezone()


def unix_time(secs: int, nanos: int = 0) -> _dt.datetime:
    """Go ``time.Unix`` in the local zone."""
    base = _dt.datetime(1970, 1, 1, tzinfo=_UTC) + _dt.timedelta(seconds=secs, microseconds=nanos // 1000)
    return base.astimezone(local_tz())


def time_unix(t: _dt.datetime) -> int:
    t = as_aware(t)
    delta = t - _dt.datetime(1970, 1, 1, tzinfo=_UTC)
    return delta.days * 86400 + delta.seconds


def _frac_digits(t: _dt.datetime) -> str:
    return f"{t.microsecond:06d}000"


def time_string(t: _dt.datetime) -> str:
    """Go ``Time.String()``: ``2006-01-02 15:04:05.999999999 -0700 MST``."""
    return format_time(t, "2006-01-02 15:04:05.999999999 -0700 MST")


# std chunk codes
(
    _S_LIT,
    _S_LONGMONTH,
    _S_MONTH,
    _S_NUMMONTH,
    _S_ZEROMONTH,
    _S_LONGWEEKDAY,
    _S_WEEKDAY,
    _S_DAY,
    _S_UNDERDAY,
    _S_ZERODAY,
    _S_UNDERYEARDAY,
    _S_ZEROYEARDAY,
    _S_HOUR,
    _S_HOUR12,
    _S_ZEROHOUR12,
    _S_MINUTE,
    _S_ZEROMINUTE,
    _S_SECOND,
    _S_ZEROSECOND,
    _S_LONGYEAR,
    _S_YEAR,
    _S_PM,
    _S_pm,
    _S_TZ,
    _S_ISO8601TZ,
    _S_ISO8601SECONDSTZ,
    _S_ISO8601SHORTTZ,
    _S_ISO8601COLONTZ,
    _S_ISO8601COLONSECONDSTZ,
    _S_NUMTZ,
    _S_NUMSECONDSTZ,
    _S_NUMSHORTTZ,
    _S_NUMCOLONTZ,
    _S_NUMCOLONSECONDSTZ,
    _S_FRAC0,
    _S_FRAC9,
) = range(36)

_layout_cache: dict[str, list[tuple[int, str]]] = {}


def _is_digit(s: str, i: int) -> bool:
    return i < len(s) and "0" <= s[i] <= "9"


def _layout_chunks(layout: str) -> list[tuple[int, str]]:
    """Split a Go reference layout into (code, text) chunks, like Go's nextStdChunk."""
    cached = _layout_cache.get(layout)
    if cached is not None:
        return cached
    out: list[tuple[int, str]] = []
    lit: list[str] = []
    i = 0
    n = len(layout)

    def emit(code: int, text: str) -> None:
        if lit:
            out.append((_S_LIT, "".join(lit)))
            lit.clear()
        out.append((code, text))

    while i < n:
        c = layout[i]
        rest = layout[i:]
        if c == "J":
            if rest.startswith("January"):
                emit(_S_LONGMONTH, "January")
                i += 7
                continue
            if rest.startswith("Jan"):
                emit(_S_MONTH, "Jan")
                i += 3
                continue
        elif c == "M":
            if rest.startswith("Monday"):
                emit(_S_LONGWEEKDAY, "Monday")
                i += 6
                continue
            if rest.startswith("Mon"):
                emit(_S_WEEKDAY, "Mon")
                i += 3
                continue
            if rest.startswith("MST"):
                emit(_S_TZ, "MST")
                i += 3
                continue
        elif c == "0":
            if len(rest) >= 2 and "1" <= rest[1] <= "6":
                code = [_S_ZEROMONTH, _S_ZERODAY, _S_ZEROHOUR12, _S_ZEROMINUTE, _S_ZEROSECOND, _S_YEAR][
                    int(rest[1]) - 1
                ]
                emit(code, rest[:2])
                i += 2
                continue
            if rest.startswith("002"):
                emit(_S_ZEROYEARDAY, "002")
                i += 3
                continue
        elif c == "1":
            if rest.startswith("15"):
                emit(_S_HOUR, "15")
                i += 2
                continue
            emit(_S_NUMMONTH, "1")
            i += 1
            continue
        elif c == "2":
            if rest.startswith("2006"):
                emit(_S_LONGYEAR, "2006")
                i += 4
                continue
            emit(_S_DAY, "2")
            i += 1
            continue
        elif c == "_":
            if rest.startswith("_2"):
                if rest.startswith("_2006"):
                    lit.append("_")
                    emit(_S_LONGYEAR, "2006")
                    i += 5
                    continue
                emit(_S_UNDERDAY, "_2")
                i += 2
                continue
            if rest.startswith("__2"):
                emit(_S_UNDERYEARDAY, "__2")
                i += 3
                continue
        elif c in "345":
            emit({"3": _S_HOUR12, "4": _S_MINUTE, "5": _S_SECOND}[c], c)
            i += 1
            continue
        elif c == "P":
            if rest.startswith("PM"):
                emit(_S_PM, "PM")
                i += 2
                continue
        elif c == "p":
            if rest.startswith("pm"):
                emit(_S_pm, "pm")
                i += 2
                continue
        elif c == "-":
            matched = False
            for text, code in (
                ("-070000", _S_NUMSECONDSTZ),
                ("-07:00:00", _S_NUMCOLONSECONDSTZ),
                ("-0700", _S_NUMTZ),
                ("-07:00", _S_NUMCOLONTZ),
                ("-07", _S_NUMSHORTTZ),
            ):
                if rest.startswith(text):
                    emit(code, text)
                    i += len(text)
                    matched = True
                    break
            if matched:
                continue
        elif c == "Z":
            matched = False
            for text, code in (
                ("Z070000", _S_ISO8601SECONDSTZ),
                ("Z07:00:00", _S_ISO8601COLONSECONDSTZ),
                ("Z0700", _S_ISO8601TZ),
                ("Z07:00", _S_ISO8601COLONTZ),
                ("Z07", _S_ISO8601SHORTTZ),
            ):
                if rest.startswith(text):
                    emit(code, text)
                    i += len(text)
                    matched = True
                    break
            if matched:
                continue
        elif c in ".," and i + 1 < n and layout[i + 1] in "09":
            ch = layout[i + 1]
            j = i + 1
            while j < n and layout[j] == ch:
                j += 1
            if not _is_digit(layout, j):
                emit(_S_FRAC0 if ch == "0" else _S_FRAC9, layout[i:j])
                i = j
                continue
        lit.append(c)
        i += 1
    if lit:
        out.append((_S_LIT, "".join(lit)))
    if len(_layout_cache) < 256:
        _layout_cache[layout] = out
    return out


def _tz_numeric(secs: int, colon: bool, with_seconds: bool, short: bool) -> str:
    sign = "-" if secs < 0 else "+"
    secs = abs(secs)
    h, rem = divmod(secs, 3600)
    m, s = divmod(rem, 60)
    out = f"{sign}{h:02d}"
    if short:
        return out
    out += (":" if colon else "") + f"{m:02d}"
    if with_seconds:
        out += (":" if colon else "") + f"{s:02d}"
    return out


def format_time(t: _dt.datetime, layout: str) -> str:
    """Go ``Time.Format(layout)``."""
    t = as_aware(t)
    name, off = zone_of(t)
    parts: list[str] = []
    ap = parts.append
    for code, text in _layout_chunks(layout):
        if code == _S_LIT:
            ap(text)
        elif code == _S_LONGYEAR:
            ap(f"{t.year:04d}")
        elif code == _S_YEAR:
            ap(f"{t.year % 100:02d}")
        elif code == _S_LONGMONTH:
            ap(_MONTHS[t.month - 1])
        elif code == _S_MONTH:
            ap(_MONTHS[t.month - 1][:3])
        elif code == _S_NUMMONTH:
            ap(str(t.month))
        elif code == _S_ZEROMONTH:
            ap(f"{t.month:02d}")
        elif code == _S_LONGWEEKDAY:
            ap(_WEEKDAYS[t.weekday()])
        elif code == _S_WEEKDAY:
            ap(_WEEKDAYS[t.weekday()][:3])
        elif code == _S_DAY:
            ap(str(t.day))
        elif code == _S_UNDERDAY:
            ap(f"{t.day:2d}")
        elif code == _S_ZERODAY:
            ap(f"{t.day:02d}")
        elif code == _S_UNDERYEARDAY:
            ap(f"{t.timetuple().tm_yday:3d}")
        elif code == _S_ZEROYEARDAY:
            ap(f"{t.timetuple().tm_yday:03d}")
        elif code == _S_HOUR:
            ap(f"{t.hour:02d}")
        elif code == _S_HOUR12:
            ap(str(t.hour % 12 or 12))
        elif code == _S_ZEROHOUR12:
            ap(f"{t.hour % 12 or 12:02d}")
        elif code == _S_MINUTE:
            ap(str(t.minute))
        elif code == _S_ZEROMINUTE:
            ap(f"{t.minute:02d}")
        elif code == _S_SECOND:
            ap(str(t.second))
        elif code == _S_ZEROSECOND:
            ap(f"{t.second:02d}")
        elif code == _S_PM:
            ap("PM" if t.hour >= 12 else "AM")
        elif code == _S_pm:
            ap("pm" if t.hour >= 12 else "am")
        elif code == _S_TZ:
            ap(name if name else _tz_numeric(off, False, False, False))
        elif (
            code
            in (
                _S_ISO8601TZ,
                _S_ISO8601SECONDSTZ,
                _S_ISO8601SHORTTZ,
                _S_ISO8601COLONTZ,
                _S_ISO8601COLONSECONDSTZ,
            )
            and off == 0
        ):
            ap("Z")
        elif code in (_S_ISO8601TZ, _S_NUMTZ):
            ap(_tz_numeric(off, False, False, False))
        elif code in (_S_ISO8601SECONDSTZ, _S_NUMSECONDSTZ):
            ap(_tz_numeric(off, False, True, False))
        elif code in (_S_ISO8601SHORTTZ, _S_NUMSHORTTZ):
            ap(_tz_numeric(off, False, False, True))
        elif code in (_S_ISO8601COLONTZ, _S_NUMCOLONTZ):
            ap(_tz_numeric(off, True, False, False))
        elif code in (_S_ISO8601COLONSECONDSTZ, _S_NUMCOLONSECONDSTZ):
            ap(_tz_numeric(off, True, True, False))
        elif code == _S_FRAC0:
            ap(text[0] + _frac_digits(t)[: len(text) - 1])
        elif code == _S_FRAC9:
            digits = _frac_digits(t)[: len(text) - 1].rstrip("0")
            if digits:
                ap(text[0] + digits)
    return "".join(parts)


class TimeParseError(GoError):
    pass


def _quote(s: str) -> str:
    return go_quote(s)


def parse_time(layout: str, value: str, default_tz: _dt.tzinfo | None = None) -> _dt.datetime:
    """Go ``time.Parse`` / ``ParseInLocation``; raises TimeParseError with Go's message."""
    orig_value = value
    year, month, day, yday = 1, 1, 1, -1
    hour, minute, second, micro = 0, 0, 0, 0
    pm_set, pm = False, False
    tz_off: int | None = None
    tz_name: str | None = None

    def fail(elem: str, val: str, msg: str = "") -> TimeParseError:
        text = f"parsing time {_quote(orig_value)} as {_quote(layout)}: cannot parse {_quote(val)} as {_quote(elem)}"
        if msg:
            text = f"parsing time {_quote(orig_value)}{msg}"
        return TimeParseError(text)

    def getnum(v: str, fixed: bool, width: int = 2) -> tuple[int, str]:
        if not _is_digit(v, 0):
            raise ValueError
        if not _is_digit(v, 1):
            if fixed:
                raise ValueError
            return int(v[0]), v[1:]
        return int(v[:2]), v[2:]

    chunks = _layout_chunks(layout)
    for idx, (code, text) in enumerate(chunks):
        hold = value
        try:
            if code == _S_LIT:
                # Go skips leading spaces in both when the literal starts with space
                lt = text
                while lt and lt[0] == " " and value and value[0] == " ":
                    lt, value = lt[1:], value[1:]
                if not value.startswith(lt):
                    raise fail(lt, value)
                value = value[len(lt) :]
                continue
            if code == _S_LONGYEAR:
                if len(value) < 4 or not value[:4].isdigit():
                    raise ValueError
                year, value = int(value[:4]), value[4:]
            elif code == _S_YEAR:
                if len(value) < 2 or not value[:2].isdigit():
                    raise ValueError
                y = int(value[:2])
                year = y + (1900 if y >= 69 else 2000)
                value = value[2:]
            elif code in (_S_LONGMONTH, _S_MONTH):
                names = _MONTHS if code == _S_LONGMONTH else [m[:3] for m in _MONTHS]
                for k, nm in enumerate(names):
                    if value[: len(nm)].lower() == nm.lower():
                        month, value = k + 1, value[len(nm) :]
                        break
                else:
                    raise ValueError
            elif code in (_S_NUMMONTH, _S_ZEROMONTH):
                month, value = getnum(value, code == _S_ZEROMONTH)
                if not 1 <= month <= 12:
                    raise fail(text, hold, ": month out of range")
            elif code in (_S_LONGWEEKDAY, _S_WEEKDAY):
                names = _WEEKDAYS if code == _S_LONGWEEKDAY else [w[:3] for w in _WEEKDAYS]
                for nm in names:
                    if value[: len(nm)].lower() == nm.lower():
                        value = value[len(nm) :]
                        break
                else:
                    raise ValueError
            elif code in (_S_DAY, _S_UNDERDAY, _S_ZERODAY):
                if code == _S_UNDERDAY and value[:1] == " ":
                    value = value[1:]
                day, value = getnum(value, code == _S_ZERODAY)
            elif code in (_S_UNDERYEARDAY, _S_ZEROYEARDAY):
                v2 = value.lstrip(" ") if code == _S_UNDERYEARDAY else value
                m = re.match(r"\d{1,3}" if code == _S_UNDERYEARDAY else r"\d{3}", v2)
                if not m:
                    raise ValueError
                yday, value = int(m.group()), v2[m.end() :]
            elif code == _S_HOUR:
                hour, value = getnum(value, False)
                if hour > 23:
                    raise fail(text, hold, ": hour out of range")
            elif code in (_S_HOUR12, _S_ZEROHOUR12):
                hour, value = getnum(value, code == _S_ZEROHOUR12)
                if hour > 12:
                    raise fail(text, hold, ": hour out of range")
            elif code in (_S_MINUTE, _S_ZEROMINUTE):
                minute, value = getnum(value, code == _S_ZEROMINUTE)
                if minute > 59:
                    raise fail(text, hold, ": minute out of range")
            elif code in (_S_SECOND, _S_ZEROSECOND):
                second, value = getnum(value, code == _S_ZEROSECOND)
                if second > 59:
                    raise fail(text, hold, ": second out of range")
                # Go accepts a fractional second after seconds even if the layout has none
                nxt = chunks[idx + 1][0] if idx + 1 < len(chunks) else None
                if (
                    len(value) >= 2
                    and value[0] in ".,"
                    and value[1].isdigit()
                    and nxt not in (_S_FRAC0, _S_FRAC9)
                ):
                    m = re.match(r"[.,](\d+)", value)
                    assert m is not None
                    micro = int((m.group(1) + "000000")[:6])
                    value = value[m.end() :]
            elif code in (_S_PM, _S_pm):
                p = value[:2]
                if p.upper() == "PM":
                    pm_set, pm = True, True
                elif p.upper() == "AM":
                    pm_set, pm = True, False
                else:
                    raise ValueError
                value = value[2:]
            elif code == _S_TZ:
                if value.startswith("UTC"):
                    tz_name, tz_off, value = "UTC", 0, value[3:]
                else:
                    m = re.match(r"[A-Z][A-Za-z]{2,4}|[+-]\d\d(\d\d)?", value)
                    if not m:
                        raise ValueError
                    tz_name, value = m.group(), value[m.end() :]
                    if tz_name[0] in "+-":
                        tz_off = _parse_offset(tz_name)
                        tz_name = None
            elif (
                code
                in (
                    _S_ISO8601TZ,
                    _S_ISO8601SECONDSTZ,
                    _S_ISO8601SHORTTZ,
                    _S_ISO8601COLONTZ,
                    _S_ISO8601COLONSECONDSTZ,
                )
                and value[:1] == "Z"
            ):
                tz_off, tz_name, value = 0, "UTC", value[1:]
            elif code in (
                _S_ISO8601TZ,
                _S_ISO8601SECONDSTZ,
                _S_ISO8601SHORTTZ,
                _S_ISO8601COLONTZ,
                _S_ISO8601COLONSECONDSTZ,
                _S_NUMTZ,
                _S_NUMSECONDSTZ,
                _S_NUMSHORTTZ,
                _S_NUMCOLONTZ,
                _S_NUMCOLONSECONDSTZ,
            ):
                colon = code in (
                    _S_ISO8601COLONTZ,
                    _S_ISO8601COLONSECONDSTZ,
                    _S_NUMCOLONTZ,
                    _S_NUMCOLONSECONDSTZ,
                )
                secs = code in (
                    _S_ISO8601SECONDSTZ,
                    _S_ISO8601COLONSECONDSTZ,
                    _S_NUMSECONDSTZ,
                    _S_NUMCOLONSECONDSTZ,
                )
                short = code in (_S_ISO8601SHORTTZ, _S_NUMSHORTTZ)
                pat = r"[+-]\d\d"
                if not short:
                    pat += (":" if colon else "") + r"\d\d"
                if secs:
                    pat += (":" if colon else "") + r"\d\d"
                m = re.match(pat, value)
                if not m:
                    raise ValueError
                tz_off, value = _parse_offset(m.group().replace(":", "")), value[m.end() :]
            elif code in (_S_FRAC0, _S_FRAC9):
                ndigit = len(text) - 1
                if code == _S_FRAC0:
                    if len(value) < ndigit + 1 or value[0] != text[0] or not value[1 : ndigit + 1].isdigit():
                        raise ValueError
                    micro = int((value[1 : ndigit + 1] + "000000")[:6])
                    value = value[ndigit + 1 :]
                else:
                    m = re.match(r"[.,](\d+)", value)
                    if m:
                        micro = int((m.group(1) + "000000")[:6])
                        value = value[m.end() :]
        except ValueError:
            raise fail(text, hold) from None
    if value:
        raise TimeParseError(f"parsing time {_quote(orig_value)}: extra text: {_quote(value)}")
    if pm_set:
        if pm and hour < 12:
            hour += 12
        elif not pm and hour == 12:
            hour = 0
    if yday >= 0:
        base = _dt.date(year, 1, 1) + _dt.timedelta(days=yday - 1)
        month, day = base.month, base.day
    try:
        if tz_off is not None:
            tz: _dt.tzinfo = (
                _UTC if tz_off == 0 and tz_name == "UTC" else _dt.timezone(_dt.timedelta(seconds=tz_off))
            )
            if tz_off == 0 and tz_name != "UTC":
                tz = _dt.timezone(_dt.timedelta(0), "+0000")
            return _dt.datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)
        loc = default_tz or _UTC
        naive = _dt.datetime(year, month, day, hour, minute, second, micro)
        if tz_name is not None and tz_name != "UTC":
            # Go keeps an unknown abbreviation with a zero offset unless the location knows it.
            aware = naive.replace(tzinfo=loc)
            if aware.tzname() == tz_name:
                return aware
            return naive.replace(tzinfo=_dt.timezone(_dt.timedelta(0), tz_name))
        if tz_name == "UTC":
            return naive.replace(tzinfo=_UTC)
        return naive.replace(tzinfo=loc)
    except ValueError:
        raise TimeParseError(f"parsing time {_quote(orig_value)}: day out of range") from None


def _parse_offset(s: str) -> int:
    sign = -1 if s[0] == "-" else 1
    digits = s[1:]
    h = int(digits[:2])
    m = int(digits[2:4]) if len(digits) >= 4 else 0
    sec = int(digits[4:6]) if len(digits) >= 6 else 0
    return sign * (h * 3600 + m * 60 + sec)


_UNITS = {
    "ns": 1,
    "us": 1000,
    "µs": 1000,
    "μs": 1000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}


def parse_duration(s: str) -> int:
    """Go ``time.ParseDuration``; returns nanoseconds."""
    orig = s
    neg = False
    if s and s[0] in "+-":
        neg = s[0] == "-"
        s = s[1:]
    if s == "0":
        return 0
    if not s:
        raise GoError(f"time: invalid duration {go_quote(orig)}")
    total = 0.0
    total_i = 0
    while s:
        m = re.match(r"(\d*)(\.\d*)?", s)
        assert m is not None
        if not m.group(1) and not (m.group(2) and len(m.group(2)) > 1):
            raise GoError(f"time: invalid duration {go_quote(orig)}")
        s = s[m.end() :]
        u = re.match(r"[^\d.]+", s)
        if not u:
            raise GoError(f"time: missing unit in duration {go_quote(orig)}")
        unit = u.group()
        if unit not in _UNITS:
            raise GoError(f"time: unknown unit {go_quote(unit)} in duration {go_quote(orig)}")
        s = s[u.end() :]
        mult = _UNITS[unit]
        whole = int(m.group(1) or "0")
        total_i += whole * mult
        if m.group(2) and len(m.group(2)) > 1:
            total += float("0" + m.group(2)) * mult
    ns = total_i + int(total)
    if ns > (1 << 63) - 1:
        raise GoError(f"time: invalid duration {go_quote(orig)}")
    return -ns if neg else ns


def duration_string(d: int) -> str:
    """Go ``Duration.String()``."""
    if d == 0:
        return "0s"
    neg = d < 0
    u = -d if neg else d
    if u < 1_000_000_000:
        if u < 1000:
            out = f"{u}ns"
        elif u < 1_000_000:
            out = _frac_str(u, 3) + "µs"
        else:
            out = _frac_str(u, 6) + "ms"
    else:
        secs_total = u // 1_000_000_000
        s = _frac_str(u % 60_000_000_000, 9) + "s"
        mins_total = secs_total // 60
        out = s
        if mins_total > 0:
            h, mi = divmod(mins_total, 60)
            out = f"{mi}m" + out
            if h > 0:
                out = f"{h}h" + out
    return ("-" if neg else "") + out


def _frac_str(v: int, prec: int) -> str:
    ip, fp = divmod(v, 10**prec)
    fs = f"{fp:0{prec}d}".rstrip("0")
    return f"{ip}.{fs}" if fs else f"{ip}"


def as_duration_ns(v: Any) -> int:
    if isinstance(v, _dt.timedelta):
        return (v.days * 86400 + v.seconds) * 1_000_000_000 + v.microseconds * 1000
    return int(v)


# --------------------------------------------------------------------------------------------------------
# fmt


def _is_print(c: str) -> bool:
    return c.isprintable() or c == " "


def go_quote(s: str, ascii_only: bool = False) -> str:
    """Go ``strconv.Quote`` (``%q``)."""
    out = ['"']
    for c in s:
        o = ord(c)
        if c == '"':
            out.append('\\"')
        elif c == "\\":
            out.append("\\\\")
        elif 0xDC80 <= o <= 0xDCFF:
            out.append(f"\\x{o - 0xDC00:02x}")  # invalid UTF-8 byte kept by surrogateescape
        elif (o < 0x80 and _is_print(c)) or (not ascii_only and o >= 0x80 and _is_print(c)):
            out.append(c)
        elif c == "\a":
            out.append("\\a")
        elif c == "\b":
            out.append("\\b")
        elif c == "\f":
            out.append("\\f")
        elif c == "\n":
            out.append("\\n")
        elif c == "\r":
            out.append("\\r")
        elif c == "\t":
            out.append("\\t")
        elif c == "\v":
            out.append("\\v")
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        elif o < 0x10000:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    out.append('"')
    return "".join(out)


def sprint_value(v: Any, top: bool = True) -> str:
    """Go ``fmt`` ``%v`` text of a value."""
    t = type(v)
    if t is str:
        return v  # type: ignore[no-any-return]
    if t is bool:
        return "true" if v else "false"
    if t is int:
        return str(v)
    if t is float:
        return format_float(v, "g", -1)
    if v is None or v is MISSING:
        return "<nil>"
    if t is list or t is tuple or isinstance(v, list | tuple):
        return "[" + " ".join(sprint_value(e, False) for e in v) + "]"
    if isinstance(v, Mapping):
        items = sorted(v.items(), key=lambda kv: _sort_key(kv[0]))
        return "map[" + " ".join(f"{sprint_value(k, False)}:{sprint_value(x, False)}" for k, x in items) + "]"
    if isinstance(v, bytes | bytearray):
        return "[" + " ".join(str(b) for b in v) + "]"
    if isinstance(v, Duration):
        return duration_string(int(v))
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        s = getattr(v, "__go_str__", None)
        return s() if callable(s) else str(int(v))
    if isinstance(v, float):
        return format_float(float(v), "g", -1)
    if isinstance(v, str):
        return str.__str__(v)
    if isinstance(v, _dt.datetime):
        return time_string(v)
    if isinstance(v, _dt.timedelta):
        return duration_string(as_duration_ns(v))
    if isinstance(v, TypedNil):
        k = v.kind
        return "[]" if k == "slice" else "map[]" if k == "map" else "<nil>"
    s = getattr(v, "__go_str__", None)
    if callable(s):
        return str(s())
    m = getattr(v, "String", None)
    if callable(m):
        try:
            return str(m())
        except TypeError:
            pass
    if isinstance(v, BaseException):
        return str(v)
    return str(v)


def _sort_key(k: Any) -> tuple[int, Any]:
    if isinstance(k, bool):
        return (0, int(k))
    if isinstance(k, int | float):
        return (1, k)
    return (2, str(k))


def sprint(args: list[Any]) -> str:
    """Go ``fmt.Sprint``: spaces between operands when neither side is a string."""
    out: list[str] = []
    prev_string = False
    for i, a in enumerate(args):
        is_string = isinstance(a, str)
        if i > 0 and not is_string and not prev_string:
            out.append(" ")
        out.append(sprint_value(a))
        prev_string = is_string
    return "".join(out)


def sprintln(args: list[Any]) -> str:
    return " ".join(sprint_value(a) for a in args) + "\n"


_VERB_RE = re.compile(r"%([-+# 0]*)(\*|\d+)?(?:\.(\*|\d*))?(.)", re.S)


def _bad_verb(verb: str, a: Any) -> str:
    if a is None or a is MISSING:
        return f"%!{verb}(<nil>)"
    return f"%!{verb}({go_type_name(a)}={sprint_value(a)})"


def _pad(s: str, flags: str, width: int | None, zero_ok: bool = True) -> str:
    if width is None or len(s) >= width:
        return s
    if "-" in flags:
        return s + " " * (width - len(s))
    if "0" in flags and zero_ok:
        sign = ""
        if s[:1] in "+-":
            sign, s = s[0], s[1:]
        return sign + "0" * (width - len(sign) - len(s)) + s
    return " " * (width - len(s)) + s


def _fmt_int(v: int, verb: str, flags: str, prec: int | None) -> str:
    neg = v < 0
    a = -v if neg else v
    if verb == "d" or verb == "v":
        s = str(a)
    elif verb == "x":
        s = format(a, "x")
        if "#" in flags:
            s = "0x" + s
    elif verb == "X":
        s = format(a, "X")
        if "#" in flags:
            s = "0X" + s
    elif verb == "o":
        s = format(a, "o")
        if "#" in flags:
            s = "0" + s
    elif verb == "O":
        s = "0o" + format(a, "o")
    elif verb == "b":
        s = format(a, "b")
    elif verb == "c":
        return chr(v) if 0 <= v <= 0x10FFFF else "\ufffd"
    elif verb == "q":
        return "'" + (chr(v) if 0 <= v <= 0x10FFFF else "\ufffd") + "'"
    elif verb == "U":
        return f"U+{v:04X}"
    else:
        raise KeyError
    if prec is not None and len(s) < prec:
        s = "0" * (prec - len(s)) + s
    if neg:
        s = "-" + s
    elif "+" in flags:
        s = "+" + s
    elif " " in flags:
        s = " " + s
    return s


def _fmt_one(verb: str, flags: str, width: int | None, prec: int | None, a: Any) -> str:
    if verb == "T":
        return _pad("<nil>" if a is None or a is MISSING else go_type_name(a), flags, width, False)
    if verb == "v" and a is not None and a is not MISSING and not isinstance(a, bool | int | float):
        return _pad(sprint_value(a), flags, width, False)
    if isinstance(a, bool):
        if verb in "tv":
            return _pad("true" if a else "false", flags, width, False)
        return _bad_verb(verb, a)
    if isinstance(a, int) and not isinstance(a, Duration):
        try:
            return _pad(_fmt_int(int(a), verb, flags, prec), flags, width, prec is None)
        except KeyError:
            return _bad_verb(verb, a)
    if isinstance(a, float):
        if verb in "vgG":
            s = format_float(a, "g" if verb != "G" else "G", -1 if prec is None else prec)
        elif verb in "eE":
            s = format_float(a, verb, 6 if prec is None else prec)
        elif verb in "fF":
            s = format_float(a, "f", 6 if prec is None else prec)
        else:
            return _bad_verb(verb, a)
        if not s.startswith("-") and "+" in flags:
            s = "+" + s
        elif not s.startswith("-") and " " in flags:
            s = " " + s
        return _pad(s, flags, width)
    if isinstance(a, str):
        if verb in "sv":
            s = a if prec is None else a[:prec]
            return _pad(s, flags, width, False)
        if verb == "q":
            if "#" in flags and "`" not in a and all(_is_print(c) for c in a):
                return _pad("`" + a + "`", flags, width, False)
            return _pad(go_quote(a if prec is None else a[:prec], "+" in flags), flags, width, False)
        if verb in "xX":
            data = a.encode("utf-8", "surrogateescape")
            h = data.hex() if verb == "x" else data.hex().upper()
            if " " in flags:
                h = " ".join(h[i : i + 2] for i in range(0, len(h), 2))
            return _pad(h, flags, width, False)
        return _bad_verb(verb, a)
    if isinstance(a, bytes | bytearray):
        if verb == "s":
            return _pad(bytes(a).decode("utf-8", "surrogateescape"), flags, width, False)
        if verb in "xX":
            return _pad(bytes(a).hex() if verb == "x" else bytes(a).hex().upper(), flags, width, False)
        if verb == "q":
            return go_quote(bytes(a).decode("utf-8", "surrogateescape"))
    if isinstance(a, list | tuple) and verb not in "vT":
        return "[" + " ".join(_fmt_one(verb, flags, width, prec, e) for e in a) + "]"
    if isinstance(a, Mapping) and verb not in "vT":
        items = sorted(a.items(), key=lambda kv: _sort_key(kv[0]))
        return (
            "map["
            + " ".join(
                f"{_fmt_one(verb, flags, width, prec, k)}:{_fmt_one(verb, flags, width, prec, x)}"
                for k, x in items
            )
            + "]"
        )
    if a is None or a is MISSING:
        if verb == "v":
            return _pad("<nil>", flags, width, False)
        return _bad_verb(verb, a)
    if verb in "sv" or (verb == "q" and callable(getattr(a, "__go_str__", None))):
        s = sprint_value(a)
        if verb == "q":
            s = go_quote(s)
        return _pad(s, flags, width, False)
    if verb == "d" and isinstance(a, _dt.timedelta):
        return _pad(str(as_duration_ns(a)), flags, width)
    return _bad_verb(verb, a)


def sprintf(fmt: str, args: list[Any]) -> str:
    """Go ``fmt.Sprintf`` for the verbs templates use."""
    out: list[str] = []
    argi = 0
    pos = 0
    n = len(fmt)
    while pos < n:
        j = fmt.find("%", pos)
        if j < 0:
            out.append(fmt[pos:])
            break
        out.append(fmt[pos:j])
        m = _VERB_RE.match(fmt, j)
        if m is None:
            out.append("%!(NOVERB)")
            break
        flags, w, p, verb = m.group(1), m.group(2), m.group(3), m.group(4)
        pos = m.end()
        if verb == "%":
            out.append("%")
            continue
        width: int | None = None
        prec: int | None = None
        if w == "*":
            if argi < len(args) and isinstance(args[argi], int):
                width = int(args[argi])
                if width < 0:
                    flags += "-"
                    width = -width
            else:
                out.append("%!(BADWIDTH)")
            argi += 1
        elif w:
            width = int(w)
        if p is not None:
            if p == "*":
                if argi < len(args) and isinstance(args[argi], int):
                    prec = int(args[argi])
                else:
                    out.append("%!(BADPREC)")
                argi += 1
            else:
                prec = int(p) if p else 0
        if argi >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        a = args[argi]
        argi += 1
        out.append(_fmt_one(verb, flags, width, prec, a))
    if argi < len(args):
        extra = ", ".join(
            "<nil>" if a is None or a is MISSING else f"{go_type_name(a)}={sprint_value(a)}"
            for a in args[argi:]
        )
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


# --------------------------------------------------------------------------------------------------------
# encoding/json

_encode_basestring: Callable[[str], str] = json.encoder.encode_basestring  # type: ignore[attr-defined]
_HTML_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_HTML_RE = re.compile("[<>&\u2028\u2029]")
_LS_RE = re.compile("[\u2028\u2029]")
_SURROGATE_RE = re.compile("[\ud800-\udfff]")


def json_string(s: str, escape_html: bool = True) -> str:
    """A Go ``encoding/json`` string literal."""
    out = _encode_basestring(s)
    if out.isascii():
        if escape_html and ("<" in out or ">" in out or "&" in out):
            out = _HTML_RE.sub(_html_escape_match, out)
        return out
    if escape_html:
        out = _HTML_RE.sub(_html_escape_match, out)
    elif "\u2028" in out or "\u2029" in out:
        out = _LS_RE.sub(_html_escape_match, out)
    # invalid UTF-8 (kept by surrogateescape) becomes U+FFFD, as Go does
    return _SURROGATE_RE.sub("\ufffd", out)


def _html_escape_match(m: re.Match[str]) -> str:
    return _HTML_ESCAPES[m.group()]


def rfc3339nano(t: _dt.datetime) -> str:
    return format_time(t, "2006-01-02T15:04:05.999999999Z07:00")


(
    _JK_GOJSON,
    _JK_RAW,
    _JK_NULL,
    _JK_BOOL,
    _JK_INT,
    _JK_FLOAT,
    _JK_STR,
    _JK_BYTES,
    _JK_TIME,
    _JK_TIMEDELTA,
    _JK_MAP,
    _JK_LIST,
    _JK_STRUCT,
) = range(13)
_json_kinds: dict[type, int] = {}


def _json_kind(t: type) -> int:
    """How ``encoding/json`` treats instances of ``t`` (cached per type)."""
    k = _json_kinds.get(t)
    if k is None:
        if callable(getattr(t, "__go_json__", None)):
            k = _JK_GOJSON
        elif issubclass(t, RawJSON):
            k = _JK_RAW
        elif issubclass(t, TypedNil):
            k = _JK_NULL
        elif issubclass(t, bool):
            k = _JK_BOOL
        elif issubclass(t, _dt.timedelta) or issubclass(t, int):
            k = _JK_TIMEDELTA if issubclass(t, _dt.timedelta) else _JK_INT
        elif issubclass(t, float):
            k = _JK_FLOAT
        elif issubclass(t, str):
            k = _JK_STR
        elif issubclass(t, bytes | bytearray):
            k = _JK_BYTES
        elif issubclass(t, _dt.datetime):
            k = _JK_TIME
        elif issubclass(t, Mapping):
            k = _JK_MAP
        elif issubclass(t, list | tuple):
            k = _JK_LIST
        else:
            k = _JK_STRUCT
        _json_kinds[t] = k
    return k


class _JSONEncoder:
    __slots__ = ("depth", "escape_html", "indent")

    def __init__(self, escape_html: bool, indent: str | None) -> None:
        self.escape_html = escape_html
        self.indent = indent
        self.depth = 0

    def encode(self, v: Any, out: list[str], level: int = 0) -> None:
        t = type(v)
        if t is str:
            out.append(json_string(v, self.escape_html))
        elif v is None or v is MISSING:
            out.append("null")
        elif t is bool:
            out.append("true" if v else "false")
        elif t is int:
            out.append(str(v))
        elif t is float:
            out.append(json_float(v))
        elif t is dict:
            self._object(sorted(v.items(), key=_json_key), out, level, True)
        elif t is list or t is tuple:
            self._array(v, out, level)
        else:
            self._other(v, out, level)

    def _other(self, v: Any, out: list[str], level: int) -> None:
        self.depth += 1
        if self.depth > 1000:
            raise GoError("json: unsupported value: encountered a cycle")
        try:
            kind = _json_kind(type(v))
            if kind == _JK_GOJSON:
                r = v.__go_json__()
                if type(r) is dict:
                    self._object(list(r.items()), out, level, False)
                else:
                    self.encode(r, out, level)
            elif kind == _JK_RAW:
                text = v.text
                if self.escape_html:
                    text = _HTML_RE.sub(_html_escape_match, text)
                out.append(text)
            elif kind == _JK_NULL:
                out.append("null")
            elif kind == _JK_BOOL:
                out.append("true" if v else "false")
            elif kind == _JK_INT:
                out.append(str(int(v)))
            elif kind == _JK_FLOAT:
                out.append(json_float(float(v)))
            elif kind == _JK_STR:
                out.append(json_string(str.__str__(v), self.escape_html))
            elif kind == _JK_BYTES:
                out.append('"' + base64.b64encode(bytes(v)).decode() + '"')
            elif kind == _JK_TIME:
                if not (0 <= v.year <= 9999):
                    raise GoError(
                        "json: error calling MarshalJSON for type time.Time: year outside of range [0,9999]"
                    )
                out.append('"' + rfc3339nano(v) + '"')
            elif kind == _JK_TIMEDELTA:
                out.append(str(as_duration_ns(v)))
            elif kind == _JK_MAP:
                self._object(sorted(v.items(), key=_json_key), out, level, True)
            elif kind == _JK_LIST:
                self._array(v, out, level)
            else:
                fields = (
                    [(k, x) for k, x in vars(v).items() if k[:1].isupper()] if hasattr(v, "__dict__") else []
                )
                self._object(fields, out, level, False)
        finally:
            self.depth -= 1

    def _object(self, items: list[tuple[Any, Any]], out: list[str], level: int, is_map: bool) -> None:
        if not items:
            out.append("{}")
            return
        ind = self.indent
        out.append("{")
        first = True
        esc = self.escape_html
        sep = ": " if ind is not None else ":"
        for k, x in items:
            if not first:
                out.append(",")
            first = False
            if ind is not None:
                out.append("\n" + ind * (level + 1))
            key = k if type(k) is str else sprint_value(k)
            out.append(json_string(key, esc))
            out.append(sep)
            tx = type(x)
            if tx is str:
                out.append(json_string(x, esc))
            elif x is None:
                out.append("null")
            else:
                self.encode(x, out, level + 1)
        if ind is not None:
            out.append("\n" + ind * level)
        out.append("}")

    def _array(self, v: Any, out: list[str], level: int) -> None:
        if not v:
            out.append("[]")
            return
        ind = self.indent
        out.append("[")
        first = True
        for x in v:
            if not first:
                out.append(",")
            first = False
            if ind is not None:
                out.append("\n" + ind * (level + 1))
            self.encode(x, out, level + 1)
        if ind is not None:
            out.append("\n" + ind * level)
        out.append("]")


def _json_key(kv: tuple[Any, Any]) -> str:
    k = kv[0]
    return k if isinstance(k, str) else sprint_value(k)


def go_json(v: Any, *, escape_html: bool = True, indent: str | None = None) -> str:
    """Go ``json.Marshal`` (or ``MarshalIndent`` with prefix "" and the given indent)."""
    out: list[str] = []
    enc = _JSONEncoder(escape_html, indent)
    try:
        enc.encode(v, out)
    except RecursionError:
        raise GoError("json: unsupported value: encountered a cycle") from None
    return "".join(out)


def from_json(s: str) -> Any:
    """Go ``json.Unmarshal`` into ``interface{}``: all numbers become float64."""
    try:
        return json.loads(s, parse_int=float, parse_constant=_reject_constant)
    except json.JSONDecodeError as e:
        if e.pos >= len(s) or not s.strip():
            raise GoError("unexpected end of JSON input") from None
        ch = s[e.pos]
        if "Extra data" in e.msg:
            raise GoError(f"invalid character {_char_q(ch)} after top-level value") from None
        raise GoError(f"invalid character {_char_q(ch)} looking for beginning of value") from None
    except ValueError as e:
        raise GoError(str(e)) from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid character {_char_q(name[0])} looking for beginning of value")


def _char_q(c: str) -> str:
    if c == "'":
        return "'\\''"
    if c == '"':
        return "'\"'"
    return "'" + go_quote(c)[1:-1] + "'"


# --------------------------------------------------------------------------------------------------------
# reflect.DeepEqual


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
