"""The CRL (step-ca's `crl` block) with the real OpenSSL: `plica start` serves /crl in DER and PEM, `openssl
crl` checks its signature, `openssl verify -crl_check` accepts a good certificate and refuses a revoked one,
generateOnRevoke puts a revocation on it at once, and the CRL number goes up.

Debian packages: openssl, curl.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from plica.config import crl_durations, validate_crl
from plica.errors import ConfigError
from plica.testing import CAFiles, ca_process, make_ca, plica_cli

pytestmark = pytest.mark.slow


def openssl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=30)


def curl(files: CAFiles, path: str, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["curl", "--silent", "--show-error", "--max-time", "20", "--cacert", str(files.root), "-D", "-",
         "-o", str(out), files.url + path],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip


class CA:
    def __init__(self, files: CAFiles, tmp: Path, http: str = "") -> None:
        self.files, self.tmp, self.http = files, tmp, http

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        r = plica_cli(*args, env=self.files.env())
        assert r.returncode == 0, f"plica {' '.join(args)} failed:\n{r.stdout}\n{r.stderr}"
        return r

    def certificate(self, name: str) -> tuple[Path, int]:
        crt, key = self.tmp / f"{name}.crt", self.tmp / f"{name}.key"
        self.cli("certificate", name, str(crt), str(key), "--provisioner", "admin",
                 "--password-file", str(self.files.password_file))  # fmt: skip
        leaf = x509.load_pem_x509_certificates(crt.read_bytes())[0]
        only = self.tmp / f"{name}.leaf.pem"
        only.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
        return only, leaf.serial_number

    def revoke(self, serial: int, reason_code: int = 0) -> None:
        self.cli("revoke", str(serial), "--reason-code", str(reason_code),
                 "--password-file", str(self.files.password_file))  # fmt: skip

    def crl(self, name: str, path: str = "/crl") -> tuple[Path, str]:
        out = self.tmp / name
        r = curl(self.files, path, out)
        assert r.returncode == 0, r.stderr
        return out, r.stdout


def enable_crl(files: CAFiles, **crl: object) -> None:
    cfg = files.config()
    cfg["crl"] = {"enabled": True, **crl}
    files.write_config(cfg)


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CA]:
    tmp = tmp_path_factory.mktemp("crl")
    files = make_ca(tmp)
    enable_crl(files, generateOnRevoke=True, cacheDuration="2h")
    http = files.enable_insecure()
    with ca_process(files, log=tmp / "server.log"):
        yield CA(files, tmp, http)


def crl_number(path: Path, inform: str = "DER") -> int:
    r = openssl("crl", "-inform", inform, "-in", str(path), "-noout", "-crlnumber")
    assert r.returncode == 0, r.stderr
    return int(r.stdout.strip().split("=")[1], 16)


def verify_with_crl(ca: CA, leaf: Path, crl_pem: Path) -> subprocess.CompletedProcess[str]:
    return openssl("verify", "-crl_check", "-CAfile", str(ca.files.root), "-untrusted",
                   str(ca.files.intermediate), "-CRLfile", str(crl_pem), str(leaf))  # fmt: skip


def test_crl_der_and_pem_are_signed_by_the_intermediate(ca: CA) -> None:
    der, headers = ca.crl("first.crl")
    assert "content-type: application/pkix-crl" in headers.lower()
    assert "expires:" in headers.lower()
    r = openssl("crl", "-inform", "DER", "-in", str(der), "-noout", "-CAfile", str(ca.files.intermediate))
    assert r.returncode == 0 and "verify OK" in (r.stdout + r.stderr), r.stdout + r.stderr
    pem, headers = ca.crl("first.pem", "/1.0/crl?pem")
    assert "content-type: application/x-pem-file" in headers.lower()
    assert pem.read_bytes().startswith(b"-----BEGIN X509 CRL-----")
    r = openssl("crl", "-in", str(pem), "-noout", "-issuer", "-nextupdate", "-lastupdate")
    assert r.returncode == 0, r.stderr
    assert "Test Intermediate CA" in r.stdout
    crl = x509.load_der_x509_crl(der.read_bytes())
    assert crl.next_update_utc is not None and crl.last_update_utc is not None
    assert crl.next_update_utc - crl.last_update_utc == timedelta(hours=2)
    # Signed by the intermediate, not by the root: checking it against the root fails.
    r = openssl("crl", "-inform", "DER", "-in", str(der), "-noout", "-CAfile", str(ca.files.root))
    assert "verify OK" not in (r.stdout + r.stderr)


def test_openssl_verify_crl_check_good_and_revoked(ca: CA) -> None:
    good, _ = ca.certificate("good.example")
    bad, bad_serial = ca.certificate("bad.example")
    before, _ = ca.crl("before.pem", "/crl?pem")
    assert verify_with_crl(ca, bad, before).returncode == 0
    ca.revoke(bad_serial, reason_code=1)
    # generateOnRevoke: the CRL served right after the revocation has it.
    after, _ = ca.crl("after.pem", "/crl?pem")
    assert crl_number(after, "PEM") > crl_number(before, "PEM")
    r = verify_with_crl(ca, good, after)
    assert r.returncode == 0 and ": OK" in r.stdout, r.stdout + r.stderr
    r = verify_with_crl(ca, bad, after)
    assert r.returncode != 0 and "certificate revoked" in (r.stdout + r.stderr), r.stdout + r.stderr
    text = openssl("crl", "-in", str(after), "-noout", "-text").stdout
    assert "Key Compromise" in text
    crl = x509.load_pem_x509_crl(after.read_bytes())
    entry = crl.get_revoked_certificate_by_serial_number(bad_serial)
    assert entry is not None
    assert (
        entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
        == x509.ReasonFlags.key_compromise
    )


def test_crl_on_the_plain_http_listener(ca: CA) -> None:
    """As step-ca: /crl on insecureAddress (where relying parties fetch it), the same CRL as over HTTPS;
    the token API is not there."""
    tls, _ = ca.crl("tls.crl")
    for path in ("/crl", "/1.0/crl"):
        out = ca.tmp / "plain.crl"
        r = subprocess.run(["curl", "--silent", "--show-error", "--fail", "-o", str(out), ca.http + path],
                           capture_output=True, text=True, timeout=30)  # fmt: skip
        assert r.returncode == 0, r.stderr
        assert out.read_bytes() == tls.read_bytes()
    r = subprocess.run(["curl", "--silent", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "-d", "{}",
                        ca.http + "/sign"], capture_output=True, text=True, timeout=30)  # fmt: skip
    assert r.stdout == "404"


def test_crl_not_enabled_is_404(tmp_path: Path) -> None:
    files = make_ca(tmp_path)
    with ca_process(files):
        out = tmp_path / "body"
        r = curl(files, "/crl", out)
        assert r.returncode == 0
        assert " 404" in r.stdout.splitlines()[0]
        body = orjson.loads(out.read_bytes())
        assert body["status"] == 404 and "not enabled" in body["message"]


def test_without_generate_on_revoke_the_crl_waits_for_its_renewal(tmp_path: Path) -> None:
    files = make_ca(tmp_path)
    enable_crl(files, cacheDuration="1h", renewPeriod="3s")
    ca = CA(files, tmp_path)
    with ca_process(files):
        first, _ = ca.crl("a.crl")
        # A timed renewal (every 3 s) may fall between the revocation and the next fetch, and then the
        # revocation is on the CRL rightly: only a fetch whose CRL number is the one from just before the
        # revocation shows what revoking alone did. Regenerating on revoke would change the number every time.
        for attempt in range(8):
            _, serial = ca.certificate(f"x{attempt}.example")
            before, _ = ca.crl("before.crl")
            ca.revoke(serial)
            now, _ = ca.crl("b.crl")
            if crl_number(now) == crl_number(before):
                break
        else:
            pytest.fail("a new CRL followed every revocation: it is regenerated on revoke")
        assert (
            x509.load_der_x509_crl(now.read_bytes()).get_revoked_certificate_by_serial_number(serial) is None
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            later, _ = ca.crl("c.crl")
            crl = x509.load_der_x509_crl(later.read_bytes())
            if crl.get_revoked_certificate_by_serial_number(serial) is not None:
                break
            time.sleep(0.5)
        else:
            pytest.fail("the renewal never put the revocation on the CRL")
        assert crl_number(later) > crl_number(first)


@pytest.mark.parametrize(
    ("block", "path"),
    [
        ({"cacheDuration": "1h", "renewPeriod": "2h"}, "ca.json.crl.renewPeriod"),
        ({"cacheDuration": "-1h"}, "ca.json.crl.cacheDuration"),
        ({"renewPeriod": "soon"}, "ca.json.crl.renewPeriod"),
        ({"idpURL": "file:///etc/passwd"}, "ca.json.crl.idpURL"),
    ],
)
def test_bad_crl_blocks_are_refused_by_path(block: dict[str, str], path: str) -> None:
    from plica.config import CRLConfig, structure

    crl = structure({"enabled": True, **block}, CRLConfig, "ca.json.crl")
    with pytest.raises(ConfigError) as e:
        validate_crl(crl)
    assert e.value.path == path


def test_crl_durations_default_as_step_ca() -> None:
    from plica.config import CRLConfig

    assert crl_durations(CRLConfig(enabled=True)) == (timedelta(hours=24), timedelta(hours=16))
    assert crl_durations(CRLConfig(enabled=True, cache_duration="3h", renew_period="1h")) == (
        timedelta(hours=3),
        timedelta(hours=1),
    )


def test_leaves_carry_aia_and_cdp_and_openssl_follows_them(tmp_path: Path) -> None:
    files = make_ca(tmp_path)
    crl_url = "http://ca.example/crl"
    files.update_config(
        ocspServer=["http://ca.example/ocsp"],
        issuingCertificateURL=["http://ca.example/intermediates.pem"],
        crlDistributionPoints=[crl_url],
    )
    # The CRL's issuing distribution point names the leaves' distribution point: OpenSSL checks they match.
    enable_crl(files, generateOnRevoke=True, idpURL=crl_url)
    ca = CA(files, tmp_path)
    with ca_process(files):
        good, _ = ca.certificate("aia.example")
        bad, serial = ca.certificate("aia-revoked.example")
        ca.revoke(serial)
        crl, _ = ca.crl("idp.pem", "/crl?pem")
    text = openssl(
        "x509", "-in", str(good), "-noout", "-ext", "authorityInfoAccess,crlDistributionPoints"
    ).stdout
    assert "OCSP - URI:http://ca.example/ocsp" in text
    assert "CA Issuers - URI:http://ca.example/intermediates.pem" in text
    assert f"URI:{crl_url}" in text
    idp = openssl("crl", "-in", str(crl), "-noout", "-text").stdout
    assert "Issuing Distribution Point: critical" in idp and f"URI:{crl_url}" in idp
    r = verify_with_crl(ca, good, crl)
    assert r.returncode == 0 and ": OK" in r.stdout, r.stdout + r.stderr
    r = verify_with_crl(ca, bad, crl)
    assert r.returncode != 0 and "certificate revoked" in r.stdout + r.stderr, r.stdout + r.stderr


def test_without_aia_settings_leaves_have_none(ca: CA) -> None:
    leaf, _ = ca.certificate("plain.example")
    cert = x509.load_pem_x509_certificate(leaf.read_bytes())
    oids = {e.oid for e in cert.extensions}
    assert x509.oid.ExtensionOID.AUTHORITY_INFORMATION_ACCESS not in oids
    assert x509.oid.ExtensionOID.CRL_DISTRIBUTION_POINTS not in oids


def test_bad_aia_url_is_refused_by_path(tmp_path: Path) -> None:
    files = make_ca(tmp_path)
    files.update_config(crlDistributionPoints=["http://ok.example/crl", "file:///etc/crl"])
    from plica.config import load

    with pytest.raises(ConfigError) as e:
        load(files.config_path)
    assert e.value.path == "ca.json.authority.crlDistributionPoints[1]"
