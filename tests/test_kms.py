"""The key manager interface with the built-in softkms: what every CA signature goes through (certificates,
CRLs, OCSP responses, SSH certificates), the kms block's errors, and the kernel's distance from managers."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID

from plica.api import (
    ConfigError,
    KeySpec,
    KMSConfig,
    Signer,
    redact_uri,
    sign_certificate,
    sign_crl,
    sign_ocsp,
)
from plica.config import load as load_config
from plica.http.server import load_material
from plica.kms import kms_types, open_kms
from plica.plugins import load_plugins
from plica.ssh import certsign
from plica.testing import make_ca

REPO = Path(__file__).resolve().parents[1]
NOW = dt.datetime.now(dt.UTC)
NAME = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Soft CA")])


def soft_signer(tmp_path: Path, spec: KeySpec) -> Signer:
    manager = open_kms(KMSConfig(type="softkms", home=tmp_path, password=b"pw"))
    key = manager.create_key("secrets/k", spec)
    assert (tmp_path / "secrets" / "k").stat().st_mode & 0o777 == 0o600
    assert b"ENCRYPTED" in (tmp_path / "secrets" / "k").read_bytes()
    assert manager.open_key("secrets/k").public_key == key.public_key  # read back from the file
    return Signer(key, what="test key")


@pytest.mark.parametrize("kty", ["EC", "EC-P384", "RSA", "OKP"])
def test_softkms_signs_every_kind(tmp_path: Path, kty: str) -> None:
    signer = soft_signer(tmp_path, KeySpec.parse(kty))
    assert not signer.blocking
    b = (
        x509.CertificateBuilder().subject_name(NAME).issuer_name(NAME).public_key(signer.public_key)
        .serial_number(1).not_valid_before(NOW).not_valid_after(NOW + dt.timedelta(days=1))
    )  # fmt: skip
    cert = asyncio.run(sign_certificate(b, signer))
    cert.verify_directly_issued_by(cert)
    if kty == "RSA":
        pss = asyncio.run(sign_certificate(b, signer, hashes.SHA512(), pss=True))
        assert isinstance(pss.signature_algorithm_parameters, padding.PSS)
        pss.verify_directly_issued_by(pss)
    crl = asyncio.run(
        sign_crl(
            x509.CertificateRevocationListBuilder().issuer_name(NAME).last_update(NOW)
            .next_update(NOW + dt.timedelta(hours=1)), signer)
    )  # fmt: skip
    assert crl.is_signature_valid(signer.public_key)  # type: ignore[arg-type]
    if kty != "OKP":  # OCSP responses are not signed with Ed25519 by cryptography
        resp = asyncio.run(
            sign_ocsp(
                ocsp.OCSPResponseBuilder()
                .add_response(cert, cert, hashes.SHA1(), ocsp.OCSPCertStatus.REVOKED, NOW, None, NOW, None)
                .responder_id(ocsp.OCSPResponderEncoding.NAME, cert), signer)
        )  # fmt: skip
        assert resp.responder_name == NAME
        pub = signer.public_key
        if isinstance(pub, ec.EllipticCurvePublicKey):
            pub.verify(resp.signature, resp.tbs_response_bytes, ec.ECDSA(resp.signature_hash_algorithm))  # type: ignore[arg-type]
        else:
            assert isinstance(pub, rsa.RSAPublicKey)
            pub.verify(
                resp.signature, resp.tbs_response_bytes, padding.PKCS1v15(), resp.signature_hash_algorithm
            )  # type: ignore[arg-type]
    user = ed25519.Ed25519PrivateKey.generate().public_key()
    body = certsign.tbs(public_key=user, ca_public_key=signer.public_key, serial=9, cert_type=1, key_id=b"alice",
                        principals=[b"alice"], valid_after=0, valid_before=2**40,
                        critical={b"force-command": b"true"}, extensions={b"permit-pty": b""})  # fmt: skip
    signed = asyncio.run(certsign.sign_ssh(signer, body, serial=9, cert_type="user"))
    assert (signed.serial, signed.cert_type) == (9, "user")
    ssh = signed.cert
    ssh.verify_cert_signature()
    assert ssh.key_id == b"alice" and ssh.critical_options == {b"force-command": b"true"}
    assert ssh.extensions == {b"permit-pty": b""} and ssh.serial == 9


def test_key_spec_and_redaction() -> None:
    assert KeySpec.parse("rsa-3072") == KeySpec("RSA", size=3072)
    assert KeySpec.parse("P-384") == KeySpec("EC", "P-384")
    with pytest.raises(ValueError, match="unknown key type"):
        KeySpec.parse("RSA-1024")
    uri = "pkcs11:module-path=/m.so;token=t?pin-value=1234&x=y"
    assert redact_uri(uri) == "pkcs11:module-path=/m.so;token=t?pin-value=***&x=y"
    assert redact_uri("pkcs11:token=t;pin-value=9") == "pkcs11:token=t;pin-value=***"


def test_a_missing_key_manager_is_named(tmp_path: Path) -> None:
    files = make_ca(tmp_path)
    cfg = files.config()
    cfg["kms"] = {"type": "awskms", "uri": "awskms:region=us-east-1"}
    files.write_config(cfg)
    with pytest.raises(ConfigError, match="key manager type 'awskms' is not installed: install"):
        load_material(load_config(files.config_path), files.password)


def test_softkms_is_the_default_and_reads_existing_files(tmp_path: Path) -> None:
    files = make_ca(tmp_path)
    assert "kms" not in files.config()
    material = load_material(load_config(files.config_path), files.password)
    assert material.keys is not None and material.keys.manager.type == "softkms"
    assert material.intermediate_signer.key.uri == files.config()["key"]
    assert "softkms" in kms_types()


def test_key_managers_are_listed_beside_provisioner_types() -> None:
    kms = {k["type"]: k["distribution"] for k in load_plugins().capabilities_json()["keyManagers"]}
    assert kms["softkms"] == "plica"


def test_the_kernel_never_imports_a_key_manager() -> None:
    offenders = []
    for path in (REPO / "core" / "plica").rglob("*.py"):
        if path.name == "softkms.py":
            continue
        text = path.read_text()
        if re.search(r"^\s*(from|import)\s+(plica\.softkms|plica_kms_\w+)", text, re.MULTILINE):
            offenders.append(str(path))
    assert offenders == []


def test_the_fast_leaf_and_a_private_key_file_agree(tmp_path: Path) -> None:
    """The default leaf (the hot path) signed through softkms verifies under the intermediate."""
    files = make_ca(tmp_path)
    material = load_material(load_config(files.config_path), files.password)
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = asyncio.run(
        material.sign_leaf(public_key=key.public_key(), subject=NAME, san=None, san_critical=False,
                           not_before=NOW, not_after=NOW + dt.timedelta(hours=1))
    )  # fmt: skip
    leaf.verify_directly_issued_by(material.intermediate)
    assert serialization.Encoding.DER  # the leaf round-trips through DER in sign_leaf


class _SlowDeviceKey:
    """A key whose device takes 0.3 s per signature (a busy HSM): the signature itself is a real one."""

    uri = "slow:key"

    def __init__(self, blocking: bool) -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        self.public_key = self._key.public_key()
        self.blocking = blocking

    def sign(self, data: bytes, hash_alg: hashes.HashAlgorithm | None = None, pss: bool = False) -> bytes:
        time.sleep(0.3)
        return self._key.sign(data, ec.ECDSA(hash_alg or hashes.SHA256()))


@pytest.mark.parametrize("blocking", [True, False])
async def test_a_slow_device_never_stalls_the_event_loop(blocking: bool) -> None:
    signer = Signer(_SlowDeviceKey(blocking), what="test key")
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    t = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    sig = await signer.sign(b"tbs")
    t.cancel()
    signer.public_key.verify(sig, b"tbs", ec.ECDSA(hashes.SHA256()))
    # A device key is signed with on a thread: the loop keeps turning (~30 ticks in 0.3 s). A key that says
    # it does not block is signed with in place, and the loop waits: the test tells the two apart.
    assert (ticks >= 10) if blocking else (ticks <= 1), ticks


async def test_the_server_certificate_is_renewed_through_the_signer(tmp_path: Path) -> None:
    from plica.http.tls import ServerTLS
    from plica.testing import opened_authority

    files = make_ca(tmp_path)
    async with opened_authority(files) as authority:
        tls = ServerTLS(authority)
        first = tls.not_after
        await asyncio.sleep(1.1)  # whole seconds in certificates
        await tls.reissue()
        assert tls.not_after > first
