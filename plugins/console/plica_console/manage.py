"""The provisioners page (the capability matrix, each provisioner as `GET /provisioners` shows it) and the
admins page (super admins only; the kernel's admin store keeps its own rules, such as never removing the
last super admin)."""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web

from plica.api import (
    ADMIN_TYPES,
    CAPABILITIES,
    BadRequest,
    add_admin,
    add_provisioner,
    change_provisioner,
    delete_provisioner,
    get_admin,
    list_admins,
    refresh_provisioners,
    remote_management,
    remove_admin,
    set_admin_type,
    stored_provisioner,
)

from .base import PREFIX, Ctx, page, render, see_other

log = logging.getLogger("plica.console")


@page()
async def provisioners(ctx: Ctx) -> web.StreamResponse:
    a = ctx.console.authority
    await refresh_provisioners(a)
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
        editable=remote_management(a),
    )


def _block(ctx: Ctx) -> dict[str, Any]:
    raw = (ctx.form or {}).get("block", "")
    try:
        block = json.loads(raw)
    except ValueError as e:
        raise BadRequest(f"the provisioner is not valid JSON: {e}") from None
    if not isinstance(block, dict) or not isinstance(block.get("name"), str) or not block.get("type"):
        raise BadRequest("a provisioner is a JSON object with at least a type and a name (a ca.json block)")
    return block


def _public(ctx: Ctx, name: str) -> dict[str, Any]:
    return next((p for p in ctx.console.authority.public_provisioners() if p.get("name") == name), {})


@page()
async def provisioner_add(ctx: Ctx) -> web.StreamResponse:
    p = await add_provisioner(ctx.console.authority, _block(ctx))
    log.info("console: %s added provisioner %s (%s)", ctx.who(), p.name, p.type)
    return see_other(f"{PREFIX}/provisioners")


@page()
async def provisioner_edit(ctx: Ctx) -> web.StreamResponse:
    name = ctx.request.match_info["name"]
    old = await stored_provisioner(ctx.console.authority, name)
    block, public = _block(ctx), _public(ctx, name)
    # The form shows what /provisioners shows: a redacted secret sent back unchanged keeps its stored value.
    for key, value in list(block.items()):
        if key in old.block and key in public and public[key] == value and old.block[key] != value:
            block[key] = old.block[key]
    p = await change_provisioner(ctx.console.authority, old, block)
    log.info("console: %s changed provisioner %s (%s)", ctx.who(), p.name, p.type)
    return see_other(f"{PREFIX}/provisioners")


@page()
async def provisioner_remove(ctx: Ctx) -> web.StreamResponse:
    old = await stored_provisioner(ctx.console.authority, ctx.request.match_info["name"])
    await delete_provisioner(ctx.console.authority, old)
    log.info("console: %s removed provisioner %s (%s)", ctx.who(), old.name, old.type)
    return see_other(f"{PREFIX}/provisioners")


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
async def admin_type(ctx: Ctx) -> web.StreamResponse:
    kind = (ctx.form or {}).get("type", "")
    if kind not in ADMIN_TYPES:
        raise BadRequest(f"admin type must be one of {', '.join(ADMIN_TYPES)}")
    changed = await set_admin_type(ctx.storage, ctx.request.match_info["id"], kind)  # type: ignore[arg-type]
    log.info("console: %s made admin %s (%s) %s", ctx.who(), changed.subject, changed.provisioner, kind)
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
