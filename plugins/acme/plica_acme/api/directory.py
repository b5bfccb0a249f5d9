"""The directory (RFC 8555 §7.1.1, with RFC 9773's renewalInfo) and newNonce (§7.2)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .context import Ctx, json_response


def directory_document(ctx: Ctx) -> dict[str, Any]:
    doc: dict[str, Any] = ctx.links.directory_entries()
    if ctx.state.meta:
        doc["meta"] = dict(ctx.state.meta)
    return doc


async def directory(ctx: Ctx) -> web.StreamResponse:
    return json_response(directory_document(ctx))


async def new_nonce(ctx: Ctx) -> web.StreamResponse:
    # HEAD answers 200 and GET 204 (RFC 8555 §7.2); the nonce itself is taken here so that a database
    # failure is a problem document, not a response without a nonce.
    status = 200 if ctx.request.method == "HEAD" else 204
    resp = web.Response(status=status)
    resp.headers["Replay-Nonce"] = await ctx.rt.nonces.take()
    if status == 200:
        # Without an explicit length a client cannot tell where a HEAD answer ends and drops the
        # connection (aiohttp does: a new TLS handshake per nonce, ~6x the CPU of the request itself).
        resp.headers["Content-Length"] = "0"
    return resp
