"""Decryption by token keys (step-ca's Decrypter; SCEP's key transport) on SoftHSM2 and on tpm2-pkcs11:
RSA PKCS#1 v1.5 and OAEP (CKM_RSA_PKCS, CKM_RSA_PKCS_OAEP) through the kernel's Signer, off the event loop;
a bad ciphertext is `DecryptionFailed` and leaves the token in service (SoftHSM2 answers it with
CKR_GENERAL_ERROR, as a failing token would); an OAEP hash the token lacks says so; an EC key, and an RSA
key that pkcs11-tool made sign-only, say they cannot decrypt; a token taken away is `KeyUnavailable`."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pkcs11 import Attribute, KeyType, MechanismFlag

from plica.api import (
    DecryptionFailed,
    KeyCannotDecrypt,
    KeyHandle,
    KeySpec,
    KeyUnavailable,
    KMSConfig,
    Signer,
)
from plica_kms_pkcs11 import open_manager

from .conftest import Module

pytestmark = pytest.mark.slow

CEK = b"an AES-256 content key, 32 bytes"


def oaep(h: hashes.HashAlgorithm) -> padding.OAEP:
    return padding.OAEP(mgf=padding.MGF1(h), algorithm=h, label=None)


def test_rsa_token_key_decrypts_and_survives_bad_ciphertexts(tmp_path: Path, module: Module) -> None:
    manager = open_manager(KMSConfig(type="pkcs11", uri=module.uri(), home=tmp_path))
    try:
        signer = Signer(
            manager.create_key("pkcs11:id=0d01;object=decrypter", KeySpec("RSA")), what="test key"
        )
        handle = KeyHandle(signer)
        pub = handle.public_key
        assert isinstance(pub, rsa.RSAPublicKey) and handle.can_decrypt

        async def run() -> None:
            assert await handle.decrypt(pub.encrypt(CEK, padding.PKCS1v15())) == CEK
            assert await handle.decrypt(pub.encrypt(CEK, oaep(hashes.SHA1())), hashes.SHA1()) == CEK
            for h in (hashes.SHA256(), hashes.SHA384()):
                try:  # SoftHSM2 2.6 does OAEP with SHA-1 only; then it says so, and stays in service
                    assert await handle.decrypt(pub.encrypt(CEK, oaep(h)), h) == CEK
                except DecryptionFailed as e:
                    assert str(e) == f"the token does not decrypt RSA-OAEP with {h.name.upper()}"
            other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
            bad = [
                (other.encrypt(CEK, oaep(hashes.SHA1())), hashes.SHA1()),  # for another key
                (pub.encrypt(CEK, padding.PKCS1v15()), hashes.SHA1()),  # v1.5 read as OAEP
                (b"\x00" * 256, None),  # no padding at all
                (b"\x01" * 7, None),  # not a ciphertext of this key's length
            ]
            for ct, h in bad:
                try:
                    plain = await handle.decrypt(ct, h)
                except DecryptionFailed as e:
                    assert str(e) == "the ciphertext does not decrypt with this key"
                else:  # a token may answer a bad v1.5 padding with implicit rejection: never the CEK
                    assert h is None and plain != CEK
                # The token stayed in service: the next operation works at once (a broken token would be
                # unavailable for a second before it is tried again).
                assert await handle.decrypt(pub.encrypt(CEK, padding.PKCS1v15())) == CEK
            sig = await handle.sign(b"data", hashes.SHA256())
            pub.verify(sig, b"data", padding.PKCS1v15(), hashes.SHA256())

        asyncio.run(run())
    finally:
        manager.close()


def test_keys_that_cannot_decrypt_say_so(tmp_path: Path, module: Module) -> None:
    manager = open_manager(KMSConfig(type="pkcs11", uri=module.uri(), home=tmp_path))
    try:
        ec_key = manager.create_key("pkcs11:id=0d02;object=ec-signer", KeySpec("EC"))
        with pytest.raises(KeyCannotDecrypt) as e:
            ec_key.decrypt(b"\x00" * 256)
        assert e.value.message == "this CA key cannot decrypt"
        assert e.value.detail == "EC P-256 key pkcs11:id=0d02;object=ec-signer: only RSA keys decrypt"
        assert not Signer(ec_key, what="test key").can_decrypt
        if module.name == "softhsm":
            # An RSA key made sign-only (CKA_DECRYPT false) outside Plica.
            manager.token.admin(
                lambda s: s.generate_keypair(
                    KeyType.RSA, 2048, id=b"\x0d\x03", label="sign-only", store=True,
                    capabilities=MechanismFlag.SIGN | MechanismFlag.VERIFY,
                    private_template={Attribute.DECRYPT: False, Attribute.SENSITIVE: True},
                )
            )  # fmt: skip
            listing = module.tool("--list-objects", "--type", "privkey").split("Private Key Object")
            (block,) = [b for b in listing if "sign-only" in b]
            assert re.search(r"Usage:\s+sign\n", block), block
            key = manager.open_key("pkcs11:id=0d03;object=sign-only")
            with pytest.raises(KeyCannotDecrypt) as e:
                key.decrypt(key.public_key.encrypt(CEK, padding.PKCS1v15()))
            assert "CKA_DECRYPT false" in (e.value.detail or "")
    finally:
        manager.close()


def test_a_token_taken_away_is_key_unavailable(tmp_path: Path, softhsm: Module) -> None:
    manager = open_manager(KMSConfig(type="pkcs11", uri=softhsm.uri(), home=tmp_path))
    try:
        handle = KeyHandle(Signer(manager.create_key("pkcs11:id=0d04;object=d", KeySpec("RSA")), what="k"))
        ct = handle.public_key.encrypt(CEK, padding.PKCS1v15())
        assert asyncio.run(handle.decrypt(ct)) == CEK
        softhsm.take_away()
        try:
            with pytest.raises(KeyUnavailable):
                asyncio.run(handle.decrypt(ct))
        finally:
            softhsm.give_back()
    finally:
        manager.close()
