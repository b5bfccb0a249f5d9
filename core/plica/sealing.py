"""Secrets a plugin must keep in the database but be able to read back (ACME's EAB HMAC keys: the binding
check needs the key itself, so a hash will not do): sealed with AES-256-GCM under a key derived from the
CA's intermediate key.

The sealing key is HKDF-SHA256 of the intermediate private key, one per purpose, so every instance that
serves the CA (and the CLI on its machine, given the password) derives the same key, and nothing else is
stored. A sealed value is text, `s1.<base64url(nonce | ciphertext)>`; the `context` given when sealing
(e.g. the row's id) is authenticated with it, so a sealed value copied to another row does not open.
Re-keying the intermediate makes earlier sealed values unreadable: re-create those secrets then.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from plica.jose import JOSEError, PrivateKey, b64url_decode, b64url_encode

PREFIX = "s1."


class Sealer:
    """Seal and open the secrets of one purpose."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    @classmethod
    def derive(cls, ca_key: PrivateKey, purpose: str) -> Sealer:
        ikm = ca_key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
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
    its intermediate key decrypted with `password`. ConfigError / KeyDecryptError as start-up raises."""
    from plica import config as config_mod
    from plica.keys import load_key

    cfg = config_mod.load(config_path)
    return Sealer.derive(load_key(cfg.resolve(cfg.key), password), purpose)
