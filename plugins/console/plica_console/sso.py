"""Single sign-on through an OIDC provisioner: OpenID Connect's authorization code flow with PKCE (S256),
the console being the provisioner's client (its `clientID`, `clientSecret` and `configurationEndpoint`, as
`GET /provisioners` publishes them). The ID token is verified here against the provider's JWKS: signature,
issuer, audience, times and the nonce of this flow.

Sign-in is rare, so discovery and keys are fetched per sign-in rather than cached (a rotated key never
locks an operator out)."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
import urllib.parse
from typing import Any

import aiohttp

from plica.api import (
    BadRequest,
    JOSEError,
    KeysError,
    Token,
    Unauthorized,
    check_url,
    parse_jwks,
    verify_signature,
)

from .base import PREFIX
from .sessions import Flow

TIMEOUT = aiohttp.ClientTimeout(total=10)
ALGS = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}


def oidc_block(provisioners: list[dict[str, Any]], name: str) -> dict[str, Any]:
    for p in provisioners:
        if str(p.get("type", "")).upper() == "OIDC" and p.get("name") == name:
            return p
    raise Unauthorized(f"there is no OIDC provisioner named {name!r}")


def _checked(url: str, what: str) -> str:
    try:
        return check_url(url, what)
    except ValueError as e:
        raise Unauthorized(f"the OpenID provider's {e}") from None


async def _get_json(http: aiohttp.ClientSession, url: str, what: str) -> dict[str, Any]:
    _checked(url, what)
    try:
        async with http.get(url) as r:
            if r.status != 200:
                raise Unauthorized(f"the OpenID provider answered {r.status} for its {what}")
            doc = await r.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as e:
        raise Unauthorized(f"the OpenID provider's {what} could not be read: {type(e).__name__}") from None
    if not isinstance(doc, dict):
        raise Unauthorized(f"the OpenID provider's {what} is not a JSON object")
    return doc


async def discovery(http: aiohttp.ClientSession, block: dict[str, Any]) -> dict[str, Any]:
    return await _get_json(http, str(block.get("configurationEndpoint", "")), "discovery document")


def _host_name(host: str) -> str:
    """The name part of a Host header (`name`, `name:port`, `[v6]`, `[v6]:port`), lower case."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else ""
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def _configured_port(address: str, local_port: int | None) -> int | None:
    """The port of ca.json's `address` (`:9000`, `0.0.0.0:9000`), or the socket's own if that says 0."""
    raw = address.rpartition(":")[2]
    port = int(raw) if raw.isdigit() else 0
    return port or local_port


def callback_url(
    host: str, *, dns_names: list[str], address: str, local_port: int | None, external_url: str
) -> str:
    """The redirect URI of a sign-in. It is never built from the request's Host: a spoofed Host would
    have the provider send the authorization code elsewhere. It is `console.externalURL` when ca.json sets
    one (a CA behind a proxy), otherwise the CA's own name (a `dnsNames` entry) and port; and a request whose
    Host is none of the CA's names is refused."""
    path = f"{PREFIX}/sso/callback"
    ext = ""
    if external_url:
        parts = urllib.parse.urlsplit(external_url)
        if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment or parts.username:
            raise BadRequest("ca.json's console.externalURL must be an https:// URL with no query")
        ext = parts.hostname.lower()
    name = _host_name(host)
    names = {n.lower() for n in dns_names} | ({ext} if ext else set())
    if not name or name not in names:
        raise BadRequest(f"{host[:100]!r} is not one of this CA's names: sign in at the CA's own address")
    if external_url:
        return external_url.rstrip("/") + path
    port = _configured_port(address, local_port)
    bare = f"[{name}]" if ":" in name else name
    return f"https://{bare}{path}" if port in (None, 443) else f"https://{bare}:{port}{path}"


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_url(disco: dict[str, Any], block: dict[str, Any], flow: Flow, challenge: str) -> str:
    query = {
        "response_type": "code",
        "client_id": block["clientID"],
        "redirect_uri": flow.redirect_uri,
        "scope": "openid email",
        "state": flow.state,
        "nonce": flow.nonce,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    endpoint = str(disco.get("authorization_endpoint", ""))
    _checked(endpoint, "authorization endpoint")
    return endpoint + ("&" if "?" in endpoint else "?") + urllib.parse.urlencode(query)


async def exchange(
    http: aiohttp.ClientSession, block: dict[str, Any], flow: Flow, code: str
) -> dict[str, Any]:
    """Trade the code for tokens and return the verified ID token's claims."""
    disco = await discovery(http, block)
    endpoint = str(disco.get("token_endpoint", ""))
    _checked(endpoint, "token endpoint")
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": flow.redirect_uri,
        "code_verifier": flow.verifier,
    }
    auth = aiohttp.BasicAuth(
        urllib.parse.quote(str(block["clientID"]), safe=""),
        urllib.parse.quote(str(block.get("clientSecret", "")), safe=""),
    )
    try:
        async with http.post(endpoint, data=form, auth=auth) as r:
            body = await r.json(content_type=None)
            if r.status != 200 or not isinstance(body, dict):
                err = body.get("error", "") if isinstance(body, dict) else ""
                raise Unauthorized(f"the OpenID provider refused the sign-in ({r.status} {err})")
    except (aiohttp.ClientError, TimeoutError, ValueError) as e:
        raise Unauthorized(f"the OpenID provider's token endpoint failed: {type(e).__name__}") from None
    raw = body.get("id_token")
    if not isinstance(raw, str):
        raise Unauthorized("the OpenID provider returned no ID token")
    jwks = await _get_json(http, str(disco.get("jwks_uri", "")), "JWKS")
    return verify_id_token(raw, disco, jwks, block, flow)


def verify_id_token(
    raw: str, disco: dict[str, Any], jwks: dict[str, Any], block: dict[str, Any], flow: Flow
) -> dict[str, Any]:
    try:
        token = Token.parse(raw)
        keys = parse_jwks(jwks, "the provider's JWKS")
    except (JOSEError, KeysError, ValueError) as e:
        raise Unauthorized(f"the ID token could not be read: {e}") from None
    alg = str(token.header.get("alg", ""))
    if alg not in ALGS:
        raise Unauthorized(f"ID token algorithm {alg!r} is not accepted")
    kid = str(token.header.get("kid", ""))
    if not any(verify_signature(alg, k, token.signing_input, token.signature) for k in keys.candidates(kid)):
        raise Unauthorized("the ID token's signature does not verify with the provider's keys")
    claims = token.claims
    if claims.get("iss") != disco.get("issuer"):
        raise Unauthorized("the ID token was issued by someone else than the provider")
    if block["clientID"] not in token.audiences:
        raise Unauthorized("the ID token is not for this CA's client")
    if not secrets.compare_digest(str(claims.get("nonce", "")), flow.nonce):
        raise Unauthorized("the ID token does not answer this sign-in (nonce)")
    token.check_times(now=time.time())
    return claims


def subjects(claims: dict[str, Any]) -> list[str]:
    """The names an admin of an OIDC provisioner may be registered under: a verified email, then `sub`."""
    out = []
    if isinstance(claims.get("email"), str) and claims.get("email_verified") is True:
        out.append(claims["email"])
    if isinstance(claims.get("sub"), str):
        out.append(claims["sub"])
    return out
