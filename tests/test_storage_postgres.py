"""The PostgreSQL engine against a real server: the storage contract of tests/test_storage.py (one-time tokens
recorded atomically with what they authorise, revocations, SSH host principals, migrations), races between
engines (each engine is its own connection pool, as each `plica start` instance is), one round trip per
certificate counted on the wire, and two `plica start` instances sharing one database.

Needs PostgreSQL on 127.0.0.1:5432 with trust auth for `postgres` (or PLICA_TEST_POSTGRES, a URL of a
database whose user may CREATE DATABASE). The module runs in a database of its own, created here and
dropped afterwards; each test works in a fresh schema of it (`search_path` in the dataSource).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
import struct
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import pytest
from attrs import evolve
from cryptography import x509

from plica.storage import AlreadyRevoked, StorageError, TokenReused, open_storage
from plica.storage.base import IssuedCert
from plica.testing import (
    POSTGRES_ADMIN_URL,
    Api,
    CAFiles,
    admin_key,
    csr_pem,
    ec_key,
    free_port,
    make_ca,
    make_csr,
    plica_cli,
    postgres_database,
    postgres_listening,
    stop,
    wait_healthy,
    write_leaf,
)
from plica.types import Migration

asyncpg = pytest.importorskip("asyncpg", reason="asyncpg (the `postgres` extra) is not installed")

from plica.storage.postgres import PostgresStorage, redact, translate  # noqa: E402

ADMIN_URL = POSTGRES_ADMIN_URL
NOW = 1_700_000_000


if not postgres_listening():
    pytest.skip(
        f"nothing listens at {redact(ADMIN_URL)} (start PostgreSQL, e.g. "
        "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`)",
        allow_module_level=True,
    )


def with_db(url: str, db: str, **query: str | int) -> str:
    parts = urlsplit(url)
    q = "&".join([*(p for p in parts.query.split("&") if p), *(f"{k}={v}" for k, v in query.items())])
    return urlunsplit(parts._replace(path="/" + db, query=q))


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    """A database of this module's own: its URL."""
    with postgres_database() as url:
        yield url


@pytest.fixture
async def pg_url(database: str) -> str:
    """A fresh, empty schema of the module's database: the dataSource that puts an engine in it."""
    schema = f"t_{secrets.token_hex(6)}"
    conn = await asyncpg.connect(database)
    try:
        await conn.execute(f"CREATE SCHEMA {schema}")
    finally:
        await conn.close()
    return with_db(database, urlsplit(database).path.lstrip("/"), search_path=schema)


async def opened(url: str) -> PostgresStorage:
    s = PostgresStorage(url)
    await s.open()
    await s.migrate([])
    return s


@pytest.fixture
async def db(pg_url: str) -> AsyncIterator[PostgresStorage]:
    s = await opened(pg_url)
    yield s
    await s.close()


@pytest.fixture
async def raw(pg_url: str) -> AsyncIterator[Any]:
    """A plain asyncpg connection to the same schema: what another instance would see."""
    conn = await asyncpg.connect(pg_url)
    yield conn
    await conn.close()


async def count(conn: Any, table: str, where: str = "TRUE", *params: Any) -> int:
    return await conn.fetchval(f"SELECT COUNT(*) FROM {table} WHERE {where}", *params)


def cert(serial: str, prov: str = "jwk/admin") -> IssuedCert:
    return IssuedCert(serial, b"\x30\x03\x02\x01\x01", prov, "admin", "JWK", NOW + 3600)


async def store_host(db: PostgresStorage, serial: str, principals: list[str], valid_before: int,
                     token_id: str | None = None) -> None:  # fmt: skip
    await db.store_ssh(serial=serial, cert=b"c", cert_type="host", key_id="h", principals=principals,
                       provisioner_id="jwk/admin", provisioner_name="admin", provisioner_type="JWK",
                       valid_before=valid_before, token_id=token_id, now=NOW)  # fmt: skip


# ============================================================================== placeholders


