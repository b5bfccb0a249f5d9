"""Tokens as a client makes them, signed by a third-party JOSE library (joserfc, not `plica.jose`), so that a
bug in the kernel's JOSE code cannot hide behind the same bug on the client side.

`ProvKey` is what `step ca token` holds on the client side: a JWK provisioner's name and private key.
"""

from __future__ import annotations

import base64
import secrets
import time
import warnings
from typing import TYPE_CHECKING, Any

import orjson
from attrs import define
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID
from joserfc import jwt
from joserfc.jwk import ECKey, OKPKey, RSAKey
from joserfc.jws import JWSRegistry

from plica.jose import jwe_decrypt_pbes2, key_from_jwk, private_jwk, public_jwk, thumbprint

if TYPE_CHECKING:
    from plica.testing import CAFiles

_ALG = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def jose_key(private: Any) -> Any:
    """The joserfc form of a cryptography private key."""
    jwk = private_jwk(private)
    if jwk["kty"] == "EC":
        return ECKey.import_key(jwk)
    if jwk["kty"] == "RSA":
        return RSAKey.import_key(jwk)
    return OKPKey.import_key(jwk)


def jose_sign(private: Any, header: dict[str, Any], claims: dict[str, Any]) -> str:
    """A compact JWS made by joserfc. step's own headers (x5cInsecure, sshpop, ...) are allowed through."""
    registry = JWSRegistry(algorithms=[header["alg"]], strict_check_header=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # joserfc flags "EdDSA" as deprecated (RFC 9864); step still uses it
        return jwt.encode(header, claims, jose_key(private), registry=registry)


@define
class ProvKey:
    """A JWK provisioner's name and private key: what `step ca token` holds on the client side."""

    name: str
    kid: str
    private: Any  # cryptography private key
    alg: str

    def sign(self, claims: dict[str, Any], header: dict[str, Any] | None = None) -> str:
        return jose_sign(
            self.private, {"alg": self.alg, "kid": self.kid, "typ": "JWT", **(header or {})}, claims
        )

    def claims(self, sub: str, aud: str, **extra: Any) -> dict[str, Any]:
        now = int(time.time())
        base = {
            "iss": self.name,
            "sub": sub,
            "aud": aud,
            "jti": secrets.token_hex(32),
            "iat": now,
            "nbf": now,
            "exp": now + 300,
        }
        base.update(extra)
        return {k: v for k, v in base.items() if v is not None}

    def token(self, sub: str, aud: str, **extra: Any) -> str:
        """A step-style one-time token; `extra` adds or overrides claims (None removes one)."""
        return self.sign(self.claims(sub, aud, **extra))


def new_jwk_provisioner(
    name: str, *, kty: str = "EC", claims: dict[str, Any] | None = None, **fields: Any
) -> tuple[dict[str, Any], ProvKey]:
    """A ca.json JWK block (public key only, as `step ca provisioner add --public-key` writes) and its key.
    `kty` is EC (P-256), EC384, RSA or OKP (Ed25519)."""
    if kty == "EC":
        key: Any = ec.generate_private_key(ec.SECP256R1())
    elif kty == "EC384":
        key = ec.generate_private_key(ec.SECP384R1())
    elif kty == "RSA":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        key = ed25519.Ed25519PrivateKey.generate()
    pub = public_jwk(key)
    alg = _ALG[pub["crv"]] if pub["kty"] == "EC" else ("RS256" if pub["kty"] == "RSA" else "EdDSA")
    kid = thumbprint(pub)
    block: dict[str, Any] = {
        "type": "JWK",
        "name": name,
        "key": {"use": "sig", "kid": kid, "alg": alg, **pub},
    }
    if claims is not None:
        block["claims"] = claims
    block.update(fields)
    return block, ProvKey(name=name, kid=kid, private=key, alg=alg)


def admin_key(files: CAFiles, name: str = "admin") -> ProvKey:
    """The first provisioner's private key, decrypted from its published encryptedKey with the CA password."""
    block = next(p for p in files.config()["authority"]["provisioners"] if p["name"] == name)
    _, plain = jwe_decrypt_pbes2(block["encryptedKey"], files.password)
    jwk = orjson.loads(plain)
    return ProvKey(name=name, kid=block["key"]["kid"], private=key_from_jwk(jwk), alg=block["key"]["alg"])


def renew_token(chain: list[x509.Certificate], key: Any, aud: str, **extra: Any) -> str:
    """step's renew token (docs/reference/wire.md §5a): x5cInsecure header with the chain, signed by the leaf's key."""
    alg = (
        {256: "ES256", 384: "ES384"}[key.curve.key_size]
        if isinstance(key, ec.EllipticCurvePrivateKey)
        else "RS256"
    )
    cn = chain[0].subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    now = int(time.time())
    claims = {
        "iss": "step-ca-client/1.0",
        "sub": cn[0].value if cn else "",
        "aud": aud,
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": secrets.token_hex(32),
        **extra,
    }
    x5c = [base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode() for c in chain]
    return jose_sign(
        key,
        {"alg": alg, "typ": "JWT", "x5cInsecure": x5c},
        {k: v for k, v in claims.items() if v is not None},
    )


def tamper_payload(token: str, old: str, new: str) -> str:
    """Change one byte of a token's payload (same length, still JSON) and keep the original signature."""
    h, p, s = token.split(".")
    payload = b64url_decode(p)
    assert old.encode() in payload and len(old) == len(new)
    return f"{h}.{b64url(payload.replace(old.encode(), new.encode(), 1))}.{s}"


def garbage_token(issuer: str, audience: str, *, alg: str = "ES256", **claims: Any) -> str:
    """A well-formed compact JWS with a signature nobody made: what a provisioner must refuse."""
    now = int(time.time())
    body = {"iss": issuer, "sub": "garbage.example", "aud": audience, "jti": secrets.token_hex(16),
            "iat": now, "nbf": now, "exp": now + 300, **claims}  # fmt: skip
    header = {"alg": alg, "typ": "JWT", "kid": "garbage"}
    return f"{b64url(orjson.dumps(header))}.{b64url(orjson.dumps(body))}.{b64url(secrets.token_bytes(64))}"
