"""The ACME objects as Python values (what store.py reads and writes), and the rules on them that need no
database: an order's derived status, an account key's acceptability."""

from __future__ import annotations

import time
from typing import Any

import orjson
from attrs import frozen

from plica.api import JOSEError, PublicKey, key_from_jwk, rsa_too_short

from .problems import Problem


class KeyCache:
    """Parsed account keys by their stored JWK text: parsing an EC point costs more than the lookup."""

    def __init__(self, size: int = 20_000) -> None:
        self._keys: dict[str, PublicKey] = {}
        self._size = size

    def get(self, jwk_text: str) -> PublicKey:
        key = self._keys.get(jwk_text)
        if key is None:
            key = parse_public_jwk(orjson.loads(jwk_text))
            if len(self._keys) >= self._size:
                self._keys.clear()
            self._keys[jwk_text] = key
        return key


def parse_public_jwk(jwk: Any) -> PublicKey:
    """An account key from a JWS `jwk` header: public, of a supported type and size (badPublicKey)."""
    if not isinstance(jwk, dict):
        raise Problem("malformed", "jwk must be a JSON object")
    if "d" in jwk or "p" in jwk:
        raise Problem("badPublicKey", "jwk must be a public key (it holds private members)")
    try:
        key = key_from_jwk(jwk)
    except JOSEError as e:
        raise Problem("badPublicKey", f"unsupported or invalid account key: {e}") from None
    short = rsa_too_short(key)
    if short:
        raise Problem("badPublicKey", f"the account's {short}")
    return key


@frozen
class Account:
    id: str
    provisioner: str
    jwk: dict[str, Any]
    jwk_text: str
    thumbprint: str
    status: str
    contact: list[str]
    tos_agreed: bool
    eab_key_id: str | None
    created: int


# The fields of Authz, Order and EABKey are their table's columns, in the order store.py selects them.


@frozen
class Authz:
    id: str
    order_id: str
    account_id: str
    id_type: str
    id_value: str
    wildcard: bool
    status: str
    expires: int
    challenges: tuple[str, ...]
    token: str
    ch_type: str | None
    ch_status: str | None
    ch_error: dict[str, Any] | None
    validated: int | None

    def current_status(self, now: float | None = None) -> str:
        if self.status in ("pending", "valid") and self.expires < (now or time.time()):
            return "expired"
        return self.status

    def challenge_status(self, ch_type: str) -> str:
        return (self.ch_status or "pending") if ch_type == self.ch_type else "pending"


@frozen
class Order:
    id: str
    provisioner: str
    account_id: str
    status: str
    expires: int
    created: int
    identifiers: list[dict[str, str]]
    not_before: str | None
    not_after: str | None
    error: dict[str, Any] | None
    replaces: str | None
    cert_id: str | None


@frozen
class OrderAuthz:
    """What an order's answer needs of one of its authorizations."""

    id: str
    id_type: str
    value: str  # as in the order: "*.example.com" for a wildcard
    status: str  # as stored: "expired" is derived by the reader
    expires: int
    error: str | None  # the challenge's problem document, as stored (JSON text)


@frozen
class ChallengeJob:
    """What the validator reads to check one challenge."""

    id_type: str
    value: str
    token: str
    ch_type: str | None
    ch_status: str | None
    expires: int
    thumbprint: str  # the account key's, for the key authorization


@frozen
class EABKey:
    id: str
    provisioner: str
    reference: str
    hmac_key: str  # base64url, as clients take it (certbot --eab-hmac-key, lego --hmac)
    created: int
    account_id: str | None
    bound_at: int | None

    def public_json(self, *, with_key: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "provisioner": self.provisioner,
            "reference": self.reference,
            "createdAt": self.created,
            "account": self.account_id or "",
            "boundAt": self.bound_at or 0,
        }
        if with_key:
            out["hmacKey"] = self.hmac_key
        return out


def order_status(order: Order, authz_statuses: list[str], now: float | None = None) -> str:
    """RFC 8555 §7.1.6: an order not yet finalized is pending, ready (all authorizations valid) or invalid."""
    if order.status != "pending":
        return order.status
    now = now or time.time()
    if order.expires < now:
        return "invalid"
    if any(s in ("invalid", "deactivated", "expired", "revoked") for s in authz_statuses):
        return "invalid"
    if authz_statuses and all(s == "valid" for s in authz_statuses):
        return "ready"
    return "pending"
