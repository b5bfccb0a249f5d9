"""DNS lookups for the validator: the provisioner's resolver (`validation.resolver`) or the system's.

CNAMEs are followed explicitly, one query per hop, so a record delegated with a CNAME (a common way to
hand `_acme-challenge` to another zone) is found even when the server answers only the alias (step-ca
does not follow them). Nothing is cached: each attempt asks again, and each query uses its own socket.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Any

import dns.asyncresolver
import dns.exception
import dns.name
import dns.nameserver
import dns.rdatatype
import dns.resolver

from ..problems import Problem
from ..provisioner import ACMEState

MAX_CNAME_HOPS = 10
_system: dns.asyncresolver.Resolver | None = None
_configured: dict[tuple[Any, ...], dns.asyncresolver.Resolver] = {}


def resolver_for(state: ACMEState) -> dns.asyncresolver.Resolver:
    global _system
    if state.resolver is None:
        if _system is None:
            try:
                _system = dns.asyncresolver.Resolver()
            except (dns.resolver.NoResolverConfiguration, OSError) as e:
                raise Problem("dns", f"no DNS resolver is configured on the CA ({e})") from None
            _system.cache = None
        r = _system
    else:
        # One resolver per configured server and timeout: building one costs more than the query.
        key = (*state.resolver, state.timeout)
        r = _configured.get(key)
        if r is None:
            host, port = state.resolver
            r = dns.asyncresolver.Resolver(configure=False)
            r.nameservers = [dns.nameserver.Do53Nameserver(host, port)]
            r.cache = None
            _configured[key] = r
    r.timeout = state.timeout
    r.lifetime = state.timeout
    return r


async def lookup(state: ACMEState, name: str, rdtype: dns.rdatatype.RdataType) -> list[Any]:
    """The records of `rdtype` at `name`, after following CNAMEs; [] when the name has none of that type.
    Raises Problem("dns") when the name does not exist or the resolver fails."""
    res = resolver_for(state)
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


async def addresses(state: ACMEState, host: str) -> list[str]:
    """The IP addresses to try for `host`: itself if it is one, else A and AAAA records."""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    if state.resolver is None:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except OSError as e:
            raise Problem("dns", f"cannot resolve {host}: {e}") from None
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
