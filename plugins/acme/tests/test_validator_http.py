"""The validator's own HTTP/1.1 client (http-01) and DNS queries, against real servers on 127.0.0.1: bodies
delimited by Content-Length, chunked coding and the end of the connection, redirects to the allowed ports
(one over TLS) and to others, oversized and malformed answers, a peer that never answers, and that every
connection is closed by the validator; CNAME chains, NXDOMAIN, SERVFAIL, truncation and timeouts through
the test DNS server."""

from __future__ import annotations

import asyncio
import itertools
import re
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import dns.rdatatype
import pytest
from aiohttp import web
from dnslib import QTYPE, RCODE, RR, A, DNSRecord

from plica.testing import free_port
from plica_acme.challenges import http01
from plica_acme.challenges.resolve import MAX_CNAME_HOPS, addresses, lookup
from plica_acme.problems import Problem
from plica_acme.provisioner import ACMEState

from .acme_helpers.acme_test_dns import TestDNS
from .acme_helpers.acme_test_responders import alpn_certificate

TOKEN = "tok-123_abc"
KEY_AUTH = f"{TOKEN}.thumbprint"
PATH = f"/.well-known/acme-challenge/{TOKEN}"

Respond = Callable[[bytes, asyncio.StreamWriter], Awaitable[None]]


def state(dns_server: TestDNS, http_port: int, tls_port: int = 1, timeout: float = 2.0) -> ACMEState:
    return ACMEState(
        challenges=frozenset({"http-01"}),
        http_port=http_port,
        tls_port=tls_port,
        resolver=("127.0.0.1", dns_server.port),
        timeout=timeout,
        retry_window=0,
        pending_orders=10,
        orders_per_hour=10,
        force_cn=False,
        require_eab=False,
        meta={},
    )


