"""Rows of the ACME tables as Python objects, and the reads every step shares."""

from __future__ import annotations

import time
from typing import Any

import orjson
from attrs import frozen

from plica.jose import JOSEError, PublicKey, key_from_jwk

from .problems import Problem


def rfc3339(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(ts)))


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
    size = getattr(key, "key_size", None)
    if jwk.get("kty") == "RSA" and size is not None and size < 2048:
        raise Problem("badPublicKey", f"RSA account keys must have at least 2048 bits (this one has {size})")
    return key  # type: ignore[return-value]


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


ACCOUNT_COLUMNS = "id, provisioner, jwk, thumbprint, status, contact, tos_agreed, eab_key_id, created"


def account_from_row(row: tuple[Any, ...]) -> Account:
    acc_id, prov, jwk_text, tp, status, contact, tos, eab, created = row
    return Account(
        id=acc_id,
        provisioner=prov,
        jwk=orjson.loads(jwk_text),
        jwk_text=jwk_text,
        thumbprint=tp,
        status=status,
        contact=orjson.loads(contact),
        tos_agreed=bool(tos),
        eab_key_id=eab,
        created=int(created),
    )


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


AUTHZ_COLUMNS = (
    "id, order_id, account_id, id_type, id_value, wildcard, status, expires, challenges, token, ch_type,"
    " ch_status, ch_error, validated"
)


def authz_from_row(row: tuple[Any, ...]) -> Authz:
    return Authz(
        id=row[0],
        order_id=row[1],
        account_id=row[2],
        id_type=row[3],
        id_value=row[4],
        wildcard=bool(row[5]),
        status=row[6],
        expires=int(row[7]),
        challenges=tuple(row[8].split(",")) if row[8] else (),
        token=row[9],
        ch_type=row[10],
        ch_status=row[11],
        ch_error=orjson.loads(row[12]) if row[12] else None,
        validated=int(row[13]) if row[13] is not None else None,
    )


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


ORDER_COLUMNS = (
    "id, provisioner, account_id, status, expires, created, identifiers, not_before, not_after, error,"
    " replaces, cert_id"
)


def order_from_row(row: tuple[Any, ...]) -> Order:
    return Order(
        id=row[0],
        provisioner=row[1],
        account_id=row[2],
        status=row[3],
        expires=int(row[4]),
        created=int(row[5]),
        identifiers=orjson.loads(row[6]),
        not_before=row[7],
        not_after=row[8],
        error=orjson.loads(row[9]) if row[9] else None,
        replaces=row[10],
        cert_id=row[11],
    )


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
