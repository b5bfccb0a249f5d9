"""External Account Binding (RFC 8555 §7.3.4): keys the operator hands out, and the check at newAccount.

Keys live in the shared database (`plica acme eab add|list|remove` writes them there directly from the CA
machine). A key binds one account, once: the binding is a conditional UPDATE whose row count decides,
so two instances cannot bind the same key twice.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import Any

import orjson
from attrs import frozen

from plica.jose import JOSEError, b64url_decode, b64url_encode, thumbprint

from .jws import parse_flattened
from .problems import Problem, malformed, unauthorized
from .runtime_types import StorageLike as Storage

HMAC_ALGS = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


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


_COLUMNS = "id, provisioner, reference, hmac_key, created, account_id, bound_at"


def _key(row: tuple[Any, ...]) -> EABKey:
    return EABKey(*row[:5], account_id=row[5], bound_at=row[6])


async def add_key(storage: Storage, provisioner: str, reference: str = "") -> EABKey:
    if reference:
        dup = await storage.fetch_one(
            "SELECT id FROM acme_eab_keys WHERE provisioner = ? AND reference = ?", (provisioner, reference)
        )
        if dup:
            raise ValueError(f"an EAB key with reference {reference!r} already exists for {provisioner!r}")
    key = EABKey(
        id=secrets.token_urlsafe(24),
        provisioner=provisioner,
        reference=reference,
        hmac_key=b64url_encode(secrets.token_bytes(32)),
        created=int(time.time()),
        account_id=None,
        bound_at=None,
    )
    try:
        await storage.execute(
            "INSERT INTO acme_eab_keys (id, provisioner, reference, hmac_key, created) VALUES (?, ?, ?, ?, ?)",
            (key.id, key.provisioner, key.reference, key.hmac_key, key.created),
        )
    except Exception as e:
        if storage.is_unique_violation(e):  # lost a race with another request for the same reference
            raise ValueError(
                f"an EAB key with reference {reference!r} already exists for {provisioner!r}"
            ) from None
        raise
    return key


async def list_keys(storage: Storage, provisioner: str, reference: str | None = None) -> list[EABKey]:
    if reference:
        rows = await storage.fetch_all(
            f"SELECT {_COLUMNS} FROM acme_eab_keys WHERE provisioner = ? AND reference = ? ORDER BY created",
            (provisioner, reference),
        )
    else:
        rows = await storage.fetch_all(
            f"SELECT {_COLUMNS} FROM acme_eab_keys WHERE provisioner = ? ORDER BY created", (provisioner,)
        )
    return [_key(r) for r in rows]


async def remove_key(storage: Storage, provisioner: str, key_id: str) -> bool:
    n = await storage.execute(
        "DELETE FROM acme_eab_keys WHERE id = ? AND provisioner = ?", (key_id, provisioner)
    )
    return n == 1


async def verify_binding(
    storage: Storage, provisioner: str, eab: Any, account_jwk: dict[str, Any], url: str
) -> str:
    """Check the `externalAccountBinding` of a newAccount request; returns the EAB key id to bind."""
    fl = parse_flattened(eab, "externalAccountBinding")
    h = fl.protected
    alg = h.get("alg")
    if alg not in HMAC_ALGS:
        raise Problem(
            "badSignatureAlgorithm",
            f"externalAccountBinding algorithm {alg!r} is not supported",
            extra={"algorithms": list(HMAC_ALGS)},
        )
    if "nonce" in h:
        raise malformed("the externalAccountBinding protected header must not have a nonce")
    if h.get("url") != url:
        raise unauthorized("the externalAccountBinding url does not match the newAccount URL")
    kid = h.get("kid")
    if not isinstance(kid, str) or not kid:
        raise malformed("the externalAccountBinding protected header needs the EAB key id as kid")
    try:
        inner = b64url_decode(fl.payload_b64)
        inner_jwk = orjson.loads(inner)
        same = isinstance(inner_jwk, dict) and thumbprint(inner_jwk) == thumbprint(account_jwk)
    except (JOSEError, ValueError, KeyError):
        same = False
    if not same:
        raise malformed("the externalAccountBinding payload must be the account's public key (jwk)")
    row = await storage.fetch_one(
        "SELECT hmac_key, account_id FROM acme_eab_keys WHERE id = ? AND provisioner = ?", (kid, provisioner)
    )
    if row is None:
        raise unauthorized(f"external account binding key {kid!r} does not exist")
    secret = b64url_decode(row[0])
    mac = hmac.new(secret, fl.signing_input, HMAC_ALGS[alg]).digest()
    if not hmac.compare_digest(mac, fl.signature):
        raise unauthorized("the externalAccountBinding signature does not verify with that EAB key")
    if row[1]:
        raise unauthorized(f"external account binding key {kid!r} is already bound to an account")
    return kid


async def claim(storage: Storage, key_id: str, account_id: str, now: int) -> bool:
    n = await storage.execute(
        "UPDATE acme_eab_keys SET account_id = ?, bound_at = ? WHERE id = ? AND account_id IS NULL",
        (account_id, now, key_id),
    )
    return n == 1


async def release(storage: Storage, key_id: str, account_id: str) -> None:
    await storage.execute(
        "UPDATE acme_eab_keys SET account_id = NULL, bound_at = NULL WHERE id = ? AND account_id = ?",
        (key_id, account_id),
    )
