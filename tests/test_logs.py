"""plica.logs and plica.logsafe: the formatters' time stamps made once a second read as logging's own,
clipping skips the escape pass only for text with nothing to escape, and access lines written without a
LogRecord read as the record would, in order, and only while nothing else is configured on their way."""

from __future__ import annotations

import asyncio
import io
import logging
import re
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import pytest

from plica import logs
from plica.logs import ACCESS, TEXT_FORMAT, CommonFormatter, JSONFormatter, TextFormatter, access_handler
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


# ---------------------------------------------------------------- access lines written without a LogRecord

_FIELDS = [
    {
        "request-id": "rid-1",
        "remote-address": "192.0.2.7",
        "method": "POST",
        "path": "/1.0/sign",
        "protocol": "HTTP/1.1",
        "status": 201,
        "duration-ns": 1234567,
        "duration": "1.235ms",
        "provisioner": "admin",
        "user-agent": "Go-http-client/1.1",
    },
    {
        "request-id": "r\u00e9",
        "remote-address": "",
        "method": "GET",
        "path": "/x\\x0ay?q=\u202e",
        "protocol": "HTTP/1.0",
        "status": 404,
        "duration-ns": 0,
        "duration": "0.000ms",
        "provisioner": "",
        "user-agent": "",
    },
    {
        "request-id": "z",
        "remote-address": "::1",
        "method": "DELETE",
        "path": "/admin/provisioners/p",
        "protocol": "HTTP/1.1",
        "status": 500,
        "duration-ns": 10**12,
        "duration": "1000000.000ms",
        "provisioner": 'p "q"',
        "user-agent": "curl/8",
    },
]
_LEVELS = {201: logging.INFO, 404: logging.WARNING, 500: logging.ERROR}


def _access_record(created: float, fields: dict[str, object]) -> tuple[int, str, logging.LogRecord]:
    level = _LEVELS[int(fields["status"])]  # type: ignore[call-overload]
    message = (
        f"{fields['method']} {fields['path']} {fields['status']} 1.235ms request-id={fields['request-id']}"
    )
    r = logging.LogRecord(ACCESS, level, "", 0, "%s", (message,), None)
    r.created, r.msecs = created, int((created - int(created)) * 1000) + 0.0
    r.access = fields  # type: ignore[attr-defined]
    return level, message, r


@pytest.mark.parametrize("formatter", [TextFormatter, JSONFormatter, CommonFormatter])
def test_an_access_line_reads_as_its_record_would(formatter: type[TextFormatter]) -> None:
    """Differential: each formatter's `access` against its own `format` of the same line as a record."""
    f = formatter()
    for created in [r.created for r in _records()]:
        for fields in _FIELDS:
            level, message, record = _access_record(created, fields)
            assert f.access(created, level, message, fields) == f.format(record)


@contextmanager
def ca_logging(*, verbose: bool = False, fmt: str = "text") -> Iterator[io.StringIO]:
    """logs.setup's logging on a StringIO instead of stderr, inside a test's body (where pytest's own
    handlers were added); the test's logging is put back after."""
    root = logging.getLogger()
    handlers, level, stderr = root.handlers[:], root.level, sys.stderr
    flags = {n: getattr(logging, n) for n in ("_srcfile", "logThreads", "logProcesses", "logMultiprocessing")}
    sys.stderr = out = io.StringIO()
    try:
        logs.setup(verbose=verbose, fmt=fmt)
        yield out
    finally:
        sys.stderr = stderr
        root.handlers[:], root.level = handlers, level
        for n, v in flags.items():
            setattr(logging, n, v)


def test_access_lines_wait_for_the_end_of_the_loop_turn_and_keep_their_order() -> None:
    with ca_logging() as out:
        _lines_in_order(out)


def _lines_in_order(ca_logging: io.StringIO) -> None:
    access = logging.getLogger(ACCESS)

    async def turn() -> list[str]:
        h = access_handler(access, logging.INFO)
        assert h is not None
        h.access(logging.INFO, "GET /a 200", _FIELDS[0])
        h.access(logging.INFO, "GET /b 200", _FIELDS[0])
        seen = [ca_logging.getvalue()]  # nothing written yet: one write at the end of the turn
        logging.getLogger("plica.http").warning("between")  # a record writes the waiting lines first
        h.access(logging.INFO, "GET /c 200", _FIELDS[0])
        seen.append(ca_logging.getvalue())
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        seen.append(ca_logging.getvalue())
        return seen

    before, middle, after = asyncio.run(turn())
    assert before == ""
    assert [ln.split(": ", 1)[1] for ln in middle.splitlines()] == ["GET /a 200", "GET /b 200", "between"]
    assert [ln.split(": ", 1)[1] for ln in after.splitlines()] == [
        "GET /a 200",
        "GET /b 200",
        "between",
        "GET /c 200",
    ]
    # Outside an event loop a line is written at once.
    access_handler(access, logging.INFO).access(logging.INFO, "GET /d 200", _FIELDS[0])  # type: ignore[union-attr]
    assert ca_logging.getvalue().endswith(": GET /d 200\n")


