"""Private keys at rest: generated here, written encrypted and 0600, decrypted once at start-up."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Literal

from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from plica.asn1 import der_int, der_oid, tlv
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


# PBKDF2-HMAC-SHA256 iterations for key files: OWASP's current recommendation (Password Storage Cheat
# Sheet, 2023: 600,000). cryptography's BestAvailableEncryption uses 2,048. Files written with any other
# count stay readable (PKCS#8 records its own); plica.testing lowers this for its throwaway CAs only.
KDF_ROUNDS = 600_000
# RFC 8018 (PBES2, PBKDF2, hmacWithSHA256) and NIST (aes256-CBC)
OID_PBES2 = "1.2.840.113549.1.5.13"
OID_PBKDF2 = "1.2.840.113549.1.5.12"
OID_HMAC_SHA256 = "1.2.840.113549.2.9"
OID_AES256_CBC = "2.16.840.1.101.3.4.1.42"


def _seq(*parts: bytes) -> bytes:
    return tlv(0x30, b"".join(parts))


def _octets(b: bytes) -> bytes:
    return tlv(0x04, b)


def encrypt_pem(key: PrivateKey, password: bytes | None) -> bytes:
    """PKCS#8 PEM; with a password, encrypted with PBES2 (PBKDF2-HMAC-SHA256, KDF_ROUNDS, AES-256-CBC) as
    `openssl pkcs8 -topk8 -v2 aes-256-cbc -v2prf hmacWithSHA256` writes it. cryptography can read any
    PBES2 file but writes only 2,048 rounds, so the (fixed) structure is written here."""
    if not password:
        return key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    plain = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    salt, iv = os.urandom(16), os.urandom(16)
    kek = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt, iterations=KDF_ROUNDS).derive(password)
    padder = padding.PKCS7(128).padder()
    enc = Cipher(algorithms.AES(kek), modes.CBC(iv)).encryptor()
    data = enc.update(padder.update(plain) + padder.finalize()) + enc.finalize()
    pbkdf2 = _seq(
        der_oid(OID_PBKDF2),
        _seq(_octets(salt), der_int(KDF_ROUNDS), _seq(der_oid(OID_HMAC_SHA256), b"\x05\x00")),
    )
    algorithm = _seq(der_oid(OID_PBES2), _seq(pbkdf2, _seq(der_oid(OID_AES256_CBC), _octets(iv))))
    der = _seq(algorithm, _octets(data))
    b64 = base64.encodebytes(der).decode().replace("\n", "")
    lines = "\n".join(b64[i : i + 64] for i in range(0, len(b64), 64))
    return f"-----BEGIN ENCRYPTED PRIVATE KEY-----\n{lines}\n-----END ENCRYPTED PRIVATE KEY-----\n".encode()


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
