"""Decryption through the key-manager interface (step-ca's Decrypter) on softkms: RSA PKCS#1 v1.5 and OAEP
encrypted by `cryptography` and by `openssl pkeyutl` decrypt through a `Signer` and a plugin's `KeyHandle`;
a bad ciphertext is `DecryptionFailed`; an EC or Ed25519 key says it cannot decrypt; a `KeyHandle` offers
no way to the private key object; `AuthorityView.intermediate_handle` is the CA's key, without its object."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from plica.api import (
    DecryptionFailed,
    KeyCannotDecrypt,
    KeyHandle,
    KeySpec,
    KeyUnavailable,
    KMSConfig,
    Signer,
    key_kind,
)
from plica.kms import open_kms
from plica.testing import CAFiles, in_process_ca, make_ca


def soft(tmp_path: Path, spec: KeySpec) -> Signer:
    manager = open_kms(KMSConfig(type="softkms", home=tmp_path, password=b"pw"))
    manager.create_key("secrets/k", spec)
    # Opened again from its encrypted file, as a CA opens it.
    return Signer(manager.open_key("secrets/k"), what="test key")


def oaep(h: hashes.HashAlgorithm) -> padding.OAEP:
    return padding.OAEP(mgf=padding.MGF1(h), algorithm=h, label=None)


async def test_softkms_decrypts_pkcs1_and_oaep(tmp_path: Path) -> None:
    signer = soft(tmp_path, KeySpec("RSA", size=2048))
    pub = signer.public_key
    assert signer.can_decrypt
    cek = b"a content-encryption key 32bytes"
    assert signer.decrypt_now(pub.encrypt(cek, padding.PKCS1v15())) == cek
    assert await signer.decrypt(pub.encrypt(cek, padding.PKCS1v15())) == cek
    for h in (hashes.SHA1(), hashes.SHA256(), hashes.SHA512()):
        assert await signer.decrypt(pub.encrypt(cek, oaep(h)), h) == cek
    handle = KeyHandle(signer)
    assert await handle.decrypt(pub.encrypt(cek, oaep(hashes.SHA256())), hashes.SHA256()) == cek


async def test_what_openssl_encrypts_decrypts(tmp_path: Path) -> None:
    """A third party's RSA encryption (openssl pkeyutl), PKCS#1 v1.5 and OAEP-SHA256, decrypts through it."""
    signer = soft(tmp_path, KeySpec("RSA", size=3072))
    pub_pem = tmp_path / "pub.pem"
    pub_pem.write_bytes(
        signer.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    (tmp_path / "cek").write_bytes(b"sixteen byte cek")
    for opts, h in (([], None), (["-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256",
                                  "-pkeyopt", "rsa_mgf1_md:sha256"], hashes.SHA256())):  # fmt: skip
        r = subprocess.run(
            ["openssl", "pkeyutl", "-encrypt", "-pubin", "-inkey", str(pub_pem), "-in", str(tmp_path / "cek"),
             *opts],
            capture_output=True, check=True,
        )  # fmt: skip
        assert await signer.decrypt(r.stdout, h) == b"sixteen byte cek"


async def test_a_bad_ciphertext_is_decryption_failed_with_one_message(tmp_path: Path) -> None:
    signer = soft(tmp_path, KeySpec("RSA", size=2048))
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    messages = set()
    for ct, h in (
        (other.encrypt(b"for someone else", oaep(hashes.SHA256())), hashes.SHA256()),
        (signer.public_key.encrypt(b"v1.5, read as OAEP", padding.PKCS1v15()), hashes.SHA1()),
        (b"\x00" * 10, None),
        (b"", hashes.SHA1()),
    ):
        with pytest.raises(DecryptionFailed) as e:
            await signer.decrypt(ct, h)
        messages.add(str(e.value))
    assert messages == {"the ciphertext does not decrypt with this key"}
    # PKCS#1 v1.5 with a bad padding: OpenSSL >= 3.2 answers with a pseudo-random result (implicit
    # rejection, against Bleichenbacher) instead of an error; either way it is never the plaintext.
    ct = signer.public_key.encrypt(b"oaep, read as v1.5", oaep(hashes.SHA1()))
    try:
        assert await signer.decrypt(ct) != b"oaep, read as v1.5"
    except DecryptionFailed:
        pass


@pytest.mark.parametrize("kty", ["EC", "EC-P384", "OKP"])
async def test_a_key_that_is_not_rsa_says_it_cannot_decrypt(tmp_path: Path, kty: str) -> None:
    signer = soft(tmp_path, KeySpec.parse(kty))
    assert not signer.can_decrypt and not KeyHandle(signer).can_decrypt
    with pytest.raises(KeyCannotDecrypt) as e:
        await KeyHandle(signer).decrypt(b"\x00" * 256)
    assert e.value.status == 500
    assert e.value.message == "this CA key cannot decrypt"
    assert e.value.detail == f"{key_kind(signer.public_key)} key secrets/k: only RSA keys decrypt"
    with pytest.raises(KeyCannotDecrypt):  # the manager's own key says the same, without the Signer
        signer.key.decrypt(b"\x00" * 256)


class _GoneDevice:
    """A device key whose token is away: what a key manager raises then."""

    blocking = True
    uri = "test:gone"

    def __init__(self) -> None:
        self.public_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()

    def sign(self, data: bytes, hash_alg: Any = None, pss: bool = False) -> bytes:
        raise KeyUnavailable("test: token away")

    def decrypt(self, ciphertext: bytes, oaep_hash: Any = None) -> bytes:
        time.sleep(0.05)
        raise KeyUnavailable("test: token away")


async def test_a_lost_device_is_key_unavailable_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    handle = KeyHandle(Signer(_GoneDevice(), what="test key"))
    for _ in range(3):
        with pytest.raises(KeyUnavailable) as e:
            await handle.decrypt(b"\x00" * 256)
        assert e.value.status == 503 and e.value.message == "signing key unavailable"
    assert [r.message for r in caplog.records if "unavailable" in r.message] == [
        "signing key unavailable: test key test:gone: test: token away"
    ]


def test_a_handle_leads_to_no_private_key(tmp_path: Path) -> None:
    signer = soft(tmp_path, KeySpec("RSA", size=2048))
    handle = KeyHandle(signer)
    public = [n for n in dir(handle) if not n.startswith("_")]
    assert public == ["can_decrypt", "decrypt", "hash_alg", "public_key", "sign", "uri"]
    for name in public:
        value = getattr(handle, name)
        assert not isinstance(value, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | Signer)
    assert not hasattr(handle, "__dict__")  # slots: nothing can be hung on it either
    assert "BEGIN" not in repr(handle) and repr(handle) == "KeyHandle(RSA 2048 secrets/k)"


async def test_the_authority_view_offers_a_handle_not_the_key(tmp_path: Path) -> None:
    files: CAFiles = make_ca(tmp_path, kty="RSA", ssh=False)
    async with in_process_ca(files) as authority:
        assert not hasattr(authority, "intermediate_key")
        handle = authority.intermediate_handle
        assert isinstance(handle, KeyHandle) and handle.can_decrypt
        assert handle.public_key == authority.intermediates[0].public_key()
        ct = handle.public_key.encrypt(b"cek", padding.PKCS1v15())
        assert await handle.decrypt(ct) == b"cek"
        sig = await handle.sign(b"signed attributes", hashes.SHA256())
        handle.public_key.verify(sig, b"signed attributes", padding.PKCS1v15(), hashes.SHA256())
