"""Setting SCEP up: the spec's example block and `plica provisioner add|update` (each flag lands in its field);
an ECDSA chain without a decrypter stops `plica start` with a ConfigError that says what to do, and with
a decrypter of its own (added with the CLI) scepclient enrols; `plica start --workers 2` serves SCEP on
the plain-HTTP listener."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import urllib.request
from pathlib import Path

import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from plica.api import ConfigError, ProvisionerExtension
from plica.testing import CAFiles, ca_process, load_key, load_snapshot, make_ca, plica_cli
from plica.testing.external import openssl_verify

from .scepkit import rsa_key, scepclient

DATA = orjson.loads((Path(__file__).parent / "data" / "spec_examples.json").read_bytes())


def plica(files: CAFiles, *args: str, ok: bool = True) -> str:
    r = plica_cli(*args, "--home", str(files.home), env=files.env(), timeout=120)
    if ok:
        assert r.returncode == 0, f"plica {' '.join(args)}:\n{r.stdout}\n{r.stderr}"
    return r.stdout + r.stderr


def _block(files: CAFiles, name: str) -> dict:
    return next(p for p in files.config()["authority"]["provisioners"] if p["name"] == name)


def _enrol(files: CAFiles, url: str, work: Path, challenge: str) -> x509.Certificate:
    work.mkdir()
    code, out = asyncio.run(scepclient(url, work, challenge))
    assert code == 0, out
    return openssl_verify(files, work / "client.crt")


@pytest.mark.slow
def test_spec_example_with_workers_over_plain_http(tmp_path: Path) -> None:
    """The spec's block and `insecureAddress`, served by `plica start --workers 2`."""
    files = make_ca(tmp_path, kty="RSA", ssh=False)
    http = files.enable_insecure()
    cfg = files.config()
    assert set(DATA["insecureAddress"]) == {"insecureAddress"}  # the spec's top-level field, set above
    cfg["authority"]["provisioners"].append(DATA["provisioner"])
    files.write_config(cfg)
    with ca_process(files, workers=2):
        for i in range(2):
            leaf = _enrol(files, f"{http}/scep/scepca", tmp_path / f"c{i}", "secret1234")
            ext = ProvisionerExtension.from_certificate(leaf)
            assert ext is not None and ext.name == "scepca"


def _ra(files: CAFiles, tmp: Path) -> tuple[Path, Path, Path]:
    """An RSA decrypter (RA) certificate issued by the CA's ECDSA intermediate, its key and a password."""
    inter = x509.load_pem_x509_certificate(files.intermediate.read_bytes())
    ikey = load_key(files.home / "secrets" / "intermediate_ca_key", files.password)
    key = rsa_key()
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test SCEP RA")]))
        .issuer_name(inter.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(ikey, hashes.SHA256())  # type: ignore[arg-type]
    )
    crt, pem, pw = tmp / "ra.crt", tmp / "ra.key", tmp / "ra.pw"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    pw.write_text("ra password\n")
    return crt, pem, pw


@pytest.mark.slow
def test_ecdsa_chain_needs_a_decrypter(tmp_path: Path) -> None:
    files = make_ca(tmp_path, ssh=False)  # ECDSA, the default
    files.add_provisioner({"type": "SCEP", "name": "scep", "challenge": "s"})
    with pytest.raises(ConfigError) as e:
        load_snapshot(files)
    assert "plica init --kty RSA" in str(e.value) and "decrypterCertificate" in str(e.value)
    out = plica(files, "start", "--password-file", str(files.password_file), ok=False)
    assert "plica init --kty RSA" in out and "Traceback" not in out

    # With an RSA decrypter of its own (the CLI stores its key encrypted), the ECDSA chain stays.
    cfg = files.config()
    cfg["authority"]["provisioners"] = [p for p in cfg["authority"]["provisioners"] if p["type"] != "SCEP"]
    files.write_config(cfg)
    crt, pem, pw = _ra(files, tmp_path)
    plica(files, "provisioner", "add", "ra", "--type", "SCEP", "--challenge", "ra-secret", "--exclude-intermediate",
          "--encryption-algorithm-identifier", "1", "--decrypter-certificate", str(crt), "--decrypter-key", str(pem),
          "--decrypter-key-password-file", str(pw))  # fmt: skip
    block = _block(files, "ra")
    assert b"ENCRYPTED PRIVATE KEY" in base64.b64decode(block["decrypterKeyPEM"])
    assert block["excludeIntermediate"] is True and block["encryptionAlgorithmIdentifier"] == 1
    http = files.enable_insecure()
    with ca_process(files):
        # excludeIntermediate: GetCACert is the decrypter's certificate alone (an ECDSA one would be
        # useless to a client that encrypts with RSA)
        with urllib.request.urlopen(f"{http}/scep/ra?operation=GetCACert", timeout=10) as r:
            assert r.headers["Content-Type"] == "application/x-x509-ca-cert"
            assert x509.load_der_x509_certificate(r.read()) == x509.load_pem_x509_certificate(
                crt.read_bytes()
            )
        leaf = _enrol(files, f"{http}/scep/ra", tmp_path / "c", "ra-secret")
    assert leaf.issuer == x509.load_pem_x509_certificate(files.intermediate.read_bytes()).subject


