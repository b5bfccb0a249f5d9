"""The pieces of the ACME benchmark (bench/acme_bench.py) that live in the load generator's process: an ACME
account that signs its requests (ES256, the nonce of the previous answer), the http-01 responder, a tiny DNS
server the validator resolves the order names with, CSRs made before the clock starts, and the /proc
reading that finds the CA's connections to the responder.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import struct
import weakref
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from plica.jose import b64url_encode, public_jwk, sign_compact, thumbprint

PROBLEM = "urn:ietf:params:acme:error:"


class OrderFailed(Exception):
    """An order that did not end in a certificate; the message says at which step and why."""


class Headers:
    """A response's headers, looked up case-insensitively (the first value of each name)."""

    def __init__(self, items: Iterable[tuple[str, str]]) -> None:
        self._d: dict[str, str] = {}
        for k, v in items:
            self._d.setdefault(k.lower(), v)

    def get(self, name: str, default: Any = None) -> Any:
        return self._d.get(name.lower(), default)

    def __getitem__(self, name: str) -> str:
        return self._d[name.lower()]

    def __contains__(self, name: str) -> bool:
        return name.lower() in self._d


class Connection:
    """One HTTP/1.1 keep-alive connection over TLS to the CA, used by one account at a time. The load
    generator shares the machine's two cores with the CA, so its client is as lean as a correct one can be
    (the reason sign_bench.py drives wrk): requests written in one go, answers delimited by Content-Length
    (what the CA sends), a new connection when the CA closes one."""

    def __init__(self, base_url: str, ctx: ssl.SSLContext) -> None:
        u = urlsplit(base_url)
        self.host = u.hostname or "127.0.0.1"
        self.port = u.port or 443
        self.authority = u.netloc
        self.ctx = ctx
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(
        self, method: str, url: str, body: bytes = b"", content_type: str | None = None
    ) -> tuple[int, Headers, bytes]:
        u = urlsplit(url)
        target = u.path + (f"?{u.query}" if u.query else "")
        head = f"{method} {target} HTTP/1.1\r\nHost: {self.authority}\r\nContent-Length: {len(body)}\r\n"
        if content_type:
            head += f"Content-Type: {content_type}\r\n"
        data = head.encode("ascii") + b"\r\n" + body
        for attempt in range(2):
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection(
                    self.host, self.port, ssl=self.ctx, server_hostname=self.host
                )
            assert self.reader is not None
            try:
                self.writer.write(data)
                status_line = await self.reader.readline()
            except OSError:
                status_line = b""
            if not status_line:
                # The CA closed an idle keep-alive connection before reading this request: once more on a
                # new one. (Had it answered, the nonce would be spent and the retry a badNonce.)
                self.close()
                if attempt == 0:
                    continue
                raise ConnectionResetError(f"{method} {url}: the connection closed without an answer")
            return await self._answer(method, status_line)
        raise AssertionError("unreachable")

    async def _answer(self, method: str, status_line: bytes) -> tuple[int, Headers, bytes]:
        assert self.reader is not None
        parts = status_line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
            raise ValueError(f"not an HTTP/1.x answer: {status_line[:80]!r}")
        items: list[tuple[str, str]] = []
        while (line := await self.reader.readline()) not in (b"\r\n", b"\n", b""):
            k, _, v = line.decode("latin-1").partition(":")
            items.append((k.strip(), v.strip()))
        h = Headers(items)
        if "Transfer-Encoding" in h:
            raise ValueError("a chunked answer (the CA answers with Content-Length)")
        n = int(h.get("Content-Length", "0"))
        raw = b"" if method == "HEAD" or n == 0 else await self.reader.readexactly(n)
        if h.get("Connection", "").lower() == "close":
            self.close()
        return int(parts[1]), h, raw


