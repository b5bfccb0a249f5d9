"""step's additions to sprig: ``fail`` (a 400 for the client), ``toTime``, ``formatTime``, ``parseTime``,
``mustParseTime`` and ``toTimeLayout``."""

from __future__ import annotations

import datetime as _dt
import math
from typing import Any

from ..errors import FailSignal, GoError
from ..golang.time import ZERO_TIME, as_aware, format_time, load_location, now_local, parse_time, unix_time
from ..golang.types import Duration
from .registry import function_table

FUNCS, step = function_table()


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
        return ZERO_TIME


step("mustParseTime", variadic="string")(_must_parse_time)
