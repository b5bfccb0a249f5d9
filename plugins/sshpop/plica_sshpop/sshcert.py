"""SSH certificates as SSHPOP tokens carry them: standard base64 of the OpenSSH wire encoding."""

from __future__ import annotations

import base64
import binascii
import struct
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import SSHCertificate, SSHCertificateType

# OpenSSH writes "forever" as the largest uint64.
INFINITY = 2**64 - 1


class SSHCertError(ValueError):
    """Not a usable SSH certificate; the message is safe to show to a client."""


def from_wire_b64(value: Any) -> SSHCertificate:
    if not isinstance(value, str) or not value:
        raise SSHCertError("must be the standard base64 of an SSH certificate")
    try:
        blob = base64.b64decode(value, validate=True)
        (n,) = struct.unpack(">I", blob[:4])
        kind = blob[4 : 4 + n]
        if not kind.endswith(b"-cert-v01@openssh.com"):
            raise SSHCertError(
                f"holds an SSH public key of type {kind.decode(errors='replace')!r}, not a certificate"
            )
        cert = serialization.load_ssh_public_identity(kind + b" " + base64.b64encode(blob))
    except SSHCertError:
        raise
    except (binascii.Error, ValueError, struct.error, UnsupportedAlgorithm, NotImplementedError) as e:
        # NotImplementedError: cryptography's word for an ECDSA key in compressed form (OpenSSH refuses it too).
        raise SSHCertError(f"is not a valid SSH certificate: {e}") from None
    if not isinstance(cert, SSHCertificate):
        raise SSHCertError("is an SSH public key, not a certificate")
    return cert


def to_wire_b64(cert: SSHCertificate) -> str:
    return cert.public_bytes().split(b" ")[1].decode("ascii")


def public_key_wire(key: Any) -> bytes:
    """The wire encoding of an SSH public key (what OpenSSH compares when it matches a CA key)."""
    line = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return base64.b64decode(line.split(b" ")[1])


def signed_by(cert: SSHCertificate, ca_keys: frozenset[bytes]) -> bool:
    """True when `cert`'s signature verifies and the signing key is one of `ca_keys` (wire encodings)."""
    try:
        signer = public_key_wire(cert.signature_key())
    except (ValueError, UnsupportedAlgorithm):
        return False
    if signer not in ca_keys:
        return False
    try:
        cert.verify_cert_signature()
    except (InvalidSignature, ValueError, UnsupportedAlgorithm):
        return False
    return True


def kind(cert: SSHCertificate) -> str:
    return "host" if cert.type == SSHCertificateType.HOST else "user"