def test_placeholders_are_numbered_outside_quotes_and_comments() -> None:
    assert translate("SELECT a FROM t WHERE b = ? AND c IN (?, ?)") == (
        "SELECT a FROM t WHERE b = $1 AND c IN ($2, $3)"
    )
    # Quoted literals and identifiers, doubled quotes, E'' escapes, dollar quotes and comments keep `?`.
    assert translate("SELECT 'a?''?', \"q?\", ? -- why?\n, ?") == "SELECT 'a?''?', \"q?\", $1 -- why?\n, $2"
    assert translate(r"SELECT E'it\'s ?', ?") == r"SELECT E'it\'s ?', $1"
    assert translate("SELECT $$?$$, $tag$ ? $$ ? $tag$, ? /* ? /* ? */ ? */ , ?") == (
        "SELECT $$?$$, $tag$ ? $$ ? $tag$, $1 /* ? /* ? */ ? */ , $2"
    )
    # A backslash ends nothing in a standard string; `$1` already numbered is not a dollar quote.
    assert translate("SELECT 'a\\', ?, col$x, $1") == "SELECT 'a\\', $1, col$x, $1"
    assert translate("SELECT 1") == "SELECT 1"


async def test_plugin_statements_with_question_marks_in_literals(db: PostgresStorage) -> None:
    await db.execute("CREATE TABLE notes (k TEXT PRIMARY KEY, v TEXT NOT NULL, n BIGINT)")
    await db.execute("INSERT INTO notes (k, v, n) VALUES (?, 'why? because', ?)", ("a", 7))
    assert await db.fetch_one("SELECT v, n, 'x?' FROM notes WHERE k = ?", ("a",)) == ("why? because", 7, "x?")
    assert await db.fetch_all("SELECT k FROM notes WHERE n > ? ORDER BY k", (1,)) == [("a",)]
    assert await db.fetch_one("SELECT k FROM notes WHERE k = ?", ("zz",)) is None
    assert await db.execute("UPDATE notes SET n = n + 1 WHERE k IN (?, ?)", ("a", "b")) == 1


# ============================================================================== migrations


async def test_migrations_apply_once_kernel_first(pg_url: str, raw: Any) -> None:
    s = PostgresStorage(pg_url)
    await s.open()
    mine = Migration(
        id="example-0001",
        sql={"sqlite": ["CREATE TABLE example (k TEXT PRIMARY KEY, v BLOB)"],
             "postgresql": ["CREATE TABLE example (k TEXT PRIMARY KEY, v BYTEA)"]},
    )  # fmt: skip
    assert await s.migrate([mine]) == [
        "kernel-0001",
        "kernel-0002",
        "kernel-0003",
        "kernel-crl-0001",
        "kernel-0004",
        "example-0001",
    ]
    assert await s.migrate([mine]) == []
    await s.execute("INSERT INTO example (k, v) VALUES (?, ?)", ("a", b"\x00\x01"))
    assert await s.fetch_all("SELECT k, v FROM example") == [("a", b"\x00\x01")]
    # A failing migration leaves nothing of itself behind (and the ones before it in the batch neither).
    second = Migration(id="second-0001", sql={"postgresql": ["CREATE TABLE second (x INT)"]})
    broken = Migration(id="broken-0001", sql={"postgresql": ["CREATE TABLE half (x INT)", "NOT SQL"]})
    with pytest.raises(asyncpg.PostgresSyntaxError):
        await s.migrate([mine, second, broken])
    for table in ("half", "second"):
        assert await raw.fetchval("SELECT to_regclass($1)", table) is None
    assert await count(raw, "schema_migrations") == 6
    # A plugin that ships no PostgreSQL statements is refused by name, not silently marked as applied.
    sqlite_only = Migration(id="lite-0001", sql={"sqlite": ["CREATE TABLE lite (x INT)"]})
    with pytest.raises(StorageError, match="lite-0001"):
        await s.migrate([sqlite_only])
    assert await count(raw, "schema_migrations", "id = $1", "lite-0001") == 0
    await s.close()


async def test_concurrent_migrations_apply_once(pg_url: str, raw: Any) -> None:
    # Four instances starting at once on an empty schema: each migration runs exactly once, none fails.
    engines = [PostgresStorage(pg_url) for _ in range(4)]
    for e in engines:
        await e.open()
    mine = Migration(id="example-0001", sql={"postgresql": ["CREATE TABLE example (k TEXT PRIMARY KEY)"]})
    try:
        results = await asyncio.gather(*(e.migrate([mine]) for e in engines))
    finally:
        for e in engines:
            await e.close()
    assert sorted(results, key=len) == [
        [],
        [],
        [],
        ["kernel-0001", "kernel-0002", "kernel-0003", "kernel-crl-0001", "kernel-0004", "example-0001"],
    ]
    assert await count(raw, "schema_migrations") == 6


