"""http-01 (RFC 8555 §8.3, RFC 8738 §3 for IP identifiers).

GET http://<identifier>:<httpPort>/.well-known/acme-challenge/<token>, following up to 10 redirects (to the
validation ports only); the body, trailing whitespace trimmed, must be the key authorization.

The request is a minimal HTTP/1.1 client on asyncio streams rather than aiohttp's: a ClientSession and
connector per validation cost more CPU than the rest of an order's validation together, and the validator
needs only one GET per hop. Each hop opens its own connection (`Connection: close`) to the identifier's
addresses, tried in order, and closes it before the next, so no connection outlives the check or is
reused. Only what a 200 needs is read: status line and headers (at most MAX_HEAD bytes), then at most
MAX_BODY bytes of body, delimited by Content-Length, chunked transfer coding or the end of the connection.
An https hop (a redirect to the TLS port) does not verify the certificate, as Let's Encrypt does not: the
key authorization in the body is the proof.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import re
import ssl

from yarl import URL

from ..problems import Problem
from ..provisioner import ACMEState
from .resolve import Unresolvable, addresses

MAX_BODY = 8192
MAX_HEAD = 16384
MAX_REDIRECTS = 10
USER_AGENT = "plica-acme-validator/1"
# Closing waits this long for a TLS peer's close_notify before dropping the connection: the answer has
# already been read, so a peer that never completes the shutdown must not hold the validation up.
CLOSE_GRACE = 1.0
CONNECT_ATTEMPT = 2.0  # seconds for each address but the last of a name

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_TOKEN = re.compile(r"[\x21-\x7e]+")  # what may go into the request line and Host header as is
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")


class _CannotConnect(Exception):
    """No address of a hop accepted the connection (the last address's error)."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


class _BadResponse(Exception):
    """The peer did not answer with a well-formed HTTP/1.x response; the message says how."""


def challenge_url(id_type: str, value: str, token: str, port: int) -> str:
    host = value
    if id_type == "ip" and isinstance(ipaddress.ip_address(value), ipaddress.IPv6Address):
        host = f"[{value}]"
    netloc = host if port == 80 else f"{host}:{port}"
    return f"http://{netloc}/.well-known/acme-challenge/{token}"


def _redirect_target(current: URL, location: str, state: ACMEState) -> URL:
    """Where a redirect may lead: http or https on the validation ports only (as Let's Encrypt limits
    redirects to 80 and 443), so a responder cannot point the CA at arbitrary services."""
    try:
        nxt = current.join(URL(location))
        port = nxt.port
    except ValueError:  # a port out of range or not a number, a host that is not one
        nxt, port = None, None
    if nxt is None or nxt.scheme not in ("http", "https") or not nxt.host:
        raise Problem("connection", f"{current} redirected to {location!r}, which is not an http(s) URL")
    allowed = {"http": (80, state.http_port), "https": (443, state.tls_port)}[nxt.scheme]
    if port not in allowed:
        raise Problem(
            "connection",
            f"{current} redirected to port {port}; only ports {sorted(set(allowed))} are followed for {nxt.scheme}",
        )
    return nxt


@functools.cache
def _tls_context() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the body is the proof; challenge servers often use self-signed certs
    return ctx


async def _connect(url: URL, state: ACMEState) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host = url.raw_host or ""
    port = url.port or 80
    tls = _tls_context() if url.scheme == "https" else None
    sni: str | None = None
    if tls is not None:
        try:
            ipaddress.ip_address(host)
            sni = ""  # no SNI for an address (RFC 6066 §3)
        except ValueError:
            sni = host
    last: OSError | None = None
    addrs = await addresses(state, host)
    for i, addr in enumerate(addrs):
        try:
            # Every address but the last gets a bounded try, so one that drops packets (an AAAA record of
            # a host without working IPv6, say) does not use up the whole validation timeout.
            async with asyncio.timeout(CONNECT_ATTEMPT if i < len(addrs) - 1 else None):
                # The reader's limit bounds one header line, so a peer sending an endless line is caught.
                return await asyncio.open_connection(addr, port, ssl=tls, server_hostname=sni, limit=MAX_HEAD)
        except TimeoutError:
            last = OSError(f"connecting to {addr} port {port} timed out after {CONNECT_ATTEMPT:g}s")
        except OSError as e:
            last = e
    raise _CannotConnect(last or OSError(f"no address for {host}"))


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    try:
        async with asyncio.timeout(CLOSE_GRACE):
            await writer.wait_closed()
    except OSError:  # includes the grace timeout and TLS errors during the shutdown
        writer.transport.abort()
    except BaseException:
        writer.transport.abort()
        raise


async def _line(reader: asyncio.StreamReader, what: str) -> bytes:
    """One line without its terminator (CRLF, or a bare LF as lenient parsers accept)."""
    try:
        line = await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError:
        raise _BadResponse(f"the connection closed before the end of the {what}") from None
    except asyncio.LimitOverrunError:
        raise _BadResponse(f"a line of the {what} is longer than {MAX_HEAD} bytes") from None
    return line[:-2] if line.endswith(b"\r\n") else line[:-1]


async def _head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    """Status and headers (lower-case names; repeated ones joined with ", ") of the final response,
    skipping interim 1xx responses."""
    budget = MAX_HEAD
    while True:
        lines: list[bytes] = []
        while True:
            line = await _line(reader, "response headers")
            budget -= len(line) + 2
            if budget < 0:
                raise _BadResponse(f"the response headers exceed {MAX_HEAD} bytes")
            if not line:
                break
            lines.append(line)
        if not lines:
            raise _BadResponse("the response has no status line")
        parts = lines[0].split(b" ", 2)
        if (
            len(parts) < 2
            or not parts[0].startswith(b"HTTP/1.")
            or len(parts[1]) != 3
            or not parts[1].isdigit()
        ):
            raise _BadResponse(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
        status = int(parts[1])
        if 100 <= status < 200 and status != 101:
            continue
        headers: dict[str, str] = {}
        name = ""
        for raw in lines[1:]:
            if raw[:1] in (b" ", b"\t") and name:  # obsolete line folding: part of the previous value
                headers[name] += " " + raw.strip(b" \t").decode("utf-8", "surrogateescape")
                continue
            key, sep, value = raw.partition(b":")
            if not sep or not key or key != key.strip(b" \t"):
                raise _BadResponse(f"malformed header line {raw[:80]!r}")
            name = key.decode("latin-1").lower()
            text = value.strip(b" \t").decode("utf-8", "surrogateescape")
            headers[name] = f"{headers[name]}, {text}" if name in headers else text
        return status, headers


async def _body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    """At most MAX_BODY bytes of the body (RFC 9112 §6.3: a transfer coding wins over Content-Length)."""
    te = headers.get("transfer-encoding")
    if te is not None:
        if te.rsplit(",", 1)[-1].strip().lower() == "chunked":
            return await _chunked(reader)
        return await _to_eof(reader)
    cl = headers.get("content-length")
    if cl is None:
        return await _to_eof(reader)
    values = {v.strip() for v in cl.split(",")}
    size = values.pop() if len(values) == 1 else ""
    if not (size.isascii() and size.isdigit()):
        raise _BadResponse(f"invalid Content-Length {cl!r}")
    length = int(size)
    try:
        return await reader.readexactly(min(length, MAX_BODY))
    except asyncio.IncompleteReadError as e:
        raise _BadResponse(
            f"the connection closed after {len(e.partial)} of the {length} bytes of the body"
        ) from None


async def _to_eof(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while len(body) < MAX_BODY:
        data = await reader.read(MAX_BODY - len(body))
        if not data:
            break
        body += data
    return bytes(body)


async def _chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    # Size lines may carry extensions: bound them together too, or tiny chunks with long extensions
    # would keep the validator reading far more than MAX_BODY.
    budget = MAX_HEAD
    while len(body) < MAX_BODY:
        line = await _line(reader, "chunk size line")
        budget -= len(line) + 2
        if budget < 0:
            raise _BadResponse(f"the chunk size lines exceed {MAX_HEAD} bytes")
        size_field = line.split(b";", 1)[0].strip(b" \t")
        if not _HEX.fullmatch(size_field):
            raise _BadResponse(f"invalid chunk size {size_field[:20]!r}")
        size = int(size_field, 16)
        if size == 0:
            break  # the trailer section is not needed: the connection is closed after this response
        want = min(size, MAX_BODY - len(body))
        try:
            body += await reader.readexactly(want)
        except asyncio.IncompleteReadError:
            raise _BadResponse("the connection closed in the middle of a chunk") from None
        if want < size:
            break
        if await _line(reader, "chunk terminator"):
            raise _BadResponse("a chunk is longer than its size says")
    return bytes(body)


async def _get(url: URL, state: ACMEState) -> tuple[int, dict[str, str], bytes]:
    """One GET on its own connection; the body is read only for a 200, the one answer that uses it."""
    host = url.raw_host or ""
    host_field = f"[{host}]" if ":" in host else host
    if url.port != (443 if url.scheme == "https" else 80):
        host_field = f"{host_field}:{url.port}"
    target = url.raw_path_qs or "/"
    if not (_TOKEN.fullmatch(target) and _TOKEN.fullmatch(host_field)):
        raise _BadResponse(f"{url} cannot be sent in a request line")
    request = (
        f"GET {target} HTTP/1.1\r\nHost: {host_field}\r\nUser-Agent: {USER_AGENT}\r\n"
        "Accept: */*\r\nAccept-Encoding: identity\r\nConnection: close\r\n\r\n"
    ).encode("ascii")
    reader, writer = await _connect(url, state)
    try:
        writer.write(request)
        status, headers = await _head(reader)
        body = await _body(reader, headers) if status == 200 else b""
    except OSError as e:  # a reset or a TLS error after the connection was made
        raise _BadResponse(str(e) or type(e).__name__) from None
    finally:
        await _close(writer)
    return status, headers, body


async def _fetch(url: str, state: ACMEState) -> tuple[int, bytes, str]:
    current = URL(url)
    for _ in range(MAX_REDIRECTS + 1):
        status, headers, body = await _get(current, state)
        if status in _REDIRECT_STATUSES and "location" in headers:
            current = _redirect_target(current, headers["location"], state)
            continue
        return status, body, str(current)
    raise Problem("connection", f"{url}: more than {MAX_REDIRECTS} redirects")


async def validate(id_type: str, value: str, token: str, key_auth: str, state: ACMEState) -> None:
    url = challenge_url(id_type, value, token, state.http_port)
    try:
        async with asyncio.timeout(state.timeout):
            status, body, final = await _fetch(url, state)
    except TimeoutError:
        raise Problem("connection", f"{url}: timed out after {state.timeout:g}s") from None
    except Unresolvable as p:
        raise Problem("dns", f"cannot resolve {value} for {url}: {p.reason}") from None
    except Problem as p:
        if p.kind != "dns":
            raise
        raise Problem("dns", f"cannot resolve {value} for {url}: {p.detail}") from None
    except _CannotConnect as e:
        raise Problem("connection", f"cannot connect to {url}: {e.error}") from None
    except _BadResponse as e:
        raise Problem("connection", f"fetching {url} failed: {e}") from None
    if status != 200:
        raise Problem(
            "incorrectResponse", f"{final} answered HTTP {status}, not 200 with the key authorization"
        )
    text = body.decode("utf-8", "replace").rstrip(" \t\r\n")
    if text != key_auth:
        shown = text[:80] + ("..." if len(text) > 80 else "")
        raise Problem(
            "incorrectResponse",
            f"{final} answered {shown!r}, which is not the key authorization of this challenge",
        )
