"""`tpm`: the WebAuthn TPM attestation statement (`ver` "2.0", `alg`, `x5c`, `sig`, `certInfo`,
`pubArea`), as step-ca checks it: the attestation key's certificate (x5c[0]) chains to the roots and meets
WebAuthn's AK certificate requirements; `sig` is the AK's signature over `certInfo`, a TPM2_Certify of the
key in `pubArea` whose qualifying data (extraData) is the SHA-256 of the key authorization."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Sequence
from typing import Any

from asn1crypto import core
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from .common import Attested, bad, describe, spki_sha256, stmt_bytes, verify_chain, x5c_certs
from .tpmwire import FIXED_TPM, SENSITIVE_DATA_ORIGIN, TPMError, parse_certify_info, parse_public

OID_TCG_KP_AIK_CERTIFICATE = x509.ObjectIdentifier("2.23.133.8.3")
OID_TPM_MANUFACTURER = x509.ObjectIdentifier("2.23.133.2.1")
OID_TPM_MODEL = x509.ObjectIdentifier("2.23.133.2.2")
OID_TPM_VERSION = x509.ObjectIdentifier("2.23.133.2.3")
OID_PERMANENT_IDENTIFIER = x509.ObjectIdentifier("1.3.6.1.5.5.7.8.3")

# COSE algorithms (RFC 9053, WebAuthn): the AK's signature scheme and hash.
COSE_ES256, COSE_RS256, COSE_RS1 = -7, -257, -65535
_HASHES: dict[int, hashes.HashAlgorithm] = {
    COSE_ES256: hashes.SHA256(),
    COSE_RS256: hashes.SHA256(),
    COSE_RS1: hashes.SHA1(),
}


class PermanentIdentifier(core.Sequence):
    """RFC 4043's otherName value."""

    _fields = [
        ("identifier_value", core.UTF8String, {"optional": True}),
        ("assigner", core.ObjectIdentifier, {"optional": True}),
    ]


def verify(
    stmt: dict[str, Any], *, key_auth: str, roots: Sequence[x509.Certificate], now: dt.datetime
) -> Attested:
    if stmt.get("ver") != "2.0":
        raise bad('attStmt.ver must be "2.0"')
    alg = stmt.get("alg")
    if not isinstance(alg, int) or isinstance(alg, bool) or alg not in _HASHES:
        raise bad(f"attStmt.alg {alg!r} is not supported (ES256 -7, RS256 -257, RS1 -65535)")
    certs = x5c_certs(stmt)
    verify_chain(certs, roots, now)
    ak = certs[0]
    manufacturer = _check_ak_certificate(ak)
    pub_area = stmt_bytes(stmt, "pubArea")
    cert_info = stmt_bytes(stmt, "certInfo")
    sig = stmt_bytes(stmt, "sig")
    _check_signature(ak, alg, sig, cert_info)
    try:
        info = parse_certify_info(cert_info)
        public = parse_public(pub_area)
    except TPMError as e:
        raise bad(str(e)) from None
    if not hmac.compare_digest(info.extra_data, hashlib.sha256(key_auth.encode("ascii")).digest()):
        raise bad("certInfo's qualifying data (extraData) is not the SHA-256 of the key authorization")
    if not hmac.compare_digest(info.name, public.name(pub_area)):
        raise bad("certInfo does not certify the key in pubArea (the certified name differs)")
    if public.attributes & (FIXED_TPM | SENSITIVE_DATA_ORIGIN) != FIXED_TPM | SENSITIVE_DATA_ORIGIN:
        raise bad(
            "the key in pubArea can leave the TPM or was not made in it (fixedTPM, sensitiveDataOrigin)"
        )
    identifiers = _permanent_identifiers(ak)
    data: dict[str, Any] = {"firmware": f"{info.firmware_version:x}", **manufacturer}
    if identifiers:
        data["permanentIdentifiers"] = list(identifiers)
    return Attested(format="tpm", spki_sha256=spki_sha256(public.key), identifiers=identifiers, data=data)


def _check_signature(ak: x509.Certificate, alg: int, sig: bytes, message: bytes) -> None:
    key = ak.public_key()
    algorithm = _HASHES[alg]
    try:
        if alg == COSE_ES256:
            if not isinstance(key, ec.EllipticCurvePublicKey):
                raise bad("attStmt.alg is ES256 but the AK certificate's key is not an EC key")
            key.verify(sig, message, ec.ECDSA(algorithm))
        else:
            if not isinstance(key, rsa.RSAPublicKey):
                raise bad("attStmt.alg is an RSA algorithm but the AK certificate's key is not RSA")
            key.verify(sig, message, padding.PKCS1v15(), algorithm)
    except InvalidSignature:
        raise bad("attStmt.sig is not the attestation key's signature over certInfo") from None


def _check_ak_certificate(ak: x509.Certificate) -> dict[str, str]:
    """WebAuthn §8.3.1's AK certificate requirements (as step-ca's validateAKCertificate); returns the TPM's
    manufacturer, model and version from its SAN."""
    who = f"AK certificate {describe(ak)}"
    if ak.version != x509.Version.v3:
        raise bad(f"{who} is not an X.509 v3 certificate")
    if len(ak.subject) != 0:
        raise bad(f"{who} must have an empty subject")
    try:
        bc = ak.extensions.get_extension_for_class(x509.BasicConstraints).value
        if bc.ca:
            raise bad(f"{who} must not be a CA")
    except x509.ExtensionNotFound:
        pass
    try:
        eku = ak.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        raise bad(f"{who} has no extended key usage (it must be tcg-kp-AIKCertificate)") from None
    except ValueError as e:
        raise bad(f"{who} has a malformed extension: {e}") from None
    if OID_TCG_KP_AIK_CERTIFICATE not in eku:
        raise bad(f"{who} lacks the extended key usage tcg-kp-AIKCertificate (2.23.133.8.3)")
    found: dict[str, str] = {}
    for name in _sans(ak).get_values_for_type(x509.DirectoryName):
        for attr in name:
            for oid, key in (
                (OID_TPM_MANUFACTURER, "manufacturer"),
                (OID_TPM_MODEL, "model"),
                (OID_TPM_VERSION, "version"),
            ):
                if attr.oid == oid:
                    value = attr.value
                    found[key] = value if isinstance(value, str) else value.decode("utf-8", "replace")
    for key in ("manufacturer", "model", "version"):
        if not found.get(key):
            raise bad(f"{who} does not name the TPM's {key} in its subject alternative name")
    return found


def _sans(cert: x509.Certificate) -> x509.SubjectAlternativeName:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise bad(f"AK certificate {describe(cert)} has no subject alternative name") from None
    except ValueError as e:
        raise bad(f"AK certificate {describe(cert)} has a malformed extension: {e}") from None


def _permanent_identifiers(ak: x509.Certificate) -> tuple[str, ...]:
    out: list[str] = []
    for other in _sans(ak).get_values_for_type(x509.OtherName):
        if other.type_id != OID_PERMANENT_IDENTIFIER:
            continue
        try:
            value = PermanentIdentifier.load(other.value, strict=True)["identifier_value"].native
        except ValueError:
            raise bad("the AK certificate's permanentIdentifier is malformed") from None
        if value:
            out.append(value)
    return tuple(out)