class Account:
    """One ACME account used by one order loop at a time, so the nonce of each answer is the next
    request's (RFC 8555 §6.5: no extra newNonce round trip after the first)."""

    def __init__(self, conn: Connection, directory: dict[str, Any]) -> None:
        self.conn = conn
        self.dir = directory
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.jwk = public_jwk(self.key)
        self.thumbprint = thumbprint(self.jwk)
        self.kid: str | None = None
        self.nonce: str | None = None
        self.requests = 0
        self.bad_nonces = 0

    def key_authorization(self, token: str) -> str:
        return f"{token}.{self.thumbprint}"

    async def fresh_nonce(self) -> str:
        _, headers, _ = await self.conn.request("HEAD", self.dir["newNonce"])
        return str(headers["Replay-Nonce"])

    def _body(self, url: str, payload: Any, nonce: str) -> bytes:
        header: dict[str, Any] = {"alg": "ES256", "nonce": nonce, "url": url}
        if self.kid is None:
            header["jwk"] = self.jwk
        else:
            header["kid"] = self.kid
        raw = b"" if payload is None else orjson.dumps(payload)
        p, pl, s = sign_compact(header, raw, self.key).split(".")
        return orjson.dumps({"protected": p, "payload": pl, "signature": s})

    async def post(self, url: str, payload: Any = None) -> tuple[int, Any, bytes, Headers]:
        """POST a JWS (payload None = POST-as-GET): (status, parsed JSON or None, raw body, headers).
        A badNonce answer is retried once with the nonce it carries, as RFC 8555 §6.5 tells clients to."""
        for attempt in range(2):
            nonce = self.nonce or await self.fresh_nonce()
            self.nonce = None
            self.requests += 1
            status, headers, raw = await self.conn.request(
                "POST", url, self._body(url, payload, nonce), "application/jose+json"
            )
            self.nonce = headers.get("Replay-Nonce")
            body = orjson.loads(raw) if "json" in headers.get("Content-Type", "") and raw else None
            if (
                attempt == 0
                and status == 400
                and isinstance(body, dict)
                and body.get("type") == PROBLEM + "badNonce"
            ):
                self.bad_nonces += 1
                continue
            return status, body, raw, headers
        raise AssertionError("unreachable")

    async def register(self) -> None:
        status, body, _, headers = await self.post(self.dir["newAccount"], {"termsOfServiceAgreed": True})
        if status != 201:
            raise OrderFailed(f"newAccount answered {status}: {body}")
        self.kid = headers["Location"]


def expect(step: str, status: int, want: int, body: Any) -> None:
    if status != want:
        detail = body.get("detail") if isinstance(body, dict) else body
        kind = body.get("type", "").removeprefix(PROBLEM) if isinstance(body, dict) else ""
        raise OrderFailed(f"{step}: HTTP {status} {kind} {detail}".rstrip())


def retry_after(headers: Any, cap: float) -> float:
    """The server's Retry-After (seconds), capped: it says 1 s, which is a hint for clients that would
    otherwise wait longer (RFC 8555 §7.5.1 lets clients poll sooner)."""
    try:
        return min(float(headers.get("Retry-After", cap)), cap)
    except ValueError:
        return cap


# ------------------------------------------------------------------------------------------ http-01


class Responder:
    """The http-01 responder: serves /.well-known/acme-challenge/<token> from `tokens`. It keeps connections
    alive as long as the client lets it (aiohttp's default), so a validator that leaves its connection open
    shows up as an ESTABLISHED socket, and one that reuses a connection is counted in `reused`."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.tokens: dict[str, str] = {}
        self.hits = 0
        self.misses = 0
        self.reused = 0
        self._seen: weakref.WeakSet[Any] = weakref.WeakSet()
        self._runner: web.AppRunner | None = None

    async def _serve(self, request: web.Request) -> web.Response:
        # The transport is the connection (aiohttp's per-connection handler cannot be weakly referenced).
        conn = request.transport
        if conn in self._seen:
            self.reused += 1
        elif conn is not None:
            self._seen.add(conn)
        ka = self.tokens.get(request.match_info["token"])
        if ka is None:
            self.misses += 1
            return web.Response(status=404, text="no such token")
        self.hits += 1
        return web.Response(text=ka)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/.well-known/acme-challenge/{token}", self._serve)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, backlog=1024).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


# ------------------------------------------------------------------------------------------- DNS


class ZoneDNS(asyncio.DatagramProtocol):
    """An authoritative DNS server on 127.0.0.1 for one zone: every name in it has the A record 127.0.0.1
    and no AAAA record; names outside it are NXDOMAIN. Just the wire format a stub resolver needs
    (RFC 1035 §4.1), so answering costs the load generator next to nothing."""

    def __init__(self, zone: str) -> None:
        self.zone = zone.lower().rstrip(".")
        self.transport: asyncio.DatagramTransport | None = None
        self.queries = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = self.answer(data)
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)

    def answer(self, data: bytes) -> bytes | None:
        if len(data) < 12:
            return None
        qid, flags, qdcount = struct.unpack("!HHH", data[:6])
        if qdcount != 1 or flags & 0x8000:
            return None
        labels, i = [], 12
        while i < len(data) and data[i]:
            n = data[i]
            if n & 0xC0:
                return None  # no compression in a question we accept
            labels.append(data[i + 1 : i + 1 + n].decode("ascii", "replace"))
            i += 1 + n
        if i + 5 > len(data):
            return None
        question = data[12 : i + 5]
        qtype, qclass = struct.unpack("!HH", data[i + 1 : i + 5])
        self.queries += 1
        name = ".".join(labels).lower()
        in_zone = name == self.zone or name.endswith("." + self.zone)
        rcode = 0 if in_zone else 3
        # QR, AA, and RD as asked.
        out_flags = 0x8400 | (flags & 0x0100) | rcode
        answers = b""
        if in_zone and qtype == 1 and qclass == 1:
            answers = struct.pack("!HHHIH", 0xC00C, 1, 1, 1, 4) + bytes([127, 0, 0, 1])
        return struct.pack("!HHHHHH", qid, out_flags, 1, 1 if answers else 0, 0, 0) + question + answers

    async def start(self) -> int:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=("127.0.0.1", 0))
        return transport.get_extra_info("sockname")[1]

    def stop(self) -> None:
        if self.transport is not None:
            self.transport.close()


# ------------------------------------------------------------------------------------------- CSRs


def make_csr(name: str, ip: bool) -> bytes:
    """DER of a CSR for `name` (a SAN of the identifier's kind, no subject) with a new P-256 key."""
    import ipaddress

    san: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(name)) if ip else x509.DNSName(name)
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .add_extension(x509.SubjectAlternativeName([san]), critical=False)
        .sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256())
        .public_bytes(serialization.Encoding.DER)
    )


