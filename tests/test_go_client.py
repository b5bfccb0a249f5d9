"""The issue's "done means" with smallstep's own client: a program built on step-ca's Go client library
(github.com/smallstep/certificates/ca 0.19.0, as Debian packages it), unchanged, gets, renews and revokes
certificates against Plica. The program is tests/gostep/main.go; it prints one JSON line per step.

Debian packages: golang-go, golang-github-smallstep-certificates-dev (built offline in GOPATH mode), openssl.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from attrs import define
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import NameOID

from plica.testing import CAFiles, ca_process, make_ca

from .go_programs import go_build

pytestmark = pytest.mark.slow

GOSTEP = Path(__file__).resolve().parent / "gostep"
SUBJECT = "gostep.example"
SANS = ("gostep.example", "127.0.0.1")


@pytest.fixture(scope="module")
def gostep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/gostep built once, offline, against the Debian-packaged Go libraries."""
    return go_build(GOSTEP, tmp_path_factory.mktemp("gostep-build"))


@define
class Run:
    files: CAFiles
    out: Path
    steps: dict[str, dict[str, Any]]
    stdout: str
    stderr: str

    def step(self, name: str) -> dict[str, Any]:
        assert name in self.steps, f"gostep printed no {name!r} step:\n{self.stdout}\n{self.stderr}"
        return self.steps[name]


@pytest.fixture(scope="module")
def run(gostep: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    tmp = tmp_path_factory.mktemp("gostep-ca")
    files = make_ca(tmp)
    prov = next(p for p in files.config()["authority"]["provisioners"] if p["name"] == "admin")
    out = tmp / "out"
    out.mkdir()
    with ca_process(files):
        r = subprocess.run(
            [str(gostep), "-ca-url", files.url, "-root", str(files.root), "-provisioner", prov["name"],
             "-kid", prov["key"]["kid"], "-password-file", str(files.password_file), "-subject", SUBJECT,
             "-sans", ",".join(SANS), "-out", str(out)],
            capture_output=True, text=True, timeout=120, env={**os.environ, "STEPPATH": str(tmp / "step")},
        )  # fmt: skip
    log = files.home / "plica.log"
    assert r.returncode == 0, (
        f"gostep exited with {r.returncode}:\n{r.stdout}\n{r.stderr}\n--- CA log ---\n{log.read_text()}"
    )
    steps = {d["step"]: d for d in map(json.loads, r.stdout.splitlines())}
    return Run(files=files, out=out, steps=steps, stdout=r.stdout, stderr=r.stderr)


def verify(files: CAFiles, crt: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["openssl", "verify", "-CAfile", str(files.root), "-untrusted", str(files.intermediate), str(crt)],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip


def leaf(crt: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificates(crt.read_bytes())[0]


def spki(cert: x509.Certificate) -> bytes:
    return cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def test_every_step_ends_as_expected(run: Run) -> None:
    for name, d in run.steps.items():
        expected_ok = d["expect"] == "ok"
        assert d["ok"] == expected_ok, f"{name}: {d}"
        if expected_ok:
            assert "error" not in d, f"{name}: {d}"
    assert run.stderr == "", run.stderr
    # The steps that must fail, and how step-ca fails them (docs/reference/wire.md: /renew of a revoked certificate 401,
    # a token without the revoke audience 401, a replayed token 401, a second revocation 400).
    failures = {n: (d["status"], d["error"]) for n, d in run.steps.items() if not d["ok"]}
    assert set(failures) == {"sign_replay", "revoke_with_sign_token", "renew_revoked", "revoke_again"}
    assert failures["renew_revoked"][0] == 401 and "revoked" in failures["renew_revoked"][1]
    assert failures["sign_replay"][0] == 401
    assert failures["revoke_with_sign_token"][0] == 401
    assert failures["revoke_again"][0] == 400 and "already revoked" in failures["revoke_again"][1]


def test_read_only_api(run: Run) -> None:
    assert run.step("health")["health"] == "ok"
    assert run.step("version")["version"]
    root = x509.load_pem_x509_certificate(run.files.root.read_bytes())
    fp = root.fingerprint(hashes.SHA256()).hex()
    assert run.step("roots")["fingerprints"] == [fp]
    assert run.step("federation")["count"] >= 1
    assert run.step("root")["fingerprint"] == fp == run.files.fingerprint
    assert "JWK:admin" in run.step("provisioners")["provisioners"]
    assert run.step("provisioner")["kid"] == next(
        p["key"]["kid"] for p in run.files.config()["authority"]["provisioners"] if p["name"] == "admin"
    )


def test_certificate(run: Run) -> None:
    s = run.step("sign")
    crt = Path(s["crt"])
    r = verify(run.files, crt)
    assert r.returncode == 0 and r.stdout.strip() == f"{crt}: OK", r.stdout + r.stderr
    cert = leaf(crt)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == SUBJECT == s["subject"]
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["gostep.example"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert str(cert.serial_number) == s["serial"]
    # The response's shape as the library reads it: certChain = [leaf, intermediate], ca = certChain[1], and
    # the TLS connection verified up to the root the client was given.
    assert s["chain_len"] == 2 and s["leaf_is_chain0"] and s["ca_is_chain1"]
    assert s["tls_verified"] and s["tls_root"] == run.files.fingerprint
    assert os.stat(s["key"]).st_mode & 0o777 == 0o600


def test_renewals(run: Run) -> None:
    first = leaf(Path(run.step("sign")["crt"]))
    serials = {first.serial_number}
    for name in ("renew", "renew_files"):
        s = run.step(name)
        crt = Path(s["crt"])
        r = verify(run.files, crt)
        assert r.returncode == 0, f"{name}: {r.stdout}{r.stderr}"
        cert = leaf(crt)
        assert cert.serial_number not in serials, name
        serials.add(cert.serial_number)
        # As step-ca renews: same subject, SANs and key, a new serial.
        assert cert.subject == first.subject and spki(cert) == spki(first)
        assert (
            cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            == first.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        )
        assert s["chain_len"] == 2 and s["leaf_is_chain0"] and s["ca_is_chain1"]
    assert run.step("renew_unrevoked")["serial"] not in {str(s) for s in serials}


def test_revocation_is_recorded(run: Run) -> None:
    revoked = run.step("renew")["serial"]
    assert run.step("revoke") == {
        "step": "revoke", "ok": True, "expect": "ok", "serial": revoked, "status_field": "ok",
    }  # fmt: skip
    assert run.step("renew_revoked")["serial"] == revoked
    assert run.step("renew_revoked")["status"] == 401
    # Only that one: the certificate it was renewed from, and its own renewal, are not revoked.
    assert run.step("renew_unrevoked")["ok"]
