"""Orders (RFC 8555 §7.4): newOrder, the order resource, finalize, and certificate download (§7.4.2).

A new order is two statements (all its authorizations in one multi-row INSERT, then the order row).
Finalize claims the order with a conditional UPDATE (so two finalize requests cannot both issue), checks
the CSR with the kernel's rules (`parse_csr_der`, `rsa_too_short`), issues through the kernel (`authority.issue`: claims, templates, policy, the provisioner
extension, storage), and records the certificate chain on the order.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import secrets
import time
from typing import Any

import orjson
from aiohttp import web
from attrs import evolve
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from plica.api import (
    BadRequest,
    JOSEError,
    SignRequest,
    X509Authorization,
    b64url_decode,
    parse_csr_der,
    rfc3339,
    rsa_too_short,
)

from .. import limits
from ..identifiers import PERMANENT_IDENTIFIER, Identifier, challenge_types, parse_identifiers
from ..model import Authz, Order, order_status
from ..problems import Problem, malformed, unauthorized
from . import ari, device_attest
from .context import Ctx, json_response

ORDER_LIFETIME = 24 * 3600  # as step-ca
# The times an order may ask for: as the kernel's TimeDuration range, so the certificate's times always fit.
EARLIEST = dt.datetime(1950, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(9000, 1, 1, tzinfo=dt.UTC)


def _time(p: dict[str, Any], key: str) -> dt.datetime | None:
    v = p.get(key)
    if v is None or v == "":
        return None
    if not isinstance(v, str):
        raise malformed(f"{key} must be an RFC 3339 time string")
    shown = v if len(v) <= 64 else v[:64] + "..."
    try:
        t = dt.datetime.fromisoformat(v)
    except ValueError:
        raise malformed(f"{key} {shown!r} is not an RFC 3339 time") from None
    if t.tzinfo is None:
        raise malformed(f"{key} {shown!r} needs a time zone (e.g. Z)")
    try:
        t = t.astimezone(dt.UTC)
    except OverflowError:
        raise malformed(f"{key} {shown!r} is out of range") from None
    if not EARLIEST <= t < LATEST:
        raise malformed(f"{key} {shown!r} is out of range (years 1950 to 8999)")
    return t


async def new_order(ctx: Ctx) -> web.StreamResponse:
    s = await ctx.auth()
    acc = s.require_account()
    p = s.payload()
    idents = parse_identifiers(p.get("identifiers"), ctx.state.challenges)
    nb, na = _time(p, "notBefore"), _time(p, "notAfter")
    now = int(time.time())
    if na is not None and na.timestamp() <= now:
        raise malformed("notAfter is in the past")
    if nb is not None and na is not None and na <= nb:
        raise malformed("notAfter must be after notBefore")
    replaces = await ari.check_replaces(ctx, acc, p["replaces"]) if p.get("replaces") else None
    await limits.check_new_order(ctx.store, ctx.state, acc.id)
    order = Order(
        id=secrets.token_urlsafe(16),
        provisioner=ctx.prov.name,
        account_id=acc.id,
        status="pending",
        expires=now + ORDER_LIFETIME,
        created=now,
        identifiers=[i.json() for i in idents],
        not_before=nb.isoformat() if nb else None,
        not_after=na.isoformat() if na else None,
        error=None,
        replaces=replaces,
        cert_id=None,
    )
    authzs = [
        Authz(
            id=secrets.token_urlsafe(16),
            order_id=order.id,
            account_id=acc.id,
            id_type=ident.type,
            id_value=ident.base,
            wildcard=ident.wildcard,
            status="pending",
            expires=order.expires,
            challenges=challenge_types(ident, ctx.state.challenges),
            token=secrets.token_urlsafe(32),
            ch_type=None,
            ch_status=None,
            ch_error=None,
            validated=None,
        )
        for ident in idents
    ]
    await ctx.store.add_order(order, authzs)
    body = order_json(ctx, order, "pending", [a.id for a in authzs])
    return json_response(body, 201, {"Location": ctx.links.order(order.id)})


def order_json(ctx: Ctx, order: Order, status: str, authz_ids: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "status": status,
        "expires": rfc3339(order.expires),
        "identifiers": order.identifiers,
        "authorizations": [ctx.links.authz(a) for a in authz_ids],
        "finalize": ctx.links.finalize(order.id),
    }
    if order.not_before:
        out["notBefore"] = rfc3339(dt.datetime.fromisoformat(order.not_before).timestamp())
    if order.not_after:
        out["notAfter"] = rfc3339(dt.datetime.fromisoformat(order.not_after).timestamp())
    if order.replaces:
        out["replaces"] = order.replaces
    if order.error and status == "invalid":
        out["error"] = order.error
    if order.cert_id and status == "valid":
        out["certificate"] = ctx.links.certificate(order.cert_id)
    return out


async def load_order(ctx: Ctx, order_id: str) -> tuple[Order, list[str], list[str], str | None]:
    """The order, its authorization ids (in identifier order), their statuses and the first
    authorization's problem (JSON text), if any."""
    found = await ctx.store.order(order_id)
    if found is None or found[0].provisioner != ctx.prov.name:
        raise Problem("malformed", f"order {order_id!r} does not exist", status=404)
    order, authzs = found
    now = time.time()
    by_ident = {(a.id_type, a.value): a for a in authzs}
    ids: list[str] = []
    statuses: list[str] = []
    first_error: str | None = None
    for i in order.identifiers:
        a = by_ident.get((i["type"], i["value"]))
        if a is None:
            continue
        ids.append(a.id)
        statuses.append("expired" if a.status in ("pending", "valid") and a.expires < now else a.status)
        if a.error and first_error is None:
            first_error = a.error
    return order, ids, statuses, first_error


