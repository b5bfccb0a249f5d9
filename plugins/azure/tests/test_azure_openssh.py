"""An Azure VM's SSH host certificate, accepted by OpenSSH: `plica ssh certificate --host` with the VM's token from
its local IMDS, a real `sshd` presenting that certificate, and a real `ssh` that trusts nothing but the CA's
host key (`@cert-authority` in known_hosts) connecting to it. The VM then still gets its X.509 certificate
(trust on first use keeps one record for each), and no second host certificate."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import SSHCertificate, SSHCertificateType

from plica.api import write_private_file
from plica.testing import (
    CAFiles,
    ca_process,
    free_port,
    make_ca,
    plica_cli,
    stop,
    wait_port,
)

from .azurekit import VM, FakeAzure

SSHD = Path("/usr/sbin/sshd")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not SSHD.exists(), reason="needs openssh-server (/usr/sbin/sshd)"),
    pytest.mark.skipif(os.geteuid() != 0, reason="sshd must run as root to let a user log in"),
]


def plica(files: CAFiles, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    r = plica_cli(*args, env=files.env())
    assert (r.returncode == 0) == ok, f"plica {' '.join(args)}:\n{r.stdout}\n{r.stderr}"
    return r


@contextmanager
def serving(tmp: Path, port: int, host_key: Path, authorized: Path) -> Iterator[Path]:
    """sshd on 127.0.0.1:`port` presenting `host_key` and its `-cert.pub`; logins by the keys in `authorized`.
    Yields its log."""
    config = tmp / "sshd_config"
    config.write_text(
        "\n".join([
            f"ListenAddress 127.0.0.1:{port}", f"HostKey {host_key}", f"HostCertificate {host_key}-cert.pub",
            f"AuthorizedKeysFile {authorized}", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password", "UsePAM no", "StrictModes no", f"PidFile {tmp / 'sshd.pid'}",
            "LogLevel VERBOSE", "",
        ])
    )  # fmt: skip
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege-separation directory
    checked = subprocess.run([str(SSHD), "-t", "-f", str(config)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    log = tmp / "sshd.log"
    with log.open("w") as out:
        proc = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(config)], stdout=out, stderr=out)
        try:
            wait_port(port, proc)
            yield log
        finally:
            stop(proc)


def connect(port: int, identity: Path, known_hosts: Path) -> subprocess.CompletedProcess[str]:
    options = {
        "UserKnownHostsFile": known_hosts, "GlobalKnownHostsFile": "/dev/null", "StrictHostKeyChecking": "yes",
        "IdentitiesOnly": "yes", "BatchMode": "yes", "ConnectTimeout": "10",
    }  # fmt: skip
    args = [arg for k, v in options.items() for arg in ("-o", f"{k}={v}")]
    return subprocess.run(
        ["ssh", "-F", "/dev/null", "-v", "-p", str(port), "-i", str(identity), *args, "root@127.0.0.1", "echo", "vm-ok"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_openssh_accepts_the_vms_host_certificate(tmp_path: Path, azure: FakeAzure) -> None:
    files = make_ca(tmp_path, ssh=True)
    tenant = azure.tenant()
    plica(files, "provisioner", "add", "Azure", "--type", "Azure", "--azure-tenant", tenant.tid,
          "--azure-discovery-url", azure.discovery_url(tenant), "--enable-ssh-ca", "--home", str(files.home))  # fmt: skip
    imds = azure.imds(tenant, VM("vm-ssh"))
    azure_flags = ["--provisioner", "Azure", "--azure-metadata-url", imds]
    host_key = tmp_path / "ssh_host_ed25519_key"
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

    cert = serialization.load_ssh_public_identity(Path(f"{host_key}-cert.pub").read_bytes())
    assert isinstance(cert, SSHCertificate) and cert.type == SSHCertificateType.HOST
    assert cert.key_id == b"vm-ssh" and cert.valid_principals == [b"127.0.0.1", b"vm-ssh.internal"]

    # A login key of the VM's admin (a plain authorized key: the host certificate is what is under test).
    user_key = tmp_path / "id_admin"
    private = ed25519.Ed25519PrivateKey.generate()
    write_private_file(
        user_key,
        private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        ),
    )
    authorized = tmp_path / "authorized_keys"
    authorized.write_bytes(
        private.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        + b"\n"
    )

    port = free_port()
    host_ca = (files.home / "certs" / "ssh_host_ca_key.pub").read_text().strip()
    trusting = tmp_path / "known_hosts"
    trusting.write_text(f"@cert-authority [127.0.0.1]:{port} {host_ca}\n")
    stranger = ed25519.Ed25519PrivateKey.generate().public_key()
    other_ca = stranger.public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    ).decode()
    distrusting = tmp_path / "known_hosts.other"
    distrusting.write_text(f"@cert-authority [127.0.0.1]:{port} {other_ca}\n")

    with serving(tmp_path, port, host_key, authorized) as log:
        r = connect(port, user_key, trusting)
        assert r.returncode == 0 and "vm-ok" in r.stdout, r.stderr + log.read_text()[-2000:]
        # ssh -v names the host certificate it checked: this one, signed by the CA.
        assert f"serial {cert.serial} " in r.stderr and 'ID "vm-ssh"' in r.stderr, r.stderr
        # Control: a client trusting another CA refuses the same server.
        r = connect(port, user_key, distrusting)
        assert r.returncode != 0 and "Host key verification failed" in r.stderr, r.stderr
