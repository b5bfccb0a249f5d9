"""The overview and the certificate pages: search (the kernel's inventory, `list_certificates`, with its
filters and cursor), CSV export, a certificate's details and PEM, and revocation after a confirmation."""

from __future__ import annotations

import csv
import io
import logging
import time
from typing import Any

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from plica.api import AlreadyRevoked, Conflict, NotFound, list_certificates, rfc3339

from . import stats
from .base import PREFIX, Ctx, page, render, see_other

log = logging.getLogger("plica.console")

PAGE_SIZE = 50
CSV_MAX = 100_000
REASONS = {
    "0": "unspecified",
    "1": "keyCompromise",
    "3": "affiliationChanged",
    "4": "superseded",
    "5": "cessationOfOperation",
}
STATUSES = ("", "valid", "expired", "revoked")
# The inventories' sorts (plica.admin.ordering), as the search forms name them.
SORTS = (("expiry", "expiry"), ("issued", "issuance"), ("name", "name"), ("provisioner", "provisioner"),
         ("status", "status"))  # fmt: skip


@page()
async def overview(ctx: Ctx) -> web.StreamResponse:
    now = int(time.time())
    start, series = await stats.issued_per_day(ctx.storage, now)
    return render(
        ctx,
        "overview.html",
        counts=await stats.counts(ctx.storage, now),
        series=series,
        chart=stats.chart(start, series),
        first_day=time.strftime("%Y-%m-%d", time.gmtime(start)),
        health=stats.health(ctx.console.authority),
    )


def _query(ctx: Ctx) -> dict[str, str]:
    """The inventory's query from the search form (unknown values are the inventory's to refuse)."""
    q = ctx.request.query
    keys = ("name", "provisioner", "status", "sort", "order", "cursor")
    out = {k: q[k].strip() for k in keys if q.get(k, "").strip()}
    days = q.get("expiring", "")
    if days in ("7", "30"):
        out["expiringBefore"] = str(int(time.time()) + int(days) * stats.DAY)
    return out


@page()
async def certificates(ctx: Ctx) -> web.StreamResponse:
    serial = ctx.request.query.get("serial", "").strip().lower()
    if serial:
        number = _serial(serial)
        if await ctx.storage.get_x509(str(number)) is None:
            raise NotFound(f"no certificate with serial number {serial}")
        return see_other(f"{PREFIX}/certificates/{number}")
    query = _query(ctx)
    result = await list_certificates(ctx.storage, {**query, "limit": str(PAGE_SIZE)})
    search = {k: v for k, v in ctx.request.query.items() if k != "cursor"}
    return render(
        ctx,
        "certificates.html",
        certs=result["certificates"],
        next_cursor=result["nextCursor"],
        search=search,
        provisioners=[str(p.get("name")) for p in ctx.console.authority.public_provisioners()],
        statuses=STATUSES,
        sorts=SORTS,
    )


@page()
async def certificates_csv(ctx: Ctx) -> web.StreamResponse:
    query = _query(ctx)
    query.pop("cursor", None)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(
        ["serial", "subject", "sans", "provisioner", "provisionerType", "issuedAt", "notAfter", "status"]
    )
    written = 0
    while written < CSV_MAX:
        result = await list_certificates(ctx.storage, {**query, "limit": "1000"})
        for c in result["certificates"]:
            # A leading =, +, - or @ would make a spreadsheet evaluate a certificate's name as a formula.
            w.writerow([cell(c[k]) if k != "sans" else cell(" ".join(c[k])) for k in
                        ("serial", "subject", "sans", "provisioner", "provisionerType", "issuedAt", "notAfter",
                         "status")])  # fmt: skip
            written += 1
        if not result["nextCursor"]:
            break
        query["cursor"] = result["nextCursor"]
    log.info("console: %s exported %d certificates as CSV", ctx.who(), written)
    return web.Response(
        body=buf.getvalue().encode(),
        content_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="certificates.csv"'},
    )


def cell(v: Any) -> str:
    s = str(v)
    return "'" + s if s[:1] in ("=", "+", "-", "@", "\t", "\r") else s


