"""The certificate a token carries, read from its wire base64: what is not one is an SSHCertError."""

from __future__ import annotations

import base64

import pytest

from plica.testing import compressed_ec_point, ssh_wire
from plica_sshpop.sshcert import SSHCertError, from_wire_b64


def test_a_compressed_ecdsa_key_is_refused_not_a_crash() -> None:
    kind = b"ecdsa-sha2-nistp256-cert-v01@openssh.com"
    blob = ssh_wire(kind, b"n" * 32, b"nistp256", compressed_ec_point()) + bytes(8 + 4)
    with pytest.raises(SSHCertError, match="not a valid SSH certificate"):
        from_wire_b64(base64.b64encode(blob).decode())


@pytest.mark.parametrize("value", ["", "!!", base64.b64encode(b"\x00\x00").decode(), 7])
def test_what_is_not_a_certificate(value: object) -> None:
    with pytest.raises(SSHCertError):
        from_wire_b64(value)
