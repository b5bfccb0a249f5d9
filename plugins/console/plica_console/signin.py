"""Signing in and out: the admin JWK provisioner's password, an admin client certificate over TLS, or single
sign-on through an OIDC provisioner. Each way ends at the kernel's admin store: whoever signs in must be an
admin of the provisioner they proved themselves to (`find_admin`, `admin_for_certificate`)."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time

import aiohttp
from aiohttp import web

from plica.api import (
    Admin,
    JOSEError,
    admin_for_certificate,
    find_admin,
    jwe_decrypt_pbes2,
    peer_certificate,
)

from . import sso
from .base import PREFIX, Ctx, page, render, see_other, set_cookie
from .sessions import (
    FLOW_COOKIE,
    FLOW_LIFETIME,
    SESSION_COOKIE,
    Flow,
    anonymous_csrf,
    create_session,
    csrf_ok,
    end_session,
    save_flow,
    take_flow,
)

log = logging.getLogger("plica.console")
PRE_COOKIE = "plica_console_pre"


def _providers(ctx: Ctx, kind: str) -> list[str]:
    return [
        str(p["name"])
        for p in ctx.console.authority.public_provisioners()
        if str(p.get("type", "")).upper() == kind
    ]


@page(signed_in=False)
async def signin_page(ctx: Ctx) -> web.StreamResponse:
    pre = ctx.request.cookies.get(PRE_COOKIE, "")
    if len(pre) != 43:
        pre = secrets.token_urlsafe(32)
    resp = render(
        ctx,
        "signin.html",
        csrf=anonymous_csrf(pre),
        jwk=_providers(ctx, "JWK"),
        oidc=_providers(ctx, "OIDC"),
        message=ctx.request.query.get("m", "")[:200],
    )
    set_cookie(resp, PRE_COOKIE, pre)
    return resp


async def _signin_form(ctx: Ctx) -> dict[str, str]:
    """The posted sign-in form, after the rate limit and the pre-session CSRF check."""
    request = ctx.request
    if not ctx.console.limiter.allow(request.remote or "?"):
        raise web.HTTPTooManyRequests(reason="too many sign-in attempts: wait a few minutes")
    form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
    pre = request.cookies.get(PRE_COOKIE, "")
    if not pre or not csrf_ok(anonymous_csrf(pre), form.get("csrf")):
        raise web.HTTPForbidden(reason="the form's CSRF token is missing or wrong: reload the sign-in page")
    return form


async def _start_session(ctx: Ctx, admin: Admin, method: str, resp: web.StreamResponse) -> web.StreamResponse:
    raw, _ = await create_session(ctx.storage, admin.id, method)
    set_cookie(resp, SESSION_COOKIE, raw)
    resp.del_cookie(PRE_COOKIE, path=PREFIX)
    log.info("console: %s (%s, %s) signed in with %s", admin.subject, admin.provisioner, admin.type, method)
    return resp


def _refused(ctx: Ctx, message: str, status: int = 401) -> web.Response:
    log.info("console: sign-in from %s refused: %s", ctx.request.remote, message)
    return render(ctx, "error.html", http_status=status, status_code=status, message=message)


@page(signed_in=False)
async def signin_password(ctx: Ctx) -> web.StreamResponse:
    form = await _signin_form(ctx)
    name, subject, password = form.get("provisioner", ""), form.get("subject", ""), form.get("password", "")
    block = next(
        (
            p
            for p in ctx.console.authority.public_provisioners()
            if str(p.get("type", "")).upper() == "JWK" and p.get("name") == name
        ),
        None,
    )
    if block is None or not isinstance(block.get("encryptedKey"), str):
        return _refused(ctx, f"provisioner {name!r} has no password to sign in with", 400)
    try:
        # Decrypting proves the password; PBES2's key stretching runs off the event loop.
        await asyncio.to_thread(jwe_decrypt_pbes2, block["encryptedKey"], password.encode())
    except (JOSEError, ValueError):
        return _refused(ctx, "wrong password")
    admin = await find_admin(ctx.storage, [subject.strip()], name)
    if admin is None:
        return _refused(ctx, f"{subject!r} is not an admin of provisioner {name!r}", 403)
    return await _start_session(ctx, admin, f"the password of provisioner {name}", see_other(f"{PREFIX}/"))


@page(signed_in=False)
async def signin_certificate(ctx: Ctx) -> web.StreamResponse:
    await _signin_form(ctx)
    cert = peer_certificate(ctx.request)
    if cert is None:
        return _refused(ctx, "your browser presented no client certificate", 400)
    admin = await admin_for_certificate(ctx.console.authority, cert)
    return await _start_session(ctx, admin, "a client certificate", see_other(f"{PREFIX}/"))


@page(signed_in=False)
async def sso_start(ctx: Ctx) -> web.StreamResponse:
    request = ctx.request
    if not ctx.console.limiter.allow(request.remote or "?"):
        raise web.HTTPTooManyRequests(reason="too many sign-in attempts: wait a few minutes")
    block = sso.oidc_block(ctx.console.authority.public_provisioners(), request.match_info["name"])
    config = ctx.console.authority.config  # type: ignore[attr-defined]
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    redirect_uri = sso.callback_url(
        request.headers.get("Host", ""),
        dns_names=list(config.dns_names),
        address=str(config.address),
        local_port=int(sockname[1]) if isinstance(sockname, tuple) and len(sockname) > 1 else None,
        external_url=ctx.console.settings.external_url,
    )
    verifier, challenge = sso.pkce_pair()
    flow = Flow(
        state=secrets.token_urlsafe(24),
        provisioner=str(block["name"]),
        verifier=verifier,
        nonce=secrets.token_urlsafe(24),
        binding=secrets.token_urlsafe(24),
        redirect_uri=redirect_uri,
        created_at=int(time.time()),
    )
    async with aiohttp.ClientSession(timeout=sso.TIMEOUT, trust_env=False) as http:
        url = sso.authorize_url(await sso.discovery(http, block), block, flow, challenge)
    await save_flow(ctx.storage, flow)
    resp = see_other(url)
    # Lax, not Strict: it must come back with the provider's redirect, a navigation from another site. It
    # holds nothing but the binding of this flow to this browser (no sign-in can be slipped to another).
    resp.set_cookie(
        FLOW_COOKIE, flow.binding, path=f"{PREFIX}/sso", secure=True, httponly=True, samesite="Lax",
        max_age=FLOW_LIFETIME,
    )  # fmt: skip
    return resp


@page(signed_in=False)
async def sso_callback(ctx: Ctx) -> web.StreamResponse:
    q = ctx.request.query
    flow = await take_flow(ctx.storage, q.get("state", ""))
    if flow is None:
        return _refused(ctx, "this sign-in is unknown or has expired: start again", 400)
    if not csrf_ok(flow.binding, ctx.request.cookies.get(FLOW_COOKIE, "")):
        return _refused(ctx, "this sign-in was started in another browser", 400)
    if q.get("error"):
        return _refused(ctx, f"the OpenID provider refused: {q.get('error', '')[:100]}")
    block = sso.oidc_block(ctx.console.authority.public_provisioners(), flow.provisioner)
    async with aiohttp.ClientSession(timeout=sso.TIMEOUT, trust_env=False) as http:
        claims = await sso.exchange(http, block, flow, q.get("code", ""))
    names = sso.subjects(claims)
    admin = await find_admin(ctx.storage, names, flow.provisioner)
    if admin is None:
        return _refused(
            ctx, f"{(names or ['you'])[0]!r} is not an admin of provisioner {flow.provisioner!r}", 403
        )
    # A page, not a redirect: the session cookie is SameSite=Strict, and a redirect chain that began at the
    # provider would not carry it; the page's own link (and refresh) is a navigation from this site.
    resp = render(ctx, "signed_in.html", subject=admin.subject)
    resp.del_cookie(FLOW_COOKIE, path=f"{PREFIX}/sso")
    return await _start_session(ctx, admin, f"single sign-on ({flow.provisioner})", resp)


@page()
async def signout(ctx: Ctx) -> web.StreamResponse:
    assert ctx.session is not None
    await end_session(ctx.storage, ctx.session)
    log.info("console: %s signed out", ctx.who())
    resp = see_other(f"{PREFIX}/signin")
    resp.del_cookie(SESSION_COOKIE, path=PREFIX)
    return resp
