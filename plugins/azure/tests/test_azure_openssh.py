"""An Azure VM's SSH host certificate, accepted by OpenSSH: `plica ssh certificate --host` with the VM's token from
its local IMDS, a real `sshd` presenting that certificate, and a real `ssh` that trusts nothing but the CA's
host key (`@cert-authority` in known_hosts) connecting to it. The VM then still gets its X.509 certificate
(trust on first use keeps one record for each), and no second host certificate."""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import (
    SSHCertificate,
    SSHCertificateBuilder,
    SSHCertificateType,
)

from plica.api import write_private_file
from plica.testing import CAFiles, ca_process, free_port, load_key, make_ca, plica_cli
from plica.testing.external import SSHD, host_ca_known_hosts, ssh_login, sshd

from .azurekit import VM, FakeAzure

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(SSHD).exists(), reason="needs openssh-server (/usr/sbin/sshd)"),
    pytest.mark.skipif(os.geteuid() != 0, reason="sshd must run as root to let a user log in"),
]


def plica(files: CAFiles, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    r = plica_cli(*args, env=files.env())
    assert (r.returncode == 0) == ok, f"plica {' '.join(args)}:\n{r.stdout}\n{r.stderr}"
    return r


def user_certificate(files: CAFiles, key: Path) -> None:
    """A key for root and its user certificate, signed with the CA's own SSH user key (the login is not what
    is under test, the host certificate is; an Azure provisioner signs no user certificates)."""
    private = ed25519.Ed25519PrivateKey.generate()
    write_private_file(
        key,
        private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        ),
    )
    now = int(time.time())
    cert = (
        SSHCertificateBuilder()
        .public_key(private.public_key())
        .serial(secrets.randbits(64))
        .type(SSHCertificateType.USER)
        .key_id(b"root")
        .valid_principals([b"root"])
        .valid_after(now - 60)
        .valid_before(now + 3600)
        .sign(load_key(files.home / "secrets" / "ssh_user_ca_key", files.password))  # type: ignore[arg-type]
    )
    Path(f"{key}-cert.pub").write_bytes(cert.public_bytes() + b"\n")


def test_openssh_accepts_the_vms_host_certificate(tmp_path: Path, azure: FakeAzure) -> None:
    files = make_ca(tmp_path, ssh=True)
    tenant = azure.tenant()
    plica(files, "provisioner", "add", "Azure", "--type", "Azure", "--azure-tenant", tenant.tid,
          "--azure-discovery-url", azure.discovery_url(tenant), "--enable-ssh-ca", "--home", str(files.home))  # fmt: skip
    azure_flags = ["--provisioner", "Azure", "--azure-metadata-url", azure.imds(tenant, VM("vm-ssh"))]
    host_key = tmp_path / "ssh_host_ed25519_key"
    port = free_port()
    with ca_process(files):
        plica(files, "ssh", "certificate", "vm-ssh", str(host_key), "--host",
              "--principal", "127.0.0.1", "--principal", "vm-ssh.internal", *azure_flags)  # fmt: skip
        # One host certificate per VM; its X.509 certificate is recorded apart and still to be had.
        again = plica(files, "ssh", "certificate", "vm-ssh", str(tmp_path / "again_key"), "--host",
                      "--principal", "127.0.0.1", *azure_flags, ok=False)  # fmt: skip
        assert "already used" in again.stderr, again.stderr
        plica(
            files, "certificate", "vm-ssh", str(tmp_path / "vm.crt"), str(tmp_path / "vm.key"), *azure_flags
        )
        known_hosts = host_ca_known_hosts(files, port, tmp_path / "known_hosts")

    host_cert = Path(f"{host_key}-cert.pub")
    cert = serialization.load_ssh_public_identity(host_cert.read_bytes().strip())
    assert isinstance(cert, SSHCertificate) and cert.type == SSHCertificateType.HOST
    assert cert.key_id == b"vm-ssh" and cert.valid_principals == [b"127.0.0.1", b"vm-ssh.internal"]

    user_key = tmp_path / "id_root"
    user_certificate(files, user_key)
    stranger = ed25519.Ed25519PrivateKey.generate().public_key()
    other_ca = stranger.public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    ).decode()
    distrusting = tmp_path / "known_hosts.other"
    distrusting.write_text(f"@cert-authority [127.0.0.1]:{port} {other_ca}\n")

    with sshd(tmp_path, port, host_key, host_cert, files.home / "certs" / "ssh_user_ca_key.pub"):
        r = ssh_login(port, user_key, known_hosts, "echo", "vm-ok")
        assert r.returncode == 0 and "vm-ok" in r.stdout, r.stderr
        # ssh -v names the host certificate it checked: this one, signed by the CA.
        assert f"serial {cert.serial} " in r.stderr and 'ID "vm-ssh"' in r.stderr, r.stderr
        # Control: a client trusting another CA refuses the same server.
        r = ssh_login(port, user_key, distrusting, "echo", "vm-ok")
        assert r.returncode != 0 and "Host key verification failed" in r.stderr, r.stderr
