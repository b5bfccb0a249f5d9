"""What every console page shares: the switch in ca.json, the session and the admin behind it, the CSRF
check of every form, the security headers, rendering, and HTML error pages (the kernel's JSON errors are
for API clients; a person gets a page saying what went wrong, with the same status)."""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web
from attrs import define

from plica.api import Admin, AuthorityView, PlicaError, get_admin

from .sessions import SESSION_COOKIE, Session, Settings, SignInLimiter, csrf_ok, end_session, load_session

log = logging.getLogger("plica.console")

PREFIX = "/console"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@define
class Console:
    authority: AuthorityView
    limiter: SignInLimiter
    static: dict[str, tuple[bytes, str]]

    @property
    def settings(self) -> Settings:
        return Settings.of(self.authority.config.extra)  # type: ignore[attr-defined]


CONSOLE: web.AppKey[Console] = web.AppKey("plica_console", Console)


@define
class Ctx:
    """One request to a signed-in page: the request, its session and the admin it belongs to."""

    request: web.Request
    console: Console
    session: Session | None = None
    admin: Admin | None = None
    form: dict[str, str] | None = None

    @property
    def storage(self) -> Any:
        return self.console.authority.storage

    def who(self) -> str:
        a = self.admin
        return f"{a.subject} ({a.provisioner}, {a.type})" if a else "anonymous"


def load_static() -> dict[str, tuple[bytes, str]]:
    """The console's CSS and images, read once at start-up (no file is read per request)."""
    types = {".css": "text/css", ".svg": "image/svg+xml", ".js": "text/javascript"}
    out = {}
    for f in resources.files("plica_console").joinpath("static").iterdir():
        ext = os.path.splitext(f.name)[1]
        if ext in types:
            out[f.name] = (f.read_bytes(), types[ext])
    return out


def setup_templates(app: web.Application) -> None:
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("plica_console", "templates"),
        autoescape=True,
        auto_reload=False,
        undefined=jinja2.StrictUndefined,
    )
    env.globals["prefix"] = PREFIX


def secure(resp: web.StreamResponse) -> web.StreamResponse:
    for k, v in HEADERS.items():
        resp.headers.setdefault(k, v)
    return resp


def render(ctx: Ctx, template: str, http_status: int = 200, **values: Any) -> web.Response:
    values.setdefault("admin", ctx.admin)
    values.setdefault("csrf", ctx.session.csrf if ctx.session else "")
    if ctx.admin is not None:
        values.setdefault("panels", [(p.name, p.title) for p in ctx.console.authority.admin_panels()])
    return aiohttp_jinja2.render_template(template, ctx.request, values, status=http_status)


def error_page(ctx: Ctx, status: int, message: str) -> web.Response:
    return render(ctx, "error.html", http_status=status, status_code=status, message=message)


def see_other(url: str) -> web.Response:
    return web.Response(status=303, headers={"Location": url})


def set_cookie(resp: web.StreamResponse, name: str, value: str, *, max_age: int | None = None) -> None:
    resp.set_cookie(name, value, path=PREFIX, secure=True, httponly=True, samesite="Strict", max_age=max_age)


Handler = Callable[[Ctx], Awaitable[web.StreamResponse]]


def page(*, signed_in: bool = True, super_admin: bool = False) -> Callable[[Handler], Any]:
    """Wrap a console handler: switch, session, admin, super-admin rule, CSRF of a POST, errors, headers."""

    def wrap(fn: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        @functools.wraps(fn)
        async def handler(request: web.Request) -> web.StreamResponse:
            console = request.app[CONSOLE]
            ctx = Ctx(request, console)
            started = time.perf_counter()
            try:
                resp = await _serve(ctx, fn, signed_in=signed_in, super_admin=super_admin)
            except web.HTTPException as e:
                if e.status < 400:
                    return secure(web.Response(status=e.status, headers=e.headers))
                resp = error_page(ctx, e.status, e.reason)
            except PlicaError as e:  # AdminError too
                resp = error_page(ctx, e.status, e.message if e.status < 500 else "internal error")
            except Exception:
                log.exception("console %s %s failed", request.method, request.path)
                resp = error_page(ctx, 500, "internal error: see the CA's log")
            # The page's own time on the server (bench/console_bench.py reads it; so can a browser's tools).
            resp.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
            return secure(resp)

        return handler

    return wrap


async def _serve(ctx: Ctx, fn: Handler, *, signed_in: bool, super_admin: bool) -> web.StreamResponse:
    request, console = ctx.request, ctx.console
    settings = console.settings
    if not settings.enabled:
        raise web.HTTPNotFound(reason="the console is turned off in ca.json")
    if signed_in:
        storage = console.authority.storage
        session = await load_session(storage, request.cookies.get(SESSION_COOKIE, ""), settings)
        if session is None:
            if request.method == "GET":
                raise web.HTTPSeeOther(f"{PREFIX}/signin")
            raise web.HTTPUnauthorized(reason="your session has ended: sign in again")
        admin = await get_admin(storage, session.admin_id)
        if admin is None:
            await end_session(storage, session)
            raise web.HTTPUnauthorized(reason="you are no longer an admin of this CA")
        ctx.session, ctx.admin = session, admin
        if super_admin and not admin.is_super:
            raise web.HTTPForbidden(reason="this page is for super admins only")
        if request.method == "POST":
            form = await request.post()
            ctx.form = {k: v for k, v in form.items() if isinstance(v, str)}
            if not csrf_ok(session.csrf, ctx.form.get("csrf")):
                raise web.HTTPForbidden(reason="the form's CSRF token is missing or wrong: reload the page")
    return await fn(ctx)
