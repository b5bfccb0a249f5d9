"""PostgreSQL engine (several CA instances sharing one database), through an asyncpg connection pool.

Every kernel write is one statement, so one round trip: a one-time token is recorded by a data-modifying
CTE of the statement that stores what it authorises (`WITH used AS (INSERT INTO used_tokens ...) INSERT
INTO x509_certs ...`). The statement commits or fails as a whole, and the primary key of `used_tokens` makes a
concurrent second use of the token on any instance wait for the first and then fail.

Statements are prepared once per connection (asyncpg's statement cache), and connections go back to the
pool without asyncpg's default reset query (another round trip per request): the engine never leaves
session state behind — no LISTEN, no SET, only transaction-scoped advisory locks.
"""

from __future__ import annotations

import contextlib
import functools
import getpass
import logging
import os
import time
import zlib
from collections.abc import AsyncIterator, Sequence
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import asyncpg

from plica.storage.base import (
    KERNEL_MIGRATIONS,
    AlreadyRevoked,
    IssuedCert,
    IssuedSSHCert,
    Revocation,
    Section,
    Storage,
    StorageError,
    TokenReused,
    UniqueViolation,
    backfill,
)
from plica.types import Migration

log = logging.getLogger("plica.storage")

# Instances starting together serialise their migrations on this transaction-scoped advisory lock.
MIGRATION_LOCK = zlib.crc32(b"plica.schema_migrations")
# dataSource options the engine reads itself (pgxpool's and libpq's names): asyncpg would otherwise send
# them to the server as settings, which it refuses.
POOL_OPTIONS = {"pool_min_conns": 1, "pool_max_conns": 10, "connect_timeout": 10}


def _classify(e: asyncpg.UniqueViolationError) -> StorageError:
    table = e.table_name or ""
    if table == "used_tokens":
        return TokenReused("token already used")
    if table in ("revoked_x509_certs", "revoked_ssh_certs"):
        return AlreadyRevoked("already revoked")
    # The message names the constraint; the DETAIL, which carries the row's values, stays out of it.
    return UniqueViolation(e.message)


@functools.lru_cache(maxsize=1024)
def translate(sql: str) -> str:
    """`?` placeholders → `$1..$n`, leaving alone any `?` inside string literals ('...', E'...',
    $tag$...$tag$), quoted identifiers and comments."""
    out: list[str] = []
    n = 0
    i, end = 0, len(sql)
    while i < end:
        c = sql[i]
        if c == "?":
            n += 1
            out.append(f"${n}")
            i += 1
            continue
        j = i + 1
        if c in "'\"":
            backslashes = c == "'" and i > 0 and sql[i - 1] in "eE" and not _ident_char(sql, i - 2)
            while j < end:
                if backslashes and sql[j] == "\\":
                    j += 2
                    continue
                if sql[j] == c:
                    if j + 1 < end and sql[j + 1] == c:  # doubled quote inside the literal
                        j += 2
                        continue
                    j += 1
                    break
                j += 1
        elif c == "-" and sql.startswith("--", i):
            nl = sql.find("\n", i)
            j = end if nl < 0 else nl
        elif c == "/" and sql.startswith("/*", i):
            depth, j = 1, i + 2
            while j < end and depth:
                if sql.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif sql.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
        elif c == "$" and not _ident_char(sql, i - 1):
            close = sql.find("$", i + 1)
            tag = sql[i : close + 1] if close > 0 else ""
            if tag and all(ch.isalnum() or ch == "_" for ch in tag[1:-1]) and not tag[1:2].isdigit():
                stop = sql.find(tag, close + 1)
                j = end if stop < 0 else stop + len(tag)
        out.append(sql[i:j])
        i = j
    return "".join(out)


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _ident_char(sql: str, k: int) -> bool:
    return k >= 0 and (sql[k].isalnum() or sql[k] in "_$")


def _rowcount(status: str) -> int:
    # "INSERT 0 3", "UPDATE 2", "DELETE 0", "SELECT 5"; DDL ("CREATE TABLE") changes no rows.
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


