"""DNS lookups for the validator: the provisioner's resolver (`validation.resolver`) or the system's.

CNAMEs are followed explicitly, so a record delegated with a CNAME (a common way to hand `_acme-challenge`
to another zone) is found even when the server answers only the alias (step-ca does not follow them): a
chain in one answer is walked there, and a chain that ends without the wanted type is asked for again at
its target. Nothing is cached: each attempt asks again, and each query uses its own socket.

With a configured resolver each query is one `dns.asyncquery.udp` exchange on a plain socket (TCP when the
answer is truncated) and the answer is read here, without dnspython's `Resolver` and asyncio backend: a
busy CA validates hundreds of names a second, and their per-query objects (resolution state, datagram
transport, queue, task) were a quarter to a third of a lookup's CPU. The system resolver's path (TXT
lookups with no resolver configured) still uses the `Resolver`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from typing import Any

import dns.asyncbackend
import dns.asyncquery
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


class _UDPSocket(dns.asyncbackend.DatagramSocket):
    """A plain non-blocking socket for `dns.asyncquery.udp`: dnspython's asyncio backend builds a datagram
    transport, a queue and a task (its wait_for) for each query, a large share of the exchange's CPU; the
    loop's socket calls do the same exchange without them."""

    def __init__(self, family: int) -> None:
        super().__init__(family, socket.SOCK_DGRAM)
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.setblocking(False)

    async def sendto(self, what: bytes, destination: Any, timeout: float | None) -> int:
        return await asyncio.get_running_loop().sock_sendto(self.sock, what, destination)

    async def recvfrom(self, size: int, timeout: float | None) -> tuple[bytes, Any]:
        try:
            async with asyncio.timeout(timeout):
                return await asyncio.get_running_loop().sock_recvfrom(self.sock, size)
        except TimeoutError:
            raise dns.exception.Timeout(timeout=timeout) from None

    async def close(self) -> None:
        self.sock.close()

    async def getpeername(self) -> Any:
        return self.sock.getpeername()

    async def getsockname(self) -> Any:
        return self.sock.getsockname()


async def _exchange(
    server: tuple[str, int], qname: dns.name.Name, rdtype: dns.rdatatype.RdataType, deadline: float
) -> dns.message.Message:
    """One query to the configured server, over TCP when the UDP answer is truncated; an answer with an
    rcode other than NOERROR becomes the Problem."""
    host, port = server
    query = dns.message.make_query(qname, rdtype)
    shown = qname.to_text(True)
    try:
        try:
            # As dnspython's Resolver does: datagrams from elsewhere or that do not parse as the answer to
            # this query are skipped rather than ending the lookup, so a stray packet cannot fail it.
            async with _UDPSocket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
                resp = await dns.asyncquery.udp(
                    query,
                    host,
                    timeout=deadline - time.monotonic(),
                    port=port,
                    raise_on_truncation=True,
                    ignore_unexpected=True,
                    ignore_errors=True,
                    sock=sock,
                )
        except dns.message.Truncated:
            resp = await dns.asyncquery.tcp(query, host, timeout=deadline - time.monotonic(), port=port)
    except dns.exception.Timeout:
        raise Problem("dns", f"DNS lookup of {shown} timed out") from None
    except (dns.exception.DNSException, OSError, EOFError) as e:
        raise Problem("dns", f"DNS lookup of {shown} failed: {e}") from None
    rcode = resp.rcode()
    if rcode == dns.rcode.NXDOMAIN:
        raise Problem("dns", f"DNS name {shown} does not exist (NXDOMAIN)")
    if rcode != dns.rcode.NOERROR:
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        answered = dns.rcode.to_text(rcode)
        raise Problem("dns", f"DNS lookup of {shown} failed: the resolver {where} answered {answered}")
    return resp


async def _lookup_configured(
    state: ACMEState, server: tuple[str, int], name: str, rdtype: dns.rdatatype.RdataType
) -> list[Any]:
    deadline = time.monotonic() + state.timeout
    qname = dns.name.from_text(name)
    seen = {qname}
    while True:
        resp = await _exchange(server, qname, rdtype, deadline)
        asked = qname
        while True:
            rrset = resp.get_rrset(resp.answer, qname, dns.rdataclass.IN, rdtype)
            if rrset is not None:
                return list(rrset)
            alias = resp.get_rrset(resp.answer, qname, dns.rdataclass.IN, dns.rdatatype.CNAME)
            if alias is None:
                break
            target = alias[0].target
            if target in seen:
                return []  # a CNAME loop: nothing of this type at the end of it
            if len(seen) > MAX_CNAME_HOPS:
                raise Problem("dns", f"more than {MAX_CNAME_HOPS} CNAMEs from {name}")
            seen.add(target)
            qname = target
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
