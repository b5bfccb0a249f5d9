"""What a hostile client cannot hold: connection timeouts, a per-worker connection cap, and logs it cannot
forge or flood.

aiohttp bounds an idle keep-alive connection but not a client that trickles its headers or its body, and
asyncio gives a TLS handshake 60 s. A worker has a few hundred file descriptors, so a few hundred such
clients would lock everyone else out. `GuardedSite` serves the application with:

- a TLS handshake timeout (`handshake`), passed to the event loop's server;
- a header timeout: from the first byte of a request to its complete headers (`header`);
- a body timeout: from the complete headers to the end of the body the handler reads (`body`);
- a keep-alive timeout between requests and before the first one (`keepalive`, aiohttp's own);
- at most `max_connections` connections per worker (what the open-file limit leaves, which start-up raises
  to its hard limit): one more is closed at once.

Each limit that closes a connection is logged at WARNING, at most once a second per limit with the count
since the last line, so that the log says what happened without growing with the attack.

The numbers come from the environment (`PLICA_TIMEOUT_HANDSHAKE`, `PLICA_TIMEOUT_HEADER`,
`PLICA_TIMEOUT_BODY`, `PLICA_TIMEOUT_KEEPALIVE`, `PLICA_MAX_CONNECTIONS`), read once at start-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler, _ErrInfo
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse
from attrs import frozen

from plica.errors import ConfigError, MalformedRequest
from plica.http import malformed
from plica.http.app import error_response
from plica.logsafe import clip

log = logging.getLogger("plica.http.limits")
http_log = logging.getLogger("plica.http")
KEEPALIVE = 30.0  # seconds a connection may sit idle before, between and after requests


@frozen
class Limits:
    handshake: float = 10.0
    header: float = 10.0
    body: float = 30.0
    keepalive: float = KEEPALIVE
    max_connections: int = 512

    @classmethod
    def from_env(cls) -> Limits:
        d = cls(max_connections=default_max_connections())

        def num(name: str, default: float) -> float:
            raw = os.environ.get(name)
            try:
                v = float(raw) if raw else default
            except ValueError:
                raise ConfigError(name, f"{raw!r} is not a number") from None
            if v <= 0:
                raise ConfigError(name, "must be positive")
            return v

        return cls(
            handshake=num("PLICA_TIMEOUT_HANDSHAKE", d.handshake),
            header=num("PLICA_TIMEOUT_HEADER", d.header),
            body=num("PLICA_TIMEOUT_BODY", d.body),
            keepalive=num("PLICA_TIMEOUT_KEEPALIVE", d.keepalive),
            max_connections=int(num("PLICA_MAX_CONNECTIONS", d.max_connections)),
        )


# File descriptors a worker keeps for what is not a client connection: the database, its WAL, outbound
# ACME validations, key sources, logs.
RESERVED_FDS = 128


def raise_file_limit() -> int:
    """Raise this process's open-file limit to its hard limit (at most 65,536; the workers inherit it) and
    return the new soft limit."""
    try:
        import resource
    except ImportError:  # not on this platform
        return 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
    if soft < want:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
            soft = want
    return soft


def default_max_connections() -> int:
    """The connection cap when PLICA_MAX_CONNECTIONS does not set one: what the file limit leaves after
    RESERVED_FDS, so that a worker refuses a connection rather than run out of descriptors."""
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except ImportError:
        soft = 1024
    return max(16, min(soft, 65536) - RESERVED_FDS)


class _LimitLog:
    """One WARNING per limit per second at most, with how many connections it closed meanwhile."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.last: dict[str, float] = {}

    def hit(self, limit: str, peer: Any) -> None:
        self.counts[limit] = self.counts.get(limit, 0) + 1
        now = time.monotonic()
        if now - self.last.get(limit, 0.0) >= 1.0:
            n = self.counts.pop(limit)
            self.last[limit] = now
            log.warning("closed %d connection(s) at the %s limit (latest from %s)", n, limit, clip(str(peer)))