def redact(url: str) -> str:
    """`url` without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


async def _no_reset(_conn: asyncpg.Connection) -> None:
    """Pool reset hook: nothing to undo (see the module docstring); an open transaction is still rolled
    back by asyncpg itself."""


def _token(provisioner: str, used_at: str, token: str) -> str:
    """The CTE that spends the one-time token in the same statement as the row it authorises."""
    return (
        f"used AS (INSERT INTO used_tokens (id, provisioner, used_at) VALUES ({token}, {provisioner},"
        f" {used_at}))"
    )


def _statement(insert: str, *ctes: str) -> str:
    return f"WITH {', '.join(ctes)} {insert}" if ctes else insert


_X509 = (
    "INSERT INTO x509_certs (serial, der, provisioner_id, provisioner_name, provisioner_type, not_after,"
    " issued_at, token_id, names) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
)
_SSH = (
    "INSERT INTO ssh_certs (serial, cert, cert_type, key_id, provisioner_id, provisioner_name,"
    " provisioner_type, valid_before, issued_at, token_id, names)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
)
# A host certificate's principals ($12, each once) go in with it; a row already there is replaced, as SQLite's
# INSERT OR REPLACE does.
_HOSTS = (
    "hosts AS (INSERT INTO ssh_host_principals (principal, serial, valid_before)"
    " SELECT p, $1, $8 FROM unnest($12::text[]) AS p"
    " ON CONFLICT (principal, serial) DO UPDATE SET valid_before = EXCLUDED.valid_before)"
)
# Keyed by "has a token": the statement to run.
_STORE_X509 = {False: _X509, True: _statement(_X509, _token("$3", "$7", "$8"))}
# Keyed by (has a token, has host principals).
_STORE_SSH = {
    (tok, hosts): _statement(
        _SSH, *([_token("$5", "$9", "$10")] if tok else []), *([_HOSTS] if hosts else [])
    )
    for tok in (False, True)
    for hosts in (False, True)
}


@functools.lru_cache(maxsize=8)
def _revoke_sql(insert: str, has_token: bool) -> str:
    """A revocation's INSERT (`Revocation.insert`: provisioner $2, time $5, token $6), spending the token
    in the same statement when there is one."""
    sql = translate(insert)
    return _statement(sql, _token("$2", "$5", "$6")) if has_token else sql


class _Section:
    """Statements inside `PostgresStorage.exclusive`, on the connection that holds the advisory lock."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        try:
            return _rowcount(await self.conn.execute(translate(sql), *params))
        except asyncpg.UniqueViolationError as e:
            raise _classify(e) from None

    async def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        row = await self.conn.fetchrow(translate(sql), *params)
        return tuple(row) if row is not None else None

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in await self.conn.fetch(translate(sql), *params)]


