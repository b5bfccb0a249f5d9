"""Request authentication (RFC 8555 §6.2-§6.5): flattened JWS, `alg`, `url`, `nonce`, `jwk` xor `kid`.

The checks run cheapest first and the nonce is consumed last, so a request that fails for another reason
does not burn the client's nonce; a consumed nonce is gone for every instance sharing the database.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, Literal

import orjson
from aiohttp import web
from attrs import frozen

from plica.api import JOSEError, PublicKey, b64url_decode, has_nul, verify_signature

from ..model import Account, parse_public_jwk
from ..problems import Problem, malformed, unauthorized
from ..runtime import Runtime
from .links import Links

CONTENT_TYPE = "application/jose+json"
SUPPORTED_ALGS = ("ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA")


@frozen
class Signed:
    """A verified request: the protected header, the payload bytes and who signed it."""

    protected: dict[str, Any]
    payload_raw: bytes
    key: PublicKey
    jwk: dict[str, Any] | None
    account: Account | None
    url: str

    @property
    def post_as_get(self) -> bool:
        return self.payload_raw == b""

    def payload(self) -> dict[str, Any]:
        """The payload as a JSON object (POST-as-GET reads as {})."""
        if not self.payload_raw:
            return {}
        try:
            obj = orjson.loads(self.payload_raw)
        except orjson.JSONDecodeError:
            raise malformed("the JWS payload is not valid JSON") from None
        if not isinstance(obj, dict):
            raise malformed("the JWS payload must be a JSON object")
        if has_nul(obj):  # no identifier, contact or CSR has one, and PostgreSQL cannot store it
            raise malformed("the JWS payload must not contain NUL characters")
        return obj

    def require_account(self) -> Account:
        if self.account is None:
            raise malformed("this request must be signed with an account key (use kid)")
        return self.account


@frozen
class Flattened:
    protected_b64: str
    payload_b64: str
    signature: bytes
    protected: dict[str, Any]

    @property
    def signing_input(self) -> bytes:
        return f"{self.protected_b64}.{self.payload_b64}".encode("ascii")

    def payload_bytes(self) -> bytes:
        try:
            return b64url_decode(self.payload_b64)
        except JOSEError:
            raise malformed("the JWS payload is not valid base64url") from None


def parse_flattened(obj: Any, what: str = "request body") -> Flattened:
    if not isinstance(obj, Mapping):
        raise malformed(f"the {what} must be a JWS in flattened JSON serialization")
    if "signatures" in obj:
        raise malformed(f"the {what} must have exactly one signature (flattened JSON serialization)")
    if "header" in obj:
        raise malformed(f"the {what} must not have an unprotected header")
    p, pl, s = obj.get("protected"), obj.get("payload"), obj.get("signature")
    if not isinstance(p, str) or not isinstance(pl, str) or not isinstance(s, str) or not p:
        raise malformed(f"the {what} needs the string members protected, payload and signature")
    try:
        header = orjson.loads(b64url_decode(p))
        sig = b64url_decode(s)
        p.encode("ascii")
        pl.encode("ascii")
    except (JOSEError, orjson.JSONDecodeError, UnicodeEncodeError):
        raise malformed(f"the {what}'s protected header is not base64url-encoded JSON") from None
    if not isinstance(header, dict):
        raise malformed(f"the {what}'s protected header must be a JSON object")
    if has_nul(header):  # kid, nonce and url are looked up in the database
        raise malformed(f"the {what}'s protected header must not contain NUL characters")
    return Flattened(protected_b64=p, payload_b64=pl, signature=sig, protected=header)


def check_alg(header: Mapping[str, Any], allowed: Collection[str] = SUPPORTED_ALGS, what: str = "JWS") -> str:
    """The header's `alg`, if it is one of `allowed` (badSignatureAlgorithm lists them otherwise)."""
    alg = header.get("alg")
    if alg not in allowed:
        raise Problem(
            "badSignatureAlgorithm",
            f"{what} algorithm {alg!r} is not supported",
            extra={"algorithms": list(allowed)},
        )
    return str(alg)


def request_url(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}{request.raw_path}"


def verify(fl: Flattened, alg: str, key: PublicKey) -> None:
    if not verify_signature(alg, key, fl.signing_input, fl.signature):
        raise malformed(f"JWS signature verification failed (alg {alg})")


async def authenticate(
    request: web.Request,
    rt: Runtime,
    links: Links,
    provisioner: str,
    *,
    auth: Literal["jwk", "kid", "any"] = "kid",
) -> Signed:
    ctype = request.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
    if ctype != CONTENT_TYPE:
        raise malformed(f"Content-Type must be {CONTENT_TYPE}", status=415)
    raw = await request.read()
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise malformed("the request body is not valid JSON") from None
    fl = parse_flattened(body)
    h = fl.protected
    alg = check_alg(h)
    url = request_url(request)
    if h.get("url") != url:
        raise unauthorized(f"the JWS url {h.get('url')!r} does not match the request URL {url!r}")
    has_jwk, has_kid = "jwk" in h, "kid" in h
    if has_jwk == has_kid:
        raise malformed("the JWS protected header must have exactly one of jwk and kid")
    account: Account | None = None
    jwk: dict[str, Any] | None = None
    if has_jwk:
        if auth == "kid":
            raise malformed("this request must be signed with an account key (kid), not a jwk")
        jwk = h["jwk"]
        key = parse_public_jwk(jwk)
    else:
        if auth == "jwk":
            raise malformed("this request must carry the new key as jwk, not a kid")
        kid = h["kid"]
        acc_id = links.account_id_from_kid(kid) if isinstance(kid, str) else None
        if acc_id is None:
            raise Problem("accountDoesNotExist", f"kid {kid!r} is not an account URL of this directory")
        account = await rt.store.account(acc_id)
        if account is None or account.provisioner != provisioner:
            raise Problem("accountDoesNotExist", f"account {acc_id!r} does not exist")
        if account.status != "valid":
            raise unauthorized(f"account {acc_id!r} is {account.status}")
        key = rt.keys.get(account.jwk_text)
    verify(fl, alg, key)
    nonce = h.get("nonce")
    if not isinstance(nonce, str) or not await rt.nonces.consume(nonce):
        raise Problem("badNonce", "the JWS nonce is missing, unknown, expired or already used")
    return Signed(protected=h, payload_raw=fl.payload_bytes(), key=key, jwk=jwk, account=account, url=url)
