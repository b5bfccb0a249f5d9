"""Building and signing certificates, for tests and tooling: nebula-cert 1.6.1 can make neither P-256 nor
v2 certificates."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from plica_nebula.cert import v1, v2
from plica_nebula.cert.certificate import CURVE_NUM, Curve, Details, IPInterface, NebulaCertificate, to_unix


def sign_certificate(
    *,
    name: str,
    public_key: bytes,
    signing_key: bytes,
    not_before: datetime,
    not_after: datetime,
    ips: Iterable[IPInterface] = (),
    subnets: Iterable[IPInterface] = (),
    groups: Iterable[str] = (),
    is_ca: bool = False,
    curve: Curve = "CURVE25519",
    issuer: NebulaCertificate | None = None,
    version: int = 1,
) -> NebulaCertificate:
    """Build and sign a certificate.  ``issuer=None`` makes it self-signed.

    ``signing_key``: for CURVE25519 an Ed25519 key (32-byte seed or nebula's 64-byte seed||public); for
    P256 the 32-byte scalar.  Deliberately performs **no** CA-constraint checks so tests can build
    certificates that a verifier must reject.
    """
    details = Details(
        name=name,
        ips=tuple(ips),
        subnets=tuple(subnets),
        groups=tuple(groups),
        not_before=to_unix(not_before),
        not_after=to_unix(not_after),
        public_key=public_key,
        is_ca=is_ca,
        issuer=bytes.fromhex(issuer.fingerprint) if issuer is not None else b"",
        curve=curve,
    )
    if version == 1:
        details_raw = v1.encode_details(details)
        signature = _sign(curve, signing_key, details_raw)
        return v1.parse_v1(v1.encode_certificate(details_raw, signature))
    if version == 2:
        details_raw = v2.encode_details(details)
        signature = _sign(curve, signing_key, v2.signed_data(details_raw, CURVE_NUM[curve], public_key))
        return v2.parse_v2(v2.encode_certificate(details_raw, CURVE_NUM[curve], public_key, signature))
    raise ValueError(f"unknown certificate version {version}")


def _sign(curve: Curve, signing_key: bytes, data: bytes) -> bytes:
    if curve == "CURVE25519":
        return ed25519.Ed25519PrivateKey.from_private_bytes(signing_key[:32]).sign(data)
    key = ec.derive_private_key(int.from_bytes(signing_key, "big"), ec.SECP256R1())
    return key.sign(data, ec.ECDSA(hashes.SHA256()))
