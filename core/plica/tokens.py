"""One-time tokens: parsing a compact JWS once, and the checks every step token gets (docs/reference/wire.md §4).

The kernel parses a token exactly once per request (`Token.parse`); plugins verify its signature with the
key their provisioner trusts and use the helpers here for the common claim checks, so the rules (1 minute
leeway, audience forms, single use) are written in one place.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
import time
from collections.abc import Iterable, Mapping
from typing import Any, cast
from urllib.parse import urlsplit

import orjson
from attrs import frozen

from plica.errors import Unauthorized
from plica.jose import JOSEError, PublicKey, b64url_decode, verify_signature

LEEWAY = 60.0
MAX_TOKEN_LENGTH = 64 * 1024


@frozen
class Token:
    raw: str
    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes

    @classmethod
    def parse(cls, raw: str) -> Token:
        """Split and decode a compact JWS without verifying it. Unauthorized on anything malformed."""
        if not isinstance(raw, str) or not raw:
            raise Unauthorized("token is missing")
        if len(raw) > MAX_TOKEN_LENGTH:
            raise Unauthorized("token is too large")
        if not raw.isascii():
            raise Unauthorized("token is malformed: a JWS compact serialization is ASCII")
        parts = raw.split(".")
        if len(parts) != 3:
            raise Unauthorized(
                "token is malformed: expected a JWS compact serialization (three dot-separated parts)"
            )
        try:
            header = orjson.loads(b64url_decode(parts[0]))
            payload = b64url_decode(parts[1])
            claims = orjson.loads(payload)
            signature = b64url_decode(parts[2])
        except (JOSEError, orjson.JSONDecodeError):
            raise Unauthorized("token is malformed: invalid base64url or JSON") from None
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise Unauthorized("token is malformed: header and payload must be JSON objects")
        if not isinstance(header.get("alg"), str):
            raise Unauthorized("token is malformed: header has no 'alg'")
        if "crit" in header:
            # RFC 7515 §4.1.11: a recipient must reject critical extensions it does not understand, and
            # step's tokens use none.
            raise Unauthorized("token is malformed: the 'crit' header parameter is not supported")
        check_claims(claims, payload)
        signing_input = f"{parts[0]}.{parts[1]}".encode("ascii")
        return cls(raw=raw, header=header, claims=claims, signing_input=signing_input, signature=signature)

    @property
    def audiences(self) -> list[str]:
        aud = self.claims.get("aud")
        if isinstance(aud, str):
            return [aud]
        if isinstance(aud, list):
            return [a for a in aud if isinstance(a, str)]
        return []

    @property
    def subject(self) -> str:
        sub = self.claims.get("sub")
        return sub if isinstance(sub, str) else ""

    @property
    def issuer(self) -> str:
        iss = self.claims.get("iss")
        return iss if isinstance(iss, str) else ""

    def hash_id(self) -> str:
        """step's fallback token id: lower-hex SHA-256 of the token string."""
        return hashlib.sha256(self.raw.encode()).hexdigest()

    @property
    def id(self) -> str:
        """The id a one-time token is recorded under: its `jti` when it has one, else `hash_id()` (step
        does the same, so a replay is caught whichever way a client wrote the token)."""
        jti = self.claims.get("jti")
        return jti if isinstance(jti, str) and jti else self.hash_id()

    def verify(self, key: PublicKey, *, what: str = "token") -> None:
        alg = self.header.get("alg", "")
        if alg == "none" or not verify_signature(alg, key, self.signing_input, self.signature):
            raise Unauthorized(
                f"{what} signature is not valid for the provisioner's key (or 'alg' {alg!r} does not fit it)"
            )

    def check_times(self, *, now: float | None = None, require_exp: bool = True) -> None:
        """nbf/exp/iat with step's one minute of leeway (go-jose ValidateWithLeeway)."""
        t = time.time() if now is None else now
        exp = self.claims.get("exp")
        nbf = self.claims.get("nbf")
        iat = self.claims.get("iat")
        for name, v in (("exp", exp), ("nbf", nbf), ("iat", iat)):
            if v is not None and (not isinstance(v, int | float) or isinstance(v, bool)):
                raise Unauthorized(f"token claim '{name}' must be a number")
        if exp is None and require_exp:
            raise Unauthorized("token has no expiry ('exp' claim)")
        if exp is not None and t > exp + LEEWAY:
            raise Unauthorized("token has expired")
        if nbf is not None and t < nbf - LEEWAY:
            raise Unauthorized("token is not valid yet ('nbf' is in the future)")
        if iat is not None and t < iat - LEEWAY:
            raise Unauthorized("token was issued in the future ('iat')")

    def check_audience(self, allowed: Iterable[str] | frozenset[str], *, fragment: str | None = None) -> None:
        """At least one `aud` must be one of the CA's audiences for this operation (ports ignored, as step
        does); for fragment-addressed provisioners the `#<fragment>` must match too."""
        allowed_set = allowed if isinstance(allowed, frozenset) else frozenset(allowed)
        for aud in self.audiences:
            base, _, frag = aud.partition("#")
            if fragment is not None and frag != fragment:
                continue
            if fragment is None and frag:
                continue
            if base in allowed_set or normalize_audience(base) in allowed_set:
                return
        raise Unauthorized(f"token audience {self.audiences!r} is not valid for this CA endpoint")

    def require_subject(self) -> str:
        sub = self.subject
        if not sub:
            raise Unauthorized("token subject ('sub') is empty")
        return sub


