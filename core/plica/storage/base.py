"""The storage interface every engine implements, and the kernel's schema.

Writes that must be atomic with a one-time token are single calls (`store_x509(..., token_id=...)`): the
engine records the token and the row in one statement/transaction, so a replay fails on every instance
sharing the database and a failed request leaves nothing behind.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Literal, Protocol

from attrs import Factory, field, frozen

from plica.storage.names import joined, ssh_backfill, x509_backfill, x509_column, x509_names_of_der
from plica.types import Migration


class StorageError(Exception):
    pass


class TokenReused(StorageError):
    """The one-time token id is already recorded."""


class AlreadyRevoked(StorageError):
    pass


class UniqueViolation(StorageError):
    """A unique constraint of a plugin's own table refused the row (both engines raise this)."""


@frozen
class IssuedCert:
    serial: str
    der: bytes
    provisioner_id: str
    provisioner_name: str
    provisioner_type: str
    not_after: int
    # What the inventory's name filter searches (plica.storage.names); issuance passes it from the
    # certificate it already holds, anything else gets it from the DER.
    names: str = field(
        default=Factory(lambda self: x509_column(*x509_names_of_der(self.der)), takes_self=True)
    )

    def row(self, issued_at: int, token_id: str | None) -> tuple[Any, ...]:
        """Its `x509_certs` row, in the table's column order (spelt out: this is /sign's hot path)."""
        return (
            self.serial,
            self.der,
            self.provisioner_id,
            self.provisioner_name,
            self.provisioner_type,
            self.not_after,
            issued_at,
            token_id,
            self.names,
        )


@frozen
class IssuedSSHCert:
    """An issued SSH certificate as stored; a host certificate's principals are indexed for check-host."""

    serial: str
    cert: bytes
    cert_type: str
    key_id: str
    principals: Sequence[str]
    provisioner_id: str
    provisioner_name: str
    provisioner_type: str
    valid_before: int

    def row(self, issued_at: int, token_id: str | None) -> tuple[Any, ...]:
        """Its `ssh_certs` row, in the table's column order (the principals have a table of their own)."""
        return (
            self.serial,
            self.cert,
            self.cert_type,
            self.key_id,
            self.provisioner_id,
            self.provisioner_name,
            self.provisioner_type,
            self.valid_before,
            issued_at,
            token_id,
            joined((self.key_id, *self.principals)),
        )


RevokedKind = Literal["x509", "ssh"]


@frozen
class Revocation:
    """A passive revocation as stored; `mtls` (X.509 only): the certificate itself asked for it."""

    kind: RevokedKind
    serial: str
    provisioner_id: str
    reason_code: int
    reason: str
    revoked_at: int
    mtls: bool = False

    def insert(self) -> str:
        """Its INSERT into `revoked_<kind>_certs`, with `?` placeholders for `params`: the token id is the
        sixth (an engine records the token from the same statement)."""
        columns = ["serial", "provisioner_id", "reason_code", "reason", "revoked_at", "token_id"]
        if self.kind == "x509":
            columns.append("mtls")
        marks = ", ".join("?" for _ in columns)
        return f"INSERT INTO revoked_{self.kind}_certs ({', '.join(columns)}) VALUES ({marks})"

    def params(self, token_id: str | None) -> tuple[Any, ...]:
        out = (self.serial, self.provisioner_id, self.reason_code, self.reason, self.revoked_at, token_id)
        return (*out, self.mtls) if self.kind == "x509" else out


def _revoked_table(kind: RevokedKind, *extra_columns: str) -> str:
    """The revocations of one kind of certificate (`revoked_x509_certs`, `revoked_ssh_certs`)."""
    extra = "".join(f"\n        {c}," for c in extra_columns)
    return f"""CREATE TABLE IF NOT EXISTS revoked_{kind}_certs (
        serial TEXT PRIMARY KEY,
        provisioner_id TEXT NOT NULL,
        reason_code INTEGER NOT NULL,
        reason TEXT NOT NULL,
        revoked_at BIGINT NOT NULL,{extra}
        token_id TEXT)"""


