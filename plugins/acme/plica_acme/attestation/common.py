"""What every attestation format shares: the problem a failed check raises, the bounded CBOR decoding of
`attObj`, the x5c chain check against the provisioner's (or the vendor's) roots, and what a verified
attestation yields."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import re
from collections.abc import Sequence
from typing import Any

import cbor2
from attrs import frozen
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import verification

from ..problems import Problem

# A real attObj is a few kilobytes (two or three certificates and a signature); anything much larger is
# noise or an attempt to make the server work.
MAX_ATTOBJ = 64 * 1024
# attObj is a map holding attStmt, a map holding x5c, a list of byte strings: depth 3 is enough.
MAX_CBOR_DEPTH = 8
MAX_X5C = 5
_B64URL = re.compile(r"[A-Za-z0-9_-]*=*")


def bad(detail: str) -> Problem:
    return Problem("badAttestationStatement", detail)


@frozen
class Attested:
    """A verified attestation: which key it vouches for and what it says about the device."""

    format: str
    spki_sha256: str  # hex SHA-256 of the attested key's SubjectPublicKeyInfo (finalize compares the CSR's)
    identifiers: tuple[str, ...]  # the device identifiers the attestation carries (serial, UDID, ...)
    data: dict[str, Any]  # for templates (`.AttestationData`): serialNumber, udid, firmware, ...

    def json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "spkiSHA256": self.spki_sha256,
            "identifiers": list(self.identifiers),
            "data": self.data,
        }


def spki_sha256(key: Any) -> str:
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def _no_tags(decoder: Any, tag: Any) -> Any:
    raise cbor2.CBORDecodeError(f"CBOR tag {tag.tag} is not allowed in an attestation object")


def decode_cbor(data: bytes, what: str) -> Any:
    """One CBOR item, bounded: size, nesting depth, definite lengths only (a declared length beyond the
    data fails at once, without allocating it), no duplicate keys, no tags, nothing after it."""
    if len(data) > MAX_ATTOBJ:
        raise bad(f"{what} is {len(data)} bytes long (at most {MAX_ATTOBJ})")
    fp = io.BytesIO(data)
    try:
        decoder = cbor2.CBORDecoder(
            fp,
            tag_hook=_no_tags,
            semantic_decoders={},
            max_depth=MAX_CBOR_DEPTH,
            allow_indefinite=False,
            allow_duplicate_keys=False,
        )
        value = decoder.decode()
    except (cbor2.CBORDecodeError, ValueError, OverflowError, MemoryError, RecursionError) as e:
        raise bad(f"{what} is not well-formed CBOR: {e}") from None
    if fp.tell() != len(data):
        raise bad(f"{what} has {len(data) - fp.tell()} bytes after its CBOR item")
    return value


def decode_attobj(att_obj: Any) -> tuple[str, dict[str, Any]]:
    """The challenge response's `attObj` (base64url of CBOR) as (fmt, attStmt)."""
    if not isinstance(att_obj, str) or not att_obj:
        raise bad('the response must be {"attObj": base64url(CBOR attestation object)}')
    if len(att_obj) > MAX_ATTOBJ * 4 // 3 + 4:
        raise bad(f"attObj is longer than {MAX_ATTOBJ} bytes (at most {MAX_ATTOBJ})")
    if not _B64URL.fullmatch(att_obj):
        raise bad("attObj is not base64url (RFC 4648 §5, without padding)")
    try:
        raw = base64.urlsafe_b64decode(att_obj + "=" * (-len(att_obj) % 4))
    except (ValueError, TypeError):
        raise bad("attObj is not base64url (RFC 4648 §5, without padding)") from None
    if not raw:
        raise bad("attObj is empty")
    obj = decode_cbor(raw, "attObj")
    if not isinstance(obj, dict):
        raise bad("attObj is not a CBOR map")
    fmt, stmt = obj.get("fmt"), obj.get("attStmt")
    if not isinstance(fmt, str) or not fmt:
        raise bad("attObj has no fmt")
    if not isinstance(stmt, dict) or not all(isinstance(k, str) for k in stmt):
        raise bad("attObj has no attStmt map")
    return fmt, stmt


def stmt_bytes(stmt: dict[str, Any], key: str) -> bytes:
    v = stmt.get(key)
    if not isinstance(v, bytes):
        raise bad(f"attStmt.{key} is missing or not a byte string")
    if not v:
        raise bad(f"attStmt.{key} is empty")
    return v


def x5c_certs(stmt: dict[str, Any]) -> list[x509.Certificate]:
    x5c = stmt.get("x5c")
    if not isinstance(x5c, list):
        raise bad("attStmt.x5c is missing or not an array")
    if not x5c:
        raise bad("attStmt.x5c is empty")
    if len(x5c) > MAX_X5C:
        raise bad(f"attStmt.x5c has {len(x5c)} certificates (at most {MAX_X5C})")
    out = []
    for i, der in enumerate(x5c):
        if not isinstance(der, bytes):
            raise bad(f"attStmt.x5c[{i}] is not a byte string")
        try:
            out.append(x509.load_der_x509_certificate(der))
        except ValueError as e:
            raise bad(f"attStmt.x5c[{i}] is not a DER X.509 certificate: {e}") from None
    return out


def describe(cert: x509.Certificate) -> str:
    try:
        return repr(cert.subject.rfc4514_string() or "(empty subject)")
    except ValueError:
        return "(unreadable subject)"


# Go's x509.Verify, as step-ca calls it (KeyUsages: any): signatures, validity, CA-ness and path length;
# extensions are otherwise left to each format, whose certificates (an AK certificate with an empty
# subject and a critical SAN, Apple's and Yubico's private extensions) the web-PKI profile would refuse.
_CA_POLICY = verification.ExtensionPolicy.permit_all().require_present(
    x509.BasicConstraints, verification.Criticality.AGNOSTIC, None
)
_EE_POLICY = verification.ExtensionPolicy.permit_all()


def verify_chain(
    certs: Sequence[x509.Certificate], roots: Sequence[x509.Certificate], now: dt.datetime
) -> None:
    """The x5c leaf (first) chains through the others to one of `roots` at `now`; else a problem that
    says whether a certificate expired (or is not valid yet) or the chain ends at an untrusted root."""
    if not roots:
        raise bad("no attestation roots are configured for this format (set attestationRoots)")
    for i, cert in enumerate(certs):
        role = "leaf" if i == 0 else f"intermediate x5c[{i}]"
        if now < cert.not_valid_before_utc:
            raise bad(f"attestation {role} certificate {describe(cert)} is not valid yet")
        if now > cert.not_valid_after_utc:
            raise bad(
                f"attestation {role} certificate {describe(cert)} expired on "
                f"{cert.not_valid_after_utc.isoformat()}"
            )
    builder = (
        verification.PolicyBuilder()
        .store(verification.Store(list(roots)))
        .time(now)
        .extension_policies(ca_policy=_CA_POLICY, ee_policy=_EE_POLICY)
    )
    try:
        builder.build_client_verifier().verify(certs[0], list(certs[1:]))
    except verification.VerificationError as e:
        names = {r.subject for r in roots}
        top = certs[-1]
        if top.issuer not in names and top.subject not in names:
            raise bad(
                f"the attestation certificate chain ends at {top.issuer.rfc4514_string()!r}, "
                "which is not one of the trusted attestation roots"
            ) from None
        reason = str(e).removeprefix("validation failed: ").split(" (encountered processing", 1)[0]
        raise bad(f"the attestation certificate chain does not verify: {reason}") from None
