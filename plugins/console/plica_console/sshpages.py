"""SSH certificates, as the X.509 pages: search and sort (the kernel's SSH inventory,
`list_ssh_certificates`), CSV export, a certificate's details and its OpenSSH line, and revocation after a
confirmation."""

from __future__ import annotations

import base64
import csv
import io
import logging
import time
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives import hashes, serialization

from plica.api import (
    AlreadyRevoked,
    Conflict,
    NotFound,
    get_ssh_certificate,
    list_ssh_certificates,
    rfc3339,
)

from .base import PREFIX, Ctx, page, render, see_other
from .pages import CSV_MAX, REASONS, SORTS, STATUSES, cell

log = logging.getLogger("plica.console")
PAGE_SIZE = 50
CSV_COLUMNS = ("serial", "type", "keyId", "principals", "provisioner", "provisionerType", "issuedAt",
               "validBefore", "status")  # fmt: skip


def _query(ctx: Ctx) -> dict[str, str]:
    q = ctx.request.query
    keys = ("name", "type", "provisioner", "status", "sort", "order", "cursor")
    return {k: q[k].strip() for k in keys if q.get(k, "").strip()}


@page()
async def ssh_certificates(ctx: Ctx) -> web.StreamResponse:
    q = ctx.request.query
    query = _query(ctx)
    result = await list_ssh_certificates(ctx.storage, {**query, "limit": str(PAGE_SIZE)})
    return render(
        ctx,
        "ssh.html",
        certs=result["certificates"],
        next_cursor=result["nextCursor"],
        search={k: v for k, v in q.items() if k != "cursor"},
        provisioners=[str(p.get("name")) for p in ctx.console.authority.public_provisioners()],
        statuses=STATUSES,
        reasons=REASONS,
        sorts=SORTS,
    )


@page()
async def ssh_csv(ctx: Ctx) -> web.StreamResponse:
    query = _query(ctx)
    query.pop("cursor", None)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(CSV_COLUMNS)
    written = 0
    while written < CSV_MAX:
        result = await list_ssh_certificates(ctx.storage, {**query, "limit": "1000"})
        for c in result["certificates"]:
            w.writerow([cell(" ".join(c[k]) if k == "principals" else c[k]) for k in CSV_COLUMNS])
            written += 1
        if not result["nextCursor"]:
            break
        query["cursor"] = result["nextCursor"]
    log.info("console: %s exported %d SSH certificates as CSV", ctx.who(), written)
    return web.Response(
        body=buf.getvalue().encode(),
        content_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="ssh-certificates.csv"'},
    )


async def _ssh(ctx: Ctx) -> dict[str, Any]:
    serial = ctx.request.match_info["serial"]
    cert = await get_ssh_certificate(ctx.storage, serial) if serial.isdigit() and len(serial) < 30 else None
    if cert is None:
        raise NotFound("no such SSH certificate")
    return cert


def _describe(line: str) -> dict[str, Any]:
    """What `ssh-keygen -L` shows of a certificate (the CA made it, so it parses; a failure shows less)."""
    try:
        c = serialization.load_ssh_public_identity(line.encode())
    except ValueError:
        return {}
    if not isinstance(c, serialization.SSHCertificate):
        return {}
    key = c.public_key()
    signer = c.signature_key()
    return {
        "valid_after": _when(c.valid_after),
        "valid_before": _when(c.valid_before),
        "key": _key_name(key) + " " + _fingerprint(key),
        "signed_by": _key_name(signer) + " " + _fingerprint(signer),
        "critical": {
            k.decode(errors="replace"): v.decode(errors="replace") for k, v in c.critical_options.items()
        },
        "extensions": sorted(k.decode(errors="replace") for k in c.extensions),
    }


def _key_name(key: Any) -> str:
    return type(key).__name__.removeprefix("_").replace("PublicKey", "")


def _when(t: int) -> str:
    return "forever" if t >= 2**63 - 1 else rfc3339(t)


def _fingerprint(key: Any) -> str:
    raw = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).split()[1]
    h = hashes.Hash(hashes.SHA256())
    h.update(base64.b64decode(raw))
    return "SHA256:" + base64.b64encode(h.finalize()).decode().rstrip("=")


@page()
async def ssh_certificate(ctx: Ctx) -> web.StreamResponse:
    cert = await _ssh(ctx)
    return render(
        ctx, "ssh_certificate.html", cert=cert, facts=_describe(cert["certificate"]), reasons=REASONS
    )


@page()
async def ssh_certificate_download(ctx: Ctx) -> web.StreamResponse:
    cert = await _ssh(ctx)
    return web.Response(
        body=(cert["certificate"].strip() + "\n").encode(),
        content_type="text/plain",
        headers={"Content-Disposition": f'attachment; filename="{cert["serial"]}-cert.pub"'},
    )


@page()
async def ssh_revoke(ctx: Ctx) -> web.StreamResponse:
    cert = await _ssh(ctx)
    serial = cert["serial"]
    form = ctx.form or {}
    code = form.get("reason_code", "0")
    if code not in REASONS:
        raise web.HTTPBadRequest(reason=f"unknown revocation reason code {code[:10]!r}")
    reason = form.get("reason", "").strip()[:200]
    if form.get("confirm") != "yes":
        return render(ctx, "ssh_revoke_confirm.html", cert=cert, code=code, reason=reason, reasons=REASONS)
    try:
        await ctx.storage.revoke_ssh(
            serial, provisioner_id=cert["provisionerId"], reason_code=int(code), reason=reason, token_id=None,
            now=int(time.time()),
        )  # fmt: skip
    except AlreadyRevoked:
        raise Conflict(f"SSH certificate {serial} is already revoked") from None
    log.info(
        "console: %s revoked SSH %s certificate %s (key id %r) of provisioner %s: %s %r",
        ctx.who(), cert["type"], serial, cert["keyId"], cert["provisioner"], REASONS[code], reason,
    )  # fmt: skip
    return see_other(f"{PREFIX}/ssh/{serial}")
