"""The JOSE pieces Plica needs, written directly on `cryptography`.

Token verification is on the hot path of every sign request, so it is a few lines of direct code
(docs/performance.md: ~126 µs against ~214-278 µs for general JOSE libraries). Also here: JWK import/export,
RFC 7638 thumbprints, and the JWE (PBES2-HS256+A128KW / A256GCM) that step uses for `encryptedKey`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Mapping
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


class JOSEError(ValueError):
    """Malformed or unverifiable JOSE object. The message is safe to show to a client."""


def b64url_decode(s: str | bytes) -> bytes:
    """JOSEError for anything that is not base64url, non-ASCII text included."""
    try:
        if isinstance(s, str):
            s = s.encode("ascii", "strict")
        return base64.urlsafe_b64decode(s + b"=" * (-len(s) % 4))
    except (binascii.Error, ValueError):  # UnicodeEncodeError is a ValueError
        raise JOSEError("invalid base64url encoding") from None


def b64url_encode(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode("ascii")


def _int_b64(n: int, length: int | None = None) -> str:
    length = length or max(1, (n.bit_length() + 7) // 8)
    return b64url_encode(n.to_bytes(length, "big"))


def _b64_int(s: str) -> int:
    return int.from_bytes(b64url_decode(s), "big")


_CURVES: dict[str, tuple[ec.EllipticCurve, int, str]] = {
    "P-256": (ec.SECP256R1(), 32, "ES256"),
    "P-384": (ec.SECP384R1(), 48, "ES384"),
    "P-521": (ec.SECP521R1(), 66, "ES512"),
}
_CURVE_BY_NAME = {v[0].name: k for k, v in _CURVES.items()}


# --------------------------------------------------------------------------------------------- JWK


def public_jwk(key: PublicKey | PrivateKey) -> dict[str, Any]:
    """The public JWK members (no kid/alg/use)."""
    pub = key.public_key() if hasattr(key, "private_bytes") else key  # type: ignore[union-attr]
    if isinstance(pub, ec.EllipticCurvePublicKey):
        crv = _CURVE_BY_NAME[pub.curve.name]
        size = _CURVES[crv][1]
        nums = pub.public_numbers()
        return {"kty": "EC", "crv": crv, "x": _int_b64(nums.x, size), "y": _int_b64(nums.y, size)}
    if isinstance(pub, rsa.RSAPublicKey):
        rsa_nums = pub.public_numbers()
        return {"kty": "RSA", "n": _int_b64(rsa_nums.n), "e": _int_b64(rsa_nums.e)}
    if isinstance(pub, ed25519.Ed25519PublicKey):
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        return {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": b64url_encode(pub.public_bytes(Encoding.Raw, PublicFormat.Raw)),
        }
    raise JOSEError(f"unsupported key type {type(pub).__name__}")


def private_jwk(key: PrivateKey) -> dict[str, Any]:
    jwk = public_jwk(key)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        jwk["d"] = _int_b64(key.private_numbers().private_value, _CURVES[jwk["crv"]][1])
    elif isinstance(key, rsa.RSAPrivateKey):
        n = key.private_numbers()
        jwk.update(
            d=_int_b64(n.d),
            p=_int_b64(n.p),
            q=_int_b64(n.q),
            dp=_int_b64(n.dmp1),
            dq=_int_b64(n.dmq1),
            qi=_int_b64(n.iqmp),
        )
    elif isinstance(key, ed25519.Ed25519PrivateKey):
        from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

        jwk["d"] = b64url_encode(key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()))
    return jwk


def thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 SHA-256 thumbprint, base64url: what step uses as a JWK provisioner's `kid`."""
    kty = jwk.get("kty")
    members = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n"), "OKP": ("crv", "kty", "x")}.get(
        str(kty)
    )
    if members is None:
        raise JOSEError(f"unsupported JWK kty {kty!r}")
    canon = orjson.dumps({m: jwk[m] for m in members})
    return b64url_encode(hashlib.sha256(canon).digest())


def default_alg(jwk: Mapping[str, Any]) -> str:
    if jwk.get("alg"):
        return str(jwk["alg"])
    kty = jwk.get("kty")
    if kty == "EC":
        return _CURVES[jwk["crv"]][2]
    if kty == "RSA":
        return "RS256"
    if kty == "OKP":
        return "EdDSA"
    raise JOSEError(f"unsupported JWK kty {kty!r}")


