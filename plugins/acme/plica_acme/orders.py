"""Orders (RFC 8555 §7.4): newOrder, the order resource, finalize, and certificate download (§7.4.2).

A new order is two statements (all its authorizations in one multi-row INSERT, then the order row). Finalize claims the order with a conditional UPDATE (so two finalize requests cannot
both issue), issues through the kernel (`authority.issue`: claims, templates, policy, the provisioner
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
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from plica.api import SignRequest, X509Authorization
from plica.jose import JOSEError, b64url_decode

from . import ari, limits
from .context import Ctx, json_response
from .identifiers import Identifier, challenge_types, parse_identifiers
from .model import ORDER_COLUMNS, Order, order_from_row, order_status, rfc3339
from .problems import Problem, malformed, unauthorized

ORDER_LIFETIME = 24 * 3600  # as step-ca


def _time(p: dict[str, Any], key: str) -> dt.datetime | None:
    v = p.get(key)
    if v is None or v == "":
        return None
    if not isinstance(v, str):
        raise malformed(f"{key} must be an RFC 3339 time string")
    try:
        t = dt.datetime.fromisoformat(v)
    except ValueError:
        raise malformed(f"{key} {v!r} is not an RFC 3339 time") from None
    if t.tzinfo is None:
        raise malformed(f"{key} {v!r} needs a time zone (e.g. Z)")
    return t.astimezone(dt.UTC)


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
    await limits.check_new_order(ctx.rt.storage, ctx.state, acc.id)
    order_id = secrets.token_urlsafe(16)
    expires = now + ORDER_LIFETIME
    authz_ids = [secrets.token_urlsafe(16) for _ in idents]
    rows: list[Any] = []
    for aid, ident in zip(authz_ids, idents, strict=True):
        rows += [
            aid,
            order_id,
            acc.id,
            ctx.prov.name,
            ident.type,
            ident.base,
            int(ident.wildcard),
            "pending",
            expires,
            ",".join(challenge_types(ident, ctx.state.challenges)),
            secrets.token_urlsafe(32),
        ]
    nb_s = nb.isoformat() if nb else None
    na_s = na.isoformat() if na else None
    storage = ctx.rt.storage
    # Two single statements rather than a transaction (each is one hop to the database): the
    # authorizations first, so a failure in between leaves only rows no order points to (housekeeping
    # removes them), never an order a client can see without its authorizations.
    await storage.execute(
        "INSERT INTO acme_authz (id, order_id, account_id, provisioner, id_type, id_value, wildcard,"
        " status, expires, challenges, token) VALUES "
        + ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"] * len(idents)),
        rows,
    )
    await storage.execute(
        "INSERT INTO acme_orders (id, provisioner, account_id, status, expires, created, identifiers,"
        " not_before, not_after, replaces) VALUES (?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?)",
        (
            order_id,
            ctx.prov.name,
            acc.id,
            expires,
            now,
            orjson.dumps([i.json() for i in idents]).decode(),
            nb_s,
            na_s,
            replaces,
        ),
    )
    order = Order(
        id=order_id,
        provisioner=ctx.prov.name,
        account_id=acc.id,
        status="pending",
        expires=expires,
        created=now,
        identifiers=[i.json() for i in idents],
        not_before=nb_s,
        not_after=na_s,
        error=None,
        replaces=replaces,
        cert_id=None,
    )
    body = order_json(ctx, order, "pending", authz_ids)
    return json_response(body, 201, {"Location": ctx.links.order(order_id)})


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
    """The order, its authorization ids (in identifier order) and their statuses: one joined query."""
    rows = await ctx.rt.storage.fetch_all(
        f"SELECT {', '.join('o.' + c.strip() for c in ORDER_COLUMNS.split(','))},"
        " a.id, a.id_type, a.id_value, a.wildcard, a.status, a.expires, a.ch_error"
        " FROM acme_orders o LEFT JOIN acme_authz a ON a.order_id = o.id WHERE o.id = ?",
        (order_id,),
    )
    if not rows or rows[0][1] != ctx.prov.name:
        raise Problem("malformed", f"order {order_id!r} does not exist", status=404)
    order = order_from_row(rows[0][:12])
    now = time.time()
    by_ident: dict[tuple[str, str], tuple[str, str, str | None]] = {}
    for r in rows:
        if r[12] is None:
            continue
        value = ("*." if r[15] else "") + r[14]
        status = r[16]
        if status in ("pending", "valid") and int(r[17]) < now:
            status = "expired"
        by_ident[(r[13], value)] = (r[12], status, r[18])
    ids, statuses = [], []
    first_error: str | None = None
    for i in order.identifiers:
        a = by_ident.get((i["type"], i["value"]))
        if a is not None:
            ids.append(a[0])
            statuses.append(a[1])
            if a[2] and first_error is None:
                first_error = a[2]
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
        csr = x509.load_der_x509_csr(der)
    except (JOSEError, ValueError):
        raise Problem("badCSR", "csr is not a base64url-encoded DER certificate request") from None
    try:
        ok = csr.is_signature_valid
    except (ValueError, InvalidSignature, TypeError):
        ok = False
    if not ok:
        raise Problem("badCSR", "the CSR's signature does not verify")
    key = csr.public_key()
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < 2048:
        raise Problem("badCSR", f"the CSR's RSA key has {key.key_size} bits (at least 2048)")
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
    got_dns, got_ip = _csr_names(csr)
    idents = [Identifier(i["type"], i["value"], "", False) for i in order.identifiers]
    want_dns = {i.value for i in idents if i.type == "dns"}
    want_ip = {i.value for i in idents if i.type == "ip"}
    if got_dns != want_dns or got_ip != want_ip:
        raise Problem(
            "badCSR",
            f"the CSR's names (DNS {sorted(got_dns)}, IP {sorted(got_ip)}) do not match the order's "
            f"identifiers (DNS {sorted(want_dns)}, IP {sorted(want_ip)})",
        )
    storage = ctx.rt.storage
    claimed = await storage.execute(
        "UPDATE acme_orders SET status = 'processing' WHERE id = ? AND status = 'pending'", (order_id,)
    )
    if claimed != 1:
        raise Problem("orderNotReady", "the order is already being finalized")
    try:
        chain = await _issue(ctx, order, csr, der, idents)
    except BaseException:
        await storage.execute(
            "UPDATE acme_orders SET status = 'pending' WHERE id = ? AND status = 'processing'", (order_id,)
        )
        raise
    cert_id = secrets.token_urlsafe(16)
    leaf = chain[0]
    pem = "".join(c.public_bytes(serialization.Encoding.PEM).decode("ascii") for c in chain)
    await storage.execute(
        "UPDATE acme_orders SET status = 'valid', cert_id = ?, cert_serial = ?, cert_chain = ?,"
        " cert_not_after = ? WHERE id = ?",
        (cert_id, str(leaf.serial_number), pem, int(leaf.not_valid_after_utc.timestamp()), order_id),
    )
    done = evolve(order, status="valid", cert_id=cert_id)
    return json_response(order_json(ctx, done, "valid", ids), 200, {"Location": ctx.links.order(order_id)})


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
    request = SignRequest(
        csr=csr,
        csr_der=der,
        not_before=dt.datetime.fromisoformat(order.not_before) if order.not_before else None,
        not_after=dt.datetime.fromisoformat(order.not_after) if order.not_after else None,
        template_data=None,
        raw_not_after=order.not_after,
    )
    return await ctx.rt.authority.issue(ctx.prov, auth, request)


async def certificate(ctx: Ctx) -> web.StreamResponse:
    s = await ctx.auth()
    acc = s.require_account()
    cert_id = ctx.request.match_info["cert"]
    row = await ctx.rt.storage.fetch_one(
        "SELECT account_id, cert_chain, provisioner FROM acme_orders WHERE cert_id = ?", (cert_id,)
    )
    if row is None or row[2] != ctx.prov.name:
        raise Problem("malformed", f"certificate {cert_id!r} does not exist", status=404)
    if row[0] != acc.id:
        raise unauthorized("this certificate belongs to another account")
    alternates = _alternate_roots(ctx)
    alt = ctx.request.match_info.get("alt")
    body: str = row[1]
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


def _alternate_roots(ctx: Ctx) -> list[str]:
    """Alternate chains (RFC 8555 §7.4.2): the default chain ends at the last intermediate; each
    alternate adds a root that intermediate chains to, for servers and clients that want the full path."""
    a = ctx.rt.authority
    roots, inters = a.roots, a.intermediates
    cached = _alternates_cache.get("last")
    if cached is not None and cached[0] is roots and cached[1] is inters:
        return cached[2]
    out: list[str] = []
    if inters:
        top = inters[-1]
        out = [
            r.public_bytes(serialization.Encoding.PEM).decode("ascii")
            for r in roots
            if r.subject == top.issuer
        ]
    # Encoded once per set of roots and intermediates rather than for every download.
    _alternates_cache["last"] = (roots, inters, out)
    return out


_alternates_cache: dict[str, tuple[Any, Any, list[str]]] = {}