# Kernel schema. Serials are decimal strings (step's keys); times are Unix seconds.
# Each ("sqlite", "postgresql") list holds portable statements except where the engines differ.
_COMMON = [
    """CREATE TABLE IF NOT EXISTS used_tokens (
        id TEXT PRIMARY KEY,
        provisioner TEXT NOT NULL,
        used_at BIGINT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS x509_certs (
        serial TEXT PRIMARY KEY,
        der BYTEA NOT NULL,
        provisioner_id TEXT NOT NULL,
        provisioner_name TEXT NOT NULL,
        provisioner_type TEXT NOT NULL,
        not_after BIGINT NOT NULL,
        issued_at BIGINT NOT NULL,
        token_id TEXT)""",
    _revoked_table("x509", "mtls BOOLEAN NOT NULL"),
    """CREATE TABLE IF NOT EXISTS ssh_certs (
        serial TEXT PRIMARY KEY,
        cert BYTEA NOT NULL,
        cert_type TEXT NOT NULL,
        key_id TEXT NOT NULL,
        provisioner_id TEXT NOT NULL,
        provisioner_name TEXT NOT NULL,
        provisioner_type TEXT NOT NULL,
        valid_before BIGINT NOT NULL,
        issued_at BIGINT NOT NULL,
        token_id TEXT)""",
    _revoked_table("ssh"),
    """CREATE TABLE IF NOT EXISTS ssh_host_principals (
        principal TEXT NOT NULL,
        serial TEXT NOT NULL,
        valid_before BIGINT NOT NULL,
        PRIMARY KEY (principal, serial))""",
]

_PROVISIONER_TABLES = [
    """CREATE TABLE IF NOT EXISTS provisioners (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        type TEXT NOT NULL,
        block TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        seq BIGINT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS config_state (
        id INTEGER PRIMARY KEY,
        version BIGINT NOT NULL,
        migrated BIGINT NOT NULL)""",
    "INSERT INTO config_state (id, version, migrated) VALUES (1, 0, 0)",
    "CREATE INDEX IF NOT EXISTS x509_certs_not_after ON x509_certs (not_after)",
    "CREATE INDEX IF NOT EXISTS x509_certs_provisioner ON x509_certs (provisioner_name, not_after)",
]

_NAMES_COLUMNS = [
    "ALTER TABLE x509_certs ADD COLUMN names TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE ssh_certs ADD COLUMN names TEXT NOT NULL DEFAULT ''",
]