def key_from_jwk(jwk: Mapping[str, Any]) -> PublicKey | PrivateKey:
    """A cryptography key from a JWK; private when `d` is present."""
    try:
        kty = jwk["kty"]
        if kty == "EC":
            curve, _, _ = _CURVES[jwk["crv"]]
            pubn = ec.EllipticCurvePublicNumbers(_b64_int(jwk["x"]), _b64_int(jwk["y"]), curve)
            if "d" in jwk:
                return ec.EllipticCurvePrivateNumbers(_b64_int(jwk["d"]), pubn).private_key()
            return pubn.public_key()
        if kty == "RSA":
            pub = rsa.RSAPublicNumbers(_b64_int(jwk["e"]), _b64_int(jwk["n"]))
            if "d" in jwk:
                return rsa.RSAPrivateNumbers(
                    _b64_int(jwk["p"]),
                    _b64_int(jwk["q"]),
                    _b64_int(jwk["d"]),
                    _b64_int(jwk["dp"]),
                    _b64_int(jwk["dq"]),
                    _b64_int(jwk["qi"]),
                    pub,
                ).private_key()
            return pub.public_key()
        if kty == "OKP" and jwk.get("crv") == "Ed25519":
            if "d" in jwk:
                return ed25519.Ed25519PrivateKey.from_private_bytes(b64url_decode(jwk["d"]))
            return ed25519.Ed25519PublicKey.from_public_bytes(b64url_decode(jwk["x"]))
    except JOSEError:
        raise
    except (KeyError, ValueError, TypeError) as e:
        raise JOSEError(f"invalid JWK: {e}") from None
    raise JOSEError(f"unsupported JWK (kty {jwk.get('kty')!r}, crv {jwk.get('crv')!r})")


# --------------------------------------------------------------------------------------------- JWS


def _alg_matches(alg: str, key: PublicKey | PrivateKey) -> bool:
    if alg in ("ES256", "ES384", "ES512"):
        if not isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
            return False
        return (
            _CURVES[_CURVE_BY_NAME.get(key.curve.name, "")][2] == alg
            if key.curve.name in _CURVE_BY_NAME
            else False
        )
    if alg.startswith(("RS", "PS")):
        return isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey)
    if alg == "EdDSA":
        return isinstance(key, ed25519.Ed25519PublicKey | ed25519.Ed25519PrivateKey)
    return False


_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "256": hashes.SHA256,
    "384": hashes.SHA384,
    "512": hashes.SHA512,
}
# Built once: a verify or sign per request should not also build its algorithm objects.
_ECDSA = {bits: ec.ECDSA(h()) for bits, h in _HASHES.items()}


def verify_signature(alg: str, key: PublicKey, signing_input: bytes, signature: bytes) -> bool:
    """Verify a JWS signature; False (never an exception) when it does not verify or alg/key disagree."""
    if not _alg_matches(alg, key):
        return False
    try:
        if alg.startswith("ES"):
            size = (key.curve.key_size + 7) // 8  # type: ignore[union-attr]
            if len(signature) != 2 * size:
                return False
            r = int.from_bytes(signature[:size], "big")
            s = int.from_bytes(signature[size:], "big")
            key.verify(encode_dss_signature(r, s), signing_input, _ECDSA[alg[2:]])  # type: ignore[call-arg,arg-type]
        elif alg.startswith("RS"):
            key.verify(signature, signing_input, padding.PKCS1v15(), _HASHES[alg[2:]]())  # type: ignore[call-arg,arg-type]
        elif alg.startswith("PS"):
            h = _HASHES[alg[2:]]()
            key.verify(signature, signing_input, padding.PSS(padding.MGF1(h), h.digest_size), h)  # type: ignore[call-arg,arg-type]
        elif alg == "EdDSA":
            key.verify(signature, signing_input)  # type: ignore[call-arg]
        else:
            return False
    except (InvalidSignature, KeyError, ValueError):
        return False
    return True


