"""The CA's log: text (the default), JSON (one object per line) or common (the access lines in the Common
Log Format, as step-ca's `logger.format: common`), on stderr.

`-v` turns on debug messages of Plica and its plugins (loggers `plica.*` and `plica_*`) only: the libraries
underneath (asyncio, aiohttp, asyncpg, ...) stay at INFO, so their debug chatter does not bury the CA's.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import orjson

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _Stamps:
    """A record time's text, made with strftime once per second (a busy CA logs thousands of lines a
    second, and strftime is most of formatting one)."""

    def __init__(self, fmt: str, convert: Any) -> None:
        self.fmt, self.convert = fmt, convert
        self.second, self.text = -1, ""

    def __call__(self, created: float) -> str:
        second = int(created)
        if second != self.second:
            self.text, self.second = time.strftime(self.fmt, self.convert(created)), second
        return self.text


class TextFormatter(logging.Formatter):
    """TEXT_FORMAT, its `asctime` as logging's default (local time, milliseconds)."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)
        self._stamps = _Stamps(self.default_time_format, self.converter)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return f"{self._stamps(record.created)},{int(record.msecs):03d}"


class JSONFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, msg, and an access line's fields at the top level."""

    def __init__(self) -> None:
        super().__init__()
        self._stamps = _Stamps("%Y-%m-%dT%H:%M:%S", time.gmtime)

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": f"{self._stamps(record.created)}.{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "access", None)
        if fields:
            out.update(fields)
        if record.exc_info:
            out["error"] = self.formatException(record.exc_info)
        return orjson.dumps(out).decode()


class CommonFormatter(logging.Formatter):
    """Access lines in the Common Log Format (`host - - [time] "GET /path HTTP/1.1" status -`), the rest as
    text."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        f = getattr(record, "access", None)
        if not f:
            return super().format(record)
        when = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(record.created))
        return (
            f'{f["remote-address"] or "-"} - - [{when}] "{f["method"]} {f["path"]} {f["protocol"]}" '
            f"{f['status']} -"
        )


def _ours(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.INFO or record.name.startswith("plica")


FORMATS = ("text", "json", "common")


def setup(*, verbose: bool = False, fmt: str = "text") -> None:
    """Configure the root logger once for the process (the workers a master forks inherit it)."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JSONFormatter())
    elif fmt == "common":
        handler.setFormatter(CommonFormatter())
    else:
        handler.setFormatter(TextFormatter())
    if verbose:
        handler.addFilter(_ours)
    # No format prints a record's caller, thread or process (TEXT_FORMAT, JSON, common): not looking them up
    # (a stack walk for the caller) is the logging HOWTO's "Optimization"; ~3 µs an access line.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
