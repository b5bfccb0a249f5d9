"""SSH with real OpenSSH: a `plica ssh certificate` user certificate logs into a real sshd that trusts the
CA's user key; sshd presents a `plica ssh certificate --host` certificate that ssh accepts through a
`@cert-authority` known_hosts line with StrictHostKeyChecking=yes; and the refusals that make those
checks meaningful (another principal, another CA).

Debian packages: openssh-server, openssh-client. sshd runs as root (it must switch to the login user).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from attrs import define

from plica.testing import CAFiles, ca_process, free_port, make_ca, plica_cli, stop, wait_port

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="sshd must run as root to log a certificate holder in"),
    pytest.mark.skipif(not Path("/usr/sbin/sshd").exists(), reason="needs openssh-server (/usr/sbin/sshd)"),
]

LOGIN = "root"  # the local account the certificate's principal maps to


@define
class Env:
    files: CAFiles
    tmp: Path
    port: int
    host_ca: str
    user_ca: str

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        r = plica_cli(*args, "--provisioner", "admin", "--password-file", str(self.files.password_file),
                      env=self.files.env())  # fmt: skip
        assert r.returncode == 0, f"plica {' '.join(args)}:\n{r.stdout}\n{r.stderr}"
        return r

    def user_cert(self, principal: str) -> Path:
        key = self.tmp / f"id_{principal}"
        self.cli("ssh", "certificate", principal, str(key), "--principal", principal)
        return key

    def ssh(self, key: Path, known_hosts: str, *command: str) -> subprocess.CompletedProcess[str]:
        kh = self.tmp / f"known_hosts.{abs(hash(known_hosts))}"
        kh.write_text(known_hosts)
        return subprocess.run(
            ["ssh", "-F", "/dev/null", "-p", str(self.port), "-i", str(key), "-o", f"CertificateFile={key}-cert.pub",
             "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
             "-o", f"UserKnownHostsFile={kh}", "-o", "GlobalKnownHostsFile=/dev/null",
             # Only certificate host keys: the host must prove itself with the CA-signed certificate.
             "-o", "HostKeyAlgorithms=ssh-ed25519-cert-v01@openssh.com", "-o", "PasswordAuthentication=no",
             "-o", "KbdInteractiveAuthentication=no", "-o", "ConnectTimeout=10", f"{LOGIN}@localhost", *command],
            capture_output=True, text=True, timeout=30, env={**os.environ, "HOME": str(self.tmp)},
            stdin=subprocess.DEVNULL,
        )  # fmt: skip


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    tmp = tmp_path_factory.mktemp("e2e-ssh")
    files = make_ca(tmp)
    certs = files.home / "certs"
    with ca_process(files, log=tmp / "server.log"):
        e = Env(files=files, tmp=tmp, port=free_port(), host_ca=(certs / "ssh_host_ca_key.pub").read_text().strip(),
                user_ca=(certs / "ssh_user_ca_key.pub").read_text().strip())  # fmt: skip
        # The host's key and certificate, from the CA.
        host_key = tmp / "ssh_host_ed25519_key"
        e.cli("ssh", "certificate", "localhost", str(host_key), "--host", "--principal", "localhost",
              "--principal", "127.0.0.1")  # fmt: skip
        principals = tmp / "principals"
        principals.mkdir()
        (principals / LOGIN).write_text("alice\n")
        cfg = tmp / "sshd_config"
        cfg.write_text(
            f"Port {e.port}\nListenAddress 127.0.0.1\nHostKey {host_key}\nHostCertificate {host_key}-cert.pub\n"
            f"TrustedUserCAKeys {certs / 'ssh_user_ca_key.pub'}\nAuthorizedPrincipalsFile {principals}/%u\n"
            "AuthorizedKeysFile none\nPubkeyAuthentication yes\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nPermitRootLogin prohibit-password\n"
            f"PidFile {tmp / 'sshd.pid'}\nLogLevel VERBOSE\n"
        )
        Path("/run/sshd").mkdir(exist_ok=True)  # privilege separation directory
        check = subprocess.run(["/usr/sbin/sshd", "-t", "-f", str(cfg)], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        log = (tmp / "sshd.log").open("w")
        sshd = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(cfg)], stdout=log, stderr=log)
        try:
            wait_port(e.port, sshd)
            yield e
        finally:
            stop(sshd)
            log.close()


@pytest.fixture(scope="module")
def alice(env: Env) -> Path:
    return env.user_cert("alice")


def test_the_certificates_are_what_ssh_keygen_says(env: Env, alice: Path) -> None:
    key = alice
    info = subprocess.run(
        ["ssh-keygen", "-L", "-f", f"{key}-cert.pub"], capture_output=True, text=True
    ).stdout
    assert "Type: ssh-ed25519-cert-v01@openssh.com user certificate" in info
    assert 'Key ID: "alice"' in info
    assert info.split("Principals:")[1].split("Critical Options:")[0].split() == ["alice"]
    ca_fp = subprocess.run(
        ["ssh-keygen", "-l", "-f", "-"], input=env.user_ca, capture_output=True, text=True
    ).stdout
    assert ca_fp.split()[1] in info  # signed by the CA's user key
    host = subprocess.run(["ssh-keygen", "-L", "-f", str(env.tmp / "ssh_host_ed25519_key-cert.pub")],
                          capture_output=True, text=True).stdout  # fmt: skip
    assert "host certificate" in host
    assert host.split("Principals:")[1].split("Critical Options:")[0].split() == ["localhost", "127.0.0.1"]
    assert os.stat(key).st_mode & 0o777 == 0o600


def test_user_certificate_logs_in_and_host_certificate_is_trusted(env: Env, alice: Path) -> None:
    r = env.ssh(alice, f"@cert-authority * {env.host_ca}\n", "echo plica-ssh-ok; id -un")
    assert r.returncode == 0, r.stderr + (env.tmp / "sshd.log").read_text()[-2000:]
    assert r.stdout.split() == ["plica-ssh-ok", LOGIN]
    log = (env.tmp / "sshd.log").read_text()
    assert "Accepted publickey for root" in log and "ED25519-CERT" in log and "ID alice" in log


def test_a_certificate_for_another_principal_is_refused(env: Env) -> None:
    key = env.user_cert("mallory")
    r = env.ssh(key, f"@cert-authority * {env.host_ca}\n", "true")
    assert r.returncode == 255
    assert "Permission denied" in r.stderr


def test_a_host_signed_by_another_ca_is_not_trusted(env: Env, alice: Path) -> None:
    key = alice
    # known_hosts trusts the *user* CA for hosts: the host certificate does not chain to it.
    r = env.ssh(key, f"@cert-authority * {env.user_ca}\n", "true")
    assert r.returncode == 255
    assert "Host key verification failed" in r.stderr
    # And a known_hosts that trusts nothing for this host refuses too (StrictHostKeyChecking=yes).
    r = env.ssh(key, "", "true")
    assert r.returncode == 255 and "Host key verification failed" in r.stderr
