"""plica.logs and plica.logsafe: the formatters' time stamps made once a second read as logging's own, and
clipping skips the escape pass only for text with nothing to escape."""

from __future__ import annotations

import logging
import re
import sys
import time

import orjson

from plica.logs import TEXT_FORMAT, JSONFormatter, TextFormatter
from plica.logsafe import clip


def _records() -> list[logging.LogRecord]:
    out = []
    base = time.time()
    # Within one second, across second and minute boundaries, and far apart.
    for created in [base, base + 0.001, base + 0.999, base + 1.0, base + 59.5, base + 60.2, 0.5, 1e9 + 0.25]:
        r = logging.LogRecord("plica.access", logging.INFO, "", 0, "line %d", (7,), None)
        r.created, r.msecs = created, (created - int(created)) * 1000
        out.append(r)
    return out


def test_text_time_stamps_are_loggings() -> None:
    ours, theirs = TextFormatter(), logging.Formatter(TEXT_FORMAT)
    for r in _records() * 2:  # the second pass hits the per-second cache in every order
        assert ours.format(r) == theirs.format(r)


def test_json_time_stamps_are_utc_with_milliseconds() -> None:
    f = JSONFormatter()
    for r in _records() * 2:
        want = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(r.created)) + f".{int(r.msecs):03d}Z"
        assert orjson.loads(f.format(r))["time"] == want


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def test_clip_escapes_what_it_escaped_before() -> None:
    for cp in [*range(0x3000), 0xFEFF, 0xFFFD, 0x1F600, sys.maxunicode]:
        c = chr(cp)
        text = f"a{c}b"
        got = clip(text)
        if _CONTROL.search(text):
            assert got != text and "\\" in got
        else:
            assert got == text
    assert clip("GET /x\n200") == "GET /x\\x0a200"
    assert clip("\u202eevil") == "\\u202eevil"
    assert clip("x" * 400, 10).startswith("xxxxxxxxxx...(390 more)")
