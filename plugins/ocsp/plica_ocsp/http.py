"""The responder's HTTP side (RFC 6960 Appendix A): POST of a DER request, GET with its base64 in the path."""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import AsyncIterator

from aiohttp import web

from plica.api import AuthorityView, Route, hookimpl
from plica_ocsp.responder import MALFORMED, RESPONSE_VALIDITY, Responder

RESPONDER: web.AppKey[Responder] = web.AppKey("plica_ocsp.responder", Responder)
# An OCSP request is a few hundred octets (a signed one with its certificates a few KiB).
MAX_REQUEST = 16 * 1024
CONTENT_TYPE = "application/ocsp-response"


def _reply(der: bytes, *, cacheable: bool) -> web.Response:
    headers = {}
    if cacheable:  # RFC 5019 §6: a GET answer without a nonce may be cached until it is refreshed
        headers["Cache-Control"] = f"max-age={int(RESPONSE_VALIDITY.total_seconds())}, public, no-transform"
    return web.Response(body=der, content_type=CONTENT_TYPE, headers=headers)


async def post(request: web.Request) -> web.Response:
    body = await request.content.read(MAX_REQUEST + 1)
    if len(body) > MAX_REQUEST:
        return _reply(MALFORMED, cacheable=False)
    der, _ = await request.app[RESPONDER].respond(body)
    return _reply(der, cacheable=False)


async def get(request: web.Request) -> web.Response:
    # The path segment is the URL-encoded base64 of the DER request; aiohttp has undone the URL encoding.
    raw = request.match_info["request"]
    if len(raw) > MAX_REQUEST * 4 // 3 + 4:
        return _reply(MALFORMED, cacheable=False)
    try:
        der = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        try:
            der = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
        except (binascii.Error, ValueError):
            return _reply(MALFORMED, cacheable=False)
    resp, cacheable = await request.app[RESPONDER].respond(der)
    return _reply(resp, cacheable=cacheable)


@hookimpl
def http_routes(authority: AuthorityView) -> list[Route]:
    return [
        # Signed answers about public facts: served on insecureAddress too, where OCSP clients expect it.
        Route("POST", "/ocsp", post, name="ocsp-post", insecure=True),
        Route("GET", "/ocsp/{request:.+}", get, name="ocsp-get", insecure=True),
    ]


@hookimpl
def http_setup(app: web.Application, authority: AuthorityView) -> None:
    r = Responder(authority)
    app[RESPONDER] = r

    async def renewing(app: web.Application) -> AsyncIterator[None]:
        await r.renew()  # the first certificate, before the server takes requests
        task = asyncio.create_task(r.renew_forever())
        yield
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    app.cleanup_ctx.append(renewing)