async def test_kernel_schema_types(db: PostgresStorage, raw: Any) -> None:
    rows = await raw.fetch(
        "SELECT table_name, column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = current_schema()"
    )
    types = {(r["table_name"], r["column_name"]): r["data_type"] for r in rows}
    assert types["x509_certs", "der"] == "bytea" and types["ssh_certs", "cert"] == "bytea"
    assert types["revoked_x509_certs", "mtls"] == "boolean"
    for col in (("x509_certs", "not_after"), ("x509_certs", "issued_at"), ("used_tokens", "used_at"),
                ("ssh_certs", "valid_before"), ("revoked_ssh_certs", "revoked_at")):  # fmt: skip
        assert types[col] == "bigint", col


# ============================================================================== the storage contract


async def test_store_x509_records_the_token_with_the_certificate(db: PostgresStorage, raw: Any) -> None:
    await db.store_x509(cert("1"), token_id="jti-1")
    assert await db.get_x509("1") == cert("1")
    assert await count(raw, "used_tokens", "id = $1 AND provisioner = $2", "jti-1", "jwk/admin") == 1
    with pytest.raises(TokenReused):
        await db.store_x509(cert("2"), token_id="jti-1")
    assert await db.get_x509("2") is None  # nothing half-written
    # Tokens are one namespace: an X.509 token cannot be spent again on SSH or a revocation.
    with pytest.raises(TokenReused):
        await db.store_ssh(serial="9", cert=b"c", cert_type="user", key_id="k", principals=["p"],
                           provisioner_id="jwk/admin", provisioner_name="admin", provisioner_type="JWK",
                           valid_before=NOW + 60, token_id="jti-1", now=NOW)  # fmt: skip
    assert await count(raw, "ssh_certs") == 0
    with pytest.raises(TokenReused):
        await db.revoke_x509(
            "1", provisioner_id="p", reason_code=0, reason="", mtls=False, token_id="jti-1", now=NOW
        )
    assert not await db.is_x509_revoked("1")
    with pytest.raises(TokenReused):
        await db.use_token("jti-1", "p", NOW)
    # Certificates without a one-time token (K8sSA, renewals by mTLS) are stored freely.
    for i in range(3):
        await db.store_x509(cert(f"n{i}"), token_id=None)
    assert await count(raw, "x509_certs") == 4 and await count(raw, "used_tokens") == 1
    # A serial stored twice is an error of its own, and spends no token.
    with pytest.raises(StorageError) as e:
        await db.store_x509(cert("1"), token_id="jti-fresh")
    assert not isinstance(e.value, TokenReused)
    assert await count(raw, "used_tokens", "id = $1", "jti-fresh") == 0


async def test_concurrent_use_of_one_token_succeeds_once(pg_url: str, db: PostgresStorage, raw: Any) -> None:
    other = await opened(pg_url)  # a second instance: its own pool of connections
    try:
        results = await asyncio.gather(
            *(s.store_x509(cert(f"c{i}"), token_id="shared") for i, s in enumerate([db, other] * 25)),
            return_exceptions=True,
        )
    finally:
        await other.close()
    assert len(results) == 50
    assert sum(r is None for r in results) == 1, results
    assert all(isinstance(r, TokenReused) for r in results if r is not None), results
    assert await count(raw, "x509_certs") == 1
    assert await count(raw, "x509_certs", "token_id = $1", "shared") == 1


async def test_two_engines_race_for_one_token(pg_url: str, db: PostgresStorage, raw: Any) -> None:
    other = await opened(pg_url)
    try:
        for round_ in range(5):
            tok = f"race-{round_}"
            results = await asyncio.gather(
                db.store_x509(cert(f"{tok}-x509"), token_id=tok),
                other.revoke_x509(f"{tok}-rev", provisioner_id="p", reason_code=0, reason="", mtls=False,
                                  token_id=tok, now=NOW),
                other.store_ssh(serial=f"{tok}-ssh", cert=b"c", cert_type="user", key_id="k", principals=["u"],
                                provisioner_id="p", provisioner_name="n", provisioner_type="JWK",
                                valid_before=NOW + 60, token_id=tok, now=NOW),
                db.use_token(tok, "p", NOW),
                return_exceptions=True,
            )  # fmt: skip
            assert sum(r is None for r in results) == 1, results
            assert all(isinstance(r, TokenReused) for r in results if r is not None), results
            stored = sum(
                [
                    await count(raw, "x509_certs", "token_id = $1", tok),
                    await count(raw, "revoked_x509_certs", "token_id = $1", tok),
                    await count(raw, "ssh_certs", "token_id = $1", tok),
                ]
            )
            assert stored == (0 if results[3] is None else 1)
    finally:
        await other.close()


