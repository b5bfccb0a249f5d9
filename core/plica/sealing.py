"""Secrets a plugin must keep in the database but be able to read back (ACME's EAB HMAC keys: the binding
check needs the key itself, so a hash will not do): sealed with AES-256-GCM under a key derived from the
CA's intermediate key.

The sealing key is HKDF-SHA256 of the intermediate private key (a key in a file, `softkms`), one per
purpose, so every instance that serves the CA (and the CLI on its machine, given the password) derives the
same key, and nothing else is stored. A key in a device cannot be read: there the input is the key's
signature over a fixed message, which works where that signature is deterministic (RSA PKCS#1 v1.5,
Ed25519); a device's ECDSA key signs differently each time, so sealing is refused with it. A sealed value is text, `s1.<base64url(nonce | ciphertext)>`; the `context` given when sealing
(e.g. the row's id) is authenticated with it, so a sealed value copied to another row does not open.
Re-keying the intermediate makes earlier sealed values unreadable: re-create those secrets then.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from plica.jose import JOSEError, b64url_decode, b64url_encode

PREFIX = "s1."


class Sealer:
    """Seal and open the secrets of one purpose."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    @classmethod
    def derive(cls, ca_key: Any, purpose: str) -> Sealer:
        """From a `cryptography` private key, a `plica.kms` key (CAKey) or a `Signer` of one. ValueError
        when the key can give no stable secret (a device's ECDSA key)."""
        key_obj = getattr(ca_key, "key", ca_key)  # a Signer holds the manager's key
        private = key_obj if hasattr(key_obj, "private_bytes") else getattr(key_obj, "private_key", None)
        if private is not None:
            ikm = private.private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        else:
            message = b"plica sealing v1: " + purpose.encode()
            ikm = key_obj.sign(message)
            if key_obj.sign(message) != ikm:
                raise ValueError(
                    "this CA's key is in a device that signs non-deterministically (ECDSA): secrets cannot "
                    "be sealed with it"
                )
        key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=b"plica sealing v1", info=purpose.encode()
        ).derive(ikm)
        return cls(key)

    @staticmethod
    def is_sealed(text: str) -> bool:
        return text.startswith(PREFIX)

    def seal(self, plain: bytes, context: str = "") -> str:
        nonce = os.urandom(12)
        return PREFIX + b64url_encode(nonce + self._aead.encrypt(nonce, plain, context.encode()))

    def open(self, sealed: str, context: str = "") -> bytes:
        """The plaintext; ValueError when `sealed` is not a sealed value of this key and context."""
        if not self.is_sealed(sealed):
            raise ValueError("not a sealed value")
        try:
            raw = b64url_decode(sealed[len(PREFIX) :])
            return self._aead.decrypt(raw[:12], raw[12:], context.encode())
        except (JOSEError, InvalidTag, ValueError):
            raise ValueError("the sealed value does not open with this CA's key") from None


def open_sealer(config_path: Path, password: bytes | None, purpose: str) -> Sealer:
    """The sealer of `purpose` for the CA of `config_path` outside the server (a CLI on the CA's machine):
    its intermediate key opened as start-up opens it (key manager, `password`). ConfigError /
    KeyDecryptError as start-up raises them; ValueError as `Sealer.derive`."""
    from plica import config as config_mod
    from plica.http.server import open_keys  # the server's way of opening the CA's keys, only here

    keys = open_keys(config_mod.load(config_path), password)
    try:
        return Sealer.derive(keys.intermediate, purpose)
    finally:
        keys.close()