KERNEL_MIGRATIONS = [
    Migration(
        id="kernel-0001",
        sql={
            "sqlite": [s.replace("BYTEA", "BLOB") for s in _COMMON]
            + [
                # The one-time token is recorded by the same statement that stores the row (SQLite runs
                # triggers inside the statement), so certificate and token commit together in one hop.
                f"""CREATE TRIGGER IF NOT EXISTS {table}_token AFTER INSERT ON {table}
                    WHEN NEW.token_id IS NOT NULL BEGIN
                    INSERT INTO used_tokens (id, provisioner, used_at)
                    VALUES (NEW.token_id, NEW.provisioner_id, {ts}); END"""
                for table, ts in (
                    ("x509_certs", "NEW.issued_at"),
                    ("revoked_x509_certs", "NEW.revoked_at"),
                    ("ssh_certs", "NEW.issued_at"),
                    ("revoked_ssh_certs", "NEW.revoked_at"),
                )
            ],
            "postgresql": list(_COMMON),
        },
    ),
    # Admins of the admin API (plica.admin): a subject bound to a provisioner, as step-ca's linkedca.Admin.
    Migration(
        id="kernel-0002",
        sql={
            engine: [
                """CREATE TABLE IF NOT EXISTS admins (
                    id TEXT PRIMARY KEY,
                    subject TEXT NOT NULL,
                    provisioner_name TEXT NOT NULL,
                    type TEXT NOT NULL CHECK (type IN ('ADMIN', 'SUPER_ADMIN')),
                    created_at BIGINT NOT NULL,
                    UNIQUE (subject, provisioner_name))"""
            ]
            for engine in ("sqlite", "postgresql")
        },
    ),
    # Provisioners in the database (authority.enableAdmin, plica.admin.provstore): each row holds the
    # provisioner's ca.json block. `config_state.version` counts provisioner changes: the triggers bump
    # it inside the transaction that changes a row (so a failed write bumps nothing), and every instance
    # polls that one row to reload (plica.admin.sync). Indexes serve GET /admin/certificates.
    Migration(
        id="kernel-0003",
        sql={
            "sqlite": [
                *_PROVISIONER_TABLES,
                *(
                    f"""CREATE TRIGGER IF NOT EXISTS provisioners_{op.lower()} AFTER {op} ON provisioners
                    BEGIN UPDATE config_state SET version = version + 1 WHERE id = 1; END"""
                    for op in ("INSERT", "UPDATE", "DELETE")
                ),
            ],
            "postgresql": [
                *_PROVISIONER_TABLES,
                """CREATE OR REPLACE FUNCTION plica_provisioners_changed() RETURNS trigger AS $$
                BEGIN UPDATE config_state SET version = version + 1 WHERE id = 1; RETURN NULL; END
                $$ LANGUAGE plpgsql""",
                """CREATE TRIGGER provisioners_changed AFTER INSERT OR UPDATE OR DELETE ON provisioners
                FOR EACH ROW EXECUTE FUNCTION plica_provisioners_changed()""",
            ],
        },
    ),
    # The current CRL (plica.x509.crl): one row, so that every instance serves the same one.
    Migration(
        id="kernel-crl-0001",
        sql={
            engine: [
                f"""CREATE TABLE IF NOT EXISTS crl (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    number BIGINT NOT NULL,
                    this_update BIGINT NOT NULL,
                    next_update BIGINT NOT NULL,
                    params TEXT NOT NULL,
                    der {blob} NOT NULL)"""
            ]
            for engine, blob in (("sqlite", "BLOB"), ("postgresql", "BYTEA"))
        },
    ),
    # Each certificate's searchable names (plica.storage.names), written with the certificate, so the
    # inventory's name filter is a LIKE on this narrow column. Rows stored before are filled in once by
    # KERNEL_BACKFILLS. SQLite scans the index (expiry order, names) rather than the wide rows; PostgreSQL
    # uses a trigram index when pg_trgm can be had (a plain scan of the column otherwise).
    Migration(
        id="kernel-0004",
        sql={
            "sqlite": [
                *_NAMES_COLUMNS,
                "CREATE INDEX IF NOT EXISTS x509_certs_names ON x509_certs (not_after, serial, names)",
                "CREATE INDEX IF NOT EXISTS ssh_certs_names ON ssh_certs (valid_before, serial, names)",
            ],
            "postgresql": [
                *_NAMES_COLUMNS,
                # The extension is optional: without it (not installed, or not ours to create) nothing fails.
                """DO $$ BEGIN CREATE EXTENSION IF NOT EXISTS pg_trgm;
                EXCEPTION WHEN OTHERS THEN RAISE NOTICE 'pg_trgm unavailable: %', SQLERRM; END $$""",
                # The operator class is named with the extension's schema: it need not be on search_path.
                """DO $$ DECLARE s name; BEGIN
                SELECT extnamespace::regnamespace::name INTO s FROM pg_extension WHERE extname = 'pg_trgm';
                IF s IS NOT NULL THEN
                EXECUTE format('CREATE INDEX IF NOT EXISTS x509_certs_names ON x509_certs'
                    ' USING gin (names %I.gin_trgm_ops)', s);
                EXECUTE format('CREATE INDEX IF NOT EXISTS ssh_certs_names ON ssh_certs'
                    ' USING gin (names %I.gin_trgm_ops)', s);
                END IF;
                EXCEPTION WHEN OTHERS THEN RAISE NOTICE 'no trigram index: %', SQLERRM; END $$""",
            ],
        },
    ),
]


@frozen
class Backfill:
    """Rows a kernel migration fills in from Python (`?` placeholders): `select` reads a batch of rows
    after a serial (ordered by serial, LIMIT ?), `compute` turns them into `update`'s parameters."""

    select: str
    compute: Callable[[list[tuple[Any, ...]]], list[tuple[Any, ...]]]
    update: str


# Run by each engine right after the migration's statements, in the same transaction.
KERNEL_BACKFILLS = {
    "kernel-0004": [
        Backfill(
            "SELECT serial, der FROM x509_certs WHERE serial > ? ORDER BY serial LIMIT ?",
            x509_backfill,
            "UPDATE x509_certs SET names = ? WHERE serial = ?",
        ),
        Backfill(
            "SELECT serial, cert, key_id FROM ssh_certs WHERE serial > ? ORDER BY serial LIMIT ?",
            ssh_backfill,
            "UPDATE ssh_certs SET names = ? WHERE serial = ?",
        ),
    ]
}
BACKFILL_BATCH = 2000


async def backfill(
    migration_id: str,
    fetch: Callable[[str, Sequence[Any]], Awaitable[Iterable[Any]]],
    update_many: Callable[[str, list[tuple[Any, ...]]], Awaitable[Any]],
) -> None:
    """Run a kernel migration's backfills through an engine's own calls, a batch at a time."""
    for b in KERNEL_BACKFILLS.get(migration_id, []):
        after = ""
        while rows := list(await fetch(b.select, (after, BACKFILL_BATCH))):
            await update_many(b.update, b.compute(rows))
            after = rows[-1][0]


class Section(Protocol):
    """The statements of an exclusive section (`Storage.exclusive`): they run in its one transaction."""

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int: ...

    async def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None: ...

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...


