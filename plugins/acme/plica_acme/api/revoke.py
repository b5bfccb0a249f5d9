"""revokeCert (RFC 8555 §7.6): signed by the account that ordered the certificate (or one that holds
valid authorizations for all its names), or by the certificate's own key (jwk). The revocation is the
kernel's (passive, in the shared database), so /revoke, CRL and renewal see it."""

from __future__ import annotations

import ipaddress
import time

from aiohttp import web
from cryptography import x509
from cryptography.exceptions import InvalidSignature

from plica.api import AlreadyRevoked, JOSEError, b64url_decode, public_jwk, thumbprint

from ..problems import Problem, malformed, unauthorized
from .context import Ctx
from .jws import Signed

# RFC 5280 CRLReason values a client may ask for (7 is unused; RFC 8555 §7.6 lets a server refuse others).
REASONS = {0, 1, 2, 3, 4, 5, 6, 8, 9, 10}


def _cert_names(cert: x509.Certificate) -> set[tuple[str, str]]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    out = {("dns", n.lower().removeprefix("*.")) for n in san.get_values_for_type(x509.DNSName)}
    out |= {("ip", str(ipaddress.ip_address(a))) for a in san.get_values_for_type(x509.IPAddress)}
    return out


async def _account_may_revoke(ctx: Ctx, account_id: str, cert: x509.Certificate) -> bool:
    if await ctx.store.certificate_account(str(cert.serial_number), ctx.prov.name) == account_id:
        return True
    names = _cert_names(cert)
    if not names:
        return False
    return names <= await ctx.store.valid_identifiers(account_id, int(time.time()))


def _issued_here(ctx: Ctx, cert: x509.Certificate) -> bool:
    inters = ctx.rt.authority.intermediates
    if not inters:
        return False
    try:
        cert.verify_directly_issued_by(inters[0])
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


async def revoke_cert(ctx: Ctx) -> web.StreamResponse:
    s: Signed = await ctx.auth("any")
    p = s.payload()
    raw = p.get("certificate")
    if not isinstance(raw, str) or not raw:
        raise malformed("revokeCert needs the certificate as base64url DER in certificate")
    try:
        cert = x509.load_der_x509_certificate(b64url_decode(raw))
    except (JOSEError, ValueError):
        raise malformed("certificate is not a base64url-encoded DER certificate") from None
    reason = p.get("reason", 0)
    if not isinstance(reason, int) or isinstance(reason, bool) or reason not in REASONS:
        raise Problem(
            "badRevocationReason", f"revocation reason {reason!r} is not allowed (RFC 5280 CRLReason)"
        )
    if not _issued_here(ctx, cert):
        raise unauthorized("the certificate was not issued by this certificate authority")
    storage = ctx.rt.authority.storage  # the kernel's certificates
    serial = str(cert.serial_number)
    issued = await storage.get_x509(serial)
    if issued is None:
        raise unauthorized(f"no certificate with serial number {serial} was issued here")
    if s.account is not None:
        if not await _account_may_revoke(ctx, s.account.id, cert):
            raise unauthorized(
                "the account neither ordered this certificate nor holds authorizations for its names"
            )
    else:
        assert s.jwk is not None
        try:
            cert_tp = thumbprint(public_jwk(cert.public_key()))  # type: ignore[arg-type]
        except JOSEError:
            cert_tp = None
        if cert_tp != thumbprint(s.jwk):
            raise unauthorized("the request is signed neither by an account nor by the certificate's key")
    try:
        await storage.revoke_x509(
            serial,
            provisioner_id=issued.provisioner_id or ctx.prov.id,
            reason_code=reason,
            reason="revoked through ACME",
            mtls=False,
            token_id=None,
            now=int(time.time()),
        )
    except AlreadyRevoked:
        raise Problem("alreadyRevoked", f"certificate {serial} is already revoked") from None
    return web.Response(status=200)
