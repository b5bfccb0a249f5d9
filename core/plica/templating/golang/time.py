"""Go ``time.Time``: zones, ``Unix``, ``Format`` and ``Parse`` with Go's reference layouts."""

from __future__ import annotations

import datetime as _dt
import re
import zoneinfo
from collections.abc import Callable
from typing import Any

from ..errors import GoError
from .duration import as_duration_ns, duration_string
from .strconv import go_quote
from .types import Duration, Int64

__all__ = [
    "MONTHS",
    "ZERO_TIME",
    "TimeParseError",
    "as_aware",
    "duration_method",
    "format_time",
    "load_location",
    "local_tz",
    "now_local",
    "parse_time",
    "time_method",
    "time_string",
    "time_unix",
    "unix_time",
    "zone_of",
]


_UTC = _dt.UTC
_WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS = [
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

# Go's zero time.Time (January 1, year 1, 00:00:00 UTC), what failed parses return
ZERO_TIME = _dt.datetime(1, 1, 1, tzinfo=_UTC)


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

# the zone chunks that print "Z" for UTC
_ISO8601_TZ = frozenset(
    (_S_ISO8601TZ, _S_ISO8601SECONDSTZ, _S_ISO8601SHORTTZ, _S_ISO8601COLONTZ, _S_ISO8601COLONSECONDSTZ)
)
# numeric zone chunks: (colon, with seconds, hours only), as _tz_numeric takes them
_NUMERIC_TZ: dict[int, tuple[bool, bool, bool]] = {
    _S_ISO8601TZ: (False, False, False),
    _S_NUMTZ: (False, False, False),
    _S_ISO8601SECONDSTZ: (False, True, False),
    _S_NUMSECONDSTZ: (False, True, False),
    _S_ISO8601SHORTTZ: (False, False, True),
    _S_NUMSHORTTZ: (False, False, True),
    _S_ISO8601COLONTZ: (True, False, False),
    _S_NUMCOLONTZ: (True, False, False),
    _S_ISO8601COLONSECONDSTZ: (True, True, False),
    _S_NUMCOLONSECONDSTZ: (True, True, False),
}

_layout_cache: dict[str, list[tuple[int, str]]] = {}


def _is_digit(s: str, i: int) -> bool:
    return i < len(s) and "0" <= s[i] <= "9"


# Go's std chunks by first character, in the order Go's nextStdChunk tries them
_STD_PREFIXES: dict[str, tuple[tuple[str, int], ...]] = {
    "J": (("January", _S_LONGMONTH), ("Jan", _S_MONTH)),
    "M": (("Monday", _S_LONGWEEKDAY), ("Mon", _S_WEEKDAY), ("MST", _S_TZ)),
    "0": (
        ("01", _S_ZEROMONTH),
        ("02", _S_ZERODAY),
        ("03", _S_ZEROHOUR12),
        ("04", _S_ZEROMINUTE),
        ("05", _S_ZEROSECOND),
        ("06", _S_YEAR),
        ("002", _S_ZEROYEARDAY),
    ),
    "1": (("15", _S_HOUR), ("1", _S_NUMMONTH)),
    "2": (("2006", _S_LONGYEAR), ("2", _S_DAY)),
    "_": (("_2006", _S_LONGYEAR), ("_2", _S_UNDERDAY), ("__2", _S_UNDERYEARDAY)),
    "3": (("3", _S_HOUR12),),
    "4": (("4", _S_MINUTE),),
    "5": (("5", _S_SECOND),),
    "P": (("PM", _S_PM),),
    "p": (("pm", _S_pm),),
    "-": (
        ("-070000", _S_NUMSECONDSTZ),
        ("-07:00:00", _S_NUMCOLONSECONDSTZ),
        ("-0700", _S_NUMTZ),
        ("-07:00", _S_NUMCOLONTZ),
        ("-07", _S_NUMSHORTTZ),
    ),
    "Z": (
        ("Z070000", _S_ISO8601SECONDSTZ),
        ("Z07:00:00", _S_ISO8601COLONSECONDSTZ),
        ("Z0700", _S_ISO8601TZ),
        ("Z07:00", _S_ISO8601COLONTZ),
        ("Z07", _S_ISO8601SHORTTZ),
    ),
}


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
        std = next((tc for tc in _STD_PREFIXES.get(c, ()) if layout.startswith(tc[0], i)), None)
        if std is not None:
            text, code = std
            i += len(text)
            if text == "_2006":  # Go: the "_" stays literal before the long year
                lit.append("_")
                text = "2006"
            emit(code, text)
            continue
        if c in ".," and i + 1 < n and layout[i + 1] in "09":
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
            ap(MONTHS[t.month - 1])
        elif code == _S_MONTH:
            ap(MONTHS[t.month - 1][:3])
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
        elif code in _ISO8601_TZ and off == 0:
            ap("Z")
        elif code in _NUMERIC_TZ:
            ap(_tz_numeric(off, *_NUMERIC_TZ[code]))
        elif code == _S_FRAC0:
            ap(text[0] + _frac_digits(t)[: len(text) - 1])
        elif code == _S_FRAC9:
            digits = _frac_digits(t)[: len(text) - 1].rstrip("0")
            if digits:
                ap(text[0] + digits)
    return "".join(parts)


class TimeParseError(GoError):
    pass


def parse_time(layout: str, value: str, default_tz: _dt.tzinfo | None = None) -> _dt.datetime:
    """Go ``time.Parse`` / ``ParseInLocation``; raises TimeParseError with Go's message."""
    orig_value = value
    year, month, day, yday = 1, 1, 1, -1
    hour, minute, second, micro = 0, 0, 0, 0
    pm_set, pm = False, False
    tz_off: int | None = None
    tz_name: str | None = None

    def fail(elem: str, val: str, msg: str = "") -> TimeParseError:
        text = f"parsing time {go_quote(orig_value)} as {go_quote(layout)}: cannot parse {go_quote(val)} as {go_quote(elem)}"
        if msg:
            text = f"parsing time {go_quote(orig_value)}{msg}"
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
                names = MONTHS if code == _S_LONGMONTH else [m[:3] for m in MONTHS]
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
            elif code in (_S_HOUR, _S_HOUR12, _S_ZEROHOUR12):
                hour, value = getnum(value, code == _S_ZEROHOUR12)
                if hour > (23 if code == _S_HOUR else 12):
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
            elif code in _ISO8601_TZ and value[:1] == "Z":
                tz_off, tz_name, value = 0, "UTC", value[1:]
            elif code in _NUMERIC_TZ:
                colon, secs, short = _NUMERIC_TZ[code]
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
        raise TimeParseError(f"parsing time {go_quote(orig_value)}: extra text: {go_quote(value)}")
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
        raise TimeParseError(f"parsing time {go_quote(orig_value)}: day out of range") from None


def _parse_offset(s: str) -> int:
    sign = -1 if s[0] == "-" else 1
    digits = s[1:]
    h = int(digits[:2])
    m = int(digits[2:4]) if len(digits) >= 4 else 0
    sec = int(digits[4:6]) if len(digits) >= 6 else 0
    return sign * (h * 3600 + m * 60 + sec)


# --------------------------------------------------------------------------------------------------------
# Methods of time.Time and time.Duration (what ``.Foo`` on such a value calls)


class _Month(int):
    __go_type__ = "time.Month"

    def __go_str__(self) -> str:
        return MONTHS[int(self) - 1]

    def String(self) -> str:
        return self.__go_str__()


class _Weekday(int):
    __go_type__ = "time.Weekday"

    def __go_str__(self) -> str:
        return ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"][int(self)]

    def String(self) -> str:
        return self.__go_str__()


def time_method(t: _dt.datetime, name: str) -> Callable[..., Any] | None:
    """The ``time.Time`` method ``name`` bound to ``t``; None when Go has no such method."""
    t = as_aware(t)
    m: dict[str, Callable[..., Any]] = {
        "Unix": lambda: Int64(time_unix(t)),
        "UnixMilli": lambda: Int64(time_unix(t) * 1000 + t.microsecond // 1000),
        "UnixMicro": lambda: Int64(time_unix(t) * 1_000_000 + t.microsecond),
        "UnixNano": lambda: Int64(time_unix(t) * 1_000_000_000 + t.microsecond * 1000),
        "UTC": lambda: t.astimezone(_dt.UTC),
        "Local": lambda: t.astimezone(local_tz()),
        "Year": lambda: t.year,
        "Month": lambda: _Month(t.month),
        "Day": lambda: t.day,
        "Hour": lambda: t.hour,
        "Minute": lambda: t.minute,
        "Second": lambda: t.second,
        "Nanosecond": lambda: t.microsecond * 1000,
        "YearDay": lambda: t.timetuple().tm_yday,
        "Weekday": lambda: _Weekday((t.weekday() + 1) % 7),
        "IsZero": lambda: t.replace(tzinfo=None) == _dt.datetime(1, 1, 1),
        "String": lambda: time_string(t),
        "Format": lambda layout: format_time(t, layout),
        "Add": lambda d: t + _dt.timedelta(microseconds=as_duration_ns(d) // 1000),
        "AddDate": lambda y, mo, d: _add_date(t, y, mo, d),
        "Sub": lambda u: Duration(int((t - as_aware(u)) / _dt.timedelta(microseconds=1)) * 1000),
        "Before": lambda u: t < as_aware(u),
        "After": lambda u: t > as_aware(u),
        "Equal": lambda u: t == as_aware(u),
    }
    return m.get(name)


def _add_date(t: _dt.datetime, years: int, months: int, days: int) -> _dt.datetime:
    y = t.year + years
    mo = t.month - 1 + months
    y += mo // 12
    mo = mo % 12 + 1
    base = _dt.datetime(y, mo, 1, t.hour, t.minute, t.second, t.microsecond, tzinfo=t.tzinfo)
    return base + _dt.timedelta(days=t.day - 1 + days)


def duration_method(d: Any, name: str) -> Callable[..., Any] | None:
    """The ``time.Duration`` method ``name`` bound to ``d``; None when Go has no such method."""
    ns = as_duration_ns(d)
    m: dict[str, Callable[..., Any]] = {
        "String": lambda: duration_string(ns),
        "Seconds": lambda: ns / 1e9,
        "Minutes": lambda: ns / 6e10,
        "Hours": lambda: ns / 3.6e12,
        "Milliseconds": lambda: Int64(ns // 1_000_000),
        "Microseconds": lambda: Int64(ns // 1000),
        "Nanoseconds": lambda: Int64(ns),
    }
    return m.get(name)
