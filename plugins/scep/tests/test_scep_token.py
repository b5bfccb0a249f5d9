"""SCEP on a CA whose RSA intermediate lives in a PKCS#11 token (SoftHSM2; `plica init --kms ... --kty RSA`):
the plugin never holds the CA's private key, so the envelope's key transport is decrypted and the CertRep
signed by the token, through the key manager. micromdm's scepclient enrols under `plica start --workers 2`
and openssl verifies what it gets; a provisioner whose `decrypterKey` names another token key (step-ca's
form) enrols too; RSAES-OAEP key transport and a key transport that does not decrypt are answered (the
token stays in service); with the token taken away PKIOperation is a 503 in the CA's error shape, never a
500 or a CertRep FAILURE, and the CA heals when it comes back."""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib.metadata
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import orjson
import pytest
from attrs import define
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from plica.api import ProvisionerExtension, sign_certificate
from plica.testing import CAFiles, ca_process, db_counts, in_process_ca, make_ca, plica_cli
from plica.testing.external import openssl_verify

from .scepkit import make_csr, open_envelope, pki_message, read_cert_rep, rsa_key, scepclient, self_signed

pytestmark = pytest.mark.slow

SOFTHSM = "/usr/lib/softhsm/libsofthsm2.so"
PIN = "2468-scep-pin"
CHALLENGE = "token-secret"
RA_KEY = "pkcs11:id=7340;object=scep-ra"

if not (Path(SOFTHSM).exists() and shutil.which("softhsm2-util") and shutil.which("scepclient")):
    pytest.skip("needs softhsm2 and scep (scepclient)", allow_module_level=True)
if "pkcs11" not in {ep.name for ep in importlib.metadata.entry_points(group="plica.kms")}:
    pytest.skip("needs the pkcs11 key manager (plica-kms-pkcs11)", allow_module_level=True)


@define
class TokenCA:
    files: CAFiles
    http: str
    env: dict[str, str]
    tokens: Path
    tmp: Path

    def take_away(self) -> Path:
        (tokdir,) = list(self.tokens.iterdir())
        shutil.move(str(tokdir), self.tmp / "away")
        return tokdir

    def give_back(self, tokdir: Path) -> None:
        shutil.move(str(self.tmp / "away"), tokdir)


@pytest.fixture
def token_ca(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TokenCA]:
    tokens = tmp_path / "tokens"
    tokens.mkdir()
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n")
    env = {"SOFTHSM2_CONF": str(conf)}
    monkeypatch.setenv("SOFTHSM2_CONF", str(conf))
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", "scep", "--pin", PIN, "--so-pin", "1357"],
                   check=True, capture_output=True)  # fmt: skip
    pin_file = tmp_path / "pin"
    pin_file.write_text(PIN)
    pin_file.chmod(0o600)
    uri = f"pkcs11:module-path={SOFTHSM};token=scep?pin-source=file:{pin_file}"
    files = make_ca(tmp_path / "ca", kty="RSA", ssh=False, kms=uri)
    assert files.config()["key"].startswith("pkcs11:")
    assert not list((files.home / "secrets").glob("*_key"))  # no CA key in a file
    http = files.enable_insecure()
    yield TokenCA(files=files, http=http, env=env, tokens=tokens, tmp=tmp_path)


def _ra_certificate(ca: TokenCA) -> x509.Certificate:
    """A second RSA key in the token (`plica kms create`), certified by the token's intermediate."""
    r = plica_cli("kms", "create", "--home", str(ca.files.home), "--key", RA_KEY, "--kty", "RSA",
                  env={**ca.files.env(), **ca.env}, timeout=120)  # fmt: skip
    assert r.returncode == 0, r.stderr
    ra_public = serialization.load_pem_public_key(r.stdout.encode())
    inter = x509.load_pem_x509_certificate(ca.files.intermediate.read_bytes())
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Token SCEP RA")]))
        .issuer_name(inter.subject)
        .public_key(ra_public)  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
    )

    async def issue() -> x509.Certificate:
        async with in_process_ca(ca.files) as authority:
            return await sign_certificate(builder, authority.material.intermediate_signer)

    return asyncio.run(issue())


def _enrol(ca: TokenCA, name: str, work: Path, cn: str) -> x509.Certificate:
    work.mkdir()
    code, out = asyncio.run(scepclient(f"{ca.http}/scep/{name}", work, CHALLENGE, cn=cn))
    assert code == 0, out
    leaf = openssl_verify(ca.files, work / "client.crt")
    ext = ProvisionerExtension.from_certificate(leaf)
    assert ext is not None and ext.name == name
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == cn
    return leaf


async def _post(ca: TokenCA, name: str, body: bytes) -> tuple[int, bytes, str]:
    async with (
        aiohttp.ClientSession() as s,
        s.post(f"{ca.http}/scep/{name}?operation=PKIOperation", data=body) as r,
    ):
        return r.status, await r.read(), r.content_type


def _message(ca: TokenCA, recipient: x509.Certificate, cn: str, **kw: object) -> tuple[bytes, object, object]:
    key = rsa_key()
    signer = self_signed(key)
    csr = make_csr(key, cn, CHALLENGE).public_bytes(serialization.Encoding.DER)
    return pki_message(csr, signer_cert=signer, signer_key=key, recipient=recipient, **kw), signer, key  # type: ignore[arg-type]


