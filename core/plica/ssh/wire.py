"""SSH keys and certificates as step's API carries them: standard base64 of the SSH wire encoding (not
authorized_keys text), and the one rule for the keys this CA certifies."""

from __future__ import annotations

import base64
import binascii
import struct
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import SSHCertificate

from plica.csr import MIN_RSA_BITS, rsa_too_short
from plica.errors import BadRequest, Forbidden, Unauthorized


def _openssh_line(blob: bytes) -> bytes:
    """`<kind> <base64>`, the form cryptography loads, from a wire blob (whose first string is its kind)."""
    (n,) = struct.unpack(">I", blob[:4])
    return blob[4 : 4 + n] + b" " + base64.b64encode(blob)


# What cryptography's loader raises for a blob it will not read. NotImplementedError is its word for an
# ECDSA point in compressed form, which OpenSSH and step-ca (x/crypto/ssh) refuse as well.
_NOT_A_KEY = (binascii.Error, ValueError, struct.error, UnsupportedAlgorithm, NotImplementedError)

# ECDSA key kinds: the curve name the blob must repeat (RFC 5656 §3.1) and the curve.
_EC_KINDS: dict[bytes, tuple[bytes, ec.EllipticCurve]] = {
    b"ecdsa-sha2-nistp256": (b"nistp256", ec.SECP256R1()),
    b"ecdsa-sha2-nistp384": (b"nistp384", ec.SECP384R1()),
    b"ecdsa-sha2-nistp521": (b"nistp521", ec.SECP521R1()),
}


def _wire_strings(blob: bytes) -> list[bytes] | None:
    """The blob as a run of up to three SSH strings (u32 length, bytes), as a key of a kind read here is;
    None for more than three; ValueError when it is not a run of strings."""
    out, i, end = [], 0, len(blob)
    while i < end:
        if len(out) == 3:
            return None
        n = int.from_bytes(blob[i : i + 4], "big")
        i += 4
        if i + n > end:  # also a length field cut short (i past the end)
            raise ValueError("truncated SSH string")
        out.append(blob[i : i + n])
        i += n
    return out


def _load_public_key(blob: bytes) -> Any:
    """The key of a wire blob. Ed25519 and uncompressed ECDSA keys (what OpenSSH and step send) are read
    here, their point handed to cryptography, which checks it; every other blob, well formed or not, goes
    to cryptography's loader, which wants OpenSSH's text form and parses that in Python: 12 µs a key
    against 7 here, most of both being the point check. tests/test_ssh_wire.py checks that both read every
    blob alike."""
    fields = _wire_strings(blob) or [b""]
    kind = fields[0]
    if kind == b"ssh-ed25519" and len(fields) == 2:
        return ed25519.Ed25519PublicKey.from_public_bytes(fields[1])
    curve = _EC_KINDS.get(kind)
    if curve is not None and len(fields) == 3 and fields[1] == curve[0] and fields[2][:1] == b"\x04":
        return ec.EllipticCurvePublicKey.from_encoded_point(curve[1], fields[2])
    return serialization.load_ssh_public_key(_openssh_line(blob))


def parse_ssh_public_key(b64: Any, what: str = "publicKey") -> tuple[Any, bytes]:
    """The key and its wire blob; BadRequest naming `what` when it is missing or not a key."""
    if not isinstance(b64, str) or not b64:
        raise BadRequest(f"missing {what}")
    try:
        blob = base64.b64decode(b64, validate=True)
        key = _load_public_key(blob)
    except _NOT_A_KEY:
        # Not the library's text: it names its internals, and could quote the input back.
        raise BadRequest(f"{what} is not a valid SSH public key (base64 of the SSH wire encoding)") from None
    return key, blob


def parse_ssh_certificate(b64: str | bytes) -> SSHCertificate:
    """An SSH certificate from the base64 of its wire encoding (as tokens and responses carry it)."""
    try:
        blob = base64.b64decode(b64, validate=True)
        return serialization.load_ssh_public_identity(_openssh_line(blob))  # type: ignore[return-value]
    except _NOT_A_KEY:
        raise Unauthorized("not a valid SSH certificate (base64 of the SSH wire encoding)") from None


def check_ssh_public_key(key: Any) -> None:
    """step's sshDefaultPublicKeyValidator: RSA keys of at least 2048 bits (403; the kernel's one RSA rule,
    `plica.csr`), no DSA (400)."""
    if isinstance(key, rsa.RSAPublicKey) and rsa_too_short(key):
        raise Forbidden(
            f"ssh certificate key must be at least {MIN_RSA_BITS} bits (RSA key of {key.key_size} bits)"
        )
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey):
        raise BadRequest(f"ssh certificate key algorithm ({type(key).__name__}) is not supported")
