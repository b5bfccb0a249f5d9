"""The EC2 instance identity on the wire (docs/reference/cloud-iid.md, AWS): the document, its signature,
AWS's certificates that verify it, and step's token that carries both.

The signature (GET /latest/dynamic/instance-identity/signature) is the base64 of an RSA PKCS#1 v1.5 SHA-256
signature over the exact bytes of the document; step's client wraps document and signature in a JWS whose
HMAC key is the raw signature, so the token proves nothing until the signature itself has verified with one
of AWS's certificates.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import hashlib
import hmac
import json
from collections.abc import Callable, Iterable
from importlib.resources import files
from typing import Any

from attrs import frozen
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from plica.api import Token, Unauthorized, b64url_encode

ISSUER = "ec2.amazonaws.com"
# go-jose verifies any HMAC algorithm with a byte key; step's client signs HS256.
HMAC_ALGS: dict[str, Callable[[], Any]] = {
    "HS256": hashlib.sha256,
    "HS384": hashlib.sha384,
    "HS512": hashlib.sha512,
}
ROOTS_FILE = "aws_certificates.pem"

RootKeys = tuple[rsa.RSAPublicKey, ...]


@frozen
class Document:
    """The fields of an instance identity document the CA reads (the rest is carried, not trusted more)."""

    account_id: str
    instance_id: str
    private_ip: str
    region: str
    pending_time: dt.datetime | None

    @property
    def dns_name(self) -> str:
        """The instance's private DNS name, `ip-<a-b-c-d>.<region>.compute.internal`."""
        return f"ip-{self.private_ip.replace('.', '-')}.{self.region}.compute.internal"

    @property
    def names(self) -> list[str]:
        """What the document vouches for, as step orders it on a certificate: the DNS name, the IP."""
        return [self.dns_name, self.private_ip]


def rsa_keys(certificates: Iterable[x509.Certificate]) -> RootKeys:
    """The RSA public keys of `certificates`; ValueError naming the first that is not RSA. Their validity
    dates are not checked, as step-ca and AWS's own instructions do not: AWS signs with long-lived keys and
    re-issues the certificates around them."""
    keys: list[rsa.RSAPublicKey] = []
    for i, cert in enumerate(certificates):
        key = cert.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise ValueError(f"certificate {i} ({cert.subject.rfc4514_string()}) has no RSA key")
        keys.append(key)
    if not keys:
        raise ValueError("holds no PEM certificate")
    return tuple(keys)


def load_roots(pem: bytes) -> RootKeys:
    """The keys of a PEM bundle (`iidRoots`); ValueError saying what is wrong."""
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError as e:
        raise ValueError(f"holds no usable PEM certificate: {e}") from None
    return rsa_keys(certs)


@functools.cache
def aws_roots() -> RootKeys:
    """The keys of AWS's published per-region certificates, shipped with the package."""
    return load_roots(files("plica_aws").joinpath(ROOTS_FILE).read_bytes())


def signed_by(document: bytes, signature: bytes, roots: RootKeys) -> bool:
    for key in roots:
        try:
            key.verify(signature, document, padding.PKCS1v15(), hashes.SHA256())
        except (InvalidSignature, ValueError):
            continue
        return True
    return False


def _b64(value: Any, what: str) -> bytes:
    # encoding/json writes a Go []byte as standard base64 with padding, and reads nothing else.
    if not isinstance(value, str) or not value:
        raise Unauthorized(f"AWS token claim amazon.{what} is missing or not a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise Unauthorized(f"AWS token claim amazon.{what} is not standard base64") from None


def amazon_claim(token: Token) -> tuple[bytes, bytes]:
    """The document and signature bytes the token carries (`amazon: {document, signature}`)."""
    amazon = token.claims.get("amazon")
    if not isinstance(amazon, dict):
        raise Unauthorized("token has no 'amazon' claim: it is not an AWS instance identity token")
    return _b64(amazon.get("document"), "document"), _b64(amazon.get("signature"), "signature")


def check_token_hmac(token: Token, key: bytes) -> None:
    """The JWS is an HMAC keyed with the document's signature bytes."""
    alg = str(token.header.get("alg", ""))
    digest = HMAC_ALGS.get(alg)
    if digest is None:
        raise Unauthorized(
            f"AWS token 'alg' must be HS256 (an HMAC keyed with the document signature), not {alg!r}"
        )
    mac = hmac.new(key, token.signing_input, digest).digest()
    if not hmac.compare_digest(mac, token.signature):
        raise Unauthorized(
            "AWS token signature does not verify with the identity document signature it carries"
        )


def _field(doc: dict[str, Any], key: str) -> str:
    value = doc.get(key)
    if value is None or value == "":
        raise Unauthorized(f"the instance identity document's {key} is empty")
    if not isinstance(value, str):
        raise Unauthorized(f"the instance identity document's {key} is not a string")
    return value


def _time(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            t = dt.datetime.fromisoformat(value)
        except ValueError:
            t = None
        if t is not None and t.tzinfo is not None:
            return t
    raise Unauthorized("the instance identity document's pendingTime is not an RFC 3339 time")


def parse_document(raw: bytes) -> Document:
    """The document's fields, as step-ca requires them: accountId, instanceId, privateIp and region present."""
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise Unauthorized("the instance identity document is not JSON") from None
    if not isinstance(doc, dict):
        raise Unauthorized("the instance identity document is not a JSON object")
    return Document(
        account_id=_field(doc, "accountId"),
        instance_id=_field(doc, "instanceId"),
        private_ip=_field(doc, "privateIp"),
        region=_field(doc, "region"),
        pending_time=_time(doc.get("pendingTime")),
    )


def verified_document(token: Token, roots: RootKeys) -> Document:
    """The document of a token whose HMAC and document signature both verify (`roots`: the provisioner's
    iidRoots or AWS's certificates). Unauthorized naming what failed."""
    document, signature = amazon_claim(token)
    check_token_hmac(token, signature)
    if not signed_by(document, signature, roots):
        raise Unauthorized(
            "the instance identity document's signature does not verify with the provisioner's AWS "
            "certificates (iidRoots, or AWS's published ones)"
        )
    return parse_document(document)


def token_jws(claims: dict[str, Any], signature: bytes) -> str:
    """Client side: step's token, a compact JWS (HS256, typ JWT) keyed with the signature bytes."""
    header = b64url_encode(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64url_encode(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{header}.{payload}"
    mac = hmac.new(signature, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url_encode(mac)}"
