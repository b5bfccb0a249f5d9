"""Go ``time.Duration``: ``ParseDuration`` and ``Duration.String``."""

from __future__ import annotations

import datetime as _dt
import re
from typing import Any

from ..errors import GoError
from .strconv import go_quote

__all__ = ["as_duration_ns", "duration_string", "parse_duration"]


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