def _owned(order: Order, account_id: str) -> None:
    if order.account_id != account_id:
        raise unauthorized("this order belongs to another account")


async def get_order(ctx: Ctx) -> web.StreamResponse:
    s = await ctx.auth()
    acc = s.require_account()
    order, ids, statuses, err = await load_order(ctx, ctx.request.match_info["order"])
    _owned(order, acc.id)
    status = order_status(order, statuses)
    if status == "invalid" and order.error is None:
        order = _with_error(order, statuses, err)
    headers = {"Retry-After": "1"} if status in ("pending", "processing") else {}
    return json_response(order_json(ctx, order, status, ids), 200, headers)


def _with_error(order: Order, statuses: list[str], authz_error: str | None) -> Order:
    if authz_error:
        err = orjson.loads(authz_error)
    elif order.expires < time.time():
        err = Problem("malformed", "the order expired").stored()
    else:
        err = Problem("unauthorized", f"an authorization of the order is {', '.join(set(statuses))}").stored()
    return evolve(order, error=err)


def _csr_names(csr: x509.CertificateSigningRequest) -> tuple[set[str], set[str]]:
    dns: set[str] = set()
    ips: set[str] = set()
    cns = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    try:
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        san = None
    except ValueError as e:
        raise Problem("badCSR", f"the CSR cannot be parsed: {e}") from None
    for cn in cns:
        v = cn.value if isinstance(cn.value, str) else cn.value.decode()
        try:
            ips.add(str(ipaddress.ip_address(v)))
        except ValueError:
            dns.add(v.lower())
    if san is not None:
        for g in san:
            if isinstance(g, x509.DNSName):
                try:
                    # As step-ca does: pre-RFC 8738 clients (lego 4.9) put addresses in DNS names.
                    ips.add(str(ipaddress.ip_address(g.value)))
                except ValueError:
                    dns.add(g.value.lower())
            elif isinstance(g, x509.IPAddress):
                if not isinstance(g.value, ipaddress.IPv4Address | ipaddress.IPv6Address):
                    raise Problem("badCSR", "the CSR has an IP address range, not an address")
                ips.add(str(g.value))
            else:
                raise Problem(
                    "badCSR", f"the CSR asks for a {type(g).__name__}: only DNS names and IP addresses"
                )
    return dns, ips


def _parse_csr(p: dict[str, Any]) -> tuple[x509.CertificateSigningRequest, bytes]:
    raw = p.get("csr")
    if not isinstance(raw, str) or not raw:
        raise malformed("finalize needs the CSR as base64url DER in csr")
    try:
        der = b64url_decode(raw)
    except JOSEError:
        raise Problem("badCSR", "csr is not a base64url-encoded DER certificate request") from None
    try:
        csr = parse_csr_der(der)
    except BadRequest as e:
        raise Problem("badCSR", e.message) from None
    short = rsa_too_short(csr.public_key())
    if short:
        raise Problem("badCSR", f"the CSR's {short}")
    return csr, der


