"""Go-style durations ("24h", "1.5h", "-5m30s") and step's TimeDuration (RFC 3339 time or a duration from now)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


class OutOfRange(ValueError):
    """A well-formed time or duration that no certificate can hold."""


_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_duration(text: str) -> timedelta:
    """Parse a Go `time.ParseDuration` string. Raises ValueError with the offending text."""
    s = text.strip()
    if not s:
        raise ValueError("empty duration")
    sign = 1.0
    if s[0] in "+-":
        sign = -1.0 if s[0] == "-" else 1.0
        s = s[1:]
    if s == "0":
        return timedelta(0)
    pos = 0
    total = 0.0
    while pos < len(s):
        m = _PART.match(s, pos)
        if not m:
            raise ValueError(
                f"invalid duration {text!r} (expected a Go duration such as '24h', '5m' or '1h30m')"
            )
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    # Go's Duration is an int64 of nanoseconds (~292 years); a longer one is an error there too.
    if total >= 9.2e9:
        raise OutOfRange(f"duration {text[:64]!r} is out of range")
    return timedelta(seconds=sign * total)


def format_duration(td: timedelta) -> str:
    """Format like Go's Duration.String() for whole seconds and above ("24h0m0s")."""
    total = td.total_seconds()
    if total == 0:
        return "0s"
    sign = "-" if total < 0 else ""
    total = abs(total)
    hours, rem = divmod(total, 3600)
    minutes, seconds = divmod(rem, 60)
    secs = f"{seconds:g}" if seconds != int(seconds) else str(int(seconds))
    if hours:
        return f"{sign}{int(hours)}h{int(minutes)}m{secs}s"
    if minutes:
        return f"{sign}{int(minutes)}m{secs}s"
    return f"{sign}{secs}s"


def parse_time(text: str) -> datetime:
    """RFC 3339 with optional fractional seconds; 'Z' or an offset."""
    s = text.strip()
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    dt = datetime.fromisoformat(s)
    if dt.tzinfo is None:
        raise ValueError(f"time {text!r} has no time zone")
    return dt.astimezone(UTC)


# Times a request may name: wide enough for any certificate, narrow enough that adding a default duration
# or a backdate to one never leaves what datetime (years 1-9999) and X.509/SSH times can hold.
EARLIEST = datetime(1950, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def resolve_time_duration(
    value: str | None, *, now: datetime, base: datetime | None = None
) -> datetime | None:
    """step's TimeDuration: "" or None = unset; an RFC 3339 time; or a Go duration relative to `base` (default now).
    ValueError when it is neither, or names a time outside EARLIEST..LATEST."""
    if value is None or value == "":
        return None
    shown = value if len(value) <= 64 else value[:64] + "..."
    when: datetime | None = None
    try:
        when = parse_time(value)
    except (ValueError, OverflowError):
        pass
    if when is None:
        try:
            when = (base or now) + parse_duration(value)
        except (OverflowError, OutOfRange):
            raise OutOfRange(f"time or duration {shown!r} is out of range") from None
        except ValueError:
            raise ValueError(
                f"invalid time or duration {shown!r} (expected RFC 3339 like 2026-01-02T15:04:05Z or a duration like 24h)"
            ) from None
    if not EARLIEST <= when < LATEST:
        raise OutOfRange(f"time or duration {shown!r} is out of range (years 1950 to 8999)")
    return when


def rfc3339(ts: int | float | datetime) -> str:
    """A time as step-ca and protobuf-JSON write it: UTC, whole seconds, `Z` (`2024-05-01T12:00:00Z`)."""
    when = ts if isinstance(ts, datetime) else datetime.fromtimestamp(int(ts), UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
