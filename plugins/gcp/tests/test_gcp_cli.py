"""End to end: `plica provisioner add --type GCP` with step's flags, `plica start`, and a VM (the local
metadata server of gcpkit.py) getting its certificate with `plica certificate`, checked by OpenSSL, renewed
over mTLS with `plica renew`; its second attempt refused until `plica provisioner update
--disable-trust-on-first-use --reload`; and an SSH host certificate from `plica ssh certificate --host` that a
real `ssh` accepts from a real `sshd`."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from plica.api import ProvisionerExtension
from plica.testing import CAFiles, ca_process, free_port, make_ca
from plica.testing.external import host_ca_known_hosts, openssl_verify, sshd

from .gcpkit import VM, Google

pytestmark = pytest.mark.slow
SSHD = "/usr/sbin/sshd"


def plica(
    files: CAFiles, *args: str, ok: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(
        [sys.executable, "-m", "plica", *args], env={**files.env(), **(env or {})}, capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    if ok:
        assert r.returncode == 0, f"plica {' '.join(args)} failed:\n{r.stdout}\n{r.stderr}"
    return r


def sans(cert: x509.Certificate) -> list[str]:
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return [str(v) for v in san.get_values_for_type(x509.DNSName) + san.get_values_for_type(x509.IPAddress)]


def add_google(files: CAFiles, google: Google, *flags: str) -> dict[str, object]:
    """step's `step ca provisioner add Google --type GCP ...`, with the local JWKS as Google's."""
    plica(files, "provisioner", "add", "Google", "--type", "GCP", "--gcp-jwks-url", google.jwks_url, *flags)
    (block,) = [p for p in files.config()["authority"]["provisioners"] if p["name"] == "Google"]
    return block


def test_a_vm_gets_renews_and_keeps_its_one_certificate(tmp_path: Path, google: Google) -> None:
    files = make_ca(tmp_path)
    block = add_google(files, google, "--gcp-service-account", google.vm.email, "--gcp-project", "plica-test",
                       "--instance-age", "1h")  # fmt: skip
    assert block == {
        "type": "GCP", "name": "Google", "serviceAccounts": [google.vm.email], "projectIDs": ["plica-test"],
        "instanceAge": "1h", "jwksURL": google.jwks_url, "disableCustomSANs": False,
        "disableTrustOnFirstUse": False,
    }  # fmt: skip
    crt, key = tmp_path / "web.crt", tmp_path / "web.key"
    metadata = ["--provisioner", "Google", "--gcp-metadata-url", google.metadata_url]
    web = google.vm
    with ca_process(files):
        out = plica(files, "certificate", "web-1.example", str(crt), str(key), "--san", "web-1.example",
                    "--san", "10.128.0.7", *metadata)  # fmt: skip
        assert str(crt) in out.stdout
        first = openssl_verify(files, crt)
        assert first.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "web-1.example"
        assert sans(first) == ["web-1.example", "10.128.0.7"]
        ext = ProvisionerExtension.from_certificate(first)
        assert ext is not None and (ext.type, ext.name, ext.credential_id) == (
            3,
            "Google",
            google.vm.account_id,
        )
        # The client asked the metadata server as step's client does.
        (asked,) = google.requests
        assert asked["query"] == {
            "audience": f"{files.url}/1.0/sign#gcp/Google",
            "format": "full",
            "licenses": "FALSE",
        }
        assert asked["headers"]["Metadata-Flavor"] == "Google"

        # Renewal over mTLS: the certificate itself authenticates, no token.
        plica(files, "renew", str(crt), str(key))
        renewed = openssl_verify(files, crt)
        assert renewed.serial_number != first.serial_number and sans(renewed) == sans(first)
        assert len(google.requests) == 1

        # The same VM again (the metadata server's address from the environment this time): refused.
        again = ["--provisioner", "Google"]
        env = {"PLICA_GCP_METADATA_URL": google.metadata_url}
        r = plica(files, "certificate", "web-1.example", str(tmp_path / "2.crt"), str(tmp_path / "2.key"),
                  *again, env=env, ok=False)  # fmt: skip
        assert r.returncode != 0 and "(401)" in r.stderr and "already used" in r.stderr, r.stderr
        assert len(google.requests) == 2 and not (tmp_path / "2.crt").exists()

        # Another project's VM, and an instance older than instanceAge: refused, naming the rule.
        for vm, rule in (
            (VM(project_id="elsewhere"), "projectIDs"),
            (VM(created=time.time() - 7200), "instanceAge"),
        ):
            google.vm = vm
            r = plica(files, "certificate", "x.example", str(tmp_path / "x.crt"), str(tmp_path / "x.key"),
                      *metadata, ok=False)  # fmt: skip
            assert r.returncode != 0 and "(401)" in r.stderr and rule in r.stderr, r.stderr

        # step's update flag, applied to the running CA: the VM may now have more certificates.
        google.vm = web
        plica(files, "provisioner", "update", "Google", "--disable-trust-on-first-use", "--reload")
        assert files.config()["authority"]["provisioners"][-1]["disableTrustOnFirstUse"] is True
        deadline = time.monotonic() + 20
        while True:
            r = plica(files, "certificate", "web-1.example", str(tmp_path / "3.crt"), str(tmp_path / "3.key"),
                      *metadata, ok=False)  # fmt: skip
            if r.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert r.returncode == 0, r.stderr
        third = openssl_verify(files, tmp_path / "3.crt")
        assert ProvisionerExtension.from_certificate(third) == ext
        # Within one second the local metadata server mints a byte-identical token (same claims, and RS256
        # is deterministic), and with disableTrustOnFirstUse each token is still single use: ask in the next.
        time.sleep(1.0 - time.time() % 1.0 + 0.01)
        plica(
            files, "certificate", "web-1.example", str(tmp_path / "4.crt"), str(tmp_path / "4.key"), *metadata
        )


def test_no_metadata_server_is_a_clear_client_error(tmp_path: Path, google: Google) -> None:
    files = make_ca(tmp_path)
    add_google(files, google)
    with ca_process(files):
        r = plica(files, "certificate", "x.example", str(tmp_path / "x.crt"), str(tmp_path / "x.key"),
                  "--provisioner", "Google", "--gcp-metadata-url", f"http://127.0.0.1:{free_port()}", ok=False)  # fmt: skip
        assert r.returncode != 0 and "cannot reach the metadata server" in r.stderr, r.stderr
        assert "Traceback" not in r.stderr


# ============================================================================ OpenSSH


def ssh(port: int, identity: Path, known_hosts: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ssh", "-F", "/dev/null", "-v", "-p", str(port), "-i", str(identity),
         "-o", f"CertificateFile={identity}-cert.pub", "-o", "IdentitiesOnly=yes",
         "-o", f"UserKnownHostsFile={known_hosts}", "-o", "GlobalKnownHostsFile=/dev/null",
         "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10",
         "root@127.0.0.1", "echo", "hello-from-the-vm"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


@pytest.mark.skipif(os.geteuid() != 0, reason="sshd must run as root to log a certificate holder in")
@pytest.mark.skipif(not Path(SSHD).exists(), reason="needs openssh-server (/usr/sbin/sshd)")
def test_the_vms_ssh_host_certificate_is_accepted_by_openssh(tmp_path: Path, google: Google) -> None:
    files = make_ca(tmp_path, ssh=True)
    add_google(files, google, "--enable-ssh-ca")
    port = free_port()
    with ca_process(files):
        # The VM's host certificate, authorized by its identity token; the login's user certificate from
        # the CA's JWK provisioner.
        host_key = tmp_path / "ssh_host_ed25519_key"
        plica(files, "ssh", "certificate", google.vm.name, str(host_key), "--host", "--principal", "127.0.0.1",
              "--provisioner", "Google", "--gcp-metadata-url", google.metadata_url)  # fmt: skip
        host_cert = Path(f"{host_key}-cert.pub")
        cert = serialization.load_ssh_public_identity(host_cert.read_bytes().strip())
        assert isinstance(cert, serialization.SSHCertificate)
        assert cert.type == serialization.SSHCertificateType.HOST
        assert cert.key_id == google.vm.name.encode() and cert.valid_principals == [b"127.0.0.1"]
        # Its one SSH host certificate: a second is refused (the X.509 certificate is another matter).
        r = plica(files, "ssh", "certificate", google.vm.name, str(tmp_path / "again"), "--host",
                  "--principal", "127.0.0.1", "--provisioner", "Google", "--gcp-metadata-url",
                  google.metadata_url, ok=False)  # fmt: skip
        assert r.returncode != 0 and "already used" in r.stderr, r.stderr
        plica(files, "certificate", "web-1.example", str(tmp_path / "web.crt"), str(tmp_path / "web.key"),
              "--provisioner", "Google", "--gcp-metadata-url", google.metadata_url)  # fmt: skip

        user_key = tmp_path / "id_root"
        plica(files, "ssh", "certificate", "root", str(user_key), "--principal", "root", "--provisioner", "admin",
              "--password-file", str(files.password_file))  # fmt: skip
        known_hosts = host_ca_known_hosts(files, port, tmp_path / "known_hosts")
        with sshd(tmp_path, port, host_key, host_cert, files.home / "certs" / "ssh_user_ca_key.pub"):
            r = ssh(port, user_key, known_hosts)
            assert r.returncode == 0 and "hello-from-the-vm" in r.stdout, r.stderr
            # ssh -v names the host certificate it checked: the one the VM's identity token got.
            assert f"serial {cert.serial} " in r.stderr and f'ID "{google.vm.name}"' in r.stderr, r.stderr