async def test_revocation_is_recorded_once(pg_url: str, db: PostgresStorage, raw: Any) -> None:
    await db.store_x509(cert("77"), token_id=None)
    await db.revoke_x509("77", provisioner_id="jwk/admin", reason_code=1, reason="key compromise", mtls=False,
                         token_id="rev-1", now=NOW)  # fmt: skip
    assert await db.is_x509_revoked("77") and not await db.is_x509_revoked("78")
    with pytest.raises(AlreadyRevoked):
        await db.revoke_x509(
            "77", provisioner_id="x", reason_code=0, reason="", mtls=True, token_id="rev-2", now=NOW
        )
    # The refused second revocation did not spend its token either.
    assert await count(raw, "used_tokens", "id = $1", "rev-2") == 0
    # Already revoked with a spent token: the revocation answers first, as on SQLite.
    with pytest.raises(AlreadyRevoked):
        await db.revoke_x509(
            "77", provisioner_id="x", reason_code=0, reason="", mtls=False, token_id="rev-1", now=NOW
        )
    row = await db.fetch_one(
        "SELECT reason_code, reason, mtls, revoked_at FROM revoked_x509_certs WHERE serial = '77'"
    )
    assert row == (1, "key compromise", False, NOW) and row[2] is False
    other = await opened(pg_url)
    try:
        results = await asyncio.gather(
            *(s.revoke_x509("88", provisioner_id="p", reason_code=0, reason="", mtls=True, token_id=None, now=NOW)
              for s in [db, other] * 4),
            return_exceptions=True,
        )  # fmt: skip
    finally:
        await other.close()
    assert sum(r is None for r in results) == 1, results
    assert all(isinstance(r, AlreadyRevoked) for r in results if r is not None), results
    assert await raw.fetchval("SELECT mtls FROM revoked_x509_certs WHERE serial = '88'") is True


async def test_ssh_host_principals_and_revocation(db: PostgresStorage, raw: Any) -> None:
    await store_host(db, "1", ["web", "10.0.0.1"], NOW + 3600)
    await store_host(db, "2", ["old"], NOW - 1)
    assert await db.ssh_host_exists("web", NOW) and await db.ssh_host_exists("10.0.0.1", NOW)
    assert not await db.ssh_host_exists("old", NOW)  # expired
    assert not await db.ssh_host_exists("nobody", NOW)
    await db.revoke_ssh("1", provisioner_id="p", reason_code=0, reason="", token_id="t", now=NOW)
    assert not await db.ssh_host_exists("web", NOW)
    assert await db.is_ssh_revoked("1") and not await db.is_ssh_revoked("2")
    with pytest.raises(AlreadyRevoked):
        await db.revoke_ssh("1", provisioner_id="p", reason_code=0, reason="", token_id=None, now=NOW)
    with pytest.raises(TokenReused):
        await db.revoke_ssh("2", provisioner_id="p", reason_code=0, reason="", token_id="t", now=NOW)
    assert not await db.is_ssh_revoked("2")
    # A second host certificate for the same name brings it back; a name listed twice is stored once.
    await store_host(db, "3", ["web", "web"], NOW + 60, token_id="host-3")
    assert await db.ssh_host_exists("web", NOW)
    assert await count(raw, "ssh_host_principals", "serial = '3'") == 1
    assert await count(raw, "used_tokens", "id = 'host-3'") == 1
    # A host cert whose token was used stores none of its principals.
    await db.use_token("spent", "p", NOW)
    with pytest.raises(TokenReused):
        await store_host(db, "4", ["ghost"], NOW + 60, token_id="spent")
    assert not await db.ssh_host_exists("ghost", NOW)
    assert await db.fetch_one("SELECT 1 FROM ssh_certs WHERE serial = '4'") is None
    # User certificates record no host names.
    await db.store_ssh(serial="5", cert=b"c", cert_type="user", key_id="u", principals=["alice"],
                       provisioner_id="p", provisioner_name="n", provisioner_type="JWK",
                       valid_before=NOW + 60, token_id=None, now=NOW)  # fmt: skip
    assert not await db.ssh_host_exists("alice", NOW)
    assert await db.fetch_one("SELECT cert, cert_type FROM ssh_certs WHERE serial = '5'") == (b"c", "user")


