"""JWS signatures made with Nebula keys: XEdDSA (X25519 host keys), EdDSA (CURVE25519 CA keys) and ES256
(P-256 keys, raw r||s)."""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from plica_nebula.cert.certificate import Curve, NebulaCertificate
from plica_nebula.cert.xeddsa import xeddsa_sign, xeddsa_verify


def _expected_alg(cert: NebulaCertificate) -> str:
    if cert.curve == "P256":
        return "ES256"
    # CURVE25519 CA certificates carry an Ed25519 signing key; hosts carry an X25519 key (step-ca nebula.go).
    return "EdDSA" if cert.is_ca else "XEdDSA"


def verify_jws_signature(cert: NebulaCertificate, alg: str, signing_input: bytes, signature: bytes) -> bool:
    """Verify a JWS signature made with the key in ``cert``.  ``alg`` must match the key type:
    XEdDSA (X25519 host keys), ES256 (P-256, raw r||s), EdDSA (CURVE25519 CA keys)."""
    if alg != _expected_alg(cert):
        return False
    if alg == "XEdDSA":
        return xeddsa_verify(cert.public_key, signing_input, signature)
    if alg == "EdDSA":
        try:
            ed25519.Ed25519PublicKey.from_public_bytes(cert.public_key).verify(signature, signing_input)
        except (InvalidSignature, ValueError):
            return False
        return True
    if len(signature) != 64:
        return False
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    try:
        key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), cert.public_key)
        key.verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True


def jws_sign(curve: Curve, private_key: bytes, signing_input: bytes) -> tuple[str, bytes]:
    """Sign a JWS signing input with a key from :func:`load_private_key_pem`; returns ``(alg, signature)``."""
    if curve == "P256":
        key = ec.derive_private_key(int.from_bytes(private_key, "big"), ec.SECP256R1())
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        return "ES256", r.to_bytes(32, "big") + s.to_bytes(32, "big")
    if len(private_key) == 64:
        return "EdDSA", ed25519.Ed25519PrivateKey.from_private_bytes(private_key[:32]).sign(signing_input)
    return "XEdDSA", xeddsa_sign(private_key, signing_input)
