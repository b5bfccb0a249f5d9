"""certmonger enrols over SCEP with an AES reply: its daemon on a private D-Bus session (dbus-run-session), its
state in the test's directory (CERTMONGER_*_DIR), `getcert add-scep-ca` with the CA certificate given
explicitly and `getcert request` with the challenge. certmonger's `scep-submit` verifies the CertRep's
signature up to a root, so GetCACert includes it (`includeRoot`, the option step-ca added for such
clients)."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest

from plica.testing import db_counts, in_process_ca, make_ca
from plica.testing.external import openssl_verify

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("certmonger") is None, reason="certmonger is not installed"),
]

DIRS = {
    "CERTMONGER_CONFIG_DIR": "config",
    "CERTMONGER_REQUESTS_DIR": "requests",
    "CERTMONGER_CAS_DIR": "cas",
    "CERTMONGER_LOCAL_CA_DIR": "local",
    "CERTMONGER_TMPDIR": "tmp",
}


async def test_certmonger_enrols_with_aes(tmp_path: Path) -> None:
    files = make_ca(tmp_path, kty="RSA", ssh=False)
    http = files.enable_insecure()
    files.add_provisioner(
        {
            "type": "SCEP",
            "name": "cm",
            "challenge": "cm-secret",
            "encryptionAlgorithmIdentifier": 2,
            "includeRoot": True,
        }
    )
    work = tmp_path / "certmonger"
    env = {
        **os.environ,
        "HOME": str(work),
        "XDG_RUNTIME_DIR": str(work),
        "CERTMONGER_SYSTEM_LOCK_FILE": str(work / "lock"),
    }
    for var, name in DIRS.items():
        (work / name).mkdir(parents=True)
        env[var] = str(work / name)
    crt, key = work / "cm.crt", work / "cm.key"
    script = work / "enrol.sh"
    script.write_text(
        "set -e\n"
        f"getcert add-scep-ca -s -c plica -u {http}/scep/cm -R {files.root}\n"
        f"getcert request -s -c plica -f {crt} -k {key} -L cm-secret -N CN=cm.example -D cm.example -w -v\n"
        "getcert list -s\n"
    )
    async with in_process_ca(files):
        before = db_counts(files)["x509_certs"]
        p = await asyncio.create_subprocess_exec(
            "dbus-run-session", "--", "certmonger", "-s", "-n", "-B", "-c", f"sh {script}",
            env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await asyncio.wait_for(p.communicate(), 120)
        text = out.decode(errors="replace")
        assert p.returncode == 0 and "status: MONITORING" in text, text
        assert db_counts(files)["x509_certs"] == before + 1
    leaf = openssl_verify(files, crt)
    assert leaf.subject.rfc4514_string() == "CN=cm.example"