async def test_execute_many_is_all_or_nothing(db: PostgresStorage) -> None:
    await db.use_token("taken", "p", NOW)
    with pytest.raises(TokenReused):
        await db.execute_many(
            [
                ("INSERT INTO used_tokens (id, provisioner, used_at) VALUES (?, ?, ?)", ("fresh", "p", NOW)),
                ("INSERT INTO used_tokens (id, provisioner, used_at) VALUES (?, ?, ?)", ("taken", "p", NOW)),
            ]
        )
    assert await db.fetch_one("SELECT 1 FROM used_tokens WHERE id = 'fresh'") is None
    with pytest.raises(TokenReused) as e:
        await db.use_token("taken", "p", NOW)
    assert db.is_unique_violation(e.value)
    assert await db.execute("DELETE FROM used_tokens WHERE id = ?", ("taken",)) == 1
    await db.execute_many([("INSERT INTO used_tokens (id, provisioner, used_at) VALUES (?, ?, ?)", ("a", "p", 1)),
                           ("UPDATE used_tokens SET used_at = ? WHERE id = ?", (2, "a"))])  # fmt: skip
    assert await db.fetch_one("SELECT used_at FROM used_tokens WHERE id = 'a'") == (2,)


async def test_unique_violations_of_plugin_tables(db: PostgresStorage) -> None:
    # What the ACME plugin relies on: its own unique constraints surface as StorageError, recognisably.
    await db.execute("CREATE TABLE accounts (id TEXT PRIMARY KEY, thumb TEXT NOT NULL, UNIQUE (thumb))")
    await db.execute("INSERT INTO accounts (id, thumb) VALUES (?, ?)", ("a", "secret-thumbprint"))
    with pytest.raises(StorageError) as e:
        await db.execute("INSERT INTO accounts (id, thumb) VALUES (?, ?)", ("b", "secret-thumbprint"))
    assert db.is_unique_violation(e.value) and not isinstance(e.value, TokenReused | AlreadyRevoked)
    assert "secret-thumbprint" not in str(e.value)  # the row's values stay out of the message
    with pytest.raises(StorageError) as e:
        await db.execute_many([("UPDATE accounts SET thumb = ? WHERE id = ?", ("x", "a")),
                               ("INSERT INTO accounts (id, thumb) VALUES (?, ?)", ("c", "x"))])  # fmt: skip
    assert db.is_unique_violation(e.value)
    assert await db.fetch_all("SELECT id, thumb FROM accounts") == [("a", "secret-thumbprint")]
    assert (
        await db.execute("INSERT INTO accounts (id, thumb) VALUES (?, ?) ON CONFLICT DO NOTHING", ("d", "x"))
        == 1
    )
    assert (
        await db.execute("INSERT INTO accounts (id, thumb) VALUES (?, ?) ON CONFLICT DO NOTHING", ("e", "x"))
        == 0
    )
    assert not db.is_unique_violation(ValueError("x"))


# ============================================================================== dataSource and lifecycle


async def test_data_source_errors_are_clear_and_keep_the_password_out() -> None:
    for bad in ("/var/lib/plica.db", "mysql://u@h/db", "postgresql:///nohost"):
        with pytest.raises(StorageError, match="PostgreSQL URL"):
            PostgresStorage(bad)
    with pytest.raises(StorageError, match="invalid port") as e:
        PostgresStorage("postgresql://u:hunter2@127.0.0.1:port/db")
    assert "hunter2" not in str(e.value)
    with pytest.raises(StorageError, match="pool_max_conns"):
        PostgresStorage("postgresql://u@127.0.0.1/db?pool_max_conns=0")
    with pytest.raises(StorageError, match="pool_min_conns"):
        PostgresStorage("postgresql://u@127.0.0.1/db?pool_min_conns=5&pool_max_conns=2")
    # The kernel's factory picks this engine for both spellings of the type.
    assert isinstance(open_storage("PostgreSQL", "postgres://u@127.0.0.1/db"), PostgresStorage)
    # Nothing listens: the error names the server, without the password, and comes quickly.
    s = PostgresStorage(f"postgresql://plica:hunter2@127.0.0.1:{free_port()}/db?connect_timeout=3")
    with pytest.raises(StorageError, match="cannot connect to PostgreSQL at") as e:
        await s.open()
    assert "hunter2" not in str(e.value) and "***" in str(e.value)
    with pytest.raises(StorageError, match="not open"):
        await s.fetch_one("SELECT 1")