class Storage(abc.ABC):
    """Async storage. One instance per worker process; engines are safe for concurrent awaits."""

    engine: str  # "sqlite" or "postgresql"
    # Called with the serial once an X.509 revocation is committed (the authority's CRL, generateOnRevoke).
    after_x509_revoke: Callable[[str], Awaitable[None]] | None = None

    @abc.abstractmethod
    async def open(self) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def migrate(self, migrations: Sequence[Migration]) -> list[str]:
        """Apply migrations not yet applied (kernel's first, then plugins'); return the ids applied."""

    # ---- certificates
    @abc.abstractmethod
    async def store_x509(self, cert: IssuedCert, *, token_id: str | None) -> None:
        """Store an issued certificate; with `token_id`, record it as used in the same transaction.
        Raises TokenReused if the token was used before (nothing is stored then)."""

    @abc.abstractmethod
    async def get_x509(self, serial: str) -> IssuedCert | None: ...

    async def revoke_x509(
        self,
        serial: str,
        *,
        provisioner_id: str,
        reason_code: int,
        reason: str,
        mtls: bool,
        token_id: str | None,
        now: int,
    ) -> None:
        """Record a passive revocation. AlreadyRevoked / TokenReused as appropriate, nothing half-written."""
        await self._revoke(
            Revocation("x509", serial, provisioner_id, reason_code, reason, now, mtls), token_id
        )
        if self.after_x509_revoke is not None:
            await self.after_x509_revoke(serial)

    @abc.abstractmethod
    async def is_x509_revoked(self, serial: str) -> bool: ...

    async def store_ssh(
        self,
        *,
        serial: str,
        cert: bytes,
        cert_type: str,
        key_id: str,
        principals: Sequence[str],
        provisioner_id: str,
        provisioner_name: str,
        provisioner_type: str,
        valid_before: int,
        token_id: str | None,
        now: int,
    ) -> None:
        """Store an issued SSH certificate (a host certificate's principals with it); with `token_id`, record
        it as used in the same transaction. TokenReused if the token was used before (nothing is stored)."""
        issued = IssuedSSHCert(
            serial=serial,
            cert=cert,
            cert_type=cert_type,
            key_id=key_id,
            principals=principals,
            provisioner_id=provisioner_id,
            provisioner_name=provisioner_name,
            provisioner_type=provisioner_type,
            valid_before=valid_before,
        )
        await self._store_ssh(issued, token_id=token_id, now=now)

    async def revoke_ssh(
        self,
        serial: str,
        *,
        provisioner_id: str,
        reason_code: int,
        reason: str,
        token_id: str | None,
        now: int,
    ) -> None:
        """Record a passive revocation of an SSH certificate, as `revoke_x509`."""
        await self._revoke(Revocation("ssh", serial, provisioner_id, reason_code, reason, now), token_id)

    @abc.abstractmethod
    async def is_ssh_revoked(self, serial: str) -> bool: ...

    @abc.abstractmethod
    async def ssh_host_exists(self, principal: str, now: int) -> bool: ...

    @abc.abstractmethod
    async def use_token(self, token_id: str, provisioner_id: str, now: int) -> None:
        """Record a one-time token on its own (operations that store nothing else). TokenReused if used."""

    # ---- what each engine writes its own way
    @abc.abstractmethod
    async def _store_ssh(self, cert: IssuedSSHCert, *, token_id: str | None, now: int) -> None: ...

    @abc.abstractmethod
    async def _revoke(self, revocation: Revocation, token_id: str | None) -> None:
        """Insert the revocation (and spend the token) in one statement or transaction."""

    # ---- generic access for plugins' own tables (placeholders are `?`; engines translate)
    @abc.abstractmethod
    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; return the number of rows changed."""

    @abc.abstractmethod
    async def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None: ...

    @abc.abstractmethod
    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    @abc.abstractmethod
    async def execute_many(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
        """Run several statements in one transaction (all or nothing)."""

    @abc.abstractmethod
    def exclusive(self, name: str) -> AbstractAsyncContextManager[Section]:
        """One transaction that only one holder at a time, across every process and instance sharing the
        database, may be in for `name` (a CRL's generation): later callers wait. It commits when the block
        ends and rolls back when it raises. Reads in it see everything committed before it began."""

    def is_unique_violation(self, exc: BaseException) -> bool:
        """True if `exc` (raised by execute*) is a unique-constraint violation, for plugins' own tables."""
        return isinstance(exc, TokenReused | AlreadyRevoked | UniqueViolation)
