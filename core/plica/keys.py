"""Private keys at rest: generated here, written encrypted and 0600, decrypted once at start-up."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from plica.jose import PrivateKey

KeyType = Literal["EC", "RSA", "OKP"]


def generate(kty: str = "EC", *, size: int = 2048, curve: str = "P-256") -> PrivateKey:
    k = kty.upper()
    if k == "EC":
        c = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(), "P-521": ec.SECP521R1()}[curve]
        return ec.generate_private_key(c)
    if k == "RSA":
        return rsa.generate_private_key(public_exponent=65537, key_size=size)
    if k in ("OKP", "ED25519"):
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"unsupported key type {kty!r} (expected EC, RSA or OKP)")


def write_private_file(path: Path, data: bytes) -> None:
    """Create `path` 0600 from the start (never world-readable, not even for an instant)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(path, 0o600)


def encrypt_pem(key: PrivateKey, password: bytes | None) -> bytes:
    enc: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)


def write_key(path: Path, key: PrivateKey, password: bytes | None) -> None:
    write_private_file(path, encrypt_pem(key, password))


class KeyDecryptError(ValueError):
    pass


def load_key(path: Path, password: bytes | None) -> PrivateKey:
    data = path.read_bytes()
    try:
        key = serialization.load_pem_private_key(data, password=password or None)
    except TypeError:
        if b"ENCRYPTED" in data and not password:
            raise KeyDecryptError(f"{path} is encrypted: a password is needed (--password-file)") from None
        raise KeyDecryptError(f"{path}: a password was given but the key is not encrypted") from None
    except ValueError:
        raise KeyDecryptError(f"cannot decrypt {path}: wrong password or not a PEM private key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
        raise KeyDecryptError(f"{path}: unsupported key type {type(key).__name__}")
    return key
