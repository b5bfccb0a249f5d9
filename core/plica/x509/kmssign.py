"""Signing cryptography's builders (certificates, CRLs, OCSP responses) with a key manager's key.

cryptography signs a builder only with a private key object it holds. A key in a token is not one, so the
builder is signed with a throwaway key of the same kind — which makes the to-be-signed bytes exactly what the
real key would have been given, signature AlgorithmIdentifier included — and the real signature of those
bytes, made by the key manager, replaces the throwaway one.
"""

from __future__ import annotations

import threading
from typing import Any

from asn1crypto import ocsp as asn1_ocsp  # type: ignore[import-untyped]
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509 import ocsp

from plica.asn1 import read_tlv, tlv
from plica.kms import Signer

_dummies: dict[str, Any] = {}
_lock = threading.Lock()


def throwaway_key(public_key: Any, pss: bool = False) -> Any:
    """A private key of `public_key`'s kind (curve irrelevant to ECDSA's algorithm identifier; RSA at 1024
    bits, its size being in no to-be-signed structure, or 2048 for PSS, whose salt as long as a SHA-512
    digest does not fit 1024), made once per process."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        kind = "ec"
    elif isinstance(public_key, rsa.RSAPublicKey):
        kind = "rsa-pss" if pss else "rsa"
    elif isinstance(public_key, ed25519.Ed25519PublicKey):
        kind = "ed25519"
    else:
        raise TypeError(f"unsupported CA key {type(public_key).__name__}")
    with _lock:
        key = _dummies.get(kind)
        if key is None:
            if kind == "ec":
                key = ec.generate_private_key(ec.SECP256R1())
            elif kind.startswith("rsa"):
                key = rsa.generate_private_key(65537, 2048 if pss else 1024)
            else:
                key = ed25519.Ed25519PrivateKey.generate()
            _dummies[kind] = key
        return key


def _padding(pss: bool, hash_alg: hashes.HashAlgorithm | None) -> Any:
    if not pss or hash_alg is None:
        return None
    return padding.PSS(mgf=padding.MGF1(hash_alg), salt_length=padding.PSS.DIGEST_LENGTH)


def _outer(der: bytes) -> tuple[bytes, bytes]:
    """(to-be-signed TLV, signature AlgorithmIdentifier TLV) of a signed X.509 structure."""
    _, body, _ = read_tlv(der)
    tag, tbs, rest = read_tlv(body)
    tbs_tlv = tlv(tag, tbs)
    tag, alg, _ = read_tlv(rest)
    return tbs_tlv, tlv(tag, alg)


def _join(tbs: bytes, alg: bytes, sig: bytes) -> bytes:
    return tlv(0x30, tbs + alg + tlv(0x03, b"\x00" + sig))


def _hash_for(signer: Signer, hash_alg: hashes.HashAlgorithm | None) -> hashes.HashAlgorithm | None:
    return hash_alg if hash_alg is not None or signer.hash_alg is None else signer.hash_alg


def prepare(
    builder: Any, signer: Signer, hash_alg: Any = None, pss: bool = False
) -> tuple[bytes, bytes, Any]:
    """(tbs, algorithm identifier, hash) of a CertificateBuilder or CertificateRevocationListBuilder."""
    h = _hash_for(signer, hash_alg)
    dummy = throwaway_key(signer.public_key, pss)
    pad = _padding(pss, h)
    signed = builder.sign(dummy, h, rsa_padding=pad) if pad is not None else builder.sign(dummy, h)
    tbs, alg = _outer(signed.public_bytes(serialization.Encoding.DER))
    return tbs, alg, h


def sign_certificate_now(
    builder: x509.CertificateBuilder, signer: Signer, hash_alg: Any = None, pss: bool = False
) -> x509.Certificate:
    """`builder` signed by `signer` in the calling thread (start-up and the CLI)."""
    tbs, alg, h = prepare(builder, signer, hash_alg, pss)
    return x509.load_der_x509_certificate(_join(tbs, alg, signer.sign_now(tbs, h, pss)))


async def sign_certificate(
    builder: x509.CertificateBuilder, signer: Signer, hash_alg: Any = None, pss: bool = False
) -> x509.Certificate:
    """`builder` signed by `signer` (the issuing intermediate for leaves)."""
    tbs, alg, h = prepare(builder, signer, hash_alg, pss)
    return x509.load_der_x509_certificate(_join(tbs, alg, await signer.sign(tbs, h, pss)))


async def sign_crl(
    builder: x509.CertificateRevocationListBuilder, signer: Signer, hash_alg: Any = None
) -> x509.CertificateRevocationList:
    """A CRL `builder` signed by `signer`."""
    tbs, alg, h = prepare(builder, signer, hash_alg)
    return x509.load_der_x509_crl(_join(tbs, alg, await signer.sign(tbs, h)))


async def sign_ocsp(
    builder: ocsp.OCSPResponseBuilder, signer: Signer, hash_alg: Any = None
) -> ocsp.OCSPResponse:
    """An OCSP response `builder` (responses and responder id set; the responder certificate's key is
    `signer`'s) signed by `signer`: the tbsResponseData of the BasicOCSPResponse is what gets signed (RFC 6960
    §4.2.1). cryptography insists that the responder certificate matches the signing key, so the throwaway
    signature is made with a stand-in responder certificate whose responder id is then set back."""
    h: Any = _hash_for(signer, hash_alg)
    responder, encoding = builder._responder_id  # type: ignore[misc]
    dummy = throwaway_key(signer.public_key)
    stand_in = (
        x509.CertificateBuilder()
        .subject_name(responder.subject)
        .issuer_name(responder.issuer)
        .public_key(dummy.public_key())
        .serial_number(responder.serial_number)
        .not_valid_before(responder.not_valid_before_utc)
        .not_valid_after(responder.not_valid_after_utc)
        .sign(dummy, h)
    )
    signed = ocsp.OCSPResponseBuilder(
        response=builder._response,
        responder_id=(stand_in, encoding),
        certs=builder._certs,
        extensions=builder._extensions,
    ).sign(dummy, h)
    resp = asn1_ocsp.OCSPResponse.load(signed.public_bytes(serialization.Encoding.DER))
    basic = resp["response_bytes"]["response"].parsed
    real = asn1_x509.Certificate.load(responder.public_bytes(serialization.Encoding.DER))
    tbs_data = basic["tbs_response_data"]
    if encoding == ocsp.OCSPResponderEncoding.HASH:
        tbs_data["responder_id"] = asn1_ocsp.ResponderId(name="by_key", value=real.public_key.sha1)
    else:
        tbs_data["responder_id"] = asn1_ocsp.ResponderId(name="by_name", value=real.subject)
    tbs = tbs_data.dump(force=True)
    basic["signature"] = await signer.sign(tbs, h)
    resp["response_bytes"]["response"] = basic
    return ocsp.load_der_ocsp_response(resp.dump(force=True))
