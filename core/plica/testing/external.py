"""The real OpenSSL and OpenSSH against what a test CA issued: `openssl verify` of a certificate, an `sshd` on
127.0.0.1 serving a host certificate, and an `ssh` login that trusts only the CA's SSH host key.

Every provisioner type's end-to-end tests ask the same of them (X5C, SSHPOP, the cloud types): written once
here instead of in each plugin's tests."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import serialization

if TYPE_CHECKING:
    from plica.testing import CAFiles

SSHD = "/usr/sbin/sshd"


def openssl_verify(files: CAFiles, crt: Path) -> x509.Certificate:
    """`openssl verify` of the first certificate of the PEM file `crt` with the CA's root as the only trust
    anchor and its intermediate as untrusted; returns that certificate. Asserts it verifies."""
    leaf = x509.load_pem_x509_certificates(crt.read_bytes())[0]
    leaf_only = crt.with_suffix(".leaf.pem")
    leaf_only.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    r = subprocess.run(
        [
            "openssl",
            "verify",
            "-CAfile",
            str(files.root),
            "-untrusted",
            str(files.intermediate),
            str(leaf_only),
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0 and ": OK" in r.stdout, r.stdout + r.stderr
    return leaf


@contextlib.contextmanager
def sshd(tmp: Path, port: int, host_key: Path, host_cert: Path, user_ca: Path) -> Iterator[None]:
    """A real `sshd` on 127.0.0.1:`port` presenting `host_cert` for `host_key` and letting in the users whose
    certificates `user_ca` signed (no passwords, no authorized keys); stopped afterwards."""
    cfg = tmp / f"sshd_config.{port}.{host_key.name}"
    cfg.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {host_key}\nHostCertificate {host_cert}\n"
        f"TrustedUserCAKeys {user_ca}\nAuthorizedKeysFile none\nPubkeyAuthentication yes\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n"
        f"UsePAM no\nStrictModes no\nPidFile {tmp / f'sshd.{port}.pid'}\nLogLevel VERBOSE\n"
    )
    os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege-separation directory
    check = subprocess.run([SSHD, "-t", "-f", str(cfg)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    proc = subprocess.Popen(
        [SSHD, "-D", "-e", "-f", str(cfg)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else "sshd exited"
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            assert time.monotonic() < deadline, "sshd did not start listening"
            time.sleep(0.1)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def host_ca_known_hosts(files: CAFiles, port: int, path: Path) -> Path:
    """A known_hosts file at `path` trusting, for 127.0.0.1:`port`, only the SSH host CA key the CA publishes
    at /ssh/roots (`@cert-authority`)."""
    ctx = ssl.create_default_context(cafile=str(files.root))
    with urllib.request.urlopen(files.url + "/ssh/roots", context=ctx) as r:
        host_ca = json.loads(r.read())["hostKey"][0]
    blob = base64.b64decode(host_ca)
    kind = blob[4 : 4 + int.from_bytes(blob[:4], "big")].decode()  # the key's type leads its wire form
    path.write_text(f"@cert-authority [127.0.0.1]:{port} {kind} {host_ca}\n")
    return path


def ssh_login(
    port: int, identity: Path, known_hosts: Path, *command: str
) -> subprocess.CompletedProcess[str]:
    """A real `ssh -v` as root@127.0.0.1:`port` with the key `identity` and its certificate
    (`<identity>-cert.pub`), trusting only `known_hosts`, running `command`."""
    return subprocess.run(
        ["ssh", "-F", "/dev/null", "-v", "-p", str(port), "-i", str(identity),
         "-o", f"CertificateFile={identity}-cert.pub", "-o", "IdentitiesOnly=yes",
         "-o", f"UserKnownHostsFile={known_hosts}", "-o", "GlobalKnownHostsFile=/dev/null",
         "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10",
         "root@127.0.0.1", *command],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
