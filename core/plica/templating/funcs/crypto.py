"""sprig's crypto functions: keys, self-signed and signed certificates, AES, ``derivePassword``,
``randBytes`` and ``uuidv4`` (``bcrypt`` and ``htpasswd`` are not supported)."""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import hashlib
import hmac
import ipaddress
import os
import struct
import uuid
from collections.abc import Callable
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ..errors import GoError
from ..golang.reflect import go_type_name
from .cast import go_bytes, go_string, strval
from .encoding import b64decode
from .registry import function_table

FUNCS, sprig = function_table()


def _unsupported(name: str) -> Callable[..., Any]:
    def fn(*args: Any) -> Any:
        raise GoError(f"{name} is not supported by Plica")

    return fn


sprig("bcrypt", "string")(_unsupported("bcrypt"))
sprig("htpasswd", "string", "string")(_unsupported("htpasswd"))


@sprig("genPrivateKey", "string")
def _gen_private_key(typ: str) -> str:
    key: Any
    fmt = serialization.PrivateFormat.TraditionalOpenSSL
    if typ == "rsa":
        key = rsa.generate_private_key(65537, 4096)
    elif typ == "dsa":
        key = dsa.generate_private_key(2048)
    elif typ in ("ecdsa", ""):
        key = ec.generate_private_key(ec.SECP256R1())
    elif typ == "ed25519":
        key = ed25519.Ed25519PrivateKey.generate()
        fmt = serialization.PrivateFormat.PKCS8
    else:
        return f"Unknown type {typ}"
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()


_MP_TEMPLATES = {
    "maximum": ["anoxxxxxxxxxxxxxxxxx", "axxxxxxxxxxxxxxxxxno"],
    "long": [
        "CvcvnoCvcvCvcv",
        "CvcvCvcvnoCvcv",
        "CvcvCvcvCvcvno",
        "CvccnoCvcvCvcv",
        "CvccCvcvnoCvcv",
        "CvccCvcvCvcvno",
        "CvcvnoCvccCvcv",
        "CvcvCvccnoCvcv",
        "CvcvCvccCvcvno",
        "CvcvnoCvcvCvcc",
        "CvcvCvcvnoCvcc",
        "CvcvCvcvCvccno",
        "CvccnoCvccCvcv",
        "CvccCvccnoCvcv",
        "CvccCvccCvcvno",
        "CvcvnoCvccCvcc",
        "CvcvCvccnoCvcc",
        "CvcvCvccCvccno",
        "CvccnoCvcvCvcc",
        "CvccCvcvnoCvcc",
        "CvccCvcvCvccno",
    ],
    "medium": ["CvcnoCvc", "CvcCvcno"],
    "short": ["Cvcn"],
    "basic": ["aaanaaan", "aannaaan", "aaannaaa"],
    "pin": ["nnnn"],
}
_MP_CHARS = {
    "V": "AEIOU",
    "C": "BCDFGHJKLMNPQRSTVWXYZ",
    "v": "aeiou",
    "c": "bcdfghjklmnpqrstvwxyz",
    "A": "AEIOUBCDFGHJKLMNPQRSTVWXYZ",
    "a": "AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz",
    "n": "0123456789",
    "o": "@&%?,=[]_:-+*$#!'^~;()/.",
    "x": "AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz0123456789!@#$%^&*()",
}


@sprig("derivePassword", "int", "string", "string", "string", "string")
def _derive_password(counter: int, ptype: str, password: str, user: str, site: str) -> str:
    templates = _MP_TEMPLATES.get(ptype)
    if templates is None:
        return f"cannot find password template {ptype}"
    seed_prefix = b"com.lyndir.masterpassword"
    salt = seed_prefix + struct.pack(">I", len(go_bytes(user))) + go_bytes(user)
    key = hashlib.scrypt(go_bytes(password), salt=salt, n=32768, r=8, p=2, dklen=64, maxmem=128 * 1024 * 1024)
    msg = (
        seed_prefix
        + struct.pack(">I", len(go_bytes(site)))
        + go_bytes(site)
        + struct.pack(">I", counter & 0xFFFFFFFF)
    )
    seed = hmac.new(key, msg, hashlib.sha256).digest()
    tmpl = templates[seed[0] % len(templates)]
    return "".join(_MP_CHARS[c][seed[i + 1] % len(_MP_CHARS[c])] for i, c in enumerate(tmpl))


class SprigCertificate:
    """sprig's ``certificate`` struct (``.Cert``, ``.Key`` PEM strings)."""

    __go_type__ = "sprig.certificate"

    def __init__(self, cert: str, key: str) -> None:
        self.Cert = cert
        self.Key = key

    def __go_str__(self) -> str:
        return "{" + self.Cert + " " + self.Key + "}"


def _new_rsa_key() -> Any:
    return rsa.generate_private_key(65537, 2048)