async def admin_execute(*statements: str) -> None:
    conn = await asyncpg.connect(ADMIN_URL)
    try:
        for sql in statements:
            await conn.execute(sql)
    finally:
        await conn.close()


async def test_a_missing_database_is_created_once(database: str) -> None:
    # As step-ca: two instances starting on a database that does not exist yet both come up on it.
    name = f"plica_new_{secrets.token_hex(4)}"
    engines = [PostgresStorage(with_db(database, name)) for _ in range(2)]
    try:
        await asyncio.gather(*(e.open() for e in engines))
        assert sorted(map(len, await asyncio.gather(*(e.migrate([]) for e in engines)))) == [0, 5]
        assert await engines[0].fetch_one("SELECT current_database()") == (name,)
    finally:
        for e in engines:
            await e.close()
        await admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    # A user who may not create it gets a message that says so.
    role, name = f"plica_nocreate_{secrets.token_hex(4)}", f"plica_never_{secrets.token_hex(4)}"
    await admin_execute(f"CREATE ROLE {role} LOGIN NOCREATEDB")
    try:
        url = urlunsplit(
            urlsplit(with_db(database, name))._replace(
                netloc=f"{role}@127.0.0.1:{urlsplit(database).port or 5432}"
            )
        )
        with pytest.raises(
            StorageError, match=f"database '{name}' does not exist and cannot be created: permission"
        ):
            await PostgresStorage(url).open()
    finally:
        await admin_execute(f"DROP ROLE {role}")


def test_step_ca_database_field_names_the_database(tmp_path: Path) -> None:
    from plica import config as config_mod
    from plica.storage import db_source

    files = make_ca(tmp_path)
    cfg = files.config()
    cfg["db"] = {"type": "postgresql", "dataSource": "postgresql://ca:pw@db.internal:5432/?sslmode=require",
                 "database": "step ca"}  # fmt: skip
    files.write_config(cfg)
    assert db_source(config_mod.load(files.config_path)) == (
        "postgresql",
        "postgresql://ca:pw@db.internal:5432/step%20ca?sslmode=require",
    )
    assert PostgresStorage(db_source(config_mod.load(files.config_path))[1]).database == "step ca"
    cfg["db"] = {"type": "postgresql", "dataSource": "postgresql://ca@db.internal/plica"}
    files.write_config(cfg)
    assert db_source(config_mod.load(files.config_path))[1] == "postgresql://ca@db.internal/plica"
    # PostgreSQL without a dataSource is an error at start, not a silent fall-back to SQLite.
    cfg["db"] = {"type": "postgresql"}
    files.write_config(cfg)
    assert db_source(config_mod.load(files.config_path)) == ("postgresql", "")
    r = plica_cli("start", "--home", str(files.home), "--password-file", str(files.password_file),
                  env=files.env(), timeout=60)  # fmt: skip
    assert r.returncode == 1 and "cannot start: dataSource must be a PostgreSQL URL" in r.stderr, r.stderr
    assert not (files.home / "db" / "plica.db").exists()


async def test_pool_options_and_server_settings(database: str) -> None:
    # Pool options are the engine's own (the server would refuse them as settings); other query
    # parameters are the server's, like application_name here.
    s = PostgresStorage(with_db(database, urlsplit(database).path.lstrip("/"), pool_min_conns=1,
                                pool_max_conns=2, application_name="plica-test"))  # fmt: skip
    await s.open()
    try:
        assert (s.min_size, s.max_size) == (1, 2)
        assert await s.fetch_one("SELECT current_setting('application_name')") == ("plica-test",)
        conns = await asyncio.gather(
            *(s.fetch_one("SELECT pg_backend_pid() FROM pg_sleep(0.2)") for _ in range(4))
        )
        assert len(set(conns)) <= 2  # never more connections than pool_max_conns
    finally:
        await s.close()
    await s.close()  # closing twice is harmless


