"""Client input as it may appear in a log line or an error message: control characters escaped (so a
newline cannot forge a line) and clipped to `LIMIT` characters (so a request cannot write a megabyte)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

LIMIT = 300
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape(m: re.Match[str]) -> str:
    c = ord(m.group())
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def clip(text: str, limit: int = LIMIT) -> str:
    """`text` with control and bidi characters escaped, cut to `limit` characters (marked by "...")."""
    if len(text) > limit:
        text = text[:limit] + f"...({len(text) - limit} more)"
    if text.isprintable():  # every character _CONTROL escapes is unprintable: nothing to escape
        return text
    return _CONTROL.sub(_escape, text)


# Where the kernel's error middleware keeps a request's id (aiohttp's request is a mapping for this;
# aiohttp 3.13+ wants a typed key).
REQUEST_ID: Any
try:
    from aiohttp.web import RequestKey

    REQUEST_ID = RequestKey("request_id", str)
except ImportError:  # an older aiohttp
    REQUEST_ID = "plica.request_id"


def request_id_of(request: Mapping[str, Any]) -> str:
    """The id a request is logged and answered (X-Request-Id) under; plugins name it in their own log lines
    so that one search finds every line of a request."""
    return str(request.get(REQUEST_ID, "-"))