def _load_key(pem: str) -> Any:
    try:
        return serialization.load_pem_private_key(go_bytes(pem), None)
    except Exception as e:
        raise GoError(f"parse pem key: {e}") from None


def _key_pem(key: Any) -> str:
    fmt = (
        serialization.PrivateFormat.TraditionalOpenSSL
        if isinstance(key, rsa.RSAPrivateKey)
        else serialization.PrivateFormat.PKCS8
    )
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()


def _build_cert(
    cn: str, ips: Any, dns: Any, days: int, is_ca: bool, key: Any, signer: SprigCertificate | None
) -> SprigCertificate:
    now = _dt.datetime.now(_dt.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]) if cn else x509.Name([])
    if signer is not None:
        ca_cert = x509.load_pem_x509_certificate(go_bytes(signer.Cert))
        ca_key = _load_key(signer.Key)
        issuer = ca_cert.subject
    else:
        ca_key = key
        issuer = subject
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + _dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=is_ca,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )
    if not is_ca:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
    sans: list[Any] = []
    for ip in list(ips or []):
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(strval(ip))))
        except ValueError:
            raise GoError(f"error parsing ip: {strval(ip)}") from None
    sans.extend(x509.DNSName(strval(d)) for d in list(dns or []))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256() if not _is_ed(ca_key) else None)
    return SprigCertificate(cert.public_bytes(serialization.Encoding.PEM).decode(), _key_pem(key))


def _is_ed(key: Any) -> bool:
    return isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey)


def _as_cert(v: Any) -> SprigCertificate:
    if isinstance(v, SprigCertificate):
        return v
    raise GoError(f"wrong type for value; expected sprig.certificate; got {go_type_name(v)}")


sprig("genCA", "string", "int")(
    lambda cn, days: _build_cert(cn, None, None, days, True, _new_rsa_key(), None)
)
sprig("genCAWithKey", "string", "int", "string")(
    lambda cn, days, key: _build_cert(cn, None, None, days, True, _load_key(key), None)
)
sprig("genSelfSignedCert", "string", "any", "any", "int")(
    lambda cn, ips, dns, days: _build_cert(cn, ips, dns, days, False, _new_rsa_key(), None)
)
sprig("genSelfSignedCertWithKey", "string", "any", "any", "int", "string")(
    lambda cn, ips, dns, days, key: _build_cert(cn, ips, dns, days, False, _load_key(key), None)
)
sprig("genSignedCert", "string", "any", "any", "int", "any")(
    lambda cn, ips, dns, days, ca: _build_cert(cn, ips, dns, days, False, _new_rsa_key(), _as_cert(ca))
)
sprig("genSignedCertWithKey", "string", "any", "any", "int", "any", "string")(
    lambda cn, ips, dns, days, ca, key: _build_cert(cn, ips, dns, days, False, _load_key(key), _as_cert(ca))
)


@sprig("buildCustomCert", "string", "string")
def _build_custom_cert(b64cert: str, b64key: str) -> SprigCertificate:
    try:
        cert = go_string(base64.b64decode(b64cert))
        key = go_string(base64.b64decode(b64key))
    except (binascii.Error, ValueError) as e:
        raise GoError(f"unable to decode base64 certificate: {e}") from None
    return SprigCertificate(cert, key)


def _aes_key(password: str) -> bytes:
    return (go_bytes(password) + bytes(32))[:32]


@sprig("encryptAES", "string", "string")
def _encrypt_aes(password: str, plaintext: str) -> str:
    if plaintext == "":
        return ""
    content = go_bytes(plaintext)
    pad = 16 - len(content) % 16
    content += bytes([pad]) * pad
    iv = os.urandom(16)
    enc = Cipher(algorithms.AES(_aes_key(password)), modes.CBC(iv)).encryptor()
    return base64.b64encode(iv + enc.update(content) + enc.finalize()).decode()


@sprig("decryptAES", "string", "string")
def _decrypt_aes(password: str, crypt64: str) -> str:
    if crypt64 == "":
        return ""
    data = b64decode(crypt64)
    if len(data) < 16:
        raise GoError("ciphertext too short")
    iv, ct = data[:16], data[16:]
    if len(ct) % 16:
        raise GoError("crypto/cipher: input not full blocks")
    dec = Cipher(algorithms.AES(_aes_key(password)), modes.CBC(iv)).decryptor()
    out = dec.update(ct) + dec.finalize()
    if not out:
        return ""
    pad = out[-1]
    return go_string(out[: len(out) - pad] if pad <= len(out) else b"")


@sprig("randBytes", "int")
def _rand_bytes(n: int) -> str:
    if n < 0:
        raise GoError("runtime error: makeslice: len out of range")
    return base64.b64encode(os.urandom(n)).decode()


sprig("uuidv4")(lambda: str(uuid.uuid4()))