class Guard:
    """The live connections of one worker's server, and the sweep that closes those over a limit."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.conns: set[GuardedHandler] = set()
        self.log = _LimitLog()
        self._sweeper: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever())

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None

    async def _sweep_forever(self) -> None:
        step = min(0.5, self.limits.header / 4, self.limits.body / 4)
        while True:
            await asyncio.sleep(step)
            self.sweep(asyncio.get_running_loop().time())

    def sweep(self, now: float) -> None:
        for h in list(self.conns):
            if h.pending_since is not None and now - h.pending_since > self.limits.header:
                self.close(h, "header timeout")
            elif h.body_since is not None and now - h.body_since > self.limits.body and not h.body_done():
                self.close(h, "body timeout")

    def close(self, h: GuardedHandler, limit: str) -> None:
        self.log.hit(limit, h.peer)
        self.conns.discard(h)
        if h.transport is not None:
            h.transport.abort()


class GuardedHandler(RequestHandler):
    """aiohttp's protocol, watched: when request bytes arrived without a complete request (`pending_since`),
    and when the handler started reading a body (`body_since`)."""

    def __init__(self, guard: Guard, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.guard = guard
        self.pending_since: float | None = None
        self.body_since: float | None = None
        self.payload: Any = None
        self.body: Any = None  # the latest request's body, until the next request (aiohttp may drain it)
        self.peer: Any = None
        self.refused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.peer = transport.get_extra_info("peername")
        if len(self.guard.conns) >= self.guard.limits.max_connections:
            self.guard.log.hit("connection cap", self.peer)
            self.refused = True
            transport.abort()
            return
        super().connection_made(transport)
        self.guard.conns.add(self)
        # A connection that sends nothing is the keep-alive timeout's (aiohttp arms it at connect).

    def connection_lost(self, exc: BaseException | None) -> None:
        self.guard.conns.discard(self)
        if not self.refused:  # one refused at the cap was never aiohttp's
            super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.pending_since is None and not self._request_in_progress:
            self.pending_since = self._loop.time()
        super().data_received(data)
        self._fail_body_on_parse_error()

    def _fail_body_on_parse_error(self) -> None:
        """aiohttp's C parser, refusing the body of a request a route is already reading (a bad chunk size),
        queues the error as a next request and leaves the body without an end: the route would wait for
        the body timeout, then the client would get an error for a request it never sent. The body ends
        with the error instead (a 400 from the route, through the error middleware), and the connection
        closes after that answer."""
        body = self.body
        if body is None or body.is_eof() or body.exception() is not None or not self._messages:
            return
        msg, _payload = self._messages[-1]
        if not isinstance(msg, _ErrInfo):
            return
        self._messages.pop()
        if self._request_in_progress:
            body.set_exception(MalformedRequest(malformed.describe(msg.exc)))
        else:  # answered without reading its body, which aiohttp now drains: nothing more will come
            body.feed_eof()
            self.close()

    async def _handle_request(self, request: Any, start_time: Any, request_handler: Any) -> Any:
        self.pending_since = None
        self.body_since = self._loop.time()
        self.payload = self.body = request.content
        try:
            res = await super()._handle_request(request, start_time, request_handler)
        finally:
            self.body_since = None
            self.payload = None
        if self.body.exception() is not None:
            # The body broke (bad framing, a gzip body that does not inflate) and the route answered: the
            # rest of the connection cannot be parsed, and aiohttp would read the broken body again.
            self.force_close()
        return res

    def _process_keepalive(self) -> None:
        was = self._force_close
        super()._process_keepalive()
        if self._force_close and not was:
            self.guard.log.hit("keep-alive timeout", self.peer)

    def body_done(self) -> bool:
        p = self.payload
        return p is None or p.is_eof()

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> StreamResponse:
        """aiohttp's own answers (its parser refused the request; its last-resort 500 and 504) in the API's
        error shape instead of aiohttp's plain text (plica.http.malformed). Like aiohttp's, it closes the
        connection."""
        if request.writer.output_size > 0:  # as aiohttp: a response is under way, the connection is broken
            raise ConnectionError("a response was sent already; cannot send the error")
        rid = os.urandom(
            16
        ).hex()  # no request, so no client-chosen id: the log line and the answer share this
        err = malformed.error(status, exc)
        if status >= 500:
            http_log.error("request %s failed in the HTTP server (%d)", rid, status, exc_info=exc)
        else:
            http_log.info(
                "request %s: malformed HTTP request from %s (%d): %s",
                rid,
                clip(str(self.peer)),
                status,
                err.message,
            )
        resp = error_response(err)
        resp.headers["X-Request-Id"] = rid
        resp.headers["Connection"] = "close"  # aiohttp closes it; an HTTP/1.1 client should be told
        resp.force_close()
        return resp


class GuardedSite(web.BaseSite):
    """aiohttp's TCPSite with `GuardedHandler` connections of `guard` and the TLS handshake timeout; it
    listens on `host`:`port`, or on `sock`, a socket the master bound (`plica.http.server.listen`)."""

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str | None = None,
        port: int | None = None,
        *,
        guard: Guard,
        sock: socket.socket | None = None,
        ssl_context: Any = None,
        backlog: int = 1024,
    ) -> None:
        super().__init__(runner, ssl_context=ssl_context, backlog=backlog)
        self.guard = guard
        self._host, self._port, self._sock = host, port, sock

    @property
    def name(self) -> str:
        scheme = "https" if self._ssl_context else "http"
        if self._sock is not None:
            host, port = self._sock.getsockname()[:2]
        else:
            host, port = self._host, self._port
        return f"{scheme}://{host}:{port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        loop = asyncio.get_running_loop()
        guard = self.guard

        def protocol() -> GuardedHandler:
            # aiohttp's Server.__call__, with the guarded class (its kwargs are the runner's handler args).
            return GuardedHandler(guard, server, loop=loop, **server._kwargs)

        kw: dict[str, Any] = {"backlog": self._backlog}
        if self._ssl_context is not None:
            kw.update(ssl=self._ssl_context, ssl_handshake_timeout=guard.limits.handshake)
        if self._sock is not None:
            self._server = await loop.create_server(protocol, sock=self._sock, **kw)
        else:
            self._server = await loop.create_server(protocol, self._host, self._port, **kw)
        guard.start()


class ProtocolErrors(logging.Filter):
    """aiohttp logs a malformed request (a control character in a header, a bad request line) at ERROR with
    a traceback: a client could fill the log with them. It is the client's error: one INFO line, its text
    escaped and clipped."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.msg = "malformed HTTP request from %s: %s"
            record.args = (clip(str(record.args[0] if record.args else "?")), clip(str(exc.message)))  # type: ignore[index]
            record.exc_info = None
            record.exc_text = None
        return True


def install_protocol_filter() -> None:
    logger = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, ProtocolErrors) for f in logger.filters):
        logger.addFilter(ProtocolErrors())
