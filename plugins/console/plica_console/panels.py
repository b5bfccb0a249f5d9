"""Plugins' pages (the kernel's `admin_panels` hook): ACME's accounts, orders and EAB keys, and whatever
another plugin offers. The console renders the tables and runs the actions; each action is the plugin's
own function with its own checks. An action's result (a new key's secret) is shown once, never logged."""

from __future__ import annotations

import logging

from aiohttp import web

from plica.api import AdminPanel, NotFound

from .base import PREFIX, Ctx, page, render, see_other

log = logging.getLogger("plica.console")


def _panel(ctx: Ctx) -> AdminPanel:
    name = ctx.request.match_info["panel"]
    found = next((p for p in ctx.console.authority.admin_panels() if p.name == name), None)
    if found is None:
        raise NotFound(f"no plugin offers a page named {name[:60]!r}")
    return found


async def _show(
    ctx: Ctx, panel: AdminPanel, result: dict[str, str] | None = None, done: str = ""
) -> web.Response:
    admin = ctx.admin
    actions = [a for a in panel.actions if admin is not None and (admin.is_super or not a.super_admin)]
    row_actions = {a.name: a for a in actions}
    tables = await panel.tables(ctx.console.authority)
    forms = [a for a in actions if all(t.row_action != a.name for t in tables)]
    return render(ctx, "panel.html", panel=panel, tables=tables, forms=forms, row_actions=row_actions,
                  result=result or {}, done=done)  # fmt: skip


@page()
async def panel_page(ctx: Ctx) -> web.StreamResponse:
    return await _show(ctx, _panel(ctx))


@page()
async def panel_action(ctx: Ctx) -> web.StreamResponse:
    panel = _panel(ctx)
    name = ctx.request.match_info["action"]
    action = next((a for a in panel.actions if a.name == name), None)
    if action is None:
        raise NotFound(f"{panel.title} has no action {name[:60]!r}")
    assert ctx.admin is not None
    if action.super_admin and not ctx.admin.is_super:
        raise web.HTTPForbidden(reason="this action is for super admins only")
    fields = {f: (ctx.form or {}).get(f, "") for f in action.fields}
    result = await action.run(ctx.console.authority, fields)
    log.info("console: %s ran %s %s with %s", ctx.who(), panel.name, action.name, fields)
    if not result:
        return see_other(f"{PREFIX}/plugins/{panel.name}")
    return await _show(ctx, panel, result, done=action.title)
