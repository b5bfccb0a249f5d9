"""The OCSP responder against the real `openssl ocsp`: a good, a revoked and an unknown certificate, with
nonces; GET with the request in the path; malformed requests answered malformedRequest, never a 500.

Debian packages: openssl, curl.
"""

from __future__ import annotations

import base64
import datetime as dt
import subprocess
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from plica.testing import CAFiles, ca_process, make_ca, plica_cli

pytestmark = pytest.mark.slow


class CA:
    def __init__(self, files: CAFiles, tmp: Path, http: str) -> None:
        self.files, self.tmp, self.http = files, tmp, http
        self.intermediate = x509.load_pem_x509_certificate(files.intermediate.read_bytes())

    def cli(self, *args: str) -> None:
        r = plica_cli(*args, env=self.files.env())
        assert r.returncode == 0, f"plica {' '.join(args)} failed:\n{r.stdout}\n{r.stderr}"

    def certificate(self, name: str) -> tuple[Path, x509.Certificate]:
        crt, key = self.tmp / f"{name}.crt", self.tmp / f"{name}.key"
        self.cli("certificate", name, str(crt), str(key), "--provisioner", "admin",
                 "--password-file", str(self.files.password_file))  # fmt: skip
        leaf = x509.load_pem_x509_certificates(crt.read_bytes())[0]
        only = self.tmp / f"{name}.leaf.pem"
        only.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
        return only, leaf

    def openssl_ocsp(self, leaf: Path, *extra: str, base: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["openssl", "ocsp", "-issuer", str(self.files.intermediate), "-cert", str(leaf),
             "-url", f"{base or self.files.url}/ocsp", "-CAfile", str(self.files.root),
             "-verify_other", str(self.files.intermediate), "-timeout", "20", *extra],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    def curl(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            ["curl", "--silent", "--show-error", "--max-time", "20", "--cacert", str(self.files.root), *args],
            capture_output=True, timeout=30,
        )  # fmt: skip


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CA]:
    tmp = tmp_path_factory.mktemp("ocsp")
    files = make_ca(tmp)
    http = files.enable_insecure()
    with ca_process(files, log=tmp / "server.log"):
        yield CA(files, tmp, http)


def test_openssl_ocsp_good_and_revoked(ca: CA) -> None:
    good, _ = ca.certificate("good.example")
    bad, bad_cert = ca.certificate("bad.example")
    r = ca.openssl_ocsp(bad)
    assert r.returncode == 0 and f"{bad}: good" in r.stdout, r.stdout + r.stderr
    assert "Response verify OK" in r.stderr + r.stdout
    ca.cli("revoke", str(bad_cert.serial_number), "--reason-code", "4",
           "--password-file", str(ca.files.password_file))  # fmt: skip
    r = ca.openssl_ocsp(good)
    assert r.returncode == 0 and f"{good}: good" in r.stdout, r.stdout + r.stderr
    assert "Response verify OK" in r.stderr + r.stdout
    r = ca.openssl_ocsp(bad, "-resp_text")
    assert f"{bad}: revoked" in r.stdout, r.stdout + r.stderr
    assert "Reason: superseded" in r.stdout
    assert "Response verify OK" in r.stderr + r.stdout
    # The nonce openssl sent came back (openssl checks it: a missing or wrong one is a warning)
    assert "WARNING: no nonce in response" not in r.stdout + r.stderr
    assert "Nonce Verify error" not in r.stdout + r.stderr
    assert "OCSP Nonce" in r.stdout
    # The delegated responder certificate: issued by the intermediate, OCSP signing, ocsp-nocheck.
    assert "OCSP Signing" in r.stdout and "OCSP No Check" in r.stdout


def test_openssl_ocsp_over_plain_http(ca: CA) -> None:
    """OCSP clients usually speak plain HTTP: the responder is on insecureAddress too."""
    leaf, cert = ca.certificate("plain-http.example")
    r = ca.openssl_ocsp(leaf, base=ca.http)
    assert r.returncode == 0 and f"{leaf}: good" in r.stdout, r.stdout + r.stderr
    assert "Response verify OK" in r.stderr + r.stdout
    ca.cli("revoke", str(cert.serial_number), "--password-file", str(ca.files.password_file))
    r = ca.openssl_ocsp(leaf, base=ca.http)
    assert f"{leaf}: revoked" in r.stdout, r.stdout + r.stderr


