"""OpenSSH certificates (PROTOCOL.certkeys) signed through a key manager.

cryptography's SSHCertificateBuilder signs only with a private key object it holds, and the CA's public key
is part of the signed bytes, so a throwaway key cannot stand in as it does for X.509: the certificate is
encoded here, field by field in the order the protocol gives, and the signature comes from `Signer`. The
result is a `SignedSSHCert`: the wire encoding, which the answer and the stored record are made of, and
cryptography's parse of it, made only when something asks for the certificate's fields.
"""

from __future__ import annotations

import base64
import functools
import secrets
import struct
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from plica.kms import Signer
from plica.stages import next_step


def _s(b: bytes) -> bytes:
    return struct.pack(">I", len(b)) + b


def _mpint(n: int) -> bytes:
    if n == 0:
        return _s(b"")
    raw = n.to_bytes((n.bit_length() + 8) // 8, "big")  # a leading zero octet keeps it positive
    return _s(raw)


_EC_CURVES = {"secp256r1": b"nistp256", "secp384r1": b"nistp384", "secp521r1": b"nistp521"}


def key_blob(public_key: Any) -> bytes:
    """The SSH wire form of a public key (type name and fields). Ed25519 and ECDSA keys are framed here
    from their raw encodings (RFC 8709 §4, RFC 5656 §3.1): cryptography's OpenSSH text and its base64 back
    cost ~10 µs a certificate; anything else goes through cryptography."""
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return _s(b"ssh-ed25519") + _s(public_key.public_bytes_raw())
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        curve = _EC_CURVES.get(public_key.curve.name)
        if curve is not None:
            point = public_key.public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            )
            return _s(b"ecdsa-sha2-" + curve) + _s(curve) + _s(point)
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
    """A certificate's critical options or extensions field."""
    return _options_field(tuple(items.items()))


@functools.lru_cache(maxsize=64)
def _options_field(items: tuple[tuple[bytes, bytes], ...]) -> bytes:
    # Most certificates of a CA carry one of a few sets (step's five user extensions, say): kept encoded.
    body = b""
    for name, value in sorted(items):
        body += _s(name) + (_s(_s(value)) if value else _s(b""))
    return _s(body)


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


class SignedSSHCert:
    """A certificate this CA has just signed: its wire encoding and serial, and cryptography's parse of it
    on first use of `cert`. The answer and the stored record need only the encoding; parsing it back (the
    subject key's point checked again, every field decoded in Python) was ~10 % of an SSH request's CPU."""

    __slots__ = ("_cert", "blob", "cert_type", "serial")

    def __init__(self, blob: bytes, serial: int, cert_type: str) -> None:
        self.blob = blob
        self.serial = serial
        self.cert_type = cert_type  # "user" or "host"
        self._cert: serialization.SSHCertificate | None = None

    def openssh(self) -> bytes:
        """The certificate as OpenSSH writes it (`<kind> <base64>`), the form it is stored in."""
        return _split_blob(self.blob)[0] + b" " + base64.b64encode(self.blob)

    def wire_b64(self) -> str:
        """Standard base64 of the wire encoding: how step's answers carry a certificate."""
        return base64.b64encode(self.blob).decode()

    @property
    def cert(self) -> serialization.SSHCertificate:
        if self._cert is None:
            self._cert = serialization.load_ssh_public_identity(self.openssh())  # type: ignore[assignment]
        return self._cert  # type: ignore[return-value]


async def sign_ssh(signer: Signer, body: bytes, *, serial: int, cert_type: str) -> SignedSSHCert:
    """The certificate whose signed part is `body` (from `tbs`), signed by `signer`; `serial` and
    `cert_type` ("user" or "host") are what `body` encodes."""
    _, h = signature_params(signer.public_key)
    await next_step()  # the SSH CA's signatures of this turn's requests together (plica.stages)
    sig = await signer.sign(body, h)
    return SignedSSHCert(body + frame_signature(signer.public_key, sig), serial, cert_type)
