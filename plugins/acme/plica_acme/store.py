"""Every SQL statement of the ACME plugin, one method per operation (as smallstep's acme/db.go), over the
kernel's storage (SQLite or PostgreSQL, `?` placeholders). Handlers, the validator, the nonce pool and the
CLI call these methods and hold no SQL; the tables are schema.py's migrations.

Every row carries what the hot path filters on, so each protocol step is one or two statements, and every
race between instances (a nonce used twice, two finalize requests, two validators, an EAB key bound twice)
is decided by the row count of one conditional statement.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import attrs
import orjson
from attrs import evolve

from plica.api import NotImplementedYet, Sealer, Storage

from .model import Account, Authz, ChallengeJob, EABKey, Order, OrderAuthz

log = logging.getLogger("plica.acme")

T = TypeVar("T")

EAB_PURPOSE = "acme-eab-hmac"
# A finished-but-unsuccessful order stays readable (as invalid) this long after it expires, so a client
# polling it sees why it failed rather than a 404.
KEEP_EXPIRED = 3600
# How many stale validation jobs one housekeeping pass takes over.
RECOVER_BATCH = 100

_DELETABLE_ORDER = "(status <> 'valid' AND expires < ?) OR (status = 'valid' AND cert_not_after < ?)"
# An order whose authorization failed or was deactivated can no longer succeed: it stops counting as
# pending (limits) and says why.
_INVALIDATE_ORDER = "UPDATE acme_orders SET status = 'invalid', error = ? WHERE id = ? AND status = 'pending'"
_ACCOUNT_COLUMNS = "id, provisioner, jwk, thumbprint, status, contact, tos_agreed, eab_key_id, created"


def _fields(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in attrs.fields(cls))


_AUTHZ = _fields(Authz)
_ORDER = _fields(Order)
_EAB = _fields(EABKey)


def _json_or_none(v: Any) -> Any:
    return orjson.loads(v) if v else None


# How a column's stored value becomes its field's value (a column not named here is taken as it is).
_DECODE: dict[str, Callable[[Any], Any]] = {
    "wildcard": bool,
    "expires": int,
    "created": int,
    "challenges": lambda v: tuple(v.split(",")) if v else (),
    "identifiers": orjson.loads,
    "error": _json_or_none,
    "ch_error": _json_or_none,
    "validated": lambda v: int(v) if v is not None else None,
}


def _decode(cls: Callable[..., T], columns: Sequence[str], row: Sequence[Any]) -> T:
    return cls(**{c: _DECODE[c](v) if c in _DECODE else v for c, v in zip(columns, row, strict=True)})


def _account(row: Sequence[Any]) -> Account:
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


def _json(obj: Any) -> str:
    return orjson.dumps(obj).decode()


class AcmeStore:
    """The ACME tables of one storage (shared by every instance of the CA)."""

    def __init__(self, storage: Storage, sealer: Sealer | Callable[[], Sealer] | None = None) -> None:
        self.storage = storage
        # Seals EAB HMAC keys at rest (EAB_PURPOSE); a store without one can do everything but add a key.
        # A callable is asked on first use: deriving the sealer signs with the CA's key, which may be in a
        # device that is away when the server starts (KeyUnavailable, a 503 for that request, and asked
        # again on the next) or that cannot seal at all (ValueError: no sealer, said once in the log).
        self._sealer = sealer

    @property
    def sealer(self) -> Sealer | None:
        source = self._sealer
        if source is None or isinstance(source, Sealer):
            return source
        try:
            self._sealer = source()
        except ValueError as e:
            log.warning("ACME: EAB keys cannot be added on this CA: %s", e)
            self._sealer = None
        return self._sealer

    # ------------------------------------------------------------------------------------------ nonces

    async def add_nonces(self, nonces: Sequence[tuple[str, int]]) -> None:
        """(nonce, expires) pairs, in one multi-row INSERT."""
        values = ", ".join(["(?, ?)"] * len(nonces))
        params = [v for pair in nonces for v in pair]
        await self.storage.execute(f"INSERT INTO acme_nonces (nonce, expires) VALUES {values}", params)

    async def use_nonce(self, nonce: str, now: int) -> bool:
        """True if `nonce` existed and had not expired; it is gone afterwards, for every instance."""
        n = await self.storage.execute(
            "DELETE FROM acme_nonces WHERE nonce = ? AND expires >= ?", (nonce, now)
        )
        return n == 1

    # ---------------------------------------------------------------------------------------- accounts

    async def account(self, acc_id: str) -> Account | None:
        row = await self.storage.fetch_one(
            f"SELECT {_ACCOUNT_COLUMNS} FROM acme_accounts WHERE id = ?", (acc_id,)
        )
        return _account(row) if row else None

    async def account_by_thumbprint(self, provisioner: str, tp: str) -> Account | None:
        row = await self.storage.fetch_one(
            f"SELECT {_ACCOUNT_COLUMNS} FROM acme_accounts WHERE provisioner = ? AND thumbprint = ?",
            (provisioner, tp),
        )
        return _account(row) if row else None

    async def add_account(self, acc: Account) -> bool:
        """False when the key already has an account (another request registered it first)."""
        n = await self.storage.execute(
            "INSERT INTO acme_accounts (id, provisioner, thumbprint, jwk, status, contact, tos_agreed, eab_key_id,"
            " created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (
                acc.id,
                acc.provisioner,
                acc.thumbprint,
                acc.jwk_text,
                acc.status,
                _json(acc.contact),
                int(acc.tos_agreed),
                acc.eab_key_id,
                acc.created,
            ),
        )
        return n == 1

    async def set_contact(self, acc_id: str, contact: list[str]) -> None:
        await self.storage.execute(
            "UPDATE acme_accounts SET contact = ? WHERE id = ?", (_json(contact), acc_id)
        )

    async def deactivate_account(self, acc_id: str) -> None:
        """The account, and its pending authorizations with it."""
        await self.storage.execute_many(
            [
                ("UPDATE acme_accounts SET status = 'deactivated' WHERE id = ?", (acc_id,)),
                (
                    "UPDATE acme_authz SET status = 'deactivated' WHERE account_id = ? AND status = 'pending'",
                    (acc_id,),
                ),
            ]
        )

    async def change_key(self, acc_id: str, old_tp: str, new_tp: str, jwk_text: str) -> bool:
        """False when the key was changed by another request meanwhile. A key another account holds
        raises the storage's error (the unique constraint)."""
        n = await self.storage.execute(
            "UPDATE acme_accounts SET jwk = ?, thumbprint = ? WHERE id = ? AND thumbprint = ?",
            (jwk_text, new_tp, acc_id, old_tp),
        )
        return n == 1

    async def account_order_ids(self, acc_id: str, now: int, limit: int, offset: int) -> list[str]:
        """RFC 8555 §7.1.2.1: pending and finished orders, not the abandoned ones, newest first."""
        rows = await self.storage.fetch_all(
            "SELECT id FROM acme_orders WHERE account_id = ? AND status <> 'invalid'"
            " AND (status = 'valid' OR expires > ?) ORDER BY created DESC, id LIMIT ? OFFSET ?",
            (acc_id, now, limit, offset),
        )
        return [r[0] for r in rows]

    # ------------------------------------------------------------------------------------------ orders

    async def add_order(self, order: Order, authzs: Sequence[Authz]) -> None:
        # Two single statements rather than a transaction (each is one hop to the database): the
        # authorizations first, so a failure in between leaves only rows no order points to (housekeeping
        # removes them), never an order a client can see without its authorizations.
        rows: list[Any] = []
        for a in authzs:
            rows += [
                a.id,
                a.order_id,
                a.account_id,
                order.provisioner,
                a.id_type,
                a.id_value,
                int(a.wildcard),
                a.status,
                a.expires,
                ",".join(a.challenges),
                a.token,
            ]
        await self.storage.execute(
            "INSERT INTO acme_authz (id, order_id, account_id, provisioner, id_type, id_value, wildcard,"
            " status, expires, challenges, token) VALUES "
            + ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"] * len(authzs)),
            rows,
        )
        await self.storage.execute(
            "INSERT INTO acme_orders (id, provisioner, account_id, status, expires, created, identifiers,"
            " not_before, not_after, replaces) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                order.id,
                order.provisioner,
                order.account_id,
                order.status,
                order.expires,
                order.created,
                _json(order.identifiers),
                order.not_before,
                order.not_after,
                order.replaces,
            ),
        )

    async def order(self, order_id: str) -> tuple[Order, list[OrderAuthz]] | None:
        """The order and its authorizations, in one joined query."""
        rows = await self.storage.fetch_all(
            f"SELECT {', '.join('o.' + c for c in _ORDER)},"
            " a.id, a.id_type, a.id_value, a.wildcard, a.status, a.expires, a.ch_error"
            " FROM acme_orders o LEFT JOIN acme_authz a ON a.order_id = o.id WHERE o.id = ?",
            (order_id,),
        )
        if not rows:
            return None
        n = len(_ORDER)
        authzs = [
            OrderAuthz(
                id=r[n],
                id_type=r[n + 1],
                value=("*." if r[n + 3] else "") + r[n + 2],
                status=r[n + 4],
                expires=int(r[n + 5]),
                error=r[n + 6],
            )
            for r in rows
            if r[n] is not None
        ]
        return _decode(Order, _ORDER, rows[0][:n]), authzs

    async def order_counts(
        self, acc_id: str, now: int, since: int
    ) -> tuple[int, int | None, int, int | None]:
        """For the limits: the account's pending orders and the first of them to expire, and its orders
        created after `since` and the oldest of them; one aggregate query over its recent orders."""
        row = await self.storage.fetch_one(
            "SELECT"
            " SUM(CASE WHEN status = 'pending' AND expires > ? THEN 1 ELSE 0 END),"
            " MIN(CASE WHEN status = 'pending' AND expires > ? THEN expires END),"
            " SUM(CASE WHEN created > ? THEN 1 ELSE 0 END),"
            " MIN(CASE WHEN created > ? THEN created END)"
            " FROM acme_orders WHERE account_id = ? AND (created > ? OR status = 'pending')",
            (now, now, since, since, acc_id, since),
        )
        pending, first_expiry, recent, oldest = row or (0, None, 0, None)
        return (
            int(pending or 0),
            int(first_expiry) if first_expiry is not None else None,
            int(recent or 0),
            int(oldest) if oldest is not None else None,
        )

    async def start_finalize(self, order_id: str) -> bool:
        """Claim a pending order for finalizing; False when another request has it."""
        n = await self.storage.execute(
            "UPDATE acme_orders SET status = 'processing' WHERE id = ? AND status = 'pending'", (order_id,)
        )
        return n == 1

    async def abandon_finalize(self, order_id: str) -> None:
        await self.storage.execute(
            "UPDATE acme_orders SET status = 'pending' WHERE id = ? AND status = 'processing'", (order_id,)
        )

    async def finish_order(
        self, order_id: str, cert_id: str, serial: str, chain_pem: str, not_after: int
    ) -> None:
        await self.storage.execute(
            "UPDATE acme_orders SET status = 'valid', cert_id = ?, cert_serial = ?, cert_chain = ?,"
            " cert_not_after = ? WHERE id = ?",
            (cert_id, serial, chain_pem, not_after, order_id),
        )

    async def certificate_chain(self, cert_id: str) -> tuple[str, str, str] | None:
        """(account id, PEM chain, provisioner) of an issued certificate."""
        row = await self.storage.fetch_one(
            "SELECT account_id, cert_chain, provisioner FROM acme_orders WHERE cert_id = ?", (cert_id,)
        )
        return (row[0], row[1], row[2]) if row else None

    async def certificate_account(self, serial: str, provisioner: str) -> str | None:
        """The account that ordered the certificate with this serial number through `provisioner`."""
        row = await self.storage.fetch_one(
            "SELECT account_id FROM acme_orders WHERE cert_serial = ? AND provisioner = ?",
            (serial, provisioner),
        )
        return row[0] if row else None

    async def replacing_order(self, cert_id: str, now: int) -> str | None:
        """The order (pending or valid) that already replaces the certificate with this ARI id."""
        row = await self.storage.fetch_one(
            "SELECT id FROM acme_orders WHERE replaces = ? AND status <> 'invalid' AND (status = 'valid' OR expires > ?)",
            (cert_id, now),
        )
        return row[0] if row else None

    # ---------------------------------------------------------------------------------- authorizations

    async def authz(self, authz_id: str, provisioner: str) -> Authz | None:
        row = await self.storage.fetch_one(
            f"SELECT {', '.join(_AUTHZ)} FROM acme_authz WHERE id = ? AND provisioner = ?",
            (authz_id, provisioner),
        )
        return _decode(Authz, _AUTHZ, row) if row else None

    async def deactivate_authz(self, authz: Authz, order_error: dict[str, Any]) -> None:
        await self.storage.execute_many(
            [
                (
                    "UPDATE acme_authz SET status = 'deactivated' WHERE id = ? AND status IN ('pending', 'valid')",
                    (authz.id,),
                ),
                (_INVALIDATE_ORDER, (_json(order_error), authz.order_id)),
            ]
        )

    async def valid_identifiers(self, acc_id: str, now: int) -> set[tuple[str, str]]:
        """(type, value) of the account's valid, unexpired authorizations."""
        rows = await self.storage.fetch_all(
            "SELECT id_type, id_value FROM acme_authz WHERE account_id = ? AND status = 'valid' AND expires > ?",
            (acc_id, now),
        )
        return {(r[0], r[1]) for r in rows}

    # ------------------------------------------------------------------------------ challenge validation

    async def start_challenge(self, authz_id: str, ch_type: str, now: int) -> bool:
        """Claim a pending authorization for one of its challenges; False when it is claimed already. The
        lease (`next_attempt`) starts now."""
        n = await self.storage.execute(
            "UPDATE acme_authz SET ch_type = ?, ch_status = 'processing', next_attempt = ?"
            " WHERE id = ? AND ch_type IS NULL AND status = 'pending'",
            (ch_type, now, authz_id),
        )
        return n == 1

    async def challenge_job(self, authz_id: str) -> ChallengeJob | None:
        row = await self.storage.fetch_one(
            "SELECT a.id_type, a.id_value, a.token, a.ch_type, a.ch_status, a.expires, acc.thumbprint"
            " FROM acme_authz a JOIN acme_accounts acc ON acc.id = a.account_id WHERE a.id = ?",
            (authz_id,),
        )
        if row is None:
            return None
        id_type, value, token, ch_type, ch_status, expires, tp = row
        return ChallengeJob(id_type, value, token, ch_type, ch_status, int(expires), tp)

    async def retry_challenge(self, authz_id: str, error: dict[str, Any], next_attempt: int) -> None:
        """Record a failed attempt and extend the lease to the next one."""
        await self.storage.execute(
            "UPDATE acme_authz SET ch_error = ?, next_attempt = ? WHERE id = ? AND ch_status = 'processing'",
            (_json(error), next_attempt, authz_id),
        )

    async def challenge_valid(self, authz_id: str, now: int) -> None:
        await self.storage.execute(
            "UPDATE acme_authz SET status = 'valid', ch_status = 'valid', ch_error = NULL, validated = ?"
            " WHERE id = ? AND ch_status = 'processing' AND status = 'pending'",
            (now, authz_id),
        )

    async def challenge_attested(self, authz_id: str, now: int, attestation: dict[str, Any]) -> None:
        """device-attest-01 is valid: the authorization keeps what the attestation vouches for."""
        await self.storage.execute(
            "UPDATE acme_authz SET status = 'valid', ch_status = 'valid', ch_error = NULL, validated = ?,"
            " attestation = ? WHERE id = ? AND ch_status = 'processing' AND status = 'pending'",
            (now, _json(attestation), authz_id),
        )

    async def order_attestation(self, order_id: str) -> dict[str, Any] | None:
        """The attestation of the order's valid device-attest-01 authorization, if it has one."""
        row = await self.storage.fetch_one(
            "SELECT attestation FROM acme_authz WHERE order_id = ? AND status = 'valid'"
            " AND attestation IS NOT NULL",
            (order_id,),
        )
        return orjson.loads(row[0]) if row else None

    async def authz_identifier(self, authz_id: str) -> tuple[str, str, str, bool] | None:
        """(order id, identifier type, value, wildcard) of an authorization."""
        row = await self.storage.fetch_one(
            "SELECT order_id, id_type, id_value, wildcard FROM acme_authz WHERE id = ?", (authz_id,)
        )
        return (row[0], row[1], row[2], bool(row[3])) if row else None

    async def challenge_invalid(
        self, authz_id: str, error: dict[str, Any], order_id: str, order_error: dict[str, Any]
    ) -> None:
        """The authorization fails with `error`, and its order with `order_error`."""
        await self.storage.execute_many(
            [
                (
                    "UPDATE acme_authz SET status = 'invalid', ch_status = 'invalid', ch_error = ?"
                    " WHERE id = ? AND ch_status = 'processing'",
                    (_json(error), authz_id),
                ),
                (_INVALIDATE_ORDER, (_json(order_error), order_id)),
            ]
        )

    async def stale_challenges(self, lease_before: int) -> list[tuple[str, str, str, int]]:
        """(authorization id, provisioner, challenge type, lease) of jobs whose lease ran out before
        `lease_before`."""
        rows = await self.storage.fetch_all(
            "SELECT id, provisioner, ch_type, next_attempt FROM acme_authz"
            f" WHERE ch_status = 'processing' AND next_attempt < ? LIMIT {RECOVER_BATCH}",
            (lease_before,),
        )
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    async def take_over_challenge(self, authz_id: str, lease: int, now: int) -> bool:
        """Renew a stale lease; True for the one instance whose update found it unchanged."""
        n = await self.storage.execute(
            "UPDATE acme_authz SET next_attempt = ? WHERE id = ? AND next_attempt = ?", (now, authz_id, lease)
        )
        return n == 1

    # -------------------------------------------------------------------------------------------- EAB

    async def eab_reference_taken(self, provisioner: str, reference: str) -> bool:
        row = await self.storage.fetch_one(
            "SELECT id FROM acme_eab_keys WHERE provisioner = ? AND reference = ?", (provisioner, reference)
        )
        return row is not None

    async def add_eab_key(self, key: EABKey) -> bool:
        """False when another key of the provisioner took the reference first (the unique index). The
        HMAC key is stored sealed (its id authenticated with it)."""
        if self.sealer is None:
            raise NotImplementedYet(
                "EAB keys cannot be added: this CA's key cannot seal them (they are never stored in the clear)"
            )
        sealed = self.sealer.seal(key.hmac_key.encode(), key.id)
        try:
            await self.storage.execute(
                "INSERT INTO acme_eab_keys (id, provisioner, reference, hmac_key, created) VALUES (?, ?, ?, ?, ?)",
                (key.id, key.provisioner, key.reference, sealed, key.created),
            )
        except Exception as e:
            if self.storage.is_unique_violation(e):
                return False
            raise
        return True

    async def eab_keys(self, provisioner: str, reference: str | None = None) -> list[EABKey]:
        if reference:
            rows = await self.storage.fetch_all(
                f"SELECT {', '.join(_EAB)} FROM acme_eab_keys WHERE provisioner = ? AND reference = ?"
                " ORDER BY created",
                (provisioner, reference),
            )
        else:
            rows = await self.storage.fetch_all(
                f"SELECT {', '.join(_EAB)} FROM acme_eab_keys WHERE provisioner = ? ORDER BY created",
                (provisioner,),
            )
        # A listing never carries the secret (it is shown once, when the key is made).
        return [evolve(_decode(EABKey, _EAB, r), hmac_key="") for r in rows]

    async def eab_key_created(self, provisioner: str, key_id: str) -> int | None:
        row = await self.storage.fetch_one(
            "SELECT created FROM acme_eab_keys WHERE id = ? AND provisioner = ?", (key_id, provisioner)
        )
        return int(row[0]) if row else None

    async def eab_keys_page(
        self, provisioner: str, start: tuple[int, str] | None, limit: int
    ) -> list[EABKey]:
        """Up to `limit` keys in creation order, from the key `start` (its created time and id) on."""
        where = "provisioner = ?"
        params: list[Any] = [provisioner]
        if start is not None:
            where += " AND (created > ? OR (created = ? AND id >= ?))"
            params += [start[0], start[0], start[1]]
        rows = await self.storage.fetch_all(
            f"SELECT {', '.join(_EAB)} FROM acme_eab_keys WHERE {where} ORDER BY created, id LIMIT ?",
            (*params, limit),
        )
        # A listing never carries the secret (it is shown once, when the key is made).
        return [evolve(_decode(EABKey, _EAB, r), hmac_key="") for r in rows]

    async def recent_accounts(self, limit: int) -> list[tuple[Any, ...]]:
        """The newest accounts for an admin's overview: (id, provisioner, status, contact, created, EAB key)."""
        return await self.storage.fetch_all(
            "SELECT id, provisioner, status, contact, created, eab_key_id FROM acme_accounts"
            " ORDER BY created DESC LIMIT ?",
            (limit,),
        )

    async def orders_in_flight(self, now: int, limit: int) -> list[tuple[Any, ...]]:
        """Orders not yet finished nor expired, newest first: (id, provisioner, account, status, identifiers,
        expires)."""
        return await self.storage.fetch_all(
            "SELECT id, provisioner, account_id, status, identifiers, expires FROM acme_orders"
            " WHERE status IN ('pending', 'ready', 'processing') AND expires > ? ORDER BY created DESC LIMIT ?",
            (now, limit),
        )

    async def remove_eab_key(self, provisioner: str, key_id: str) -> bool:
        n = await self.storage.execute(
            "DELETE FROM acme_eab_keys WHERE id = ? AND provisioner = ?", (key_id, provisioner)
        )
        return n == 1

    async def eab_secret(self, provisioner: str, key_id: str) -> tuple[str, str | None] | None:
        """(HMAC key, bound account) of an EAB key."""
        row = await self.storage.fetch_one(
            "SELECT hmac_key, account_id FROM acme_eab_keys WHERE id = ? AND provisioner = ?",
            (key_id, provisioner),
        )
        if not row:
            return None
        stored = str(row[0])
        if Sealer.is_sealed(stored):
            if self.sealer is None:
                raise RuntimeError("this AcmeStore has no sealer to open EAB keys with")
            try:
                stored = self.sealer.open(stored, key_id).decode()
            except ValueError:
                # Sealed under another intermediate key (the CA was re-keyed): this key cannot bind.
                return None
        # A key an earlier version stored in the clear is read as it is.
        return stored, row[1]

    async def bind_eab_key(self, key_id: str, account_id: str, now: int) -> bool:
        """Bind an unbound key; False when it is bound already (one account per key, across instances)."""
        n = await self.storage.execute(
            "UPDATE acme_eab_keys SET account_id = ?, bound_at = ? WHERE id = ? AND account_id IS NULL",
            (account_id, now, key_id),
        )
        return n == 1

    async def unbind_eab_key(self, key_id: str, account_id: str) -> None:
        await self.storage.execute(
            "UPDATE acme_eab_keys SET account_id = NULL, bound_at = NULL WHERE id = ? AND account_id = ?",
            (key_id, account_id),
        )

    # ------------------------------------------------------------------------------------ housekeeping

    async def sweep(self, now: int | None = None) -> dict[str, int]:
        """Delete expired nonces, orders and authorizations; returns how many of each."""
        now = int(now if now is not None else time.time())
        cutoff = now - KEEP_EXPIRED
        counts = {"nonces": await self.storage.execute("DELETE FROM acme_nonces WHERE expires < ?", (now,))}
        # Authorizations go with their order; a valid order (and its authorizations) lives as long as its
        # certificate, which its certificate URL and revocation-by-authorization need.
        counts["authorizations"] = await self.storage.execute(
            f"DELETE FROM acme_authz WHERE order_id IN (SELECT id FROM acme_orders WHERE {_DELETABLE_ORDER})",
            (cutoff, now),
        )
        counts["orders"] = await self.storage.execute(
            f"DELETE FROM acme_orders WHERE {_DELETABLE_ORDER}", (cutoff, now)
        )
        # Orphans (an order deleted between the two statements by another instance) follow later.
        counts["authorizations"] += await self.storage.execute(
            "DELETE FROM acme_authz WHERE expires < ? AND NOT EXISTS"
            " (SELECT 1 FROM acme_orders o WHERE o.id = acme_authz.order_id)",
            (cutoff,),
        )
        return counts
