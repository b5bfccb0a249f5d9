"""The issue's "done means" for X.509, with real third-party peers: `plica start` serves; `plica certificate`
gets a leaf that openssl verifies and that curl and openssl s_client accept in a real TLS handshake; curl
talks to the CA itself, renews over mTLS, and sees a revoked certificate refused.

Debian packages: openssl, curl.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from attrs import define
from cryptography import x509

from plica.testing import CAFiles, ca_process, free_port, make_ca, plica_cli, stop, wait_port

pytestmark = pytest.mark.slow


@define
class CA:
    files: CAFiles
    tmp: Path

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        r = plica_cli(*args, env=self.files.env())
        assert r.returncode == 0, f"plica {' '.join(args)} failed:\n{r.stdout}\n{r.stderr}"
        return r

    def certificate(self, name: str, *sans: str) -> tuple[Path, Path]:
        crt, key = self.tmp / f"{name}.crt", self.tmp / f"{name}.key"
        flags = [a for s in sans for a in ("--san", s)]
        self.cli("certificate", name, str(crt), str(key), *flags, "--provisioner", "admin",
                 "--password-file", str(self.files.password_file))  # fmt: skip
        return crt, key


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CA]:
    tmp = tmp_path_factory.mktemp("e2e-x509")
    files = make_ca(tmp)
    with ca_process(files, log=tmp / "server.log"):
        yield CA(files=files, tmp=tmp)


def openssl(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, input=input, timeout=30)


def curl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["curl", "--silent", "--show-error", "--max-time", "20", *args], capture_output=True,
                          text=True, timeout=30)  # fmt: skip


def verify(ca: CA, crt: Path) -> subprocess.CompletedProcess[str]:
    return openssl(
        "verify", "-CAfile", str(ca.files.root), "-untrusted", str(ca.files.intermediate), str(crt)
    )


def other_root(ca: CA) -> Path:
    """A root of another PKI, made by openssl."""
    root = ca.tmp / "other-root.crt"
    if not root.exists():
        r = openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj",
                    "/CN=Other Root", "-keyout", str(ca.tmp / "other.key"), "-out", str(root), "-days", "1")  # fmt: skip
        assert r.returncode == 0, r.stderr
    return root


def serial(crt: Path) -> int:
    return x509.load_pem_x509_certificates(crt.read_bytes())[0].serial_number


def test_plica_certificate_is_accepted_by_openssl(ca: CA) -> None:
    crt, key = ca.certificate("localhost", "localhost", "127.0.0.1")
    r = verify(ca, crt)
    assert r.returncode == 0 and r.stdout.strip() == f"{crt}: OK", r.stdout + r.stderr
    assert os.stat(key).st_mode & 0o777 == 0o600
    text = openssl(
        "x509", "-in", str(crt), "-noout", "-subject", "-ext", "subjectAltName,extendedKeyUsage"
    ).stdout
    assert "CN=localhost" in text.replace(" ", "")
    assert "DNS:localhost" in text and "IP Address:127.0.0.1" in text
    assert "TLS Web Server Authentication" in text and "TLS Web Client Authentication" in text
    # Against another root the same file does not verify: the check above can fail.
    assert openssl("verify", "-CAfile", str(other_root(ca)), str(crt)).returncode != 0


def test_tls_handshake_with_curl_and_s_client(ca: CA) -> None:
    crt, key = ca.certificate("localhost", "localhost", "127.0.0.1")
    leaf = ca.tmp / "leaf-only.crt"
    leaf.write_bytes(crt.read_bytes().split(b"-----END CERTIFICATE-----")[0] + b"-----END CERTIFICATE-----\n")
    port = free_port()
    server = subprocess.Popen(
        ["openssl", "s_server", "-cert", str(leaf), "-cert_chain", str(ca.files.intermediate), "-key", str(key),
         "-accept", str(port), "-www"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_port(port, server)
        r = curl("--cacert", str(ca.files.root), f"https://localhost:{port}/")
        assert r.returncode == 0, r.stderr
        assert "s_server" in r.stdout  # the -www status page
        r = curl("--cacert", str(ca.files.root), f"https://127.0.0.1:{port}/")
        assert r.returncode == 0, r.stderr
        r = openssl("s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost", "-verify_return_error",
                    "-CAfile", str(ca.files.root), "-verify_hostname", "localhost", input="")  # fmt: skip
        assert r.returncode == 0 and "Verify return code: 0 (ok)" in r.stdout, r.stdout + r.stderr
        # Without the CA's root the same handshake fails (exit 60: peer certificate cannot be authenticated).
        r = curl("--cacert", str(other_root(ca)), f"https://localhost:{port}/")
        assert r.returncode == 60, r.stderr
        # A name the certificate does not carry is refused too.
        r = openssl("s_client", "-connect", f"127.0.0.1:{port}", "-verify_return_error", "-CAfile",
                    str(ca.files.root), "-verify_hostname", "www.example.com", input="")  # fmt: skip
        assert r.returncode != 0
    finally:
        stop(server)


def test_curl_and_s_client_against_the_ca(ca: CA) -> None:
    r = curl(
        "--cacert", str(ca.files.root), "-w", "\n%{http_code}", f"https://127.0.0.1:{ca.files.port}/roots"
    )
    assert r.returncode == 0, r.stderr
    body, code = r.stdout.rsplit("\n", 1)
    assert code == "201"
    assert json.loads(body)["crts"] == [ca.files.root.read_text()]
    r = curl("--cacert", str(ca.files.root), f"https://localhost:{ca.files.port}/1.0/health")
    assert r.returncode == 0 and json.loads(r.stdout) == {"status": "ok"}
    r = curl(f"https://127.0.0.1:{ca.files.port}/health")  # without the root: not trusted
    assert r.returncode == 60
    r = openssl("s_client", "-connect", f"127.0.0.1:{ca.files.port}", "-verify_return_error", "-CAfile",
                str(ca.files.root), "-verify_ip", "127.0.0.1", input="")  # fmt: skip
    assert r.returncode == 0 and "Verify return code: 0 (ok)" in r.stdout


def test_renew_over_mtls_with_curl_and_the_cli(ca: CA) -> None:
    crt, key = ca.certificate("renew.example")
    old = serial(crt)
    r = curl("--cacert", str(ca.files.root), "--cert", str(crt), "--key", str(key), "-X", "POST", "-w", "\n%{http_code}",
             f"https://127.0.0.1:{ca.files.port}/renew")  # fmt: skip
    assert r.returncode == 0, r.stderr
    body, code = r.stdout.rsplit("\n", 1)
    assert code == "201", body
    renewed = ca.tmp / "renewed.crt"
    renewed.write_text("".join(json.loads(body)["certChain"]))
    assert verify(ca, renewed).returncode == 0 and serial(renewed) != old
    # The CLI: mTLS, then the renew-token path (--expired).
    ca.cli("renew", str(crt), str(key))
    assert verify(ca, crt).returncode == 0 and serial(crt) not in (old, serial(renewed))
    before = serial(crt)
    ca.cli("renew", str(crt), str(key), "--expired")
    assert verify(ca, crt).returncode == 0 and serial(crt) != before
    # Without a client certificate: 400 in step's error shape.
    r = curl(
        "--cacert",
        str(ca.files.root),
        "-X",
        "POST",
        "-w",
        "\n%{http_code}",
        f"https://127.0.0.1:{ca.files.port}/renew",
    )
    body, code = r.stdout.rsplit("\n", 1)
    assert code == "400" and set(json.loads(body)) == {"status", "message"}


def test_revoked_certificate_cannot_renew(ca: CA) -> None:
    crt, key = ca.certificate("revoke.example")
    r = ca.cli("revoke", f"0x{serial(crt):x}", "--reason", "testing", "--provisioner", "admin",
               "--password-file", str(ca.files.password_file))  # fmt: skip
    assert "has been revoked" in r.stdout
    r = curl("--cacert", str(ca.files.root), "--cert", str(crt), "--key", str(key), "-X", "POST", "-w", "\n%{http_code}",
             f"https://127.0.0.1:{ca.files.port}/renew")  # fmt: skip
    body, code = r.stdout.rsplit("\n", 1)
    assert code == "401" and "revoked" in json.loads(body)["message"]
    r = plica_cli("renew", str(crt), str(key), env=ca.files.env())
    assert r.returncode != 0 and "401" in r.stderr
    # mTLS revocation with the certificate itself (a second one).
    crt2, key2 = ca.certificate("revoke2.example")
    ca.cli("revoke", "--cert", str(crt2), "--key-file", str(key2))
    body = json.dumps({"serial": str(serial(crt2)), "passive": True})
    r = curl("--cacert", str(ca.files.root), "--cert", str(crt2), "--key", str(key2), "-H",
             "Content-Type: application/json", "-d", body, "-w", "\n%{http_code}",
             f"https://127.0.0.1:{ca.files.port}/revoke")  # fmt: skip
    out, code = r.stdout.rsplit("\n", 1)
    assert code == "400" and "already revoked" in json.loads(out)["message"]


def test_openssl_csr_with_a_plica_token_through_curl(ca: CA) -> None:
    key, csr = ca.tmp / "osl.key", ca.tmp / "osl.csr"
    r = openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr),
                "-subj", "/CN=osl.example", "-addext", "subjectAltName=DNS:osl.example")  # fmt: skip
    assert r.returncode == 0, r.stderr
    token = ca.cli("token", "osl.example", "--san", "osl.example", "--provisioner", "admin",
                   "--password-file", str(ca.files.password_file)).stdout.strip()  # fmt: skip
    body = ca.tmp / "sign.json"
    body.write_text(json.dumps({"csr": csr.read_text(), "ott": token}))
    r = curl("--cacert", str(ca.files.root), "-H", "Content-Type: application/json", "--data-binary", f"@{body}",
             "-w", "\n%{http_code}", f"https://127.0.0.1:{ca.files.port}/1.0/sign")  # fmt: skip
    out, code = r.stdout.rsplit("\n", 1)
    assert code == "201", out
    leaf = ca.tmp / "osl.crt"
    leaf.write_text(json.loads(out)["crt"])
    assert verify(ca, leaf).returncode == 0
    # The key in the certificate is the one openssl made.
    mod_cert = openssl("x509", "-in", str(leaf), "-noout", "-modulus").stdout
    mod_key = openssl("rsa", "-in", str(key), "-noout", "-modulus").stdout
    assert mod_cert == mod_key and mod_cert.startswith("Modulus=")
    # The same token again: 401.
    r = curl("--cacert", str(ca.files.root), "-H", "Content-Type: application/json", "--data-binary", f"@{body}",
             "-w", "\n%{http_code}", f"https://127.0.0.1:{ca.files.port}/1.0/sign")  # fmt: skip
    assert r.stdout.rsplit("\n", 1)[1] == "401"


def test_the_server_log_holds_no_secrets(ca: CA) -> None:
    text = (ca.tmp / "server.log").read_text()
    assert "serving https://" in text
    assert ca.files.password.decode() not in text and "eyJ" not in text and "Traceback" not in text
