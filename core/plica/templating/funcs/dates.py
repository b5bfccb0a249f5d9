"""sprig's date functions (``date``, ``dateInZone``, ``dateModify``, ``ago``, ``duration``, ``toDate``, …)."""

from __future__ import annotations

import datetime as _dt
from typing import Any

from ..errors import GoError
from ..golang.duration import duration_string, parse_duration
from ..golang.time import (
    ZERO_TIME,
    as_aware,
    format_time,
    load_location,
    local_tz,
    now_local,
    parse_time,
    time_unix,
    unix_time,
)
from ..golang.types import Duration, Int64
from .cast import atoi_or_zero
from .registry import function_table

FUNCS, sprig = function_table()


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
        n = atoi_or_zero(sec)
    elif isinstance(sec, Int64):
        n = int(sec)
    return duration_string(n * 1_000_000_000)


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


@sprig("toDate", "string", "string")
def _to_date(fmt: str, s: str) -> _dt.datetime:
    try:
        return parse_time(fmt, s, local_tz())
    except GoError:
        return ZERO_TIME


@sprig("mustToDate", "string", "string")
def _must_to_date(fmt: str, s: str) -> _dt.datetime:
    return parse_time(fmt, s, local_tz())


@sprig("unixEpoch", "time")
def _unix_epoch(date: _dt.datetime) -> str:
    return str(time_unix(date))