def _serial(raw: str) -> int:
    try:
        return int(raw[2:], 16) if raw.startswith("0x") else int(raw, 10) if raw.isdigit() else int(raw, 16)
    except ValueError:
        raise NotFound(f"{raw[:80]!r} is not a serial number (decimal, or hexadecimal)") from None


async def _certificate(ctx: Ctx) -> tuple[Any, x509.Certificate]:
    raw = ctx.request.match_info["serial"]
    if not raw.isdigit() or len(raw) > 60:
        raise NotFound("no such certificate")
    issued = await ctx.storage.get_x509(raw)
    if issued is None:
        raise NotFound(f"no certificate with serial number {raw}")
    return issued, x509.load_der_x509_certificate(issued.der)


def _describe(cert: x509.Certificate) -> dict[str, Any]:
    sans: list[str] = []
    exts = []
    for e in cert.extensions:
        name = getattr(e.oid, "_name", "") or e.oid.dotted_string
        if isinstance(e.value, x509.SubjectAlternativeName):
            sans = [f"{type(g).__name__.removesuffix('Name')}: {g.value}" for g in e.value]
        value = str(e.value)
        exts.append({"name": name, "oid": e.oid.dotted_string, "critical": e.critical, "value": value[:600]})
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return {
        "cn": str(cns[0].value) if cns else "",
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "serial_hex": format(cert.serial_number, "x"),
        "not_before": rfc3339(int(cert.not_valid_before_utc.timestamp())),
        "not_after": rfc3339(int(cert.not_valid_after_utc.timestamp())),
        "sans": sans,
        "extensions": exts,
        "key": type(cert.public_key()).__name__.removeprefix("_").replace("PublicKey", ""),
    }


async def _revocation(ctx: Ctx, serial: str) -> dict[str, Any] | None:
    row = await ctx.storage.fetch_one(
        "SELECT reason_code, reason, revoked_at FROM revoked_x509_certs WHERE serial = ?", (serial,)
    )
    if row is None:
        return None
    return {"code": REASONS.get(str(row[0]), str(row[0])), "reason": row[1], "at": rfc3339(int(row[2]))}


@page()
async def certificate(ctx: Ctx) -> web.StreamResponse:
    issued, cert = await _certificate(ctx)
    revoked = await _revocation(ctx, issued.serial)
    expired = issued.not_after <= time.time()
    return render(
        ctx,
        "certificate.html",
        issued=issued,
        cert=_describe(cert),
        revoked=revoked,
        status="revoked" if revoked else "expired" if expired else "valid",
        reasons=REASONS,
    )


@page()
async def certificate_pem(ctx: Ctx) -> web.StreamResponse:
    issued, cert = await _certificate(ctx)
    return web.Response(
        body=cert.public_bytes(Encoding.PEM),
        content_type="application/x-pem-file",
        headers={"Content-Disposition": f'attachment; filename="{issued.serial}.crt"'},
    )


@page()
async def revoke(ctx: Ctx) -> web.StreamResponse:
    """First POST: the confirmation page; the second, with `confirm`, revokes."""
    issued, cert = await _certificate(ctx)
    form = ctx.form or {}
    code = form.get("reason_code", "0")
    if code not in REASONS:
        raise web.HTTPBadRequest(reason=f"unknown revocation reason code {code[:10]!r}")
    reason = form.get("reason", "").strip()[:200]
    if form.get("confirm") != "yes":
        return render(
            ctx, "revoke_confirm.html", issued=issued, cert=_describe(cert), code=code, reason=reason,
            reasons=REASONS,
        )  # fmt: skip
    try:
        await ctx.storage.revoke_x509(
            issued.serial, provisioner_id=issued.provisioner_id, reason_code=int(code), reason=reason,
            mtls=False, token_id=None, now=int(time.time()),
        )  # fmt: skip
    except AlreadyRevoked:
        raise Conflict(f"certificate {issued.serial} is already revoked") from None
    log.info(
        "console: %s revoked certificate %s (%s) of provisioner %s: %s %r",
        ctx.who(), issued.serial, cert.subject.rfc4514_string(), issued.provisioner_name, REASONS[code], reason,
    )  # fmt: skip
    return see_other(f"{PREFIX}/certificates/{issued.serial}")
