"""plica.ssh.certsign: the certificate a CA key signs, as its wire encoding (what answers and the store are
made of) and as cryptography and OpenSSH read that encoding back."""

from __future__ import annotations

import asyncio
import base64
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import SSHCertificateType

from plica.api import Signer
from plica.softkms import SoftKey
from plica.ssh import certsign

SUBJECT_KEYS = {
    "rsa": lambda: rsa.generate_private_key(65537, 2048),
    "p256": lambda: ec.generate_private_key(ec.SECP256R1()),
    "p384": lambda: ec.generate_private_key(ec.SECP384R1()),
    "p521": lambda: ec.generate_private_key(ec.SECP521R1()),
    "ed25519": ed25519.Ed25519PrivateKey.generate,
}


def _sign(subject: Any, ca: Any, serial: int, cert_type: int) -> certsign.SignedSSHCert:
    body = certsign.tbs(public_key=subject.public_key(), ca_public_key=ca.public_key(), serial=serial,
                        cert_type=cert_type, key_id=b"id-1", principals=[b"alice", b"bob"], valid_after=10,
                        valid_before=2**40, critical={b"source-address": b"10.0.0.0/8"},
                        extensions={b"permit-pty": b""})  # fmt: skip
    signer = Signer(SoftKey("test", ca), what="test SSH CA")
    kind = "host" if cert_type == 2 else "user"
    return asyncio.run(certsign.sign_ssh(signer, body, serial=serial, cert_type=kind))


@pytest.mark.parametrize("ca_kind", ["p256", "ed25519", "rsa"])
@pytest.mark.parametrize("subject_kind", sorted(SUBJECT_KEYS))
def test_signed_certificate_reads_back_the_same(subject_kind: str, ca_kind: str) -> None:
    subject, ca = SUBJECT_KEYS[subject_kind](), SUBJECT_KEYS[ca_kind]()
    for serial, cert_type in ((2**64 - 1, 2), (0, 1), (77, 1)):
        signed = _sign(subject, ca, serial, cert_type)
        cert = serialization.load_ssh_public_identity(signed.openssh())
        assert isinstance(cert, serialization.SSHCertificate)
        cert.verify_cert_signature()
        # The serial and type read off the encoding are what cryptography reads there.
        assert signed.serial == cert.serial == serial
        want = "host" if cert.type == SSHCertificateType.HOST else "user"
        assert signed.cert_type == want == ("host" if cert_type == 2 else "user")
        # Its OpenSSH line and base64 are cryptography's own encodings of the certificate.
        assert signed.openssh() == cert.public_bytes()
        assert signed.wire_b64() == cert.public_bytes().split()[1].decode()
        assert base64.b64decode(signed.wire_b64()) == signed.blob
        assert signed.cert.public_bytes() == cert.public_bytes()
        assert signed.cert.valid_principals == [b"alice", b"bob"]


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs OpenSSH's ssh-keygen")
def test_openssh_reads_the_stored_form(tmp_path: Path) -> None:
    subject, ca = SUBJECT_KEYS["p256"](), SUBJECT_KEYS["ed25519"]()
    signed = _sign(subject, ca, 4242, 2)
    path = tmp_path / "host-cert.pub"
    path.write_bytes(signed.openssh() + b"\n")
    out = subprocess.run(["ssh-keygen", "-L", "-f", str(path)], capture_output=True, text=True, check=True)
    assert "ecdsa-sha2-nistp256-cert-v01@openssh.com host certificate" in out.stdout
    assert "Serial: 4242" in out.stdout and "alice" in out.stdout


@pytest.mark.parametrize("kind", sorted(SUBJECT_KEYS))
def test_key_blob_is_the_openssh_encoding(kind: str) -> None:
    for _ in range(20):
        pub = SUBJECT_KEYS[kind]().public_key()
        line = pub.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        assert certsign.key_blob(pub) == base64.b64decode(line.split()[1])


def test_option_blocks_read_back_as_given_past_the_cache() -> None:
    """Critical options and extensions as cryptography reads them from signed certificates, for more sets
    than the encoded fields kept (64), each set twice (the second from the kept block) and in another order."""
    subject, ca = ed25519.Ed25519PrivateKey.generate(), ed25519.Ed25519PrivateKey.generate()
    signer = Signer(SoftKey("test", ca), what="test SSH CA")
    for i in range(80):
        ext = {b"permit-pty": b"", f"x-{i}@example.com".encode(): b"" if i % 2 else str(i).encode()}
        crit = {b"source-address": f"10.0.{i}.0/24".encode(), b"force-command": b"true"} if i % 3 else {}
        for order in (ext, dict(reversed(ext.items())), ext):
            body = certsign.tbs(public_key=subject.public_key(), ca_public_key=ca.public_key(), serial=i,
                                cert_type=1, key_id=b"k", principals=[b"p"], valid_after=0, valid_before=2**40,
                                critical=dict(reversed(crit.items())), extensions=order)  # fmt: skip
            signed = asyncio.run(certsign.sign_ssh(signer, body, serial=i, cert_type="user"))
            cert = signed.cert
            assert cert.extensions == ext and cert.critical_options == crit
    assert certsign._options_field.cache_info().currsize <= 64
