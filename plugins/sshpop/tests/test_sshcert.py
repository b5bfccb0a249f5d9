"""The certificate a token carries, read from its wire base64: what is not one is an SSHCertError."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from plica_sshpop.sshcert import SSHCertError, from_wire_b64


def sshstr(b: bytes) -> bytes:
    return len(b).to_bytes(4, "big") + b


def test_a_compressed_ecdsa_key_is_refused_not_a_crash() -> None:
    point = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)
    )
    kind = b"ecdsa-sha2-nistp256-cert-v01@openssh.com"
    blob = b"".join(sshstr(f) for f in (kind, b"n" * 32, b"nistp256", point)) + bytes(8 + 4)
    with pytest.raises(SSHCertError, match="not a valid SSH certificate"):
        from_wire_b64(base64.b64encode(blob).decode())


@pytest.mark.parametrize("value", ["", "!!", base64.b64encode(b"\x00\x00").decode(), 7])
def test_what_is_not_a_certificate(value: object) -> None:
    with pytest.raises(SSHCertError):
        from_wire_b64(value)
