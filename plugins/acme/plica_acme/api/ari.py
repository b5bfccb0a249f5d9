"""ACME Renewal Information (RFC 9773): the `renewalInfo` resource and the `replaces` field of newOrder.

A certificate's ARI id is base64url(authorityKeyIdentifier) "." base64url(DER serial number bytes).
The suggested window opens at two thirds of the certificate's life and closes at five sixths; a revoked
certificate gets a window in the past, which tells clients to renew now.
"""

from __future__ import annotations

import datetime as dt
import time

from aiohttp import web
from cryptography import x509

from plica.api import JOSEError, b64url_decode, b64url_encode, rfc3339

from ..model import Account
from ..problems import Problem, malformed, unauthorized
from .context import Ctx, json_response


def serial_bytes(serial: int) -> bytes:
    """The content octets of a DER INTEGER (a leading zero keeps a positive number positive)."""
    return serial.to_bytes(serial.bit_length() // 8 + 1, "big")


def cert_id(cert: x509.Certificate) -> str:
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    return f"{b64url_encode(aki or b'')}.{b64url_encode(serial_bytes(cert.serial_number))}"


# A key identifier is a digest (≤ 64 octets) and a serial ≤ 20 octets (RFC 5280 §4.1.2.2): base64url of
# both fits well within this.
MAX_CERT_ID = 200


def parse_cert_id(value: str) -> tuple[bytes, int]:
    if len(value) > MAX_CERT_ID:
        raise malformed(f"an ARI certificate id is at most {MAX_CERT_ID} characters")
    aki_b64, dot, serial_b64 = value.partition(".")
    try:
        if not dot or not aki_b64 or not serial_b64:
            raise JOSEError("missing part")
        aki, serial = b64url_decode(aki_b64), b64url_decode(serial_b64)
    except JOSEError:
        raise malformed(
            f"{value!r} is not an ARI certificate id (base64url key identifier '.' base64url serial)"
        ) from None
    if not serial or serial[0] & 0x80 or len(serial) > 21:
        raise malformed("the serial number in the ARI certificate id is not a positive DER integer")
    return aki, int.from_bytes(serial, "big")


def _issuer_key_ids(ctx: Ctx) -> set[bytes]:
    out = set()
    for c in ctx.rt.authority.intermediates:
        try:
            out.add(c.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest)
        except x509.ExtensionNotFound:
            out.add(x509.SubjectKeyIdentifier.from_public_key(c.public_key()).digest)
    return out


async def _find(ctx: Ctx, value: str) -> x509.Certificate:
    aki, serial = parse_cert_id(value)
    if aki not in _issuer_key_ids(ctx):
        raise Problem("malformed", "the certificate was not issued by this certificate authority", status=404)
    issued = await ctx.rt.authority.storage.get_x509(str(serial))
    if issued is None:
        raise Problem("malformed", f"no certificate with serial number {serial} was issued here", status=404)
    return x509.load_der_x509_certificate(issued.der)


async def renewal_info(ctx: Ctx) -> web.StreamResponse:
    cert = await _find(ctx, ctx.request.match_info["cert"])
    nb, na = cert.not_valid_before_utc, cert.not_valid_after_utc
    life = na - nb
    now = dt.datetime.now(dt.UTC)
    if await ctx.rt.authority.storage.is_x509_revoked(str(cert.serial_number)):
        start, end = now - dt.timedelta(hours=2), now - dt.timedelta(hours=1)
    else:
        start, end = nb + life * 2 / 3, nb + life * 5 / 6
    body: dict[str, object] = {
        "suggestedWindow": {"start": rfc3339(start.timestamp()), "end": rfc3339(end.timestamp())}
    }
    if ctx.state.meta.get("website"):
        body["explanationURL"] = ctx.state.meta["website"]
    retry = int(max(60, min(6 * 3600, life.total_seconds() / 12)))
    return json_response(body, 200, {"Retry-After": str(retry)})


async def check_replaces(ctx: Ctx, acc: Account, value: object) -> str:
    """A newOrder's `replaces`: the certificate must be this account's, and not already replaced."""
    if not isinstance(value, str):
        raise malformed("replaces must be an ARI certificate id string")
    _, serial = parse_cert_id(value)
    owner = await ctx.store.certificate_account(str(serial), ctx.prov.name)
    if owner is None:
        raise Problem("malformed", "replaces names a certificate this provisioner did not issue", status=404)
    if owner != acc.id:
        raise unauthorized("replaces names a certificate issued to another account")
    dup = await ctx.store.replacing_order(value, int(time.time()))
    if dup is not None:
        raise Problem("alreadyReplaced", f"the certificate is already being replaced by order {dup}")
    return value