# The registered claims and step's, with the JSON types they must have when present; a claim of the wrong
# type is refused here, once, so no provisioner meets it (docs/reference/wire.md §4).
_NUMBER = (int, float)
CLAIM_TYPES: dict[str, tuple[type, ...]] = {
    "iss": (str,),
    "sub": (str,),
    "aud": (str, list),
    "jti": (str,),
    "iat": _NUMBER,
    "nbf": _NUMBER,
    "exp": _NUMBER,
    "sans": (list,),
    "sha": (str,),
    "step": (dict,),
}
# step's SSH options (`step.ssh`), checked the same way.
SSH_CLAIM_TYPES: dict[str, tuple[type, ...]] = {
    "certType": (str,),
    "keyID": (str,),
    "principals": (list,),
    "validAfter": (str,),
    "validBefore": (str,),
    "templateData": (dict,),
}
_JSON_NAMES = {str: "a string", list: "a list", dict: "an object", int: "a number", float: "a number"}
# Unix seconds a token time may hold: 0 to the year 9999 (a larger number overflows the datetime it becomes).
MAX_TOKEN_TIME = 253402300799


def check_claims(claims: Mapping[str, Any], payload: bytes | None = None) -> None:
    """Unauthorized when a known claim has the wrong JSON type, a time is out of range, or any string in
    the claims holds a NUL (which no name, id or time has, and PostgreSQL cannot store). `payload`, the
    JSON text `claims` was decoded from, lets the NUL check skip the walk when the text cannot hold one."""
    v: Any
    for name, types in CLAIM_TYPES.items():
        v = claims.get(name)
        if v is None:
            continue
        if not isinstance(v, types) or isinstance(v, bool):
            want = "a number" if types is _NUMBER else " or ".join(_JSON_NAMES[t] for t in types)
            raise Unauthorized(f"token claim '{name}' must be {want}")
        if types is _NUMBER and not -MAX_TOKEN_TIME <= float(cast(Any, v)) <= MAX_TOKEN_TIME:
            raise Unauthorized(f"token claim '{name}' is out of range")
    for name in ("sans", "aud"):
        v = claims.get(name)
        if isinstance(v, list) and not all(isinstance(x, str) for x in v):
            raise Unauthorized(f"token claim '{name}' must hold strings only")
    step = claims.get("step")
    ssh = step.get("ssh") if isinstance(step, dict) else None
    if ssh is not None and not isinstance(ssh, dict):
        raise Unauthorized("token claim 'step.ssh' must be a JSON object")
    for name, types in SSH_CLAIM_TYPES.items():
        v = ssh.get(name) if isinstance(ssh, dict) else None
        if v is None:
            continue
        if not isinstance(v, types) or (isinstance(v, list) and not all(isinstance(p, str) for p in v)):
            raise Unauthorized(
                f"token claim 'step.ssh.{name}' must be {_JSON_NAMES[types[0]]}"
                + (" of strings" if name == "principals" else "")
            )
    if (payload is None or may_hold_nul(payload)) and has_nul(claims):
        raise Unauthorized("token claims must not contain NUL characters (or nest deeper than 64)")


def may_hold_nul(text: bytes) -> bool:
    """False when the JSON text `text` cannot decode to anything `has_nul` refuses: JSON writes a NUL in a
    string only as the escape \\u0000 (a raw control character is not JSON; orjson refuses it), and
    nesting deeper than 64 takes more than 64 brackets. A scan of the bytes instead of a walk of the
    decoded objects (~4 µs of every token)."""
    return b"\\u0000" in text or text.count(b"{") + text.count(b"[") > 64


def has_nul(obj: Any, depth: int = 0) -> bool:
    """Whether any string (key or value) in a decoded JSON document holds a NUL character."""
    if isinstance(obj, str):
        return "\x00" in obj
    if depth > 64:
        return True  # nothing real nests this deep: refused as if it held one
    if isinstance(obj, dict):
        return any("\x00" in k or has_nul(v, depth + 1) for k, v in obj.items())
    if isinstance(obj, list):
        return any(has_nul(v, depth + 1) for v in obj)
    return False


@functools.lru_cache(maxsize=256)
def normalize_audience(aud: str) -> str:
    """Drop the port: step matches audiences by scheme, host and path only. Cached: every token for a CA
    names the same few audiences, and parsing a URL costs more than the rest of the audience check."""
    try:
        u = urlsplit(aud)
    except ValueError:
        return aud
    if not u.scheme or not u.hostname:
        return aud
    host = u.hostname if ":" not in u.hostname else f"[{u.hostname}]"
    return f"{u.scheme}://{host}{u.path}"


def token_claims(
    issuer: str,
    subject: str,
    audience: str,
    *,
    sans: list[str] | None = None,
    lifetime: int = 300,
    extra: Mapping[str, Any] | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """The claims of a one-time token as step's clients write them (client side: the `client_token` hook,
    admin and renew tokens): a random `jti`, valid from now for `lifetime` seconds, `sans` when there are
    any, then `extra` (which may override any of them). `now` backdates or postdates it (tests)."""
    t = int(time.time() if now is None else now)
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": subject,
        "aud": audience,
        "jti": secrets.token_hex(32),
        "iat": t,
        "nbf": t,
        "exp": t + lifetime,
    }
    if sans:
        claims["sans"] = sans
    claims.update(extra or {})
    return claims


def token_sans(claims: Mapping[str, Any], default: str) -> list[str]:
    """The `sans` claim, or `[sub]` when it is absent or empty (step CLI behaviour)."""
    sans = claims.get("sans")
    if isinstance(sans, list) and sans:
        return [s for s in sans if isinstance(s, str) and s]
    return [default] if default else []
