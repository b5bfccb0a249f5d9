"""The provisioners page (the capability matrix, each provisioner as `GET /provisioners` shows it) and the
admins page (super admins only; the kernel's admin store keeps its own rules, such as never removing the
last super admin)."""

from __future__ import annotations

import json
import logging

from aiohttp import web

from plica.api import ADMIN_TYPES, CAPABILITIES, BadRequest, add_admin, get_admin, list_admins, remove_admin

from .base import PREFIX, Ctx, page, render, see_other

log = logging.getLogger("plica.console")


@page()
async def provisioners(ctx: Ctx) -> web.StreamResponse:
    a = ctx.console.authority
    caps = a.capabilities()
    blocks = a.public_provisioners()
    return render(
        ctx,
        "provisioners.html",
        columns=list(CAPABILITIES),
        rows=caps.get("provisionerTypes", []),
        broken=caps.get("brokenPlugins", []),
        provisioners=[
            {"name": p.get("name"), "type": p.get("type"), "json": json.dumps(p, indent=2, sort_keys=True)}
            for p in blocks
        ],
    )


@page(super_admin=True)
async def admins(ctx: Ctx) -> web.StreamResponse:
    return render(
        ctx,
        "admins.html",
        admins=await list_admins(ctx.storage),
        types=ADMIN_TYPES,
        provisioners=[str(p.get("name")) for p in ctx.console.authority.public_provisioners()],
    )


@page(super_admin=True)
async def admin_add(ctx: Ctx) -> web.StreamResponse:
    form = ctx.form or {}
    prov = form.get("provisioner", "")
    if ctx.console.authority.provisioner_by_name(prov) is None:
        raise BadRequest(f"there is no provisioner named {prov[:100]!r}")
    kind = form.get("type", "ADMIN")
    if kind not in ADMIN_TYPES:
        raise BadRequest(f"admin type must be one of {', '.join(ADMIN_TYPES)}")
    added = await add_admin(ctx.storage, form.get("subject", ""), prov, kind)  # type: ignore[arg-type]
    log.info("console: %s added admin %s (%s, %s)", ctx.who(), added.subject, added.provisioner, added.type)
    return see_other(f"{PREFIX}/admins")


@page(super_admin=True)
async def admin_remove(ctx: Ctx) -> web.StreamResponse:
    target = await get_admin(ctx.storage, ctx.request.match_info["id"])
    if target is None:
        raise web.HTTPNotFound(reason="no such admin")
    await remove_admin(ctx.storage, target.id)
    log.info(
        "console: %s removed admin %s (%s, %s)", ctx.who(), target.subject, target.provisioner, target.type
    )
    return see_other(f"{PREFIX}/admins")
