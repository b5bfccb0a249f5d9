"""The CA's log: text (the default), JSON (one object per line) or common (the access lines in the Common
Log Format, as step-ca's `logger.format: common`), on stderr.

`-v` turns on debug messages of Plica and its plugins (loggers `plica.*` and `plica_*`) only: the libraries
underneath (asyncio, aiohttp, asyncpg, ...) stay at INFO, so their debug chatter does not bury the CA's.

Access lines (one per request, plica.http.access) are most of what a busy CA logs. While the logging set-up
is the one `setup` made, they skip the logging module's machinery: the handler formats each line itself,
exactly as its formatter would format the record, and writes the lines of one event-loop turn together.
Through `logging` an access line cost ~30 µs of a worker's CPU under load (a third of a `/health` request);
this way, a few. Anything else configured on the way (another handler, a filter, pytest's caplog) sends
them back through `logging`, unchanged.
"""

from __future__ import annotations

import asyncio
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

    uses_fields = False  # an access line's fields do not show in text, only its message

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)
        self._stamps = _Stamps(self.default_time_format, self.converter)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return f"{self._stamps(record.created)},{int(record.msecs):03d}"

    def access(self, created: float, level: int, message: str, fields: dict[str, Any]) -> str:
        """What `format` makes of an access line's record (logger plica.access, no exception)."""
        return (
            f"{self._stamps(created)},{_msecs(created):03d} {logging.getLevelName(level)} {ACCESS}: {message}"
        )


class JSONFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, msg, and an access line's fields at the top level."""

    uses_fields = True

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

    def access(self, created: float, level: int, message: str, fields: dict[str, Any]) -> str:
        """What `format` makes of an access line's record (logger plica.access, no exception)."""
        out: dict[str, Any] = {
            "time": f"{self._stamps(created)}.{_msecs(created):03d}Z",
            "level": logging.getLevelName(level).lower(),
            "logger": ACCESS,
            "msg": message,
        }
        out.update(fields)
        return orjson.dumps(out).decode()


class CommonFormatter(logging.Formatter):
    """Access lines in the Common Log Format (`host - - [time] "GET /path HTTP/1.1" status -`), the rest as
    text."""

    uses_fields = True

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        f = getattr(record, "access", None)
        if not f:
            return super().format(record)
        return self.access(record.created, record.levelno, record.getMessage(), f)

    def access(self, created: float, level: int, message: str, fields: dict[str, Any]) -> str:
        """An access line in the Common Log Format (its level and message do not show)."""
        f = fields
        when = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(created))
        return (
            f'{f["remote-address"] or "-"} - - [{when}] "{f["method"]} {f["path"]} {f["protocol"]}" '
            f"{f['status']} -"
        )


ACCESS = "plica.access"


def _msecs(created: float) -> int:
    """A record's milliseconds as logging computes them (LogRecord.msecs)."""
    return int((created - int(created)) * 1000)


class CAHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler `setup` installs: a StreamHandler that also takes access lines without a LogRecord
    (`access`). Those wait in a buffer until the end of the event loop's turn, are formatted there one
    after another and go out in one write; a record emitted before then writes them first, so the order of
    lines is the order they were logged."""

    def __init__(self, stream: Any, formatter: TextFormatter | JSONFormatter | CommonFormatter) -> None:
        super().__init__(stream)
        self.setFormatter(formatter)
        self.access_formatter = formatter
        self._lines: list[tuple[float, int, str, dict[str, Any]]] = []

    def access(self, level: int, message: str, fields: dict[str, Any]) -> None:
        # Formatted when the turn's lines are written: formatting them together, the formatter's code
        # and data stay in the CPU's caches (as plica.stages does for the pipeline).
        line = (time.time(), level, message, fields)
        # Under the lock: a record emitted by another thread flushes (and replaces) the list meanwhile.
        self.acquire()
        try:
            self._lines.append(line)
            first = len(self._lines) == 1
        finally:
            self.release()
        if first:
            try:
                asyncio.get_running_loop().call_soon(self._end_of_turn)
            except RuntimeError:  # no event loop in this thread: nothing would write it later
                self._end_of_turn()

    def _end_of_turn(self) -> None:
        try:
            self.flush()
        except Exception:  # as StreamHandler.emit: a broken stderr must not break a request or the loop
            self.handleError(logging.LogRecord(ACCESS, logging.ERROR, "", 0, "access lines lost", None, None))

    def flush(self) -> None:
        self.acquire()
        try:
            if self._lines:
                lines, self._lines = self._lines, []
                access = self.access_formatter.access
                self.stream.write("\n".join([access(*line) for line in lines]) + self.terminator)
        finally:
            self.release()
        super().flush()

    def emit(self, record: logging.LogRecord) -> None:
        if self._lines:
            try:
                self.flush()
            except Exception:
                self.handleError(record)
        super().emit(record)


def access_handler(logger: logging.Logger, level: int) -> CAHandler | None:
    """The handler to write `logger`'s access line at `level` to directly, when the logging set-up is the
    one `setup` made: `setup`'s handler is the only one the record would reach, and nothing on the way
    could filter or change it. None otherwise (the line goes through `logging`)."""
    if logger.filters or logger.disabled or not logger.isEnabledFor(level):
        return None
    found: CAHandler | None = None
    c: Any = logger
    while c is not None:
        for h in c.handlers:
            if found is not None or type(h) is not CAHandler or h.level > level:
                return None
            found = h
        if not c.propagate:
            break
        c = c.parent
    if (
        found is None
        or any(f is not _ours for f in found.filters)
        or found.formatter is not found.access_formatter
    ):
        return None
    return found


def flush() -> None:
    """Write what the root logger's handlers hold (before a worker ends with os._exit). Never raises, as
    logging's own shutdown: a closed or broken stderr must not keep a worker from ending."""
    for h in logging.getLogger().handlers:
        try:
            h.flush()
        except Exception:
            pass


def _ours(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.INFO or record.name.startswith("plica")


FORMATS = ("text", "json", "common")


def setup(*, verbose: bool = False, fmt: str = "text") -> None:
    """Configure the root logger once for the process (the workers a master forks inherit it)."""
    formatter: TextFormatter | JSONFormatter | CommonFormatter
    if fmt == "json":
        formatter = JSONFormatter()
    elif fmt == "common":
        formatter = CommonFormatter()
    else:
        formatter = TextFormatter()
    handler = CAHandler(sys.stderr, formatter)
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
        if isinstance(h, CAHandler):
            h.flush()  # access lines it holds go out before their handler does
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
