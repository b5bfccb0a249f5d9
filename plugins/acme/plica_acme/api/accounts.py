"""Accounts (RFC 8555 §7.3): newAccount (with EAB), account update and deactivation, the orders list, and
key rollover (§7.3.5; step-ca answers 501, Plica implements it)."""

from __future__ import annotations

import secrets
import time
from typing import Any

import orjson
from aiohttp import web
from attrs import evolve

from plica.api import StorageError, thumbprint

from .. import eab
from ..model import Account, parse_public_jwk
from ..problems import Problem, malformed, unauthorized
from .context import Ctx, json_response
from .jws import check_alg, parse_flattened, verify

MAX_CONTACTS = 10
ORDERS_PAGE = 100


def account_json(ctx: Ctx, acc: Account) -> dict[str, Any]:
    out: dict[str, Any] = {
        "status": acc.status,
        "contact": acc.contact,
        "orders": ctx.links.account_orders(acc.id),
    }
    if acc.tos_agreed:
        out["termsOfServiceAgreed"] = True
    return out


def check_contacts(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        raise malformed("contact must be a list of URL strings")
    if len(value) > MAX_CONTACTS:
        raise Problem("invalidContact", f"at most {MAX_CONTACTS} contacts are allowed")
    out = []
    for c in value:
        scheme, sep, addr = c.partition(":")
        if not sep or scheme.lower() != "mailto":
            raise Problem("unsupportedContact", f"contact {c!r} is not supported: only mailto: URLs are")
        local, at, domain = addr.partition("@")
        if (
            not at
            or not local
            or "." not in domain
            or any(ch in addr for ch in "?,;<> \t\r\n")
            or len(addr) > 254
        ):
            raise Problem("invalidContact", f"contact {c!r} is not a valid mailto: address")
        out.append(f"mailto:{addr}")
    return out


def _answer(ctx: Ctx, acc: Account, status: int = 200) -> web.Response:
    return json_response(account_json(ctx, acc), status, {"Location": ctx.links.account(acc.id)})


def _existing(ctx: Ctx, acc: Account) -> web.Response:
    if acc.status != "valid":
        raise unauthorized(f"the account of this key is {acc.status}")
    return _answer(ctx, acc)


async def new_account(ctx: Ctx) -> web.StreamResponse:
    s = await ctx.auth("jwk")
    assert s.jwk is not None
    p = s.payload()
    tp = thumbprint(s.jwk)
    found = await ctx.store.account_by_thumbprint(ctx.prov.name, tp)
    if found is not None:
        return _existing(ctx, found)
    if p.get("onlyReturnExisting") is True:
        raise Problem("accountDoesNotExist", "no account exists for this key")
    contact = check_contacts(p.get("contact"))
    tos = p.get("termsOfServiceAgreed")
    if tos is not None and not isinstance(tos, bool):
        raise malformed("termsOfServiceAgreed must be a boolean")
    terms = ctx.state.meta.get("termsOfService")
    if terms and tos is not True:
        raise Problem(
            "userActionRequired",
            "the terms of service must be agreed to (termsOfServiceAgreed: true)",
            headers={"Link": f'<{terms}>;rel="terms-of-service"'},
        )
    eab_kid: str | None = None
    if p.get("externalAccountBinding") is not None:
        eab_kid = await eab.verify_binding(
            ctx.store, ctx.prov.name, p["externalAccountBinding"], s.jwk, s.url
        )
    elif ctx.state.require_eab:
        raise Problem(
            "externalAccountRequired", f"provisioner {ctx.prov.name!r} requires an external account binding"
        )
    store = ctx.store
    acc = Account(
        id=secrets.token_urlsafe(16),
        provisioner=ctx.prov.name,
        jwk=s.jwk,
        jwk_text=orjson.dumps(s.jwk).decode(),
        thumbprint=tp,
        status="valid",
        contact=contact,
        tos_agreed=bool(tos),
        eab_key_id=eab_kid,
        created=int(time.time()),
    )
    if eab_kid is not None and not await store.bind_eab_key(eab_kid, acc.id, acc.created):
        raise unauthorized(f"external account binding key {eab_kid!r} is already bound to an account")
    if not await store.add_account(acc):
        # Another request registered the same key first: that account is the answer.
        if eab_kid is not None:
            await store.unbind_eab_key(eab_kid, acc.id)
        found = await store.account_by_thumbprint(ctx.prov.name, tp)
        if found is None:
            raise Problem("serverInternal", "the account could not be stored")
        return _existing(ctx, found)
    return _answer(ctx, acc, 201)


def _own(ctx: Ctx, acc: Account) -> None:
    if ctx.request.match_info["acc"] != acc.id:
        raise unauthorized("the account in the URL is not the account that signed the request")


async def account(ctx: Ctx) -> web.StreamResponse:
    s = await ctx.auth("kid")
    acc = s.require_account()
    _own(ctx, acc)
    p = s.payload()
    if "contact" in p:
        acc = evolve(acc, contact=check_contacts(p["contact"]))
        await ctx.store.set_contact(acc.id, acc.contact)
    if "status" in p:
        if p["status"] != "deactivated":
            raise malformed('the only status a client may set on its account is "deactivated"')
        await ctx.store.deactivate_account(acc.id)
        acc = evolve(acc, status="deactivated")
    return _answer(ctx, acc)


async def account_orders(ctx: Ctx) -> web.StreamResponse:
    s = await ctx.auth("kid")
    acc = s.require_account()
    _own(ctx, acc)
    raw = ctx.request.query.get("cursor", "0")
    # An offset into the account's orders: a database integer, so at most 2^31-1 (and digits only).
    if not raw.isascii() or not raw.isdigit() or len(raw) > 10 or int(raw) >= 2**31:
        raise malformed("cursor must be a number from 0 to 2147483647")
    cursor = int(raw)
    ids = await ctx.store.account_order_ids(acc.id, int(time.time()), ORDERS_PAGE + 1, cursor)
    resp = json_response({"orders": [ctx.links.order(i) for i in ids[:ORDERS_PAGE]]})
    if len(ids) > ORDERS_PAGE:
        nxt = f"{ctx.links.account_orders(acc.id)}?cursor={cursor + ORDERS_PAGE}"
        resp.headers.add("Link", f'<{nxt}>;rel="next"')
    return resp


async def key_change(ctx: Ctx) -> web.StreamResponse:
    s = await ctx.auth("kid")
    acc = s.require_account()
    fl = parse_flattened(s.payload(), "keyChange inner JWS")
    h = fl.protected
    alg = check_alg(h)
    if "jwk" not in h or "kid" in h:
        raise malformed("the keyChange inner JWS must carry the new key as jwk (and no kid)")
    if "nonce" in h:
        raise malformed("the keyChange inner JWS must not have a nonce")
    if h.get("url") != s.url:
        raise unauthorized("the keyChange inner JWS url does not match the request URL")
    new_jwk = h["jwk"]
    new_key = parse_public_jwk(new_jwk)
    verify(fl, alg, new_key)
    try:
        inner = orjson.loads(fl.payload_bytes())
    except orjson.JSONDecodeError:
        raise malformed("the keyChange inner payload is not valid JSON") from None
    if not isinstance(inner, dict):
        raise malformed("the keyChange inner payload must be a JSON object")
    if inner.get("account") != s.protected.get("kid"):
        raise unauthorized("the keyChange inner payload names another account")
    old = inner.get("oldKey")
    try:
        old_tp = thumbprint(old) if isinstance(old, dict) else None
    except (ValueError, KeyError):
        old_tp = None
    if old_tp != acc.thumbprint:
        raise unauthorized("oldKey in the keyChange inner payload is not the account's current key")
    new_tp = thumbprint(new_jwk)
    if new_tp == acc.thumbprint:
        raise malformed("the new key is the account's current key")
    other = await ctx.store.account_by_thumbprint(ctx.prov.name, new_tp)
    conflict = Problem(
        "malformed",
        "the new key is already the key of another account",
        status=409,
        headers={"Location": ctx.links.account(other.id)} if other else None,
    )
    if other is not None:
        raise conflict
    jwk_text = orjson.dumps(new_jwk).decode()
    try:
        changed = await ctx.store.change_key(acc.id, acc.thumbprint, new_tp, jwk_text)
    except StorageError:
        raise conflict from None
    if not changed:
        raise unauthorized("the account key was changed by another request; retry with the current key")
    return _answer(ctx, evolve(acc, jwk=new_jwk, jwk_text=jwk_text, thumbprint=new_tp))
