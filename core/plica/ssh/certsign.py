"""OpenSSH certificates (PROTOCOL.certkeys) signed through a key manager.

cryptography's SSHCertificateBuilder signs only with a private key object it holds, and the CA's public key
is part of the signed bytes, so a throwaway key cannot stand in as it does for X.509: the certificate is
encoded here, field by field in the order the protocol gives, and the signature comes from `Signer`. The
result is parsed back by cryptography, which is what the rest of the CA handles.
"""

from __future__ import annotations

import base64
import secrets
import struct
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from plica.kms import Signer


def _s(b: bytes) -> bytes:
    return struct.pack(">I", len(b)) + b


def _mpint(n: int) -> bytes:
    if n == 0:
        return _s(b"")
    raw = n.to_bytes((n.bit_length() + 8) // 8, "big")  # a leading zero octet keeps it positive
    return _s(raw)


def key_blob(public_key: Any) -> bytes:
    """The SSH wire form of a public key (type name and fields)."""
    line = public_key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return base64.b64decode(line.split()[1])


_CA_BLOBS: dict[int, tuple[Any, bytes]] = {}


def _ca_key_blob(public_key: Any) -> bytes:
    """key_blob of a CA key, once per key object (~30 µs each time otherwise; the CA's SSH keys live as long
    as the process, and the object is kept so that its id is never reused)."""
    hit = _CA_BLOBS.get(id(public_key))
    if hit is None or hit[0] is not public_key:
        if len(_CA_BLOBS) >= 16:  # keys replaced by a reload: never more than a few live at once
            _CA_BLOBS.clear()
        hit = _CA_BLOBS[id(public_key)] = (public_key, key_blob(public_key))
    return hit[1]


def _split_blob(blob: bytes) -> tuple[bytes, bytes]:
    (n,) = struct.unpack(">I", blob[:4])
    return blob[4 : 4 + n], blob[4 + n :]


def _options(items: dict[bytes, bytes]) -> bytes:
    out = b""
    for name in sorted(items):
        value = items[name]
        out += _s(name) + (_s(_s(value)) if value else _s(b""))
    return _s(out)


def signature_params(public_key: Any) -> tuple[bytes, hashes.HashAlgorithm | None]:
    """(signature format name, hash) for an SSH CA key: ecdsa-sha2-<curve> with the curve's hash,
    rsa-sha2-512 for RSA (as cryptography and ssh-keygen sign), ssh-ed25519."""
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return b"ssh-ed25519", None
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        size = public_key.curve.key_size
        h: hashes.HashAlgorithm = (
            hashes.SHA256() if size == 256 else hashes.SHA384() if size == 384 else hashes.SHA512()
        )
        return f"ecdsa-sha2-nistp{size}".encode(), h
    if isinstance(public_key, rsa.RSAPublicKey):
        return b"rsa-sha2-512", hashes.SHA512()
    raise TypeError(f"unsupported SSH CA key {type(public_key).__name__}")


def frame_signature(public_key: Any, sig: bytes) -> bytes:
    name, _ = signature_params(public_key)
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        r, s = decode_dss_signature(sig)
        sig = _mpint(r) + _mpint(s)
    return _s(_s(name) + _s(sig))


def tbs(
    *,
    public_key: Any,
    ca_public_key: Any,
    serial: int,
    cert_type: int,
    key_id: bytes,
    principals: list[bytes],
    valid_after: int,
    valid_before: int,
    critical: dict[bytes, bytes],
    extensions: dict[bytes, bytes],
    nonce: bytes | None = None,
) -> bytes:
    """The signed part of a certificate: everything up to and including the CA key (cert_type 1 = user,
    2 = host)."""
    kind, fields = _split_blob(key_blob(public_key))
    return (
        _s(kind + b"-cert-v01@openssh.com")
        + _s(nonce if nonce is not None else secrets.token_bytes(32))
        + fields
        + struct.pack(">QI", serial, cert_type)
        + _s(key_id)
        + _s(b"".join(_s(p) for p in principals))
        + struct.pack(">QQ", valid_after, valid_before)
        + _options(critical)
        + _options(extensions)
        + _s(b"")
        + _s(_ca_key_blob(ca_public_key))
    )


async def sign_ssh(signer: Signer, body: bytes) -> serialization.SSHCertificate:
    """The certificate whose signed part is `body` (from `tbs`), signed by `signer`."""
    _, h = signature_params(signer.public_key)
    sig = await signer.sign(body, h)
    return _load(body, frame_signature(signer.public_key, sig))


def sign_ssh_now(signer: Signer, body: bytes) -> serialization.SSHCertificate:
    _, h = signature_params(signer.public_key)
    return _load(body, frame_signature(signer.public_key, signer.sign_now(body, h)))


def _load(body: bytes, framed_sig: bytes) -> serialization.SSHCertificate:
    kind, _ = _split_blob(body)
    blob = body + framed_sig
    return serialization.load_ssh_public_identity(kind + b" " + base64.b64encode(blob))  # type: ignore[return-value]
