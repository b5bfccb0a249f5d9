"""`apple`: Managed Device Attestation (iOS, iPadOS, macOS, tvOS), as the device builds it and step-ca
checks it: `attStmt.x5c` is the leaf certificate of the device's key and Apple's intermediate, chaining to
Apple's Enterprise Attestation Root CA; the leaf carries Apple's extensions, each value the raw bytes:
serial number, UDID, sepOS version and the freshness code (nonce)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Sequence
from typing import Any

from cryptography import x509

from .common import Attested, bad, spki_sha256, verify_chain, x5c_certs

OID_SERIAL_NUMBER = x509.ObjectIdentifier("1.2.840.113635.100.8.9.1")
OID_UDID = x509.ObjectIdentifier("1.2.840.113635.100.8.9.2")
OID_SEP_OS_VERSION = x509.ObjectIdentifier("1.2.840.113635.100.8.10.2")
OID_NONCE = x509.ObjectIdentifier("1.2.840.113635.100.8.11.1")

_TEXT = {OID_SERIAL_NUMBER: "serialNumber", OID_UDID: "udid", OID_SEP_OS_VERSION: "sepVersion"}


def verify(
    stmt: dict[str, Any], *, key_auth: str, token: str, roots: Sequence[x509.Certificate], now: dt.datetime
) -> Attested:
    certs = x5c_certs(stmt)
    verify_chain(certs, roots, now)
    leaf = certs[0]
    values: dict[str, str] = {}
    nonce: bytes | None = None
    for ext in leaf.extensions:
        if ext.oid == OID_NONCE:
            nonce = _raw(ext)
        elif ext.oid in _TEXT:
            try:
                values[_TEXT[ext.oid]] = _raw(ext).decode("utf-8")
            except UnicodeDecodeError:
                raise bad(f"the Apple attestation's {_TEXT[ext.oid]} extension is not UTF-8 text") from None
    if nonce is None:
        raise bad("the Apple attestation certificate has no nonce extension (1.2.840.113635.100.8.11.1)")
    # The draft's nonce is the SHA-256 of the key authorization; Apple's devices (and so step-ca) use the
    # SHA-256 of the challenge token. Either binds the attestation to this challenge.
    wanted = (hashlib.sha256(key_auth.encode()).digest(), hashlib.sha256(token.encode()).digest())
    if not any(hmac.compare_digest(nonce, w) for w in wanted):
        raise bad("the Apple attestation's nonce is not the SHA-256 of the key authorization")
    serial, udid = values.get("serialNumber", ""), values.get("udid", "")
    return Attested(
        format="apple",
        spki_sha256=spki_sha256(leaf.public_key()),
        identifiers=tuple(v for v in (udid, serial) if v),
        data=values,
    )


def _raw(ext: x509.Extension[x509.ExtensionType]) -> bytes:
    value = ext.value
    if isinstance(value, x509.UnrecognizedExtension):
        return value.value
    raise bad(f"the Apple attestation certificate's extension {ext.oid.dotted_string} is malformed")
