"""http-01 (RFC 8555 §8.3, RFC 8738 §3 for IP identifiers).

GET http://<identifier>:<httpPort>/.well-known/acme-challenge/<token>, following up to 10 redirects; the
body, trailing whitespace trimmed, must be the key authorization. Each validation has its own connector
with `force_close`, so no connection outlives the check.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver

from ..problems import Problem
from ..provisioner import ACMEState
from .resolve import addresses

MAX_BODY = 8192
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


async def validate(id_type: str, value: str, token: str, key_auth: str, state: ACMEState) -> None:
    url = challenge_url(id_type, value, token, state.http_port)
    connector = aiohttp.TCPConnector(
        force_close=True, limit=1, ssl=False, resolver=_Resolver(state) if state.resolver else None
    )
    timeout = aiohttp.ClientTimeout(total=state.timeout)
    try:
        async with (
            aiohttp.ClientSession(
                connector=connector, timeout=timeout, headers={"User-Agent": USER_AGENT}
            ) as session,
            session.get(url, allow_redirects=True, max_redirects=10) as resp,
        ):
            body = await resp.content.read(MAX_BODY)
            status = resp.status
    except aiohttp.ClientConnectorDNSError as e:
        raise Problem("dns", f"cannot resolve {value} for {url}: {e.os_error}") from None
    except aiohttp.ClientConnectorError as e:
        raise Problem("connection", f"cannot connect to {url}: {e.os_error}") from None
    except aiohttp.TooManyRedirects:
        raise Problem("connection", f"{url}: too many redirects") from None
    except TimeoutError:
        raise Problem("connection", f"{url}: timed out after {state.timeout:g}s") from None
    except aiohttp.ClientError as e:
        raise Problem("connection", f"fetching {url} failed: {type(e).__name__}: {e}") from None
    if status != 200:
        raise Problem(
            "incorrectResponse", f"{url} answered HTTP {status}, not 200 with the key authorization"
        )
    text = body.decode("utf-8", "replace").rstrip(" \t\r\n")
    if text != key_auth:
        shown = text[:80] + ("..." if len(text) > 80 else "")
        raise Problem(
            "incorrectResponse",
            f"{url} answered {shown!r}, which is not the key authorization of this challenge",
        )