def test_anything_else_on_the_way_sends_access_lines_through_logging() -> None:
    with ca_logging():
        _fallbacks()


def _fallbacks() -> None:
    access = logging.getLogger(ACCESS)
    assert access_handler(access, logging.INFO) is not None
    setups: list[tuple[logging.Filterer, Any]] = [
        (access, logging.Filter("other")),  # a filter on the logger
        (logging.getLogger("plica"), logging.NullHandler()),  # a handler on the way up
        (logging.getLogger(), logging.NullHandler()),  # a second handler on the root (pytest's caplog, say)
    ]
    for owner, extra in setups:
        add, remove = (
            (owner.addHandler, owner.removeHandler)  # type: ignore[attr-defined]
            if isinstance(extra, logging.Handler)
            else (owner.addFilter, owner.removeFilter)
        )
        add(extra)
        try:
            assert access_handler(access, logging.INFO) is None, extra
        finally:
            remove(extra)
    access.disabled = True
    try:
        assert access_handler(access, logging.INFO) is None
    finally:
        access.disabled = False
    handler = logging.getLogger().handlers[0]
    handler.setLevel(logging.WARNING)
    assert access_handler(access, logging.INFO) is None and access_handler(access, logging.ERROR) is handler
    handler.setLevel(logging.NOTSET)
    handler.setFormatter(logging.Formatter("%(message)s"))  # the formatter replaced: it formats records
    assert access_handler(access, logging.INFO) is None


def test_verbose_logging_keeps_the_direct_path() -> None:
    with ca_logging(verbose=True, fmt="json") as out:  # -v adds the filter that keeps libraries' debug out
        h = access_handler(logging.getLogger(ACCESS), logging.INFO)
        assert h is not None
        h.access(logging.INFO, "GET /v 200", _FIELDS[0])
    line = orjson.loads(out.getvalue())
    assert line["msg"] == "GET /v 200" and line["logger"] == ACCESS and line["provisioner"] == "admin"


def test_no_access_line_is_lost_to_records_from_other_threads() -> None:
    """Records logged by other threads flush the waiting access lines while the loop adds more."""
    with ca_logging() as out:
        access = logging.getLogger(ACCESS)
        h = access_handler(access, logging.INFO)
        assert h is not None

        def chatter() -> None:
            for i in range(2000):
                logging.getLogger("plica.thread").warning("record %d", i)

        async def lines() -> None:
            for i in range(5000):
                h.access(logging.INFO, f"GET /{i} 200", {})
                if i % 7 == 0:
                    await asyncio.sleep(0)

        threads = [threading.Thread(target=chatter) for _ in range(2)]
        interval = sys.getswitchinterval()
        sys.setswitchinterval(1e-6)  # threads switch between any two bytecodes, not every 5 ms
        try:
            for t in threads:
                t.start()
            asyncio.run(lines())
            for t in threads:
                t.join()
        finally:
            sys.setswitchinterval(interval)
        h.flush()
    written = out.getvalue().splitlines()
    assert len(written) == 9000
    assert [ln.split(": ", 1)[1] for ln in written if " plica.access: " in ln] == [
        f"GET /{i} 200" for i in range(5000)
    ]


def test_setting_up_again_writes_the_lines_the_old_handler_held() -> None:
    with ca_logging() as out:

        async def turn() -> str:
            h = access_handler(logging.getLogger(ACCESS), logging.INFO)
            assert h is not None
            h.access(logging.INFO, "GET /before 200", {})
            logs.setup(fmt="json")  # ca.json's logger block read after the command line's format
            return out.getvalue()  # still within the turn: written by setup, not by the turn's end

        written = asyncio.run(turn())
    assert written.endswith(": GET /before 200\n")


def test_flush_before_a_worker_ends_never_raises() -> None:
    with ca_logging() as out:
        h = logging.getLogger().handlers[0]
        assert isinstance(h, logs.CAHandler)

        async def turn() -> None:
            h.access(logging.INFO, "GET /lost 200", {})
            out.close()  # stderr gone: the worker still reaches os._exit
            logs.flush()

        asyncio.run(turn())
