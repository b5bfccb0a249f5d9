"""http-01 (RFC 8555 §8.3, RFC 8738 §3 for IP identifiers).

GET http://<identifier>:<httpPort>/.well-known/acme-challenge/<token>, following up to 10 redirects (to
the validation ports only); the
body, trailing whitespace trimmed, must be the key authorization. Each validation has its own connector
with `force_close`, so no connection outlives the check.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver
from yarl import URL

from ..problems import Problem
from ..provisioner import ACMEState
from .resolve import addresses

MAX_BODY = 8192
MAX_REDIRECTS = 10
USER_AGENT = "plica-acme-validator/1"


class _Resolver(AbstractResolver):
    """aiohttp's name resolution through the provisioner's DNS resolver."""

    def __init__(self, state: ACMEState) -> None:
        self.state = state

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[Any]:
        try:
            addrs = await addresses(self.state, host)
        except Problem as p:
            raise OSError(p.detail) from None
        return [
            {
                "hostname": host,
                "host": a,
                "port": port,
                "family": socket.AF_INET6 if ":" in a else socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
            for a in addrs
        ]

    async def close(self) -> None:
        return None


def challenge_url(id_type: str, value: str, token: str, port: int) -> str:
    host = value
    if id_type == "ip" and isinstance(ipaddress.ip_address(value), ipaddress.IPv6Address):
        host = f"[{value}]"
    netloc = host if port == 80 else f"{host}:{port}"
    return f"http://{netloc}/.well-known/acme-challenge/{token}"


def _redirect_target(current: URL, location: str, state: ACMEState) -> URL:
    """Where a redirect may lead: http or https on the validation ports only (as Let's Encrypt limits
    redirects to 80 and 443), so a responder cannot point the CA at arbitrary services."""
    nxt = current.join(URL(location))
    if nxt.scheme not in ("http", "https") or not nxt.host:
        raise Problem("connection", f"{current} redirected to {location!r}, which is not an http(s) URL")
    allowed = {"http": (80, state.http_port), "https": (443, state.tls_port)}[nxt.scheme]
    if nxt.port not in allowed:
        raise Problem(
            "connection",
            f"{current} redirected to port {nxt.port}; only ports {sorted(set(allowed))} are followed for {nxt.scheme}",
        )
    return nxt


async def _fetch(session: aiohttp.ClientSession, url: str, state: ACMEState) -> tuple[int, bytes, str]:
    current = URL(url)
    for _ in range(MAX_REDIRECTS + 1):
        async with session.get(current, allow_redirects=False) as resp:
            if resp.status in (301, 302, 303, 307, 308) and "Location" in resp.headers:
                current = _redirect_target(current, resp.headers["Location"], state)
                continue
            return resp.status, await resp.content.read(MAX_BODY), str(current)
    raise Problem("connection", f"{url}: more than {MAX_REDIRECTS} redirects")


async def validate(id_type: str, value: str, token: str, key_auth: str, state: ACMEState) -> None:
    url = challenge_url(id_type, value, token, state.http_port)
    connector = aiohttp.TCPConnector(
        force_close=True, limit=1, ssl=False, resolver=_Resolver(state) if state.resolver else None
    )
    timeout = aiohttp.ClientTimeout(total=state.timeout)
    try:
        async with aiohttp.ClientSession(
            connector=connector, timeout=timeout, headers={"User-Agent": USER_AGENT}
        ) as session:
            status, body, final = await _fetch(session, url, state)
    except aiohttp.ClientConnectorDNSError as e:
        raise Problem("dns", f"cannot resolve {value} for {url}: {e.os_error}") from None
    except aiohttp.ClientConnectorError as e:
        raise Problem("connection", f"cannot connect to {url}: {e.os_error}") from None
    except TimeoutError:
        raise Problem("connection", f"{url}: timed out after {state.timeout:g}s") from None
    except aiohttp.ClientError as e:
        raise Problem("connection", f"fetching {url} failed: {type(e).__name__}: {e}") from None
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