async def finalize(ctx: Ctx) -> web.StreamResponse:
    s = await ctx.auth()
    acc = s.require_account()
    order_id = ctx.request.match_info["order"]
    order, ids, statuses, _ = await load_order(ctx, order_id)
    _owned(order, acc.id)
    status = order_status(order, statuses)
    if status != "ready":
        raise Problem("orderNotReady", f"the order is {status}, not ready: it cannot be finalized now")
    csr, der = _parse_csr(s.payload())
    idents = [Identifier(i["type"], i["value"], "", False) for i in order.identifiers]
    device = next((i.value for i in idents if i.type == PERMANENT_IDENTIFIER), None)
    auth: X509Authorization | None = None
    if device is not None:  # device-attest-01: the CSR must fit the attestation
        attested = await device_attest.check_csr(ctx.store, order_id, device, csr)
        auth = device_attest.authorization(csr, device, attested)
    else:
        _check_names(csr, idents)
    store = ctx.store
    if not await store.start_finalize(order_id):
        raise Problem("orderNotReady", "the order is already being finalized")
    try:
        if auth is not None:
            chain = await ctx.rt.authority.issue(ctx.prov, auth, _sign_request(order, csr, der))
        else:
            chain = await _issue(ctx, order, csr, der, idents)
    except BaseException:
        await store.abandon_finalize(order_id)
        raise
    cert_id = secrets.token_urlsafe(16)
    leaf = chain[0]
    pem = "".join(c.public_bytes(serialization.Encoding.PEM).decode("ascii") for c in chain)
    await store.finish_order(
        order_id, cert_id, str(leaf.serial_number), pem, int(leaf.not_valid_after_utc.timestamp())
    )
    done = evolve(order, status="valid", cert_id=cert_id)
    return json_response(order_json(ctx, done, "valid", ids), 200, {"Location": ctx.links.order(order_id)})


def _check_names(csr: x509.CertificateSigningRequest, idents: list[Identifier]) -> None:
    got_dns, got_ip = _csr_names(csr)
    want_dns = {i.value for i in idents if i.type == "dns"}
    want_ip = {i.value for i in idents if i.type == "ip"}
    if got_dns != want_dns or got_ip != want_ip:
        raise Problem(
            "badCSR",
            f"the CSR's names (DNS {sorted(got_dns)}, IP {sorted(got_ip)}) do not match the order's "
            f"identifiers (DNS {sorted(want_dns)}, IP {sorted(want_ip)})",
        )


async def _issue(
    ctx: Ctx, order: Order, csr: x509.CertificateSigningRequest, der: bytes, idents: list[Identifier]
) -> list[x509.Certificate]:
    cns = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    cn = ""
    if cns:
        v = cns[0].value
        cn = v if isinstance(v, str) else v.decode()
    if not cn and ctx.state.force_cn:
        # forceCN: the first DNS identifier becomes the common name (before templates see .Subject).
        cn = next((i.value for i in idents if i.type == "dns"), "")
    auth = X509Authorization(
        subject=cn,
        sans=[i.value for i in idents],
        check_csr=None,  # the CSR's names were matched to the order's identifiers above
        token_id=None,
    )
    return await ctx.rt.authority.issue(ctx.prov, auth, _sign_request(order, csr, der))


def _sign_request(order: Order, csr: x509.CertificateSigningRequest, der: bytes) -> SignRequest:
    return SignRequest(
        csr=csr,
        csr_der=der,
        not_before=dt.datetime.fromisoformat(order.not_before) if order.not_before else None,
        not_after=dt.datetime.fromisoformat(order.not_after) if order.not_after else None,
        template_data=None,
        raw_not_after=order.not_after,
    )


async def certificate(ctx: Ctx) -> web.StreamResponse:
    s = await ctx.auth()
    acc = s.require_account()
    cert_id = ctx.request.match_info["cert"]
    found = await ctx.store.certificate_chain(cert_id)
    if found is None or found[2] != ctx.prov.name:
        raise Problem("malformed", f"certificate {cert_id!r} does not exist", status=404)
    owner, body, _ = found
    if owner != acc.id:
        raise unauthorized("this certificate belongs to another account")
    alternates = ctx.rt.alternate_roots()
    alt = ctx.request.match_info.get("alt")
    if alt is not None:
        if not alt.isdigit() or not 1 <= int(alt) <= len(alternates):
            raise Problem("malformed", f"certificate {cert_id!r} has no alternate chain {alt!r}", status=404)
        body += alternates[int(alt) - 1]
    resp = web.Response(body=body.encode("ascii"))
    resp.headers["Content-Type"] = "application/pem-certificate-chain"
    if alt is None:
        for n in range(1, len(alternates) + 1):
            resp.headers.add("Link", f'<{ctx.links.certificate(cert_id, n)}>;rel="alternate"')
    else:
        resp.headers.add("Link", f'<{ctx.links.certificate(cert_id)}>;rel="alternate"')
    return resp