class CSRPool:
    """(identifier, base64url CSR) pairs made ahead of the clock; `late` counts those the run had to make
    itself because the pool ran dry (they cost the load generator CPU while it is being measured)."""

    def __init__(self, zone: str | None) -> None:
        self.zone = zone  # None: every order is for the IP address 127.0.0.1
        self._next = 0
        self._ready: list[tuple[str, str]] = []
        self.late = 0

    def _make(self) -> tuple[str, str]:
        self._next += 1
        name = f"o{self._next}.{self.zone}" if self.zone else "127.0.0.1"
        return name, b64url_encode(make_csr(name, self.zone is None))

    def fill(self, n: int) -> None:
        self._ready = [self._make() for _ in range(n)]
        self._ready.reverse()
        self.late = 0

    def take(self) -> tuple[str, str]:
        if self._ready:
            return self._ready.pop()
        self.late += 1
        return self._make()


def check_certificate(pem: bytes, name: str) -> None:
    """The download parses as a PEM chain and its leaf names what was ordered."""
    try:
        chain = x509.load_pem_x509_certificates(pem)
        san = chain[0].extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound) as e:
        raise OrderFailed(f"download: the certificate does not parse: {e}") from None
    names = [
        *san.get_values_for_type(x509.DNSName),
        *(str(a) for a in san.get_values_for_type(x509.IPAddress)),
    ]
    if name not in names:
        raise OrderFailed(f"download: the certificate names {names}, not {name}")
    if len(chain) < 2:
        raise OrderFailed("download: the chain has no intermediate")


# ------------------------------------------------------------------------------------------ /proc

TCP_STATES = {
    "01": "ESTABLISHED",
    "02": "SYN_SENT",
    "03": "SYN_RECV",
    "04": "FIN_WAIT1",
    "05": "FIN_WAIT2",
    "06": "TIME_WAIT",
    "07": "CLOSE",
    "08": "CLOSE_WAIT",
    "09": "LAST_ACK",
    "0A": "LISTEN",
    "0B": "CLOSING",
}


def socket_inodes(pids: Iterable[int]) -> set[str]:
    out: set[str] = set()
    for pid in pids:
        fd_dir = Path(f"/proc/{pid}/fd")
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(fd_dir / fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                out.add(target[8:-1])
    return out


def tcp_rows(pid: int) -> list[tuple[int, int, str, str]]:
    """(local port, remote port, state, inode) of every TCP socket in `pid`'s network namespace."""
    rows = []
    for table in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            lport = int(f[1].rsplit(":", 1)[1], 16)
            rport = int(f[2].rsplit(":", 1)[1], 16)
            rows.append((lport, rport, TCP_STATES.get(f[3], f[3]), f[9]))
    return rows


def connections_to(pids: list[int], port: int) -> dict[str, int]:
    """States of the sockets the processes `pids` hold open to `port` (TIME_WAIT sockets belong to no
    process any more and are not counted: they are closed, the kernel only remembers them)."""
    inodes = socket_inodes(pids)
    states: dict[str, int] = {}
    for _lport, rport, state, inode in tcp_rows(pids[0]):
        if rport == port and inode in inodes:
            states[state] = states.get(state, 0) + 1
    return states


def accepted_on(port: int) -> dict[str, int]:
    """States of the connections this process accepted on `port` that are still open (the responder's
    side: an idle connection the validator left open is ESTABLISHED here)."""
    inodes = socket_inodes([os.getpid()])
    states: dict[str, int] = {}
    for lport, _rport, state, inode in tcp_rows(os.getpid()):
        if lport == port and state != "LISTEN" and inode in inodes:
            states[state] = states.get(state, 0) + 1
    return states


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[k]
