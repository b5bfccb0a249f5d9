"""`softkms`, the built-in key manager: keys in PEM files encrypted with the CA password, 0600.

It is what every CA had before key managers existed, so a ca.json without a `kms` block reads its files
unchanged. Registered through the `plica.kms` entry point like any other manager (the kernel does not
import it). A key URI is a file path (relative to the CA's home), or `softkms:path=<file>`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from plica.errors import ConfigError
from plica.keys import KeyDecryptError, generate, load_key, write_key
from plica.kms import (
    CAKey,
    DecryptionFailed,
    KeyCannotDecrypt,
    KeyInfo,
    KeySpec,
    KMSConfig,
    key_kind,
    signature_hash,
)


class SoftKey:
    """A decrypted key in memory; signing it is a call into OpenSSL, cheap enough for the event loop."""

    blocking = False

    def __init__(self, uri: str, key: Any) -> None:
        self.uri = uri
        self.private_key = key
        self.public_key = key.public_key()
        self._hash = signature_hash(key)
        self._ecdsa = {self._hash.name: ec.ECDSA(self._hash)} if self._hash is not None else {}
        self._is_ec = isinstance(key, ec.EllipticCurvePrivateKey)
        self._is_rsa = isinstance(key, rsa.RSAPrivateKey)

    def sign(self, data: bytes, hash_alg: hashes.HashAlgorithm | None = None, pss: bool = False) -> bytes:
        key = self.private_key
        h = hash_alg or self._hash
        if self._is_ec:
            alg = self._ecdsa.get(h.name)  # type: ignore[union-attr]
            if alg is None:
                alg = self._ecdsa[h.name] = ec.ECDSA(h)  # type: ignore[union-attr,arg-type]
            return key.sign(data, alg)  # type: ignore[no-any-return]
        if self._is_rsa:
            pad = (
                padding.PSS(mgf=padding.MGF1(h), salt_length=padding.PSS.DIGEST_LENGTH)  # type: ignore[arg-type]
                if pss
                else padding.PKCS1v15()
            )
            return key.sign(data, pad, h)  # type: ignore[no-any-return]
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return key.sign(data)
        raise TypeError(f"unsupported key {type(key).__name__}")

    def decrypt(self, ciphertext: bytes, oaep_hash: hashes.HashAlgorithm | None = None) -> bytes:
        if not self._is_rsa:
            raise KeyCannotDecrypt(key_kind(self.public_key), self.uri)
        pad = (
            padding.OAEP(mgf=padding.MGF1(oaep_hash), algorithm=oaep_hash, label=None)
            if oaep_hash is not None
            else padding.PKCS1v15()
        )
        try:
            return self.private_key.decrypt(ciphertext, pad)  # type: ignore[no-any-return]
        except ValueError:
            raise DecryptionFailed() from None


def _path_of(uri: str) -> str:
    return uri[len("softkms:path=") :] if uri.startswith("softkms:path=") else uri


class SoftKMS:
    type = "softkms"

    def __init__(self, cfg: KMSConfig) -> None:
        self.home = cfg.home
        self.password = cfg.password
        self.created: list[Path] = []

    def _resolve(self, uri: str) -> Path:
        p = Path(_path_of(uri)).expanduser()
        return p if p.is_absolute() else self.home / p

    def open_key(self, uri: str) -> CAKey:
        path = self._resolve(uri)
        try:
            return SoftKey(uri, load_key(path, self.password))
        except FileNotFoundError:
            raise ConfigError("ca.json", f"key file not found: {path}") from None
        except KeyDecryptError as e:
            raise ConfigError("ca.json", str(e)) from None

    def create_key(self, uri: str, spec: KeySpec) -> CAKey:
        path = self._resolve(uri)
        key = generate(spec.kty, size=spec.size, curve=spec.curve)
        write_key(path, key, self.password)
        self.created.append(path)
        return SoftKey(uri, key)

    def delete_key(self, uri: str) -> None:
        self._resolve(uri).unlink(missing_ok=True)

    def list_keys(self) -> list[KeyInfo]:
        secrets = self.home / "secrets"
        out = []
        for p in sorted(secrets.glob("*_key")) if secrets.is_dir() else []:
            out.append(KeyInfo(uri=str(p), kind="encrypted PEM file", label=p.name))
        return out

    def close(self) -> None:
        pass


def open_manager(cfg: KMSConfig) -> SoftKMS:
    return SoftKMS(cfg)
