"""Revoking an X.509 certificate (/revoke, passive only): with a one-time token whose subject is the serial,
authorized by the token's provisioner, or over mTLS with the certificate itself."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from cryptography import x509

from plica.asn1 import ProvisionerExtension
from plica.errors import BadRequest, Forbidden, Unauthorized
from plica.storage import AlreadyRevoked, TokenReused
from plica.types import RevokeRequest

if TYPE_CHECKING:
    from plica.authority import Authority


async def revoke(
    a: Authority, ott: str | None, request: RevokeRequest, *, mtls_cert: x509.Certificate | None
) -> None:
    serial = request.serial
    if ott:
        token, prov = a.parse_token(ott)
        auth = a.hook(prov, "x509-revoke")(provisioner=prov, token=token, request=request, authority=a)
        sub = token.subject
        if not auth.any_serial and sub != str(serial) and parse_serial_or_none(sub) != serial:
            raise Forbidden(f"token subject {sub!r} does not match the serial number to revoke")
        pid, token_id, mtls = prov.id, auth.token_id, False
    elif mtls_cert is not None:
        if mtls_cert.serial_number != serial:
            raise Forbidden(
                "the client certificate's serial number does not match the serial number to revoke"
            )
        ext = ProvisionerExtension.from_certificate(mtls_cert)
        pid = ext.name if ext else ""
        token_id, mtls = None, True
    else:
        raise Unauthorized("revocation needs a one-time token (ott) or a client certificate (mTLS)")
    try:
        await a.storage.revoke_x509(
            str(serial),
            provisioner_id=pid,
            reason_code=request.reason_code,
            reason=request.reason,
            mtls=mtls,
            token_id=token_id,
            now=int(time.time()),
        )
    except AlreadyRevoked:
        raise BadRequest(f"certificate with serial number '{serial}' is already revoked") from None
    except TokenReused:
        raise Unauthorized("token already used") from None


def parse_serial(s: str) -> int:
    v = parse_serial_or_none(s)
    if v is None:
        shown = s if len(s) <= 64 else s[:64] + "..."
        raise BadRequest(f"serial number {shown!r} is not valid (decimal, or hexadecimal with a 0x prefix)")
    return v


def parse_serial_or_none(s: str) -> int | None:
    """A serial number up to RFC 5280's 20 octets (a longer string is no serial of this CA's)."""
    if len(s) > 64:  # 20 octets: 48 decimal digits, or 0x and 40 hex digits
        return None
    try:
        if s.lower().startswith("0x"):
            v = int(s[2:], 16)
        elif s.isdigit():
            v = int(s, 10)
        else:
            return None
    except ValueError:
        return None
    return v if v.bit_length() <= 160 else None