# ============================================================================== round trips on the wire


class CountingProxy:
    """A TCP relay in front of PostgreSQL that counts the client's round trips: every Sync ('S') or simple
    Query ('Q') message ends a request the client then waits on."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.round_trips = 0
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        assert self.server is not None
        self.server.close()

    async def _client(self, cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        sr, sw = await asyncio.open_connection(*self.upstream)

        async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await r.read(65536):
                    w.write(data)
                    await w.drain()
            w.close()

        async def from_client() -> None:
            # Untyped start-up messages first (length, code), then typed ones (type, length).
            with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
                while True:
                    head = await cr.readexactly(8)
                    length, code = struct.unpack("!ii", head)
                    sw.write(head + await cr.readexactly(length - 8))
                    await sw.drain()
                    if code not in (80877103, 80877104):  # SSLRequest, GSSENCRequest
                        break
                while True:
                    head = await cr.readexactly(5)
                    kind, length = head[:1], struct.unpack("!i", head[1:])[0]
                    if kind in (b"S", b"Q"):
                        self.round_trips += 1
                    sw.write(head + await cr.readexactly(length - 4))
                    await sw.drain()
            sw.close()

        await asyncio.gather(from_client(), pipe(sr, cw))


async def test_one_round_trip_per_certificate(pg_url: str, raw: Any) -> None:
    parts = urlsplit(pg_url)
    proxy = CountingProxy((parts.hostname or "127.0.0.1", parts.port or 5432))
    await proxy.start()
    # One connection (so the warm-up below prepares every statement on it) and no TLS (to read the wire).
    url = urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{proxy.port}"))
    s = await opened(url + "&pool_min_conns=1&pool_max_conns=1&sslmode=disable")

    async def issue(tag: str) -> None:
        await s.store_x509(cert(f"{tag}-1"), token_id=f"{tag}-1")
        await s.store_x509(cert(f"{tag}-2"), token_id=None)
        await store_host(s, f"{tag}-3", ["a", "b"], NOW + 60, token_id=f"{tag}-3")
        await s.revoke_x509(f"{tag}-1", provisioner_id="p", reason_code=0, reason="", mtls=False,
                            token_id=f"{tag}-4", now=NOW)  # fmt: skip
        await s.revoke_ssh(
            f"{tag}-3", provisioner_id="p", reason_code=0, reason="", token_id=f"{tag}-5", now=NOW
        )

    try:
        await issue("warm")  # prepares each statement once on the connection
        proxy.round_trips = 0
        await issue("hot")
        assert proxy.round_trips == 5
        proxy.round_trips = 0
        with pytest.raises(TokenReused):
            await s.store_x509(cert("replayed"), token_id="hot-1")
        assert await s.is_x509_revoked("hot-1")
        assert proxy.round_trips == 2
    finally:
        await s.close()
        await proxy.close()
    assert await count(raw, "x509_certs") == 4 and await count(raw, "used_tokens") == 8


# ============================================================================== two `plica start` instances


@contextlib.contextmanager
def servers(*cas: CAFiles, log_dir: Path) -> Iterator[None]:
    """`plica start` for every CA at once (so they migrate the empty database together)."""
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for i, files in enumerate(cas):
            out = (log_dir / f"server-{i}.log").open("ab")
            cmd = [sys.executable, "-m", "plica", "start", "--home", str(files.home), "--password-file",
                   str(files.password_file)]  # fmt: skip
            procs.append(subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=files.env()))
            out.close()
        for i, (files, proc) in enumerate(zip(cas, procs, strict=True)):
            try:
                wait_healthy(files.url, files.root, proc=proc)
            except RuntimeError as e:
                raise RuntimeError(
                    f"{e}\n{(log_dir / f'server-{i}.log').read_text(errors='replace')}"
                ) from None
        yield
    finally:
        for proc in procs:
            stop(proc)


@pytest.fixture
def two_instances(tmp_path: Path, database: str) -> tuple[CAFiles, CAFiles]:
    """Two CA homes with the same keys and ca.json, on different ports, sharing the module's database."""
    a = make_ca(tmp_path / "a")
    cfg = a.config()
    cfg["db"] = {"type": "postgresql", "dataSource": database}
    a.write_config(cfg)
    home_b = tmp_path / "b" / "ca"
    shutil.copytree(a.home, home_b)
    b = evolve(a, home=home_b, config_path=home_b / "config" / "ca.json",
               password_file=home_b / "secrets" / "password", port=free_port())  # fmt: skip
    cfg["address"] = f"127.0.0.1:{b.port}"
    b.write_config(cfg)
    return a, b