def test_scepclient_enrols_with_the_token_intermediate_and_a_token_decrypter(token_ca: TokenCA) -> None:
    ca = token_ca
    ra = _ra_certificate(ca)
    ca.files.add_provisioner({"type": "SCEP", "name": "tokenscep", "challenge": CHALLENGE,
                              "encryptionAlgorithmIdentifier": 2})  # fmt: skip
    ca.files.add_provisioner(
        {
            "type": "SCEP",
            "name": "tokenra",
            "challenge": CHALLENGE,
            "decrypterCertificate": _b64(ra.public_bytes(serialization.Encoding.PEM)),
            "decrypterKey": RA_KEY,
            "encryptionAlgorithmIdentifier": 4,
        }
    )
    inter = x509.load_pem_x509_certificate(ca.files.intermediate.read_bytes())
    log = ca.files.home / "plica.log"
    with ca_process(ca.files, env=ca.env, workers=2, log=log):
        leaf = _enrol(ca, "tokenscep", ca.tmp / "c1", "router-a.example")
        assert leaf.issuer == inter.subject
        # GetCACert of the token decrypter: its certificate first, then the intermediate.
        with urllib.request.urlopen(f"{ca.http}/scep/tokenra?operation=GetCACert", timeout=10) as r:
            out = subprocess.run(["openssl", "pkcs7", "-inform", "DER", "-print_certs"], input=r.read(),
                                 capture_output=True, check=True)  # fmt: skip
        assert x509.load_pem_x509_certificates(out.stdout) == [ra, inter]
        leaf = _enrol(ca, "tokenra", ca.tmp / "c2", "router-b.example")
        assert leaf.issuer == inter.subject

        # RSAES-OAEP (SHA-1, RFC 8017's defaults, which SoftHSM2 does), checked with openssl cms.
        msg, signer, key = _message(ca, inter, "oaep.example", oaep="sha1")
        status, body, _ = asyncio.run(_post(ca, "tokenscep", msg))
        assert status == 200, body
        rep = read_cert_rep(body, ca.tmp, ca.files.root)
        assert rep.status == "0", rep
        issued = open_envelope(rep, ca.tmp, signer, key)  # type: ignore[arg-type]
        assert issued.issuer == inter.subject
        # OAEP with SHA-256, which SoftHSM2 2.6 does not do, and a key transport that does not decrypt:
        # CertRep FAILURE badMessageCheck, nothing stored, and the token stays in service.
        for kw in ({"oaep": "sha256"}, {"encrypted_key": os.urandom(256)}, {"encrypted_key": b"\x00" * 256}):
            before = db_counts(ca.files)
            msg, _, _ = _message(ca, inter, "bad.example", **kw)
            status, body, _ = asyncio.run(_post(ca, "tokenscep", msg))
            assert status == 200, body
            rep = read_cert_rep(body, ca.tmp, ca.files.root)
            assert (rep.status, rep.fail_info) == ("2", "1"), (kw, rep)
            assert db_counts(ca.files) == before
        _enrol(ca, "tokenscep", ca.tmp / "c3", "router-c.example")
    text = log.read_text()
    assert "Traceback" not in text and PIN not in text
    assert "signing key unavailable" not in text


def test_token_away_is_503_then_heals(token_ca: TokenCA) -> None:
    ca = token_ca
    ca.files.add_provisioner({"type": "SCEP", "name": "tokenscep", "challenge": CHALLENGE})
    inter = x509.load_pem_x509_certificate(ca.files.intermediate.read_bytes())
    log = ca.files.home / "plica.log"
    with ca_process(ca.files, env=ca.env, workers=1, log=log):
        _enrol(ca, "tokenscep", ca.tmp / "c1", "before.example")
        before = db_counts(ca.files)
        tokdir = ca.take_away()
        try:
            for i in range(3):
                msg, _, _ = _message(ca, inter, f"away{i}.example")
                status, body, ctype = asyncio.run(_post(ca, "tokenscep", msg))
                assert status == 503 and ctype == "application/json", body
                assert orjson.loads(body) == {"status": 503, "message": "signing key unavailable"}
            # scepclient sees an error, not a certificate.
            (ca.tmp / "c2").mkdir()
            code, out = asyncio.run(scepclient(f"{ca.http}/scep/tokenscep", ca.tmp / "c2", CHALLENGE))
            assert code != 0 and "503" in out, out
            # GetCACert needs no key: it still answers.
            with urllib.request.urlopen(f"{ca.http}/scep/tokenscep?operation=GetCACert", timeout=10) as r:
                assert x509.load_der_x509_certificate(r.read()) == inter
        finally:
            ca.give_back(tokdir)
        assert db_counts(ca.files) == before
        deadline = time.monotonic() + 30
        while True:
            msg, _, _ = _message(ca, inter, "healed.example")
            status, body, _ = asyncio.run(_post(ca, "tokenscep", msg))
            if status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert status == 200 and read_cert_rep(body, ca.tmp, ca.files.root).status == "0"
        _enrol(ca, "tokenscep", ca.tmp / "c3", "after.example")
    text = log.read_text()
    assert "Traceback" not in text and PIN not in text
    assert "signing key unavailable" in text and "signing key available again" in text


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()
