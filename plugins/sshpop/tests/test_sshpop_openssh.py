"""End to end with OpenSSH: a host certificate from the JWK provisioner, renewed and rekeyed through SSHPOP
with `plica ssh renew|rekey`, served by a real `sshd` and accepted by a real `ssh` that trusts only the CA's
host key (`@cert-authority`); then revoked by serial with SSHPOP, after which it cannot be renewed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import SSHCertificate

from plica.testing import CAFiles, ca_process, free_port, make_ca
from plica.testing.external import host_ca_known_hosts, sshd

pytestmark = pytest.mark.slow


def plica(files: CAFiles, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(
        [sys.executable, "-m", "plica", *args], env=files.env(), capture_output=True, text=True, timeout=120
    )
    if ok:
        assert r.returncode == 0, f"plica {' '.join(args)} failed:\n{r.stdout}\n{r.stderr}"
    return r


def load_cert(path: Path) -> SSHCertificate:
    cert = serialization.load_ssh_public_identity(path.read_bytes().strip())
    assert isinstance(cert, SSHCertificate)
    return cert


def wire(key: object) -> bytes:
    return key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)  # type: ignore[attr-defined]


def ssh(port: int, identity: Path, known_hosts: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ssh", "-F", "/dev/null", "-v", "-p", str(port), "-i", str(identity),
         "-o", f"CertificateFile={identity}-cert.pub", "-o", "IdentitiesOnly=yes",
         "-o", f"UserKnownHostsFile={known_hosts}", "-o", "GlobalKnownHostsFile=/dev/null",
         "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10",
         "root@127.0.0.1", "echo", "hello-from-sshd"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_sshpop_renewed_host_certificate_with_openssh(tmp_path: Path) -> None:
    files = make_ca(tmp_path, ssh=True)
    jwk = ["--provisioner", "admin", "--password-file", str(files.password_file)]
    port = free_port()
    with ca_process(files):
        # A host certificate from the JWK provisioner, and a user certificate for the login.
        host_key = tmp_path / "ssh_host_ed25519_key"
        plica(files, "ssh", "certificate", "host-127", str(host_key), "--host",
              "--principal", "127.0.0.1", "--principal", "localhost", *jwk)  # fmt: skip
        host_cert = Path(f"{host_key}-cert.pub")
        first = load_cert(host_cert)
        user_key = tmp_path / "id_root"
        plica(files, "ssh", "certificate", "root", str(user_key), "--principal", "root", *jwk)

        # Renew through SSHPOP: the certificate and its key authenticate the request.
        out = plica(files, "ssh", "renew", str(host_cert), str(host_key))
        assert str(host_cert) in out.stdout
        renewed = load_cert(host_cert)
        assert renewed.serial != first.serial
        assert renewed.valid_principals == [b"127.0.0.1", b"localhost"] and renewed.key_id == b"host-127"
        assert wire(renewed.public_key()) == wire(first.public_key())

        # The client trusts the CA's host key as /ssh/roots publishes it (the key the CA has on disk), and
        # nothing else.
        known_hosts = host_ca_known_hosts(files, port, tmp_path / "known_hosts")
        published = known_hosts.read_text().split()[2:]  # after "@cert-authority [host]:port": type, key
        assert published == (files.home / "certs" / "ssh_host_ca_key.pub").read_text().split()
        stranger = wire(ed25519.Ed25519PrivateKey.generate().public_key()).decode()
        wrong_hosts = tmp_path / "known_hosts.wrong"
        wrong_hosts.write_text(f"@cert-authority [127.0.0.1]:{port} {stranger}\n")

        user_ca = files.home / "certs" / "ssh_user_ca_key.pub"
        with sshd(tmp_path, port, host_key, host_cert, user_ca):
            r = ssh(port, user_key, known_hosts)
            assert r.returncode == 0 and "hello-from-sshd" in r.stdout, r.stderr
            assert f"serial {renewed.serial} " in r.stderr  # ssh -v names the host certificate it checked
            # Control: a client trusting another CA refuses the same server.
            r = ssh(port, user_key, wrong_hosts)
            assert r.returncode != 0 and "Host key verification failed" in r.stderr

        # Rekey through SSHPOP: a new key pair with the same principals, and sshd serves it.
        new_key = tmp_path / "rekeyed_host_key"
        plica(files, "ssh", "rekey", str(host_cert), str(host_key), "--out", str(new_key))
        rekeyed = load_cert(Path(f"{new_key}-cert.pub"))
        assert rekeyed.valid_principals == renewed.valid_principals and rekeyed.key_id == renewed.key_id
        assert wire(rekeyed.public_key()) != wire(renewed.public_key())
        assert wire(rekeyed.public_key()).strip() == Path(f"{new_key}.pub").read_bytes().strip()
        assert oct(new_key.stat().st_mode & 0o777) == "0o600"
        with sshd(tmp_path, port, new_key, Path(f"{new_key}-cert.pub"), user_ca):
            r = ssh(port, user_key, known_hosts)
            assert r.returncode == 0 and f"serial {rekeyed.serial} " in r.stderr, r.stderr

        # Revoke by serial, authenticated by the certificate itself (SSHPOP; with --sshpop-cert the CA's
        # SSHPOP provisioner is the one to use, no --provisioner needed); then it cannot be renewed.
        out = plica(files, "ssh", "revoke", str(rekeyed.serial),
                    "--sshpop-cert", f"{new_key}-cert.pub", "--sshpop-key", str(new_key))  # fmt: skip
        assert str(rekeyed.serial) in out.stdout
        r = plica(files, "ssh", "renew", f"{new_key}-cert.pub", str(new_key), ok=False)
        assert r.returncode != 0 and "(401)" in r.stderr and "revoked" in r.stderr, r.stderr
        # The refusal wrote nothing: the certificate on disk is still the revoked one.
        assert load_cert(Path(f"{new_key}-cert.pub")).serial == rekeyed.serial

        # A certificate may revoke only itself.
        r = plica(files, "ssh", "revoke", str(first.serial), "--provisioner", "sshpop",
                  "--sshpop-cert", str(host_cert), "--sshpop-key", str(host_key), ok=False)  # fmt: skip
        assert r.returncode != 0 and "(403)" in r.stderr, r.stderr
