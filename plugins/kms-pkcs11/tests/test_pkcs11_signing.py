"""Every kind of signature the CA makes, by every key type the pkcs11 manager takes (EC P-256/P-384, RSA
2048-4096), on SoftHSM2 and on tpm2-pkcs11: certificates (PKCS#1 v1.5 and PSS), CRLs, OCSP responses and
SSH certificates, each checked by cryptography's verifier (and the certificate by openssl)."""

from __future__ import annotations

import asyncio
import datetime as dt
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID

from plica.api import KeySpec, KMSConfig, Signer, sign_certificate, sign_crl, sign_ocsp
from plica_kms_pkcs11 import open_manager

from .conftest import Module

NOW = dt.datetime.now(dt.UTC)
NAME = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Token CA")])


def self_signed(signer: Signer, **kw: object) -> x509.Certificate:
    b = (
        x509.CertificateBuilder()
        .subject_name(NAME)
        .issuer_name(NAME)
        .public_key(signer.public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(minutes=1))
        .not_valid_after(NOW + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    )
    return asyncio.run(sign_certificate(b, signer, **kw))  # type: ignore[arg-type]


@pytest.mark.parametrize("kty", ["EC", "EC-P384", "RSA", "RSA-4096"])
def test_signatures_of_every_kind(tmp_path: Path, module: Module, kty: str) -> None:
    if module.name == "tpm2" and kty == "RSA-4096":
        pytest.skip("swtpm's TPM makes RSA keys up to 3072 bits")
    manager = open_manager(KMSConfig(type="pkcs11", uri=module.uri()))
    try:
        spec = KeySpec.parse(kty)
        signer = Signer(manager.create_key(f"pkcs11:id=0{len(kty)};object=k-{kty}", spec), what="test key")
        assert signer.blocking
        # No "parallel" in the kms block: the module's CK_INFO decides (tpm2-pkcs11 fails with concurrent
        # sessions, SoftHSM2 does not).
        assert manager.token.signs_in_parallel == (module.name == "softhsm"), manager.token.manufacturer
        # ... and so does the number of the kernel's signing threads: one per session that signs at once.
        assert signer.parallel_calls == (4 if module.name == "softhsm" else 1)
        cert = self_signed(signer)
        cert.verify_directly_issued_by(cert)
        pem = tmp_path / "ca.pem"
        pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        r = subprocess.run(
            ["openssl", "verify", "-CAfile", str(pem), str(pem)], capture_output=True, text=True
        )
        assert r.returncode == 0, r.stdout + r.stderr
        if spec.kty == "RSA":
            pss = self_signed(signer, hash_alg=hashes.SHA384(), pss=True)
            assert isinstance(pss.signature_algorithm_parameters, padding.PSS)
            pss.verify_directly_issued_by(pss)

        crl_builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(NAME)
            .last_update(NOW)
            .next_update(NOW + dt.timedelta(hours=1))
            .add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(42).revocation_date(NOW).build()
            )
        )
        crl = asyncio.run(sign_crl(crl_builder, signer))
        assert crl.is_signature_valid(signer.public_key)  # type: ignore[arg-type]

        leaf_key = ec.generate_private_key(ec.SECP256R1())
        leaf = (
            x509.CertificateBuilder().subject_name(NAME).issuer_name(NAME).public_key(leaf_key.public_key())
            .serial_number(7).not_valid_before(NOW).not_valid_after(NOW + dt.timedelta(days=1))
            .sign(leaf_key, hashes.SHA256())
        )  # fmt: skip
        ob = (
            ocsp.OCSPResponseBuilder()
            .add_response(
                leaf,
                cert,
                hashes.SHA1(),
                ocsp.OCSPCertStatus.GOOD,
                NOW,
                NOW + dt.timedelta(hours=1),
                None,
                None,
            )
            .responder_id(ocsp.OCSPResponderEncoding.HASH, cert)
        )
        resp = asyncio.run(sign_ocsp(ob, signer))
        verify(signer.public_key, resp.signature, resp.tbs_response_bytes, resp.signature_hash_algorithm)
        assert resp.responder_key_hash == x509.SubjectKeyIdentifier.from_public_key(signer.public_key).digest
        assert resp.serial_number == 7 and resp.certificate_status == ocsp.OCSPCertStatus.GOOD
    finally:
        manager.close()


def verify(pub: object, sig: bytes, data: bytes, h: hashes.HashAlgorithm | None) -> None:
    if isinstance(pub, ec.EllipticCurvePublicKey):
        pub.verify(sig, data, ec.ECDSA(h))  # type: ignore[arg-type]
    else:
        pub.verify(sig, data, padding.PKCS1v15(), h)  # type: ignore[attr-defined]


@pytest.mark.parametrize("parallel", [True, False])
def test_parallel_in_the_kms_block_overrides_the_module_default(module: Module, parallel: bool) -> None:
    manager = open_manager(KMSConfig(type="pkcs11", uri=module.uri(), extra={"parallel": parallel}))
    try:
        key = manager.create_key("pkcs11:id=0a;object=override", KeySpec.parse("EC"))
        assert manager.token.signs_in_parallel == parallel
        assert Signer(key, what="test key").parallel_calls == (4 if parallel else 1)
        sig = key.sign(b"override")
        key.public_key.verify(sig, b"override", ec.ECDSA(hashes.SHA256()))
    finally:
        manager.close()


def test_many_requests_at_once_are_signed_on_the_pool(module: Module) -> None:
    # 64 requests in one turn of the event loop: the kernel's signing threads (one per session that signs
    # at once: 4 on SoftHSM2, 1 on tpm2-pkcs11) take them in batches, and each gets its own signature.
    manager = open_manager(KMSConfig(type="pkcs11", uri=module.uri()))
    try:
        signer = Signer(manager.create_key("pkcs11:id=0c;object=many", KeySpec.parse("EC")), what="test key")

        async def many() -> list[bytes]:
            return await asyncio.gather(*(signer.sign(b"tbs %d" % i) for i in range(64)))

        for i, sig in enumerate(asyncio.run(many())):
            signer.public_key.verify(sig, b"tbs %d" % i, ec.ECDSA(hashes.SHA256()))
    finally:
        manager.close()
