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


def parse_ssh_public_key(b64: Any, what: str = "publicKey") -> tuple[Any, bytes]:
    """The key and its wire blob; BadRequest naming `what` when it is missing or not a key."""
    if not isinstance(b64, str) or not b64:
        raise BadRequest(f"missing {what}")
    try:
        blob = base64.b64decode(b64, validate=True)
        key = serialization.load_ssh_public_key(_openssh_line(blob))
    except (binascii.Error, ValueError, struct.error, UnsupportedAlgorithm):
        # Not the library's text: it names its internals, and could quote the input back.
        raise BadRequest(f"{what} is not a valid SSH public key (base64 of the SSH wire encoding)") from None
    return key, blob


def parse_ssh_certificate(b64: str | bytes) -> SSHCertificate:
    """An SSH certificate from the base64 of its wire encoding (as tokens and responses carry it)."""
    try:
        blob = base64.b64decode(b64, validate=True)
        return serialization.load_ssh_public_identity(_openssh_line(blob))  # type: ignore[return-value]
    except (binascii.Error, ValueError, struct.error, UnsupportedAlgorithm):
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
