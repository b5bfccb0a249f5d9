"""Certificate requests as every protocol receives them: parsed, signature checked, key strength checked.

Public (through `plica.api`): `/sign` takes PEM, ACME and SCEP take DER; all apply the same rules, with
step-ca's one RSA rule (at least 2048 bits) for CSR keys and SSH keys alike.
"""

from __future__ import annotations

from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from plica.errors import BadRequest, Forbidden

MIN_RSA_BITS = 2048


def parse_csr_pem(text: str) -> tuple[x509.CertificateSigningRequest, bytes]:
    """A PEM CSR and its DER; BadRequest when it is not one, its signature fails or its extensions are
    malformed."""
    csr, der, _ = parse_csr_pem_with_key(text)
    return csr, der


def parse_csr_pem_with_key(text: str) -> tuple[x509.CertificateSigningRequest, bytes, Any]:
    """`parse_csr_pem`, and the CSR's public key as its check decoded it."""
    try:
        csr = x509.load_pem_x509_csr(text.encode("utf-8", "replace"))
    except (ValueError, x509.InvalidVersion):
        raise BadRequest("invalid csr: not a PEM-encoded certificate request") from None
    key = _check(csr)
    return csr, csr.public_bytes(serialization.Encoding.DER), key


def parse_csr_der(der: bytes) -> x509.CertificateSigningRequest:
    """A DER CSR, with the same checks as `parse_csr_pem`."""
    try:
        csr = x509.load_der_x509_csr(der)
    except (ValueError, x509.InvalidVersion):
        raise BadRequest("invalid csr: not a DER-encoded certificate request") from None
    _check(csr)
    return csr


def _check(csr: x509.CertificateSigningRequest) -> Any:
    """Everything of the CSR that cryptography decodes lazily is decoded here, once, so that no later
    reader meets a malformed part: the key (returned), the signature, the subject and the extensions."""
    try:
        key = csr.public_key()
    except (ValueError, UnsupportedAlgorithm):
        raise BadRequest("invalid csr: its public key is malformed or of an unsupported algorithm") from None
    try:
        ok = csr.is_signature_valid
    except (ValueError, InvalidSignature, TypeError, UnsupportedAlgorithm):
        ok = False
    if not ok:
        raise BadRequest("invalid csr: its signature does not verify")
    try:
        _ = csr.subject
        _ = csr.extensions
    except ValueError:
        # cryptography's message names its own internals; the client learns which part is malformed.
        raise BadRequest("invalid csr: malformed subject or extensions") from None
    return key


def rsa_too_short(key: Any) -> str | None:
    """Why an RSA key is too short for this CA, or None (any other key, or a long enough RSA key)."""
    size = getattr(key, "key_size", None)
    if isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey) and size is not None and size < MIN_RSA_BITS:
        return f"RSA key of {size} bits is too short (at least {MIN_RSA_BITS} bits)"
    return None


def check_public_key(key: Any) -> None:
    """A certificate key this CA signs: RSA of at least 2048 bits (Forbidden), EC or Ed25519 (else
    BadRequest)."""
    if isinstance(key, rsa.RSAPublicKey):
        short = rsa_too_short(key)
        if short:
            raise Forbidden(short)
        return
    if isinstance(key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey):
        return
    raise BadRequest(f"unsupported public key type {type(key).__name__} (use EC, RSA or Ed25519)")