@pytest.mark.slow
async def test_two_instances_share_tokens_and_revocations(
    two_instances: tuple[CAFiles, CAFiles], tmp_path: Path, database: str
) -> None:
    a, b = two_instances
    prov = admin_key(a)
    with servers(a, b, log_dir=tmp_path):
        async with aiohttp.ClientSession() as session:
            api_a, api_b = Api(a, session), Api(b, session)

            # A token spent on one instance is a replay on the other, in either order.
            for first, second in ((api_a, api_b), (api_b, api_a)):
                r, key = await first.sign(prov, "replay.example")
                assert r.status == 201, r.raw
                ott = prov.token("again.example", first.aud("/sign"), sans=["again.example"])
                body = {"csr": _csr("again.example"), "ott": ott}
                r1 = await first.post("/sign", body)
                r2 = await second.post("/sign", body)
                assert r1.status == 201, r1.raw
                assert r2.status == 401 and r2.error()["message"] == "token already used"

            # Both instances at once with one token: exactly one certificate.
            ott = prov.token("race.example", api_a.aud("/sign"), sans=["race.example"])
            body = {"csr": _csr("race.example"), "ott": ott}
            replies = await asyncio.gather(*(api.post("/sign", body) for api in [api_a, api_b] * 4))
            assert sorted(r.status for r in replies) == [201] + [401] * 7

            # A certificate issued through A renews through B ...
            r, key = await api_a.sign(prov, "renew.example")
            assert r.status == 201, r.raw
            crt, kf = write_leaf(tmp_path, "renew", r, key)
            r = await api_b.post("/renew", ctx=api_b.mtls(crt, kf))
            assert r.status == 201, r.raw
            # ... until it is revoked through A: then B refuses to renew it, and to revoke it again.
            serial = x509.load_pem_x509_certificate(crt.read_bytes()).serial_number
            r = await api_a.post("/revoke", {"serial": str(serial), "passive": True}, ctx=api_a.mtls(crt, kf))
            assert r.status == 200, r.raw
            r = await api_b.post("/renew", ctx=api_b.mtls(crt, kf))
            assert r.status == 401 and "has been revoked" in r.error()["message"]
            r = await api_b.post("/revoke", {"serial": str(serial), "passive": True}, ctx=api_b.mtls(crt, kf))
            assert r.status == 400 and "already revoked" in r.error()["message"]

    conn = await asyncpg.connect(database)
    try:
        assert await conn.fetchval("SELECT COUNT(*) FROM schema_migrations WHERE id = 'kernel-0001'") == 1
        assert await conn.fetchval("SELECT COUNT(*) FROM x509_certs WHERE token_id IS NOT NULL") == 6
        assert (
            await conn.fetchval("SELECT COUNT(*) FROM revoked_x509_certs WHERE serial = $1", str(serial)) == 1
        )
    finally:
        await conn.close()
    for i in range(2):
        log = (tmp_path / f"server-{i}.log").read_text(errors="replace")
        assert "Traceback" not in log, log


def _csr(cn: str) -> str:
    return csr_pem(make_csr(ec_key(), cn, [cn]))


def test_start_without_a_reachable_database_says_why(tmp_path: Path) -> None:
    files = make_ca(tmp_path)
    cfg = files.config()
    cfg["db"] = {"type": "postgresql", "dataSource": f"postgresql://plica:hunter2@127.0.0.1:{free_port()}/ca"}
    files.write_config(cfg)
    r = plica_cli("start", "--home", str(files.home), "--password-file", str(files.password_file),
                  env=files.env(), timeout=60)  # fmt: skip
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    assert "cannot start: cannot connect to PostgreSQL at postgresql://plica:***@127.0.0.1" in out, out
    assert "hunter2" not in out and "Traceback" not in out
