"""Signature algorithms (§1.9, §1.10 step 7): the description's `signatureAlgorithm` as signing parameters."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa

from .errors import DescriptionError
from .gojson import dec_string

# §1.9 names, canonical spelling; matching is case-insensitive.
SIGNATURE_ALGORITHMS: tuple[str, ...] = (
    "MD2-RSA",
    "MD5-RSA",
    "SHA1-RSA",
    "SHA256-RSA",
    "SHA384-RSA",
    "SHA512-RSA",
    "DSA-SHA1",
    "DSA-SHA256",
    "ECDSA-SHA1",
    "ECDSA-SHA256",
    "ECDSA-SHA384",
    "ECDSA-SHA512",
    "SHA256-RSAPSS",
    "SHA384-RSAPSS",
    "SHA512-RSAPSS",
    "Ed25519",
)
_SIG_BY_UPPER = {n.upper(): n for n in SIGNATURE_ALGORITHMS}


def _canonical(name: str) -> str:
    canonical = _SIG_BY_UPPER.get(name.upper())
    if canonical is None:
        raise DescriptionError(f"unsupported signatureAlgorithm {name}")
    return canonical


def dec_signature_algorithm(value: Any, path: str) -> str:
    name = dec_string(value, path)
    return _canonical(name) if name else ""


_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "SHA1": hashes.SHA1,
    "SHA256": hashes.SHA256,
    "SHA384": hashes.SHA384,
    "SHA512": hashes.SHA512,
}


@attrs.frozen
class SigningParams:
    """What `CertificateBuilder.sign` needs: the hash (None for Ed25519) and, for RSA-PSS, the padding."""

    algorithm: hashes.HashAlgorithm | None
    rsa_padding: padding.PSS | padding.PKCS1v15 | None = None


def _key_kind(key: Any) -> str:
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        return "RSA"
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        return "ECDSA"
    if isinstance(key, (ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey)):
        return "Ed25519"
    if isinstance(key, (dsa.DSAPrivateKey, dsa.DSAPublicKey)):
        return "DSA"
    if isinstance(key, (ed448.Ed448PrivateKey, ed448.Ed448PublicKey)):
        return "Ed448"
    return type(key).__name__


def _pss(algorithm: hashes.HashAlgorithm) -> padding.PSS:
    # Go signs RSA-PSS with a salt as long as the hash.
    return padding.PSS(mgf=padding.MGF1(algorithm), salt_length=padding.PSS.DIGEST_LENGTH)


def signing_params(name: str, ca_key: Any, *, ca_cert: x509.Certificate | None = None) -> SigningParams:
    """Map a §1.9 name to signing parameters for `ca_key` (private or public); "" lets the CA choose.

    Raises DescriptionError for unknown names, MD2/MD5/DSA (Go refuses to sign with them) and for a name
    that does not match the CA key type.
    """
    kind = _key_kind(ca_key)
    if name == "":
        if kind == "RSA":
            if ca_cert is not None and isinstance(ca_cert.signature_hash_algorithm, hashes.HashAlgorithm):
                # An RSA CA whose own certificate carries an RSA signature reuses that algorithm.
                params = ca_cert.signature_algorithm_parameters
                if isinstance(params, padding.PSS):
                    return SigningParams(
                        ca_cert.signature_hash_algorithm, _pss(ca_cert.signature_hash_algorithm)
                    )
                if isinstance(params, padding.PKCS1v15):
                    return SigningParams(ca_cert.signature_hash_algorithm, padding.PKCS1v15())
            return SigningParams(hashes.SHA256(), padding.PKCS1v15())
        if kind == "ECDSA":
            size = ca_key.curve.key_size
            return SigningParams(
                hashes.SHA512() if size > 384 else hashes.SHA384() if size > 256 else hashes.SHA256()
            )
        if kind == "Ed25519":
            return SigningParams(None)
        raise DescriptionError(f"x509: cannot sign with a {kind} key")
    canonical = _canonical(name)
    if canonical in ("MD2-RSA", "MD5-RSA", "DSA-SHA1", "DSA-SHA256"):
        raise DescriptionError(f"x509: signing with {canonical} is not supported")
    if canonical == "Ed25519":
        wanted = "Ed25519"
    elif canonical.startswith("ECDSA-"):
        wanted = "ECDSA"
    else:
        wanted = "RSA"
    if kind != wanted:
        raise DescriptionError(
            f"x509: requested SignatureAlgorithm {canonical} does not match private key type {kind}"
        )
    if wanted == "Ed25519":
        return SigningParams(None)
    hash_name = canonical.split("-")[1] if wanted == "ECDSA" else canonical.split("-")[0]
    algorithm = _HASHES[hash_name]()
    if canonical.endswith("-RSAPSS"):
        return SigningParams(algorithm, _pss(algorithm))
    return SigningParams(algorithm, padding.PKCS1v15() if wanted == "RSA" else None)


def hash_for_signature_algorithm(
    name: str, ca_key: Any, *, ca_cert: x509.Certificate | None = None
) -> hashes.HashAlgorithm | None:
    """The hash for `CertificateBuilder.sign` (None for Ed25519); see `signing_params` for RSA-PSS padding."""
    return signing_params(name, ca_key, ca_cert=ca_cert).algorithm


__all__ = [
    "SIGNATURE_ALGORITHMS",
    "SigningParams",
    "dec_signature_algorithm",
    "hash_for_signature_algorithm",
    "signing_params",
]