def test_provisioner_add_and_update(tmp_path: Path) -> None:
    files = make_ca(tmp_path, kty="RSA", ssh=False)
    plica(
        files,
        "provisioner",
        "add",
        "my_scep_provisioner",
        "--type",
        "SCEP",
        "--challenge",
        "secret1234",
        "--encryption-algorithm-identifier",
        "2",
    )  # fmt: skip (the spec's example command)
    assert DATA["cli"][4:] == ["my_scep_provisioner", "--type", "SCEP", "--challenge", "secret1234",
                               "--encryption-algorithm-identifier", "2"]  # fmt: skip
    block = _block(files, "my_scep_provisioner")
    assert block == {"type": "SCEP", "name": "my_scep_provisioner", "challenge": "secret1234",
                     "encryptionAlgorithmIdentifier": 2}  # fmt: skip
    plica(files, "provisioner", "update", "my_scep_provisioner", "--min-public-key-length", "3072", "--include-root",
          "--force-cn", "--challenge", "new-secret", "--encryption-algorithm-identifier", "4")  # fmt: skip
    block = _block(files, "my_scep_provisioner")
    assert (
        block["minimumPublicKeyLength"] == 3072 and block["includeRoot"] is True and block["forceCN"] is True
    )
    assert block["challenge"] == "new-secret" and block["encryptionAlgorithmIdentifier"] == 4
    # A bad value is refused before ca.json changes.
    before = files.config_path.read_bytes()
    out = plica(
        files, "provisioner", "update", "my_scep_provisioner", "--min-public-key-length", "2049", ok=False
    )
    assert "minimumPublicKeyLength" in out
    assert files.config_path.read_bytes() == before
    load_snapshot(files)


@pytest.mark.slow
def test_decrypter_key_in_the_cas_key_manager(tmp_path: Path) -> None:
    """step-ca's `decrypterKey`: a key the CA's key manager opens (here a softkms file made by `plica kms
    create`), with its certificate in `decrypterCertificate`, on an ECDSA chain."""
    files = make_ca(tmp_path, ssh=False)  # ECDSA
    r = plica_cli("kms", "create", "--home", str(files.home), "--kms", "softkms:", "--key", "secrets/scep_ra_key", "--kty", "RSA",
                  "--password-file", str(files.password_file), env=files.env(), timeout=120)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert b"ENCRYPTED" in (files.home / "secrets" / "scep_ra_key").read_bytes()
    ra_public = serialization.load_pem_public_key(r.stdout.encode())
    inter = x509.load_pem_x509_certificate(files.intermediate.read_bytes())
    now = dt.datetime.now(dt.UTC)
    ra = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "KMS SCEP RA")]))
        .issuer_name(inter.subject)
        .public_key(ra_public)  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(load_key(files.home / "secrets" / "intermediate_ca_key", files.password), hashes.SHA256())  # type: ignore[arg-type]
    )
    block = {
        "type": "SCEP",
        "name": "kmsra",
        "challenge": "kms-secret",
        "excludeIntermediate": True,
        "decrypterCertificate": base64.b64encode(ra.public_bytes(serialization.Encoding.PEM)).decode(),
        "decrypterKey": "secrets/missing_key",
    }
    files.add_provisioner(block)
    with pytest.raises(ConfigError) as e:
        load_snapshot(files)
    assert "missing_key" in str(e.value)
    # `plica start` stops on it too, with the same message and no traceback.
    out = plica(files, "start", "--password-file", str(files.password_file), ok=False)
    assert "missing_key" in out and "Traceback" not in out
    cfg = files.config()
    cfg["authority"]["provisioners"][-1]["decrypterKey"] = "secrets/scep_ra_key"
    files.write_config(cfg)
    http = files.enable_insecure()
    with ca_process(files):
        leaf = _enrol(files, f"{http}/scep/kmsra", tmp_path / "c", "kms-secret")
    assert leaf.issuer == inter.subject
    ext = ProvisionerExtension.from_certificate(leaf)
    assert ext is not None and ext.name == "kmsra"