class PostgresStorage(Storage):
    engine = "postgresql"

    def __init__(self, data_source: str) -> None:
        parts = urlsplit(data_source)
        if parts.scheme not in ("postgresql", "postgres") or not parts.netloc:
            raise StorageError(
                "dataSource must be a PostgreSQL URL such as postgresql://user@127.0.0.1:5432/plica"
            )
        try:
            parts.port  # noqa: B018 -- raises on a port that is not a number
        except ValueError:
            raise StorageError(f"dataSource {redact(data_source)} has an invalid port") from None
        query: list[tuple[str, str]] = []
        pool: dict[str, int] = dict(POOL_OPTIONS)
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            if key in POOL_OPTIONS:
                if not value.isdigit() or not 1 <= int(value) <= 1000:
                    raise StorageError(f"dataSource option {key} must be a number from 1 to 1000")
                pool[key] = int(value)
            else:
                query.append((key, value))
        if pool["pool_min_conns"] > pool["pool_max_conns"]:
            raise StorageError("dataSource option pool_min_conns must not exceed pool_max_conns")
        self.min_size, self.max_size = pool["pool_min_conns"], pool["pool_max_conns"]
        self.connect_timeout = pool["connect_timeout"]
        self.dsn = urlunsplit(parts._replace(query=urlencode(query)))
        self.settings = (
            {} if any(k == "application_name" for k, _ in query) else {"application_name": "plica"}
        )
        self._pool: asyncpg.Pool | None = None

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StorageError("storage is not open")
        return self._pool

    async def open(self) -> None:
        try:
            try:
                self._pool = await self._create_pool()
            except asyncpg.InvalidCatalogNameError:
                # As step-ca does (and as SQLite creates its file): a database that does not exist yet is
                # created, so a new deployment needs only a server and a user allowed to create one.
                await self._create_database()
                self._pool = await self._create_pool()
        except (OSError, TimeoutError, ValueError, asyncpg.PostgresError, asyncpg.InterfaceError) as e:
            raise StorageError(f"cannot connect to PostgreSQL at {redact(self.dsn)}: {e}") from None

    async def _create_pool(self) -> asyncpg.Pool:
        return await asyncpg.create_pool(
            self.dsn,
            min_size=self.min_size,
            max_size=self.max_size,
            reset=_no_reset,
            timeout=self.connect_timeout,
            server_settings=self.settings,
        )

    async def _create_database(self) -> None:
        name = self.database
        parts = urlsplit(self.dsn)
        # Connected to a maintenance database, not to template1: CREATE DATABASE copies template1 and fails
        # while another session (another instance creating the same database) is connected to it.
        for maintenance in ("postgres", "template1"):
            try:
                conn = await asyncpg.connect(
                    urlunsplit(parts._replace(path="/" + maintenance)),
                    timeout=self.connect_timeout,
                    server_settings=self.settings,
                )
            except asyncpg.InvalidCatalogNameError:
                continue
            try:
                await conn.execute(f"CREATE DATABASE {quote_ident(name)}")
                log.info("created PostgreSQL database %s", name)
            except (asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
                pass  # another instance created it first
            except asyncpg.PostgresError as e:
                raise StorageError(
                    f"PostgreSQL database {name!r} does not exist and cannot be created: {e}"
                ) from None
            finally:
                await conn.close()
            return
        raise StorageError(
            f"PostgreSQL database {name!r} does not exist and there is no database to create it from"
        )

    @property
    def database(self) -> str:
        """The database the dataSource names, by libpq's rules (URL path, dbname, PGDATABASE, the user)."""
        parts = urlsplit(self.dsn)
        query = dict(parse_qsl(parts.query))
        return (
            unquote(parts.path.lstrip("/"))
            or query.get("dbname")
            or query.get("database")
            or os.environ.get("PGDATABASE")
            or unquote(parts.username or "")
            or query.get("user")
            or os.environ.get("PGUSER")
            or getpass.getuser()
        )

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    async def migrate(self, migrations: Sequence[Migration]) -> list[str]:
        pending = [*KERNEL_MIGRATIONS, *migrations]
        for m in pending:
            if "postgresql" not in m.sql:
                raise StorageError(f"migration {m.id!r} has no PostgreSQL statements")
        applied: list[str] = []
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (id TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)"
            )
            done = {r[0] for r in await conn.fetch("SELECT id FROM schema_migrations")}
            for m in pending:
                if m.id in done:
                    continue
                for stmt in m.sql["postgresql"]:
                    await conn.execute(stmt)
                await backfill(
                    m.id,
                    lambda sql, args: conn.fetch(translate(sql), *args),
                    lambda sql, rows: conn.executemany(translate(sql), rows),
                )
                await conn.execute(
                    "INSERT INTO schema_migrations (id, applied_at) VALUES ($1, $2)", m.id, int(time.time())
                )
                done.add(m.id)
                applied.append(m.id)
        return applied

    async def _write(self, sql: str, *args: Any) -> int:
        try:
            return _rowcount(await self.pool.execute(sql, *args))
        except asyncpg.UniqueViolationError as e:
            raise _classify(e) from None

    # ---- certificates
    async def store_x509(self, cert: IssuedCert, *, token_id: str | None) -> None:
        await self._write(_STORE_X509[token_id is not None], *cert.row(int(time.time()), token_id))

    async def get_x509(self, serial: str) -> IssuedCert | None:
        row = await self.pool.fetchrow(
            "SELECT serial, der, provisioner_id, provisioner_name, provisioner_type, not_after, names"
            " FROM x509_certs WHERE serial = $1",
            serial,
        )
        return IssuedCert(*row) if row is not None else None

    async def is_x509_revoked(self, serial: str) -> bool:
        return (
            await self.pool.fetchval("SELECT 1 FROM revoked_x509_certs WHERE serial = $1", serial) is not None
        )

    async def _store_ssh(self, cert: IssuedSSHCert, *, token_id: str | None, now: int) -> None:
        args: list[Any] = list(cert.row(now, token_id))
        hosts = cert.cert_type == "host" and bool(cert.principals)
        if hosts:
            # ON CONFLICT may touch a row once per statement: each name once.
            args.append(list(dict.fromkeys(cert.principals)))
        await self._write(_STORE_SSH[token_id is not None, hosts], *args)

    async def _revoke(self, revocation: Revocation, token_id: str | None) -> None:
        await self._write(
            _revoke_sql(revocation.insert(), token_id is not None), *revocation.params(token_id)
        )

    async def is_ssh_revoked(self, serial: str) -> bool:
        return (
            await self.pool.fetchval("SELECT 1 FROM revoked_ssh_certs WHERE serial = $1", serial) is not None
        )

    async def ssh_host_exists(self, principal: str, now: int) -> bool:
        row = await self.pool.fetchval(
            "SELECT 1 FROM ssh_host_principals h WHERE h.principal = $1 AND h.valid_before > $2"
            " AND NOT EXISTS (SELECT 1 FROM revoked_ssh_certs r WHERE r.serial = h.serial) LIMIT 1",
            principal,
            now,
        )
        return row is not None

    async def use_token(self, token_id: str, provisioner_id: str, now: int) -> None:
        await self._write(
            "INSERT INTO used_tokens (id, provisioner, used_at) VALUES ($1, $2, $3)",
            token_id,
            provisioner_id,
            now,
        )

    # ---- generic access for plugins' own tables
    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return await self._write(translate(sql), *params)

    async def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        row = await self.pool.fetchrow(translate(sql), *params)
        return tuple(row) if row is not None else None

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in await self.pool.fetch(translate(sql), *params)]

    async def execute_many(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                for sql, params in statements:
                    await conn.execute(translate(sql), *params)
        except asyncpg.UniqueViolationError as e:
            raise _classify(e) from None

    def is_unique_violation(self, exc: BaseException) -> bool:
        return isinstance(exc, (TokenReused, AlreadyRevoked, UniqueViolation, asyncpg.UniqueViolationError))

    @contextlib.asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[Section]:
        # A transaction-scoped advisory lock: released by the commit or rollback, or by the server when the
        # connection dies, so no instance can leave it held.
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", exclusive_lock_id(name))
            yield _Section(conn)


def exclusive_lock_id(name: str) -> int:
    """The advisory lock key (a bigint) of an exclusive section."""
    return zlib.crc32(b"plica.exclusive." + name.encode())