class Peer:
    """A TCP (or TLS) server on 127.0.0.1 that hands each request head to `respond`, then waits for the
    client to close its side, counting the connections that were opened and those the client closed."""

    def __init__(self, respond: Respond, tls: ssl.SSLContext | None = None, host: str = "127.0.0.1") -> None:
        self.respond = respond
        self.tls = tls
        self.host = host
        self.requests: list[bytes] = []
        self.opened = 0
        self.closed = 0
        self._server: asyncio.AbstractServer | None = None
        self.port = 0

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.opened += 1
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            self.requests.append(head)
            await self.respond(head, writer)
            await writer.drain()
            # Whatever the client sends now, the connection counts as closed once it reaches EOF.
            while await reader.read(4096):
                pass
            self.closed += 1
        except (OSError, asyncio.IncompleteReadError):
            self.closed += 1  # a reset is the client closing too (it had unread data)
        finally:
            writer.close()

    async def all_closed(self) -> None:
        """Wait (briefly) until every connection made so far was closed by the client."""
        async with asyncio.timeout(2):
            while self.closed < self.opened:
                await asyncio.sleep(0.01)

    async def __aenter__(self) -> Peer:
        self._server = await asyncio.start_server(self._handle, self.host, self.port, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


def reply(*parts: bytes) -> Respond:
    async def respond(head: bytes, writer: asyncio.StreamWriter) -> None:
        for p in parts:
            writer.write(p)

    return respond


def ok_length(body: bytes) -> Respond:
    return reply(
        b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nContent-Type: text/plain\r\n\r\n" % len(body), body
    )


async def fails(st: ACMEState, kind: str, host: str = "web.plica.test", id_type: str = "dns") -> str:
    with pytest.raises(Problem) as info:
        await http01.validate(id_type, host, TOKEN, KEY_AUTH, st)
    assert info.value.kind == kind, info.value.detail
    return info.value.detail


async def test_content_length_body_and_request(dns_server: TestDNS) -> None:
    async with Peer(ok_length(KEY_AUTH.encode() + b"\r\n")) as peer:
        await http01.validate("dns", "web.plica.test", TOKEN, KEY_AUTH, state(dns_server, peer.port))
        await peer.all_closed()
        assert peer.opened == 1
        (head,) = peer.requests
        lines = head.decode().split("\r\n")
        assert lines[0] == f"GET {PATH} HTTP/1.1"
        assert set(lines[1:-2]) == {
            f"Host: web.plica.test:{peer.port}",
            f"User-Agent: {http01.USER_AGENT}",
            "Accept: */*",
            "Accept-Encoding: identity",
            "Connection: close",
        }
        # An IP identifier is its own address and its own Host.
        await http01.validate("ip", "127.0.0.1", TOKEN, KEY_AUTH, state(dns_server, peer.port))
        assert f"Host: 127.0.0.1:{peer.port}\r\n".encode() in peer.requests[-1]
        await peer.all_closed()
    async with Peer(ok_length(KEY_AUTH.encode()), host="::1") as peer:
        await http01.validate("ip", "::1", TOKEN, KEY_AUTH, state(dns_server, peer.port))
        assert f"Host: [::1]:{peer.port}\r\n".encode() in peer.requests[-1]
        await peer.all_closed()


async def test_chunked_body(dns_server: TestDNS) -> None:
    body = KEY_AUTH.encode()
    chunks = b"5;ext=1\r\n" + body[:5] + b"\r\n" + b"%x\r\n" % (len(body) - 5) + body[5:] + b"\r\n"
    respond = reply(
        b"HTTP/1.1 100 Continue\r\n\r\n",  # interim responses come before the real one
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
        chunks,
        b"0\r\nX-Trailer: 1\r\n\r\n",
    )
    async with Peer(respond) as peer:
        await http01.validate("dns", "web.plica.test", TOKEN, KEY_AUTH, state(dns_server, peer.port))
        await peer.all_closed()
    # A chunk longer than its size line says.
    async with Peer(
        reply(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n")
    ) as peer:
        assert "longer than its size" in await fails(state(dns_server, peer.port), "connection")
        await peer.all_closed()


async def test_chunked_body_from_aiohttp(dns_server: TestDNS) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for i in range(0, len(KEY_AUTH), 7):
            await resp.write(KEY_AUTH[i : i + 7].encode())
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_get(PATH, handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        await http01.validate("dns", "web.plica.test", TOKEN, KEY_AUTH, state(dns_server, port))
    finally:
        await runner.cleanup()


async def test_body_to_end_of_connection(dns_server: TestDNS) -> None:
    async def respond(head: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n")
        writer.write(KEY_AUTH.encode())
        writer.write_eof()  # no length: the end of the connection ends the body

    async with Peer(respond) as peer:
        await http01.validate("dns", "web.plica.test", TOKEN, KEY_AUTH, state(dns_server, peer.port))
        await peer.all_closed()


async def test_body_is_capped(dns_server: TestDNS) -> None:
    big = KEY_AUTH.encode() + b" " * 10 + b"x" * 100_000
    async with Peer(ok_length(big)) as peer:
        detail = await fails(state(dns_server, peer.port), "incorrectResponse")
        assert "not the key authorization" in detail and detail.count("x") < 200
        await peer.all_closed()


async def test_redirect_to_the_tls_port(dns_server: TestDNS, tmp_path: Path) -> None:
    crt, key = alpn_certificate("other.plica.test", "unused")
    (tmp_path / "c.pem").write_bytes(crt)
    (tmp_path / "k.pem").write_bytes(key)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")
    sni: list[str | None] = []

    def record_sni(_obj: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        sni.append(name)

    tls.sni_callback = record_sni
    async with Peer(ok_length(KEY_AUTH.encode()), tls=tls) as secure:
        target = f"https://other.plica.test:{secure.port}/moved/{TOKEN}"
        async with Peer(
            reply(b"HTTP/1.1 302 Found\r\nLocation: %s\r\nContent-Length: 0\r\n\r\n" % target.encode())
        ) as plain:
            st = state(dns_server, plain.port, tls_port=secure.port)
            await http01.validate("dns", "web.plica.test", TOKEN, KEY_AUTH, st)
            await plain.all_closed()
            await secure.all_closed()
            assert (plain.opened, secure.opened) == (1, 1)
            assert sni == ["other.plica.test"]
            assert secure.requests[0].startswith(f"GET /moved/{TOKEN} HTTP/1.1\r\n".encode())
            assert f"Host: other.plica.test:{secure.port}\r\n".encode() in secure.requests[0]
            # A wrong answer names the URL that gave it.
            secure.respond = ok_length(b"nope")
            assert target in await fails(st, "incorrectResponse")
        # To an address, without SNI.
        secure.respond = ok_length(KEY_AUTH.encode())
        target = f"https://127.0.0.1:{secure.port}/moved/{TOKEN}"
        async with Peer(reply(b"HTTP/1.1 307 Temporary\r\nLocation: %s\r\n\r\n" % target.encode())) as plain:
            st = state(dns_server, plain.port, tls_port=secure.port)
            await http01.validate("ip", "127.0.0.1", TOKEN, KEY_AUTH, st)
            assert sni[-1] is None and len(sni) == 3
            await plain.all_closed()
            await secure.all_closed()


async def test_redirect_to_another_port_is_refused(dns_server: TestDNS) -> None:
    async def respond(head: bytes, writer: asyncio.StreamWriter) -> None:
        port = int(head.split(b"Host: web.plica.test:")[1].split(b"\r\n")[0])
        writer.write(b"HTTP/1.1 301 Moved\r\nLocation: http://web.plica.test:%d/x\r\n\r\n" % (port + 1))

    async with Peer(respond) as peer:
        detail = await fails(state(dns_server, peer.port), "connection")
        assert f"redirected to port {peer.port + 1}; only ports [80, {peer.port}]" in detail
        await peer.all_closed()
    async with Peer(reply(b"HTTP/1.1 302 Found\r\nLocation: ftp://web.plica.test/x\r\n\r\n")) as peer:
        assert "not an http(s) URL" in await fails(state(dns_server, peer.port), "connection")
    async with Peer(reply(b"HTTP/1.1 302 Found\r\nLocation: http://web.plica.test:99999/\r\n\r\n")) as peer:
        assert "not an http(s) URL" in await fails(state(dns_server, peer.port), "connection")


async def test_redirect_loop_is_bounded(dns_server: TestDNS) -> None:
    async with Peer(reply(b"HTTP/1.1 302 Found\r\nLocation: /again\r\nContent-Length: 0\r\n\r\n")) as peer:
        detail = await fails(state(dns_server, peer.port), "connection")
        assert f"more than {http01.MAX_REDIRECTS} redirects" in detail
        await peer.all_closed()
        # Every hop had its own connection, each closed.
        assert peer.opened == http01.MAX_REDIRECTS + 1 == len(peer.requests)


async def test_oversized_and_malformed_answers(dns_server: TestDNS) -> None:
    many = b"".join(b"X-Filler-%d: %s\r\n" % (i, b"y" * 100) for i in range(200))
    cases = [
        (reply(b"HTTP/1.1 200 OK\r\n" + many + b"\r\n" + KEY_AUTH.encode()), "headers exceed 16384 bytes"),
        (reply(b"HTTP/1.1 200 OK\r\nX-Long: " + b"y" * 20000 + b"\r\n\r\n"), "longer than 16384 bytes"),
        (reply(b"SSH-2.0-OpenSSH_9.6\r\n\r\n"), "not an HTTP/1.x status line"),
        (reply(b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n"), "malformed header line"),
        (reply(b"HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n"), "invalid Content-Length"),
        (reply(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"), "invalid chunk size"),
        (
            reply(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                b"1;x=%s\r\na\r\n" % (b"y" * 1000) * 20,
            ),
            "chunk size lines exceed 16384 bytes",
        ),
    ]
    for respond, expected in cases:
        async with Peer(respond) as peer:
            detail = await fails(state(dns_server, peer.port), "connection")
            assert detail.startswith("fetching http://web.plica.test:") and expected in detail, detail
            await peer.all_closed()

    async def short(head: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\nabc")
        writer.write_eof()

    async with Peer(short) as peer:
        assert "closed after 3 of the 500 bytes" in await fails(state(dns_server, peer.port), "connection")
        await peer.all_closed()


async def test_status_other_than_200(dns_server: TestDNS) -> None:
    async with Peer(reply(b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found")) as peer:
        detail = await fails(state(dns_server, peer.port), "incorrectResponse")
        assert (
            detail
            == f"http://web.plica.test:{peer.port}{PATH} answered HTTP 404, not 200 with the key authorization"
        )
        await peer.all_closed()


async def test_peer_that_never_answers(dns_server: TestDNS) -> None:
    async def silent(head: bytes, writer: asyncio.StreamWriter) -> None:
        return None

    async with Peer(silent) as peer:
        detail = await fails(state(dns_server, peer.port, timeout=0.3), "connection")
        assert detail == f"http://web.plica.test:{peer.port}{PATH}: timed out after 0.3s"
        await peer.all_closed()  # the timed-out connection was closed too


async def test_nothing_listening_and_unknown_name(dns_server: TestDNS) -> None:
    port = free_port()
    detail = await fails(state(dns_server, port), "connection")
    assert detail.startswith(f"cannot connect to http://web.plica.test:{port}{PATH}: [Errno 111]")
    detail = await fails(state(dns_server, port), "dns", host="nowhere.example")
    assert detail == (
        f"cannot resolve nowhere.example for http://nowhere.example:{port}{PATH}: "
        "DNS name nowhere.example does not exist (NXDOMAIN)"
    )


# DNS -------------------------------------------------------------------------------------------------


class FaultyDNS(TestDNS):
    """TestDNS that can also fail names (`rcodes`), answer a whole CNAME chain in one response
    (`chains`), and truncate UDP answers (`truncate`), answering those over TCP on the same port."""

    def __init__(self) -> None:
        super().__init__()
        self.rcodes: dict[str, int] = {}
        self.chains: dict[str, list[str]] = {}
        self.truncate = False
        self.tcp_queries = 0

    def answer(self, data: bytes) -> bytes:
        req = DNSRecord.parse(data)
        name = str(req.q.qname).rstrip(".").lower()
        if name in self.rcodes:
            self.queries.append((name, QTYPE[req.q.qtype]))
            reply = req.reply()
            reply.header.rcode = self.rcodes[name]
            return reply.pack()
        if name in self.chains:
            self.queries.append((name, QTYPE[req.q.qtype]))
            reply = req.reply()
            hops = [name, *self.chains[name]]
            for a, b in itertools.pairwise(hops):
                reply.add_answer(*RR.fromZone(f"{a}. 1 IN CNAME {b}."))
            if req.q.qtype == QTYPE.A:
                reply.add_answer(RR(hops[-1] + ".", QTYPE.A, rdata=A("127.0.0.9"), ttl=1))
            return reply.pack()
        return super().answer(data)

    def udp_answer(self, data: bytes) -> bytes:
        if not self.truncate:
            return self.answer(data)
        reply = DNSRecord.parse(data).reply()
        reply.header.tc = 1
        return reply.pack()

    async def tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            size = int.from_bytes(await reader.readexactly(2), "big")
            out = self.answer(await reader.readexactly(size))
            self.tcp_queries += 1
            writer.write(len(out).to_bytes(2, "big") + out)
            await writer.drain()
        finally:
            writer.close()


@pytest.fixture
def faulty_dns() -> Iterator[FaultyDNS]:
    server = FaultyDNS()
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def test_cname_chain_to_an_address(faulty_dns: FaultyDNS) -> None:
    st = state(faulty_dns, 80)
    # One alias per answer, the chain leaving the zone: each target is asked for in turn.
    faulty_dns.cname["one.plica.test"] = "two.plica.test"
    faulty_dns.cname["two.plica.test"] = "three.elsewhere.example"
    faulty_dns.a["three.elsewhere.example"] = "127.0.0.7"
    assert await addresses(st, "one.plica.test") == ["127.0.0.7"]
    asked = [n for n, t in faulty_dns.queries if t == "A"]
    assert asked == ["one.plica.test", "two.plica.test", "three.elsewhere.example"]
    # A whole chain in one answer (as a recursive resolver gives it) needs one query.
    faulty_dns.queries.clear()
    faulty_dns.chains["alias.plica.test"] = ["mid.plica.test", "end.plica.test"]
    records = await lookup(st, "alias.plica.test", dns.rdatatype.A)
    assert [r.address for r in records] == ["127.0.0.9"]
    assert faulty_dns.queries == [("alias.plica.test", "A")]
    # A chain ending without the type asked for: the rest is asked of its target.
    faulty_dns.txt["txt-target.plica.test"] = ["v=1"]
    faulty_dns.chains["txt-alias.plica.test"] = ["txt-target.plica.test"]
    assert [r.strings for r in await lookup(st, "txt-alias.plica.test", dns.rdatatype.TXT)] == [(b"v=1",)]
    # A loop ends with nothing; a chain longer than the limit is refused.
    faulty_dns.cname["loop-a.plica.test"] = "loop-b.plica.test"
    faulty_dns.cname["loop-b.plica.test"] = "loop-a.plica.test"
    assert await lookup(st, "loop-a.plica.test", dns.rdatatype.A) == []
    with pytest.raises(Problem, match="has no A or AAAA record"):
        await addresses(st, "loop-a.plica.test")
    for i in range(MAX_CNAME_HOPS + 1):
        faulty_dns.cname[f"hop{i}.plica.test"] = f"hop{i + 1}.plica.test"
    with pytest.raises(Problem, match=re.escape(f"more than {MAX_CNAME_HOPS} CNAMEs from hop0.plica.test")):
        await lookup(st, "hop0.plica.test", dns.rdatatype.A)
    faulty_dns.cname.pop(f"hop{MAX_CNAME_HOPS}.plica.test")  # now exactly MAX_CNAME_HOPS aliases
    assert [r.address for r in await lookup(st, "hop0.plica.test", dns.rdatatype.A)] == ["127.0.0.1"]


async def test_nxdomain_servfail_refused(faulty_dns: FaultyDNS) -> None:
    st = state(faulty_dns, 80)
    with pytest.raises(Problem) as info:
        await lookup(st, "nowhere.example", dns.rdatatype.A)
    assert (info.value.kind, info.value.detail) == (
        "dns",
        "DNS name nowhere.example does not exist (NXDOMAIN)",
    )
    faulty_dns.rcodes["broken.plica.test"] = RCODE.SERVFAIL
    faulty_dns.rcodes["closed.plica.test"] = RCODE.REFUSED
    where = f"127.0.0.1:{faulty_dns.port}"
    for name, rcode in (("broken.plica.test", "SERVFAIL"), ("closed.plica.test", "REFUSED")):
        with pytest.raises(Problem) as info:
            await addresses(st, name)
        assert info.value.kind == "dns"
        assert info.value.detail == f"DNS lookup of {name} failed: the resolver {where} answered {rcode}"
    # Through a CNAME, the failing name is the one named.
    faulty_dns.cname["to-broken.plica.test"] = "broken.plica.test"
    with pytest.raises(Problem, match=re.escape("DNS lookup of broken.plica.test failed")):
        await lookup(st, "to-broken.plica.test", dns.rdatatype.TXT)
    # A name without records of the type is not an error.
    assert await lookup(st, "web.plica.test", dns.rdatatype.TXT) == []


async def test_truncated_answer_is_asked_again_over_tcp() -> None:
    # DNS over TCP answers on the UDP server's port number; a TCP socket of anything else on the machine
    # may already hold that number, so a server whose number is free for TCP too is looked for.
    for _ in range(20):
        faulty_dns = FaultyDNS()
        try:
            server = await asyncio.start_server(faulty_dns.tcp, "127.0.0.1", faulty_dns.port)
            break
        except OSError:
            faulty_dns.stop()
    else:
        pytest.fail("no port number free for both UDP and TCP")
    faulty_dns.start()
    try:
        faulty_dns.truncate = True
        faulty_dns.txt["big.plica.test"] = ["a" * 200, "b" * 200, "c" * 200]
        records = await lookup(state(faulty_dns, 80), "big.plica.test", dns.rdatatype.TXT)
        assert sorted(b"".join(r.strings) for r in records) == [b"a" * 200, b"b" * 200, b"c" * 200]
        assert faulty_dns.tcp_queries == 1
    finally:
        server.close()
        await server.wait_closed()
        faulty_dns.stop()


async def test_resolver_that_never_answers() -> None:
    silent = TestDNS()  # bound but never started: queries go unanswered
    try:
        st = state(silent, 80, timeout=0.3)
        with pytest.raises(Problem) as info:
            await lookup(st, "web.plica.test", dns.rdatatype.A)
        assert (info.value.kind, info.value.detail) == ("dns", "DNS lookup of web.plica.test timed out")
    finally:
        silent._sock.close()


async def test_an_address_that_drops_packets_does_not_use_up_the_timeout(
    dns_server: TestDNS, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 127.0.0.2 listens with a full accept queue, so the kernel drops further SYNs: a connect there hangs
    # as it would to a host whose address is black-holed. The name's AAAA (::1) has the responder.
    monkeypatch.setattr(http01, "CONNECT_ATTEMPT", 0.3)
    async with Peer(ok_length(KEY_AUTH.encode()), host="::1") as peer:
        hole = socket.socket()
        hole.bind(("127.0.0.2", peer.port))
        hole.listen(0)
        fillers = []
        for _ in range(3):
            c = socket.socket()
            c.setblocking(False)
            c.connect_ex(("127.0.0.2", peer.port))
            fillers.append(c)
        try:
            dns_server.a["dual.plica.test"] = "127.0.0.2"
            dns_server.aaaa["dual.plica.test"] = "::1"
            st = state(dns_server, peer.port, timeout=5.0)
            started = asyncio.get_running_loop().time()
            await http01.validate("dns", "dual.plica.test", TOKEN, KEY_AUTH, st)
            assert asyncio.get_running_loop().time() - started < 3.0
            await peer.all_closed()
        finally:
            for c in fillers:
                c.close()
            hole.close()
