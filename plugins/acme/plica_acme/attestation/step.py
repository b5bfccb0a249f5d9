"""`step`: a YubiKey's PIV attestation, as `step ca certificate --attestation-uri yubikey:...` sends it:
`attStmt.x5c` is the slot's attestation certificate (the key's, signed by the key's f9 attestation
certificate) and that f9 certificate, chaining to Yubico's PIV root; `attStmt.sig` is the CBOR encoding of
the attested key's signature over the key authorization (ES256/RS256 over its SHA-256, Ed25519 over it);
`alg` is its COSE algorithm. Yubico's extensions (raw values; the serial a DER INTEGER) say the device's
serial, firmware version, PIN and touch policies and form factor."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from typing import Any

from asn1crypto import core
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils

from .common import Attested, bad, decode_cbor, spki_sha256, stmt_bytes, verify_chain, x5c_certs

OID_FIRMWARE = x509.ObjectIdentifier("1.3.6.1.4.1.41482.3.3")
OID_SERIAL_NUMBER = x509.ObjectIdentifier("1.3.6.1.4.1.41482.3.7")
OID_POLICY = x509.ObjectIdentifier("1.3.6.1.4.1.41482.3.8")
OID_FORM_FACTOR = x509.ObjectIdentifier("1.3.6.1.4.1.41482.3.9")
# Smallstep's managed-device extension (a SEQUENCE holding the device id), which step-ca reads as well.
OID_STEP_MANAGED_DEVICE = x509.ObjectIdentifier("1.3.6.1.4.1.37476.9000.64.4")

PIN_POLICIES = {1: "never", 2: "once", 3: "always", 4: "matchOnce", 5: "matchAlways"}
TOUCH_POLICIES = {1: "never", 2: "always", 3: "cached"}


class _ManagedDevice(core.Sequence):
    _fields = [("device_id", core.UTF8String)]


def verify(
    stmt: dict[str, Any], *, key_auth: str, roots: Sequence[x509.Certificate], now: dt.datetime
) -> Attested:
    certs = x5c_certs(stmt)
    verify_chain(certs, roots, now)
    leaf = certs[0]
    sig = decode_cbor(stmt_bytes(stmt, "sig"), "attStmt.sig")
    if not isinstance(sig, bytes):
        raise bad("attStmt.sig does not hold a CBOR byte string")
    _check_signature(leaf.public_key(), sig, key_auth.encode("ascii"))
    data = _extensions(leaf)
    serial = data.get("serialNumber", "")
    return Attested(
        format="step",
        spki_sha256=spki_sha256(leaf.public_key()),
        identifiers=(serial,) if serial else (),
        data=data,
    )


def _check_signature(key: Any, sig: bytes, message: bytes) -> None:
    digest = hashlib.sha256(message).digest()
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            if not isinstance(key.curve, ec.SECP256R1 | ec.SECP384R1):
                raise bad(f"the attested key's curve {key.curve.name} is not supported")
            key.verify(sig, digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(sig, digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
        elif isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(sig, message)
        else:
            raise bad(f"the attested key's type {type(key).__name__} is not supported")
    except InvalidSignature:
        raise bad("attStmt.sig is not the attested key's signature over the key authorization") from None


def _raw(ext: x509.Extension[x509.ExtensionType]) -> bytes:
    if isinstance(ext.value, x509.UnrecognizedExtension):
        return ext.value.value
    raise bad(f"the attestation certificate's extension {ext.oid.dotted_string} is malformed")


def _extensions(leaf: x509.Certificate) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for ext in leaf.extensions:
        if ext.oid == OID_SERIAL_NUMBER:
            try:
                n = core.Integer.load(_raw(ext), strict=True).native
            except ValueError:
                raise bad("the YubiKey serial number extension is not a DER INTEGER") from None
            data["serialNumber"] = str(n)
        elif ext.oid == OID_STEP_MANAGED_DEVICE and "serialNumber" not in data:
            try:
                data["serialNumber"] = _ManagedDevice.load(_raw(ext), strict=True)["device_id"].native
            except ValueError:
                raise bad("the managed-device extension is malformed") from None
        elif ext.oid == OID_FIRMWARE:
            v = _raw(ext)
            if len(v) != 3:
                raise bad("the YubiKey firmware extension is not three bytes")
            data["firmware"] = f"{v[0]}.{v[1]}.{v[2]}"
        elif ext.oid == OID_POLICY:
            v = _raw(ext)
            if len(v) != 2:
                raise bad("the YubiKey PIN/touch policy extension is not two bytes")
            data["pinPolicy"] = PIN_POLICIES.get(v[0], str(v[0]))
            data["touchPolicy"] = TOUCH_POLICIES.get(v[1], str(v[1]))
        elif ext.oid == OID_FORM_FACTOR:
            v = _raw(ext)
            if len(v) != 1:
                raise bad("the YubiKey form factor extension is not one byte")
            data["formFactor"] = v[0]
    return data
