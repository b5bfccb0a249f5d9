"""Running the real ACME clients (certbot, lego) against a CA under test, and checking what they got."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
from pathlib import Path

from cryptography import x509

from plica.testing import CAFiles


def run(cmd: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )


def script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\nset -e\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def verify_chain(files: CAFiles, cert: Path, chain: Path | None = None) -> x509.Certificate:
    """openssl verify of `cert` (a leaf, or a full chain file) against the CA root only."""
    certs = x509.load_pem_x509_certificates(cert.read_bytes())
    leaf = cert.parent / (cert.name + ".leaf.pem")
    leaf.write_bytes(
        cert.read_bytes().split(b"-----END CERTIFICATE-----")[0] + b"-----END CERTIFICATE-----\n"
    )
    cmd = ["openssl", "verify", "-CAfile", str(files.root)]
    untrusted = chain if chain is not None else None
    if untrusted is None and len(certs) > 1:
        untrusted = cert
    if untrusted is not None:
        cmd += ["-untrusted", str(untrusted)]
    out = subprocess.run([*cmd, str(leaf)], capture_output=True, text=True)
    assert out.returncode == 0 and ": OK" in out.stdout, out.stdout + out.stderr
    return certs[0]


def sans(cert: x509.Certificate) -> list[str]:
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return sorted(
        [*san.get_values_for_type(x509.DNSName), *map(str, san.get_values_for_type(x509.IPAddress))]
    )


def is_revoked(files: CAFiles, serial: int) -> bool:
    db = files.home / "db" / "plica.db"
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT 1 FROM revoked_x509_certs WHERE serial = ?", (str(serial),)).fetchone()
    return row is not None


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEGO_", "REQUESTS_", "CERTBOT_"))}
    env.update(extra)
    return env
