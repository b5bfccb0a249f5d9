"""Challenge validation: http-01 (RFC 8555 §8.3), dns-01 (§8.4), tls-alpn-01 (RFC 8737), for dns and ip
(RFC 8738) identifiers. Each check raises a `Problem` saying why it failed, or returns."""

from __future__ import annotations

import hashlib

from plica.api import b64url_encode

from ..problems import Problem
from ..provisioner import DEVICE_ATTEST_01, DNS_01, HTTP_01, TLS_ALPN_01, ACMEState
from . import dns01, http01, tlsalpn01


def key_authorization(token: str, account_thumbprint: str) -> str:
    return f"{token}.{account_thumbprint}"


def key_authorization_digest(key_auth: str) -> bytes:
    return hashlib.sha256(key_auth.encode("ascii")).digest()


def dns01_value(key_auth: str) -> str:
    return b64url_encode(key_authorization_digest(key_auth))


async def validate(
    ch_type: str, id_type: str, value: str, token: str, key_auth: str, state: ACMEState
) -> None:
    if ch_type == HTTP_01:
        await http01.validate(id_type, value, token, key_auth, state)
    elif ch_type == DNS_01:
        await dns01.validate(value, dns01_value(key_auth), state)
    elif ch_type == TLS_ALPN_01:
        await tlsalpn01.validate(id_type, value, key_authorization_digest(key_auth), state)
    elif ch_type == DEVICE_ATTEST_01:
        # Checked in the request itself (api/authz.py); a job found here lost its worker mid-check, and its
        # attestation went with the request.
        raise Problem("badAttestationStatement", "the attestation check was interrupted: order again")
    else:
        raise Problem("malformed", f"challenge type {ch_type!r} is not supported")