def sign_compact(header: Mapping[str, Any], payload: bytes | Mapping[str, Any], key: PrivateKey) -> str:
    """Make a compact JWS (client side: tokens, ACME requests)."""
    alg = header["alg"]
    if not _alg_matches(alg, key):
        raise JOSEError(f"algorithm {alg} does not fit a {type(key).__name__}")
    body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    signing_input = f"{b64url_encode(orjson.dumps(dict(header)))}.{b64url_encode(body)}".encode("ascii")
    if alg.startswith("ES"):
        der = key.sign(signing_input, _ECDSA[alg[2:]])  # type: ignore[call-arg,arg-type]
        r, s = decode_dss_signature(der)
        size = (key.curve.key_size + 7) // 8  # type: ignore[union-attr]
        sig = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    elif alg.startswith("RS"):
        sig = key.sign(signing_input, padding.PKCS1v15(), _HASHES[alg[2:]]())  # type: ignore[call-arg,arg-type]
    elif alg.startswith("PS"):
        h = _HASHES[alg[2:]]()
        sig = key.sign(signing_input, padding.PSS(padding.MGF1(h), h.digest_size), h)  # type: ignore[call-arg,arg-type]
    else:
        sig = key.sign(signing_input)  # type: ignore[call-arg]
    return f"{signing_input.decode('ascii')}.{b64url_encode(sig)}"


# --------------------------------------------------------------------------------------------- JWE


def jwe_encrypt_pbes2(plaintext: bytes, password: bytes, *, cty: str = "jwk+json", p2c: int = 100_000) -> str:
    """JWE compact with PBES2-HS256+A128KW key wrapping and A256GCM content encryption, as step writes
    provisioner `encryptedKey`s."""
    p2s = os.urandom(16)
    header = {
        "alg": "PBES2-HS256+A128KW",
        "cty": cty,
        "enc": "A256GCM",
        "p2c": p2c,
        "p2s": b64url_encode(p2s),
    }
    kek = _pbes2_kek(password, "PBES2-HS256+A128KW", p2s, p2c)
    cek = AESGCM.generate_key(256)
    wrapped = aes_key_wrap(kek, cek)
    iv = os.urandom(12)
    protected = b64url_encode(orjson.dumps(header))
    ct = AESGCM(cek).encrypt(iv, plaintext, protected.encode("ascii"))
    return ".".join(
        [
            protected,
            b64url_encode(wrapped),
            b64url_encode(iv),
            b64url_encode(ct[:-16]),
            b64url_encode(ct[-16:]),
        ]
    )


def _pbes2_kek(password: bytes, alg: str, p2s: bytes, p2c: int) -> bytes:
    bits = {
        "PBES2-HS256+A128KW": (hashes.SHA256(), 16),
        "PBES2-HS384+A192KW": (hashes.SHA384(), 24),
        "PBES2-HS512+A256KW": (hashes.SHA512(), 32),
    }
    if alg not in bits:
        raise JOSEError(f"unsupported JWE algorithm {alg!r}")
    h, size = bits[alg]
    salt = alg.encode("ascii") + b"\x00" + p2s
    return PBKDF2HMAC(algorithm=h, length=size, salt=salt, iterations=p2c).derive(password)


def jwe_decrypt_pbes2(token: str, password: bytes) -> tuple[dict[str, Any], bytes]:
    """Decrypt a PBES2 JWE compact; JOSEError('wrong password or corrupted key') on any failure."""
    parts = token.strip().split(".")
    if len(parts) != 5:
        raise JOSEError("not a JWE compact serialization (expected 5 parts)")
    try:
        header = orjson.loads(b64url_decode(parts[0]))
    except orjson.JSONDecodeError:
        raise JOSEError("invalid JWE header") from None
    enc = header.get("enc")
    if enc not in ("A128GCM", "A192GCM", "A256GCM"):
        raise JOSEError(f"unsupported JWE content encryption {enc!r}")
    p2c = header.get("p2c")
    if not isinstance(p2c, int) or not 1000 <= p2c <= 10_000_000:
        raise JOSEError("invalid JWE p2c")
    kek = _pbes2_kek(password, str(header.get("alg")), b64url_decode(header.get("p2s", "")), p2c)
    try:
        cek = aes_key_unwrap(kek, b64url_decode(parts[1]))
        pt = AESGCM(cek).decrypt(
            b64url_decode(parts[2]),
            b64url_decode(parts[3]) + b64url_decode(parts[4]),
            parts[0].encode("ascii"),
        )
    except (InvalidUnwrap, InvalidTag, ValueError):
        raise JOSEError("cannot decrypt: wrong password or corrupted key") from None
    return header, pt
