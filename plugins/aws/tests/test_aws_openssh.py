"""End to end with OpenSSH: an EC2 instance gets its SSH host certificate from the AWS provisioner with
`plica ssh certificate --host` (the document read from the local metadata service), after its X.509
certificate; a real `sshd` serves it and a real `ssh` that trusts only the CA's host key accepts it."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import SSHCertificate

from plica.testing import ca_process, free_port, make_ca
from plica.testing.external import SSHD, host_ca_known_hosts, ssh_login, sshd

from .awskit import INSTANCE, PRIVATE_IP, plica
from .conftest import Metadata

pytestmark = pytest.mark.slow


@pytest.mark.skipif(not Path(SSHD).exists(), reason="OpenSSH's sshd is not installed")
def test_host_certificate_from_the_instance_identity_is_accepted_by_openssh(
    tmp_path: Path, metadata: Metadata, signer_roots: Path
) -> None:
    files = make_ca(tmp_path, ssh=True)
    plica(files, "provisioner", "add", "aws", "--type", "AWS", "--iid-roots", str(signer_roots), "--enable-ssh-ca",
          "--home", str(files.home))  # fmt: skip
    aws = ["--provisioner", "aws", "--aws-metadata-url", metadata.url]
    port = free_port()
    with ca_process(files):
        # The instance's X.509 certificate first: its SSH host certificate is recorded on its own.
        plica(files, "certificate", INSTANCE, str(tmp_path / "host.crt"), str(tmp_path / "host.key"), *aws)
        host_key = tmp_path / "ssh_host_ed25519_key"
        plica(files, "ssh", "certificate", INSTANCE, str(host_key), "--host", "--principal", "127.0.0.1",
              "--principal", PRIVATE_IP, *aws)  # fmt: skip
        host_cert = Path(f"{host_key}-cert.pub")
        cert = serialization.load_ssh_public_identity(host_cert.read_bytes().strip())
        assert isinstance(cert, SSHCertificate) and cert.type.name == "HOST"
        assert (
            cert.valid_principals == [b"127.0.0.1", PRIVATE_IP.encode()] and cert.key_id == INSTANCE.encode()
        )
        # A user to log in with, from the JWK provisioner.
        user_key = tmp_path / "id_root"
        plica(files, "ssh", "certificate", "root", str(user_key), "--principal", "root", "--provisioner", "admin",
              "--password-file", str(files.password_file))  # fmt: skip

        known_hosts = host_ca_known_hosts(files, port, tmp_path / "known_hosts")
        user_ca = files.home / "certs" / "ssh_user_ca_key.pub"
        with sshd(tmp_path, port, host_key, host_cert, user_ca):
            r = ssh_login(port, user_key, known_hosts, "echo", "hello-from-an-ec2-instance")
            assert r.returncode == 0 and "hello-from-an-ec2-instance" in r.stdout, r.stderr
            assert f"serial {cert.serial} " in r.stderr  # ssh -v names the host certificate it checked
