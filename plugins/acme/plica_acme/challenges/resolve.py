"""DNS lookups for the validator: the provisioner's resolver (`validation.resolver`) or the system's.

CNAMEs are followed explicitly, so a record delegated with a CNAME (a common way to hand `_acme-challenge`
to another zone) is found even when the server answers only the alias (step-ca does not follow them): a
chain in one answer is walked there, and a chain that ends without the wanted type is asked for again at
its target. Nothing is cached: each attempt asks again, and each query uses its own socket.

With a configured resolver each query is one UDP exchange on a connected socket of its own (TCP when the
answer is truncated), written and read by `dnswire`, without dnspython's `Resolver`, asyncio backend and
message objects: a busy CA validates hundreds of names a second, and those were most of a lookup's CPU.
The system resolver's path (TXT lookups with no resolver configured) still uses the `Resolver`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import secrets
import socket
import struct
import time
from typing import Any

import dns.asyncresolver
import dns.exception
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.resolver

from ..problems import Problem
from ..provisioner import ACMEState
from . import dnswire
from .dnswire import Answer, Name

MAX_CNAME_HOPS = 10
_system: dns.asyncresolver.Resolver | None = None


class Unresolvable(Problem):
    """Problem("dns") for a host name without addresses, keeping the bare reason so that a caller can
    phrase its own message around it (http-01 names the URL it was fetching)."""

    def __init__(self, host: str, reason: str) -> None:
        super().__init__("dns", f"cannot resolve {host}: {reason}")
        self.reason = reason


def system_resolver(state: ACMEState) -> dns.asyncresolver.Resolver:
    """The resolver of /etc/resolv.conf, for TXT lookups when no resolver is configured."""
    global _system
    if _system is None:
        try:
            _system = dns.asyncresolver.Resolver()
        except (dns.resolver.NoResolverConfiguration, OSError) as e:
            raise Problem("dns", f"no DNS resolver is configured on the CA ({e})") from None
        _system.cache = None
    _system.timeout = state.timeout
    _system.lifetime = state.timeout
    return _system


async def _lookup_system(state: ACMEState, name: str, rdtype: dns.rdatatype.RdataType) -> list[Any]:
    res = system_resolver(state)
    qname = dns.name.from_text(name)
    seen = {qname}
    for _ in range(MAX_CNAME_HOPS):
        try:
            ans = await res.resolve(qname, rdtype, raise_on_no_answer=False, search=False)
        except dns.resolver.NXDOMAIN:
            raise Problem("dns", f"DNS name {qname.to_text(True)} does not exist (NXDOMAIN)") from None
        except dns.resolver.NoNameservers as e:
            raise Problem("dns", f"DNS lookup of {qname.to_text(True)} failed: {e}") from None
        except dns.exception.Timeout:
            raise Problem("dns", f"DNS lookup of {qname.to_text(True)} timed out") from None
        except dns.exception.DNSException as e:
            raise Problem("dns", f"DNS lookup of {qname.to_text(True)} failed: {e}") from None
        if ans.rrset is not None:
            return list(ans.rrset)
        canon = ans.canonical_name
        if canon == qname or canon in seen:
            return []
        seen.add(canon)
        qname = canon
    raise Problem("dns", f"more than {MAX_CNAME_HOPS} CNAMEs from {name}")


async def _udp(server: tuple[str, int], query: bytes, qid: int, name: Name, rdtype: int) -> Answer:
    host, port = server
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        # A connected socket: the kernel drops datagrams from anywhere but the resolver, and an ICMP "port
        # unreachable" comes back as ConnectionRefusedError instead of a wait for the timeout.
        sock.connect((host, port))
        await loop.sock_sendall(sock, query)
        while True:
            data = await loop.sock_recv(sock, 65535)
            try:
                return dnswire.decode_answer(data, qid, name, rdtype)
            except dnswire.WireError:
                continue  # as dnspython's Resolver does: a datagram that is not the answer is skipped


async def _tcp(server: tuple[str, int], query: bytes, qid: int, name: Name, rdtype: int) -> Answer:
    host, port = server
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(struct.pack("!H", len(query)) + query)
        (size,) = struct.unpack("!H", await reader.readexactly(2))
        data = await reader.readexactly(size)
    finally:
        writer.close()
    try:
        return dnswire.decode_answer(data, qid, name, rdtype)
    except dnswire.WireError as e:
        raise OSError(f"a malformed answer over TCP ({e})") from None


async def _exchange(server: tuple[str, int], name: Name, rdtype: int, deadline: float) -> Answer:
    """One query to the configured server, over TCP when the UDP answer is truncated; an answer with an
    rcode other than NOERROR becomes the Problem."""
    shown = dnswire.name_to_text(name)
    qid = secrets.randbits(16)
    query = dnswire.encode_query(qid, name, rdtype)
    try:
        async with asyncio.timeout(max(deadline - time.monotonic(), 0)):
            resp = await _udp(server, query, qid, name, rdtype)
            if resp.truncated:
                resp = await _tcp(server, query, qid, name, rdtype)
    except TimeoutError:
        raise Problem("dns", f"DNS lookup of {shown} timed out") from None
    except (OSError, EOFError, asyncio.IncompleteReadError) as e:
        raise Problem("dns", f"DNS lookup of {shown} failed: {e or type(e).__name__}") from None
    if resp.rcode == dnswire.NXDOMAIN:
        raise Problem("dns", f"DNS name {shown} does not exist (NXDOMAIN)")
    if resp.rcode != dnswire.NOERROR:
        host, port = server
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        answered = dns.rcode.to_text(dns.rcode.Rcode.make(resp.rcode))
        raise Problem("dns", f"DNS lookup of {shown} failed: the resolver {where} answered {answered}")
    return resp


async def _lookup_configured(
    state: ACMEState, server: tuple[str, int], name: str, rdtype: dns.rdatatype.RdataType
) -> list[Any]:
    deadline = time.monotonic() + state.timeout
    try:
        qname = dnswire.name_from_text(name)
    except dnswire.WireError as e:
        raise Problem("dns", f"DNS lookup of {name} failed: {e}") from None
    wanted = int(rdtype)
    seen = {qname}
    while True:
        resp = await _exchange(server, qname, wanted, deadline)
        asked = qname
        while True:
            found = [v for owner, t, v in resp.records if owner == qname and t == wanted]
            if found:
                return found
            alias = next((v for owner, t, v in resp.records if owner == qname and t == dnswire.CNAME), None)
            if alias is None:
                break
            assert isinstance(alias, tuple)
            if alias in seen:
                return []  # a CNAME loop: nothing of this type at the end of it
            if len(seen) > MAX_CNAME_HOPS:
                raise Problem("dns", f"more than {MAX_CNAME_HOPS} CNAMEs from {name}")
            seen.add(alias)
            qname = alias
        if qname == asked:
            return []  # the name exists without records of this type
        # The chain ended at a name this server did not answer for (another zone): ask about the target.


async def lookup(state: ACMEState, name: str, rdtype: dns.rdatatype.RdataType) -> list[Any]:
    """The records of `rdtype` at `name`, after following CNAMEs; [] when the name has none of that type.
    Raises Problem("dns") when the name does not exist or the resolver fails."""
    if state.resolver is None:
        return await _lookup_system(state, name, rdtype)
    return await _lookup_configured(state, state.resolver, name, rdtype)


async def addresses(state: ACMEState, host: str) -> list[str]:
    """The IP addresses to try for `host`, in order: itself if it is one, else A then AAAA records."""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    if state.resolver is None:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except OSError as e:
            raise Unresolvable(host, str(e)) from None
        return list(dict.fromkeys(i[4][0] for i in infos))
    # A and AAAA at the same time; one family failing is fine when the other answers.
    answers = await asyncio.gather(
        *(lookup(state, host, t) for t in (dns.rdatatype.A, dns.rdatatype.AAAA)), return_exceptions=True
    )
    out = [r.address for a in answers if isinstance(a, list) for r in a]
    if not out:
        for a in answers:
            if isinstance(a, BaseException):
                raise a
        raise Problem("dns", f"{host} has no A or AAAA record")
    return out