def test_openssl_refuses_an_answer_against_another_root(ca: CA) -> None:
    leaf, _ = ca.certificate("other-root.example")
    other = ca.tmp / "other-root.crt"
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Other Root")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    other.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    r = subprocess.run(
        ["openssl", "ocsp", "-issuer", str(ca.files.intermediate), "-cert", str(leaf),
         "-url", f"{ca.files.url}/ocsp", "-CAfile", str(other), "-timeout", "20"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert "Response Verify Failure" in r.stdout + r.stderr, r.stdout + r.stderr


def request_for(ca: CA, serial_of: x509.Certificate, *, nonce: bytes | None = None) -> bytes:
    b = ocsp.OCSPRequestBuilder().add_certificate(serial_of, ca.intermediate, hashes.SHA256())
    if nonce is not None:
        b = b.add_extension(x509.OCSPNonce(nonce), critical=False)
    return b.build().public_bytes(serialization.Encoding.DER)


def test_get_with_the_request_in_the_path_and_unknown_serials(ca: CA) -> None:
    _, leaf = ca.certificate("get.example")
    der = request_for(ca, leaf)
    path = urllib.parse.quote(base64.b64encode(der).decode(), safe="")
    out = ca.tmp / "get.der"
    r = ca.curl("-D", "-", "-o", str(out), f"{ca.files.url}/ocsp/{path}")
    assert r.returncode == 0, r.stderr
    headers = r.stdout.decode().lower()
    assert "content-type: application/ocsp-response" in headers and "cache-control: max-age=" in headers
    resp = ocsp.load_der_ocsp_response(out.read_bytes())
    assert resp.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    assert resp.certificate_status == ocsp.OCSPCertStatus.GOOD and resp.serial_number == leaf.serial_number
    responder = resp.certificates[0]
    assert responder.issuer == ca.intermediate.subject
    ca.intermediate.public_key().verify(  # type: ignore[call-arg, union-attr]
        responder.signature, responder.tbs_certificate_bytes, ec.ECDSA(responder.signature_hash_algorithm)
    )
    responder.public_key().verify(  # type: ignore[call-arg, union-attr]
        resp.signature, resp.tbs_response_bytes, ec.ECDSA(hashes.SHA256())
    )
    # A serial this CA never issued is "unknown" (a certificate made elsewhere with the same issuer name).
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    stranger = (
        x509.CertificateBuilder().subject_name(x509.Name([]))
        .issuer_name(ca.intermediate.subject).public_key(key.public_key()).serial_number(12345)
        .not_valid_before(now).not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("x.example")]), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    body = request_for(ca, stranger, nonce=b"0123456789abcdef")
    req = ca.tmp / "stranger.req"
    req.write_bytes(body)
    r = ca.curl(
        "--data-binary", f"@{req}", "-H", "Content-Type: application/ocsp-request", f"{ca.files.url}/ocsp"
    )
    resp = ocsp.load_der_ocsp_response(r.stdout)
    assert resp.certificate_status == ocsp.OCSPCertStatus.UNKNOWN
    assert resp.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == b"0123456789abcdef"


@pytest.mark.parametrize(
    "body",
    [b"", b"\x30\x03\x02\x01\x01", b"not an OCSP request at all", b"\x30" + b"\xff" * 20, b"A" * 70000],
    ids=["empty", "wrong-shape", "text", "bad-length", "too-large"],
)
def test_malformed_post_is_malformed_request(ca: CA, body: bytes) -> None:
    req = ca.tmp / "bad.req"
    req.write_bytes(body)
    r = ca.curl("-w", "%{http_code}", "-o", str(ca.tmp / "bad.resp"), "--data-binary", f"@{req}",
                "-H", "Content-Type: application/ocsp-request", f"{ca.files.url}/ocsp")  # fmt: skip
    assert r.stdout == b"200", r.stdout + r.stderr
    resp = ocsp.load_der_ocsp_response((ca.tmp / "bad.resp").read_bytes())
    assert resp.response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_malformed_get_and_long_nonce(ca: CA) -> None:
    for path in ("!!!", "AAAA", urllib.parse.quote(base64.b64encode(b"\x30\x00").decode(), safe="")):
        r = ca.curl("-w", "\n%{http_code}", f"{ca.files.url}/ocsp/{path}")
        body, _, code = r.stdout.rpartition(b"\n")
        assert code == b"200", r.stdout
        assert ocsp.load_der_ocsp_response(body).response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    _, leaf = ca.certificate("nonce.example")
    der = request_for(ca, leaf, nonce=b"x" * 33)  # RFC 8954: at most 32 octets
    r = ca.curl(f"{ca.files.url}/ocsp/{urllib.parse.quote(base64.b64encode(der).decode(), safe='')}")
    assert ocsp.load_der_ocsp_response(r.stdout).response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_another_issuer_is_unauthorized(ca: CA) -> None:
    _, leaf = ca.certificate("issuer.example")
    root = x509.load_pem_x509_certificate(ca.files.root.read_bytes())
    der = ocsp.OCSPRequestBuilder().add_certificate(leaf, root, hashes.SHA1()).build()
    req = ca.tmp / "root.req"
    req.write_bytes(der.public_bytes(serialization.Encoding.DER))
    r = ca.curl("--data-binary", f"@{req}", f"{ca.files.url}/ocsp")
    assert ocsp.load_der_ocsp_response(r.stdout).response_status == ocsp.OCSPResponseStatus.UNAUTHORIZED
