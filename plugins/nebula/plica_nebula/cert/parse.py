"""Certificates and private keys from bytes: raw certificates of either version, PEM bundles, and the
private keys nebula-cert writes."""

from __future__ import annotations

from plica_nebula.cert.certificate import Curve, NebulaCertificate
from plica_nebula.cert.errors import NebulaCertificateError
from plica_nebula.cert.pem import CERT_BANNER_V1, CERT_BANNER_V2, pem_blocks
from plica_nebula.cert.v1 import parse_v1
from plica_nebula.cert.v2 import parse_v2


def parse_der(raw: bytes) -> NebulaCertificate:
    """Parse raw certificate bytes (e.g. the base64-decoded ``nebula`` JWS header): v1 first, then v2."""
    try:
        return parse_v1(raw)
    except NebulaCertificateError as v1_err:
        try:
            return parse_v2(raw)
        except NebulaCertificateError as v2_err:
            raise NebulaCertificateError(
                f"not a Nebula certificate (as v1: {v1_err}; as v2: {v2_err})"
            ) from None


def parse_pem(data: bytes | str) -> list[NebulaCertificate]:
    """Parse every certificate in a PEM bundle.  Non-certificate PEM blocks are an error (as in nebula);
    text between blocks (comments) is ignored."""
    certs = []
    for banner, der in pem_blocks(data):
        if banner == CERT_BANNER_V1:
            certs.append(parse_v1(der))
        elif banner == CERT_BANNER_V2:
            certs.append(parse_v2(der))
        else:
            raise NebulaCertificateError(f"unexpected PEM block {banner!r}, want a Nebula certificate")
    if not certs:
        raise NebulaCertificateError("no Nebula certificate PEM block found")
    return certs


_KEY_BANNERS: dict[str, tuple[Curve, int]] = {
    "NEBULA X25519 PRIVATE KEY": ("CURVE25519", 32),
    "NEBULA ED25519 PRIVATE KEY": ("CURVE25519", 64),
    "NEBULA P256 PRIVATE KEY": ("P256", 32),
    "NEBULA ECDSA P256 PRIVATE KEY": ("P256", 32),
}


def load_private_key_pem(pem: bytes | str) -> tuple[Curve, bytes]:
    """Load the first PEM private key nebula-cert wrote.

    Returns ``(curve, raw)``: X25519 host keys are 32 bytes, Ed25519 CA keys 64 bytes (Go's seed||public
    layout), P-256 keys (host or CA) the 32-byte big-endian scalar.  The length tells X25519 from Ed25519.
    """
    for banner, raw in pem_blocks(pem):
        if "ENCRYPTED" in banner:
            raise NebulaCertificateError(f"encrypted private keys are not supported ({banner})")
        if banner not in _KEY_BANNERS:
            raise NebulaCertificateError(f"unexpected PEM block {banner!r}, want a Nebula private key")
        curve, size = _KEY_BANNERS[banner]
        if len(raw) != size:
            raise NebulaCertificateError(f"{banner}: key is {len(raw)} bytes, want {size}")
        return curve, raw
    raise NebulaCertificateError("no Nebula private key PEM block found")
