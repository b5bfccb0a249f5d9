"""SSH certificates for people signed in at the real OpenID provider: a person's user certificate carries
step's principals and OpenSSH's sshd lets them in with it; an admin gets a host certificate (which sshd
then presents), a person asking for one gets 403."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import SSHCertificate, SSHCertificateType

from plica.api import write_private_file, write_ssh_cert
from plica.testing import Api, CAFiles, db_counts, free_port, in_process_ca
from plica.testing.external import SSHD, host_ca_known_hosts, ssh_login, sshd

from .oidckit import Provider


def ssh_key(path: Path) -> str:
    """A new ed25519 key written to `path`; its public key in base64 (what /ssh/sign takes)."""
    key = ed25519.Ed25519PrivateKey.generate()
    write_private_file(
        path,
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        ),
    )
    line = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return line.split(b" ")[1].decode()


def parse(b64: str) -> SSHCertificate:
    cert = serialization.load_ssh_public_identity(b"ssh-ed25519-cert-v01@openssh.com " + b64.encode())
    assert isinstance(cert, SSHCertificate)
    return cert


@pytest.mark.skipif(not Path(SSHD).exists(), reason="needs openssh-server (/usr/sbin/sshd)")
@pytest.mark.skipif(os.geteuid() != 0, reason="sshd must run as root to let a user log in")
async def test_ssh_user_and_host_certificates(
    ca_files: CAFiles,
    provider: Provider,
    id_token: Callable[..., str],
    session: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    ca_files.add_provisioner(provider.block(admins=["ops"], claims={"enableSSHCA": True}))
    port = free_port()
    user_key, host_key = tmp_path / "id_root", tmp_path / "ssh_host_key"
    async with in_process_ca(ca_files):
        api = Api(ca_files, session)
        # A person: a user certificate for step's principals, whatever subset the request names.
        tok = await asyncio.to_thread(id_token, "root")
        body = {"publicKey": ssh_key(user_key), "ott": tok, "certType": "user",
                "keyID": "root@example.com", "principals": ["root"]}  # fmt: skip
        r = await api.post("/ssh/sign", body)
        assert r.status == 201, r.raw
        cert = parse(r.json["crt"])
        assert cert.type == SSHCertificateType.USER and cert.key_id == b"root@example.com"
        assert cert.valid_principals == [b"root", b"root@example.com"]
        write_ssh_cert(Path(f"{user_key}-cert.pub"), r.json["crt"])
        # A person asking for a host certificate, or for someone else's principal: 403, nothing stored.
        before = db_counts(ca_files)
        tok = await asyncio.to_thread(id_token, "alice")
        for extra in (
            {"certType": "host", "keyID": "alice@example.com", "principals": ["127.0.0.1"]},
            {"certType": "user", "keyID": "alice@example.com", "principals": ["root"]},
        ):
            r = await api.post("/ssh/sign", {"publicKey": ssh_key(tmp_path / "k"), "ott": tok, **extra})
            assert r.status == 403, r.raw
        assert "admin" in (await api.post("/ssh/sign", {"publicKey": ssh_key(tmp_path / "k"), "ott": tok,
                                                          "certType": "host", "keyID": "h",
                                                          "principals": ["h"]})).error()["message"]  # fmt: skip
        assert db_counts(ca_files) == before
        # Refusals spent nothing: Alice's token still gets her own user certificate (not root's principal).
        alice_key = tmp_path / "id_alice"
        body = {"publicKey": ssh_key(alice_key), "ott": tok, "certType": "user", "keyID": "alice@example.com"}
        r = await api.post("/ssh/sign", body)
        assert r.status == 201, r.raw
        assert parse(r.json["crt"]).valid_principals == [b"alice", b"alice@example.com"]
        write_ssh_cert(Path(f"{alice_key}-cert.pub"), r.json["crt"])
        # Bob (an admin through the group "ops"): any principals, and a host certificate.
        tok = await asyncio.to_thread(id_token, "bob.smith")
        body = {"publicKey": ssh_key(host_key), "ott": tok, "certType": "host",
                "keyID": "test-host", "principals": ["127.0.0.1", "test-host.internal"]}  # fmt: skip
        r = await api.post("/ssh/sign", body)
        assert r.status == 201, r.raw
        host_cert = parse(r.json["crt"])
        assert host_cert.type == SSHCertificateType.HOST
        assert host_cert.valid_principals == [b"127.0.0.1", b"test-host.internal"]
        write_ssh_cert(Path(f"{host_key}-cert.pub"), r.json["crt"])
        known_hosts = await asyncio.to_thread(host_ca_known_hosts, ca_files, port, tmp_path / "known_hosts")

    with sshd(
        tmp_path,
        port,
        host_key,
        Path(f"{host_key}-cert.pub"),
        ca_files.home / "certs" / "ssh_user_ca_key.pub",
    ):
        r2 = ssh_login(port, user_key, known_hosts, "echo", "oidc-ok")
        assert r2.returncode == 0 and "oidc-ok" in r2.stdout, r2.stderr
        assert 'ID "test-host"' in r2.stderr, r2.stderr
        # Control: Alice's certificate names no principal "root"; sshd refuses it.
        r2 = ssh_login(port, alice_key, known_hosts, "echo", "oidc-ok")
        assert r2.returncode != 0 and "oidc-ok" not in r2.stdout, r2.stderr
