"""Authorizations and challenges (RFC 8555 §7.5): reading, deactivating, and asking for validation.

Responding to a challenge claims the authorization for that challenge with one conditional UPDATE and
hands it to the background validator; the request returns at once with the challenge `processing`.
device-attest-01 is the exception: its proof is in the request itself, so it is checked there and the
answer is the challenge `valid` or `invalid`.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any

from aiohttp import web
from attrs import evolve

from plica.api import rfc3339

from .. import attestation
from ..challenges import key_authorization
from ..model import Account, Authz
from ..problems import Problem, malformed, unauthorized
from ..provisioner import DEVICE_ATTEST_01
from .context import Ctx, json_response
from .jws import Signed

RETRY_AFTER = 1

log = logging.getLogger("plica.acme.attestation")


async def load_authz(ctx: Ctx, authz_id: str) -> Authz:
    a = await ctx.store.authz(authz_id, ctx.prov.name)
    if a is None:
        raise Problem("malformed", f"authorization {authz_id!r} does not exist", status=404)
    return a


async def _own_authz(ctx: Ctx) -> tuple[Signed, Authz]:
    """The signed request and the authorization of the URL, which must be the signing account's."""
    s = await ctx.auth()
    acc = s.require_account()
    a = await load_authz(ctx, ctx.request.match_info["authz"])
    if a.account_id != acc.id:
        raise unauthorized("this authorization belongs to another account")
    return s, a


def challenge_json(ctx: Ctx, a: Authz, ch_type: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": ch_type,
        "url": ctx.links.challenge(a.id, ch_type),
        "status": a.challenge_status(ch_type),
        "token": a.token,
    }
    if ch_type == a.ch_type:
        if a.validated and a.ch_status == "valid":
            out["validated"] = rfc3339(a.validated)
        if a.ch_error:
            out["error"] = a.ch_error
    return out


def authz_json(ctx: Ctx, a: Authz) -> dict[str, Any]:
    out: dict[str, Any] = {
        "identifier": {"type": a.id_type, "value": a.id_value},
        "status": a.current_status(),
        "expires": rfc3339(a.expires),
        "challenges": [challenge_json(ctx, a, t) for t in a.challenges],
    }
    if a.wildcard:
        out["wildcard"] = True
    return out


async def authz(ctx: Ctx) -> web.StreamResponse:
    s, a = await _own_authz(ctx)
    p = s.payload()
    if "status" in p:
        if p["status"] != "deactivated":
            raise malformed('the only status a client may set on an authorization is "deactivated"')
        if a.current_status() not in ("pending", "valid"):
            raise malformed(f"the authorization is {a.current_status()} and cannot be deactivated")
        err = Problem("unauthorized", f"the authorization of {a.id_value} was deactivated by the client")
        await ctx.store.deactivate_authz(a, err.stored())
        a = evolve(a, status="deactivated")
    body = authz_json(ctx, a)
    return json_response(body, 200, _poll_hint(body["status"] == "pending" and a.ch_status == "processing"))


async def challenge(ctx: Ctx) -> web.StreamResponse:
    s, a = await _own_authz(ctx)
    ch_type = ctx.request.match_info["challenge"]
    if ch_type not in a.challenges:
        raise Problem("malformed", f"the authorization has no {ch_type!r} challenge", status=404)
    payload = s.payload()  # {} or empty (POST-as-GET), or device-attest-01's {"attObj": ...}
    if ch_type == DEVICE_ATTEST_01 and not s.post_as_get:
        if a.ch_type is None and a.current_status() == "pending":
            if await ctx.store.start_challenge(a.id, ch_type, int(time.time())):
                await _attest(ctx, s.require_account(), a, payload)
            a = await load_authz(ctx, a.id)
    elif not s.post_as_get and a.ch_type is None and a.current_status() == "pending":
        if await ctx.store.start_challenge(a.id, ch_type, int(time.time())):
            a = evolve(a, ch_type=ch_type, ch_status="processing")
            ctx.rt.validator.submit(ctx.prov.name, a.id, ch_type)
        else:
            a = await load_authz(ctx, a.id)
    if not s.post_as_get and a.ch_type not in (None, ch_type) and a.ch_status == "processing":
        raise malformed(f"the {a.ch_type} challenge of this authorization is already being validated")
    body = challenge_json(ctx, a, ch_type)
    resp = json_response(body, 200, _poll_hint(body["status"] == "processing"))
    resp.headers.add("Link", f'<{ctx.links.authz(a.id)}>;rel="up"')
    return resp


async def _attest(ctx: Ctx, acc: Account, a: Authz, payload: dict[str, Any]) -> None:
    """Check a device-attest-01 response on the claimed authorization `a`: valid with what the attestation
    vouches for, or invalid (and its order) with the problem naming the failed check."""
    state = ctx.state
    try:
        result = attestation.check(
            payload,
            identifier=a.id_value,
            token=a.token,
            key_auth=key_authorization(a.token, acc.thumbprint),
            formats=state.attestation_formats,
            roots=state.attestation_roots,
            now=dt.datetime.now(dt.UTC),
        )
    except Problem as p:
        log.info("ACME device-attest-01 of %s (authorization %s) failed: %s", a.id_value, a.id, p.detail)
        await ctx.rt.validator.fail(a.id, p)
        return
    except Exception as e:  # a statement no check foresaw must still fail the challenge, not the request
        log.exception("ACME device-attest-01 of %s: unexpected error", a.id_value)
        await ctx.rt.validator.fail(
            a.id,
            Problem("badAttestationStatement", f"the attestation cannot be verified ({type(e).__name__})"),
        )
        return
    await ctx.store.challenge_attested(a.id, int(time.time()), result.json())
    log.info("ACME device-attest-01 of %s (authorization %s, %s) is valid", a.id_value, a.id, result.format)


def _poll_hint(busy: bool) -> dict[str, str]:
    # Clients poll while the validator works; without a hint some wait 5 s between polls (lego).
    return {"Retry-After": str(RETRY_AFTER)} if busy else {}
