"""SSH certificates: search (the kernel's SSH inventory, `list_ssh_certificates`) and revocation after a
confirmation, as for X.509."""

from __future__ import annotations

import logging
import time

from aiohttp import web

from plica.api import AlreadyRevoked, Conflict, NotFound, get_ssh_certificate, list_ssh_certificates

from .base import PREFIX, Ctx, page, render, see_other
from .pages import REASONS, STATUSES

log = logging.getLogger("plica.console")
PAGE_SIZE = 50


@page()
async def ssh_certificates(ctx: Ctx) -> web.StreamResponse:
    q = ctx.request.query
    query = {
        k: q[k].strip() for k in ("name", "type", "provisioner", "status", "cursor") if q.get(k, "").strip()
    }
    result = await list_ssh_certificates(ctx.storage, {**query, "limit": str(PAGE_SIZE)})
    return render(
        ctx,
        "ssh.html",
        certs=result["certificates"],
        next_cursor=result["nextCursor"],
        search={k: v for k, v in q.items() if k != "cursor"},
        provisioners=[str(p.get("name")) for p in ctx.console.authority.public_provisioners()],
        statuses=STATUSES,
        reasons=REASONS,
    )


@page()
async def ssh_revoke(ctx: Ctx) -> web.StreamResponse:
    serial = ctx.request.match_info["serial"]
    cert = await get_ssh_certificate(ctx.storage, serial) if serial.isdigit() and len(serial) < 30 else None
    if cert is None:
        raise NotFound("no such SSH certificate")
    form = ctx.form or {}
    code = form.get("reason_code", "0")
    if code not in REASONS:
        raise web.HTTPBadRequest(reason=f"unknown revocation reason code {code[:10]!r}")
    reason = form.get("reason", "").strip()[:200]
    if form.get("confirm") != "yes":
        return render(ctx, "ssh_revoke_confirm.html", cert=cert, code=code, reason=reason, reasons=REASONS)
    try:
        await ctx.storage.revoke_ssh(
            serial, provisioner_id=cert["provisionerId"], reason_code=int(code), reason=reason, token_id=None,
            now=int(time.time()),
        )  # fmt: skip
    except AlreadyRevoked:
        raise Conflict(f"SSH certificate {serial} is already revoked") from None
    log.info(
        "console: %s revoked SSH %s certificate %s (key id %r) of provisioner %s: %s %r",
        ctx.who(), cert["type"], serial, cert["keyId"], cert["provisioner"], REASONS[code], reason,
    )  # fmt: skip
    return see_other(f"{PREFIX}/ssh?status=revoked")
