"""What a hostile client cannot hold: connection timeouts, a per-worker connection cap, and logs it cannot
forge or flood.

aiohttp bounds an idle keep-alive connection but not a client that trickles its headers or its body, and
asyncio gives a TLS handshake 60 s. A worker has a few hundred file descriptors, so a few hundred such
clients would lock everyone else out. `GuardedSite` serves the application with:

- a TLS handshake timeout (`handshake`): each handshake counts against the cap, and its timeout and its
  failures (plain HTTP to the HTTPS port, a client that does not trust the root, no common protocol or
  cipher) are logged (`tls_factory`);
- a header timeout: from the first byte of a request to its complete headers (`header`);
- a body timeout: from the complete headers to the end of the body the handler reads (`body`);
- a keep-alive timeout between requests and before the first one (`keepalive`, aiohttp's own);
- at most `max_connections` connections per worker (what the open-file limit leaves, which start-up raises
  to its hard limit): one more is closed at once.

Each connection's timeouts are drawn between 75 % and 100 % of these (`SPREAD`), so that connections
opened together are not closed, and do not reconnect, together.

Each limit that closes a connection, and each kind of failed TLS handshake, is logged at WARNING, at most
once a second per kind with the count since the last line, so that the log says what happened without
growing with the attack.

The numbers come from the environment (`PLICA_TIMEOUT_HANDSHAKE`, `PLICA_TIMEOUT_HEADER`,
`PLICA_TIMEOUT_BODY`, `PLICA_TIMEOUT_KEEPALIVE`, `PLICA_MAX_CONNECTIONS`), read once at start-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import ssl
import time
from collections.abc import Mapping
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
    def from_env(cls, env: Mapping[str, str] | None = None) -> Limits:
        """The limits `PLICA_*` in `env` (the process's environment by default) set."""
        d = cls(max_connections=default_max_connections())
        env = os.environ if env is None else env

        def num(name: str, default: float) -> float:
            raw = env.get(name)
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


# Each connection's timeouts are between (1 - SPREAD) and all of the configured ones, drawn when it
# opens. With one number for all, connections opened together are closed together: a thousand idle
# clients that connected in the same second were closed in the same second at every keep-alive timeout,
# and reconnected at once, and the burst of TLS handshakes (~0.4 ms of a worker each, and three times
# that for each client) held up every other client for up to a second. Spread out, they come back at the
# rate they would have anyway, without the burst.
SPREAD = 0.25


def spread() -> float:
    return 1.0 - SPREAD * random.random()


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
    """One WARNING per kind per second at most, with how many connections it closed meanwhile; a kind is
    a limit, or a failed TLS handshake's reason. What a quiet second leaves unsaid the sweep says
    (`flush`), so the lines add up to every connection closed."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.peers: dict[str, Any] = {}
        self.last: dict[str, float] = {}

    def hit(self, limit: str, peer: Any) -> None:
        self._count(f"at the {limit} limit", peer)

    def failed_handshake(self, reason: str, peer: Any) -> None:
        self._count(f"in a failed TLS handshake ({reason})", peer)

    def _count(self, kind: str, peer: Any) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        self.peers[kind] = peer
        if time.monotonic() - self.last.get(kind, 0.0) >= 1.0:
            self._say(kind)

    def flush(self) -> None:
        now = time.monotonic()
        for kind in list(self.counts):
            if now - self.last.get(kind, 0.0) >= 1.0:
                self._say(kind)

    def _say(self, kind: str) -> None:
        n, peer = self.counts.pop(kind), self.peers.pop(kind, None)
        if len(self.last) > 64:  # handshake reasons come from the peer's alerts: few, but keep it bounded
            self.last.clear()
        self.last[kind] = time.monotonic()
        log.warning("closed %d connection(s) %s (latest from %s)", n, kind, clip(str(peer)))


class Guard:
    """The live connections of one worker's server, and the sweep that closes those over a limit."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.conns: set[GuardedHandler] = set()
        self.handshaking = 0  # TLS connections accepted whose handshake is not done
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
            self.log.flush()

    def sweep(self, now: float) -> None:
        for h in list(self.conns):
            if h.pending_since is not None and now - h.pending_since > self.limits.header * h.spread:
                self.close(h, "header timeout")
            elif (
                h.body_since is not None
                and now - h.body_since > self.limits.body * h.spread
                and not h.body_done()
            ):
                self.close(h, "body timeout")

    def full(self) -> bool:
        """Whether the cap is reached (counting the connections still in their TLS handshake)."""
        return len(self.conns) + self.handshaking >= self.limits.max_connections

    def admit(self, peer: Any) -> bool:
        """Whether one more connection fits under the cap; logged when not."""
        if self.full():
            self.log.hit("connection cap", peer)
            return False
        return True

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
        self.spread = spread()
        self._keepalive_timeout *= self.spread
        self.guard = guard
        self.pending_since: float | None = None
        self.body_since: float | None = None
        self.payload: Any = None
        self.body: Any = None  # the latest request's body, until the next request (aiohttp may drain it)
        self.peer: Any = None
        self.admitted = False  # counted against the cap already (at accept, before its TLS handshake)
        self.refused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self.peer is None:
            self.peer = transport.get_extra_info("peername")
        if not self.admitted and not self.guard.admit(self.peer):
            self.refused = True
            transport.abort()  # type: ignore[attr-defined]
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
        # No request was parsed, so no client-chosen id: the log line and the answer share this one.
        rid = os.urandom(16).hex()
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


class _Refused(asyncio.Protocol):
    """A connection over the cap: closed (and logged) as soon as it is made."""

    def __init__(self, guard: Guard) -> None:
        self.guard = guard

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.guard.log.hit("connection cap", transport.get_extra_info("peername"))
        transport.abort()  # type: ignore[attr-defined]


_SSL_PROTOCOLS: dict[str, Any] = {}


def _ssl_protocol_class(loop: asyncio.AbstractEventLoop) -> Any:
    """The TLS protocol the event loop itself puts in front of a server's protocol (uvloop's compiled one
    under uvloop, asyncio's otherwise: what `create_server(ssl=...)` would make), noting the peer's
    address at connect for the log line of a handshake that fails."""
    kind = "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"
    if kind not in _SSL_PROTOCOLS:
        if kind == "uvloop":
            # optional dependency, only under uvloop; its TLS protocol is not in its stubs
            from uvloop.loop import SSLProtocol as base  # type: ignore[attr-defined]
        else:
            from asyncio.sslproto import SSLProtocol as base

        class WithPeer(base):  # type: ignore[misc]
            peer: Any = None

            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                self.peer = transport.get_extra_info("peername")
                super().connection_made(transport)

        _SSL_PROTOCOLS[kind] = WithPeer
    return _SSL_PROTOCOLS[kind]


def tls_factory(guard: Guard, ctx: ssl.SSLContext, make_handler: Any) -> Any:
    """The protocol factory of a TLS site: what `create_server(ssl=ctx, ssl_handshake_timeout=...)`
    builds per connection (the loop's TLS protocol in front of aiohttp's), made here so that the
    handshake is the guard's. It counts against the connection cap, and its outcome comes back on the
    TLS protocol's waiter: a timeout or a failure is logged (the loop's own server closes such a
    connection without a word; it never reaches the application)."""
    loop = asyncio.get_running_loop()
    ssl_protocol = _ssl_protocol_class(loop)
    limit = guard.limits.handshake

    def factory() -> asyncio.BaseProtocol:
        if guard.full():
            return _Refused(guard)
        guard.handshaking += 1
        handler: GuardedHandler = make_handler()
        handler.admitted = True
        waiter = loop.create_future()
        proto = ssl_protocol(
            loop, handler, ctx, waiter, server_side=True, ssl_handshake_timeout=limit * handler.spread
        )

        def done(f: asyncio.Future[None]) -> None:
            guard.handshaking -= 1
            exc = None if f.cancelled() else f.exception()
            if exc is None:
                return  # done (aiohttp has the connection), or the client left in its handshake
            peer = proto.peer
            if isinstance(exc, ssl.SSLError):
                guard.log.failed_handshake(handshake_reason(exc), peer)
            elif isinstance(exc, ConnectionAbortedError):  # what the loop's handshake timeout raises
                guard.log.hit("TLS handshake timeout", peer)
            # else: the client went away in its handshake, which is not worth a line

        waiter.add_done_callback(done)
        return proto  # type: ignore[no-any-return]

    return factory


def handshake_reason(e: ssl.SSLError) -> str:
    """A failed handshake's reason as OpenSSL names it, lower case ("http request": plain HTTP sent to
    the HTTPS port; "tlsv1 alert unknown ca": the client does not trust the CA's root; "no shared
    cipher", "unsupported protocol": a client too old or too new for ca.json's `tls`)."""
    reason = e.reason or (e.args[1] if len(e.args) > 1 else str(e))
    return clip(str(reason).replace("_", " ").lower(), 100)


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

        factory: Any = protocol
        if self._ssl_context is not None:
            factory = tls_factory(guard, self._ssl_context, protocol)

        kw: dict[str, Any] = {"backlog": self._backlog}
        if self._sock is not None:
            self._server = await loop.create_server(factory, sock=self._sock, **kw)
        else:
            self._server = await loop.create_server(factory, self._host, self._port, **kw)
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
