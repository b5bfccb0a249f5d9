"""The SQLite engine: one-time tokens recorded atomically with what they authorise, revocations, SSH host
principals, migrations — on a real database file, with concurrent writers (two connections stand for two
workers sharing the file)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import pytest_asyncio

from plica.storage import AlreadyRevoked, StorageError, TokenReused
from plica.storage.base import IssuedCert
from plica.storage.sqlite import SQLiteStorage
from plica.types import Migration

NOW = 1_700_000_000


def cert(serial: str, prov: str = "jwk/admin") -> IssuedCert:
    return IssuedCert(serial, b"\x30\x03\x02\x01\x01", prov, "admin", "JWK", NOW + 3600)


async def opened(path: Path) -> SQLiteStorage:
    s = SQLiteStorage(str(path))
    await s.open()
    await s.migrate([])
    return s


@pytest_asyncio.fixture
async def db(tmp_path: Path) -> AsyncIterator[SQLiteStorage]:
    s = await opened(tmp_path / "plica.db")
    yield s
    await s.close()


def count(path: Path, table: str, where: str = "1=1", params: tuple[object, ...] = ()) -> int:
    con = sqlite3.connect(path)
    try:
        return con.execute(f"SELECT COUNT(*) FROM {table} WHERE {where}", params).fetchone()[0]
    finally:
        con.close()


async def test_migrations_apply_once_kernel_first(tmp_path: Path) -> None:
    s = SQLiteStorage(str(tmp_path / "m.db"))
    await s.open()
    mine = Migration(id="example-0001", sql={"sqlite": ["CREATE TABLE example (k TEXT PRIMARY KEY, v TEXT)"]})
    assert await s.migrate([mine]) == [
        "kernel-0001",
        "kernel-0002",
        "kernel-0003",
        "kernel-crl-0001",
        "kernel-0004",
        "example-0001",
    ]
    assert await s.migrate([mine]) == []
    await s.execute("INSERT INTO example (k, v) VALUES (?, ?)", ("a", "1"))
    assert await s.fetch_all("SELECT k, v FROM example") == [("a", "1")]
    await s.close()
    # A failing migration leaves nothing of itself behind.
    s = SQLiteStorage(str(tmp_path / "m.db"))
    await s.open()
    broken = Migration(id="broken-0001", sql={"sqlite": ["CREATE TABLE half (x INT)", "NOT SQL"]})
    with pytest.raises(sqlite3.OperationalError):
        await s.migrate([mine, broken])
    assert await s.fetch_one("SELECT name FROM sqlite_master WHERE name = 'half'") is None
    assert await s.fetch_one("SELECT id FROM schema_migrations WHERE id = 'broken-0001'") is None
    await s.close()


async def test_store_x509_records_the_token_with_the_certificate(db: SQLiteStorage, tmp_path: Path) -> None:
    path = tmp_path / "plica.db"
    await db.store_x509(cert("1"), token_id="jti-1")
    assert await db.get_x509("1") == cert("1")
    assert count(path, "used_tokens", "id = ?", ("jti-1",)) == 1
    with pytest.raises(TokenReused):
        await db.store_x509(cert("2"), token_id="jti-1")
    assert await db.get_x509("2") is None  # nothing half-written
    # Tokens are one namespace: an X.509 token cannot be spent again on SSH or a revocation.
    with pytest.raises(TokenReused):
        await db.store_ssh(serial="9", cert=b"c", cert_type="user", key_id="k", principals=["p"],
                           provisioner_id="jwk/admin", provisioner_name="admin", provisioner_type="JWK",
                           valid_before=NOW + 60, token_id="jti-1", now=NOW)  # fmt: skip
    assert count(path, "ssh_certs") == 0
    with pytest.raises(TokenReused):
        await db.revoke_x509(
            "1", provisioner_id="p", reason_code=0, reason="", mtls=False, token_id="jti-1", now=NOW
        )
    assert not await db.is_x509_revoked("1")
    # Certificates without a one-time token (K8sSA, renewals by mTLS) are stored freely.
    for i in range(3):
        await db.store_x509(cert(f"n{i}"), token_id=None)
    assert count(path, "x509_certs") == 4 and count(path, "used_tokens") == 1


async def test_concurrent_use_of_one_token_succeeds_once(db: SQLiteStorage, tmp_path: Path) -> None:
    results = await asyncio.gather(
        *(db.store_x509(cert(f"c{i}"), token_id="shared") for i in range(8)), return_exceptions=True
    )
    assert sum(r is None for r in results) == 1
    assert all(isinstance(r, TokenReused) for r in results if r is not None)
    assert count(tmp_path / "plica.db", "x509_certs", "token_id = ?", ("shared",)) == 1


async def test_two_connections_race_for_one_token(db: SQLiteStorage, tmp_path: Path) -> None:
    other = await opened(tmp_path / "plica.db")  # a second worker on the same file
    try:
        for round_ in range(5):
            tok = f"race-{round_}"
            results = await asyncio.gather(
                *(s.store_x509(cert(f"{tok}-{i}"), token_id=tok) for i, s in enumerate([db, other] * 3)),
                return_exceptions=True,
            )
            assert sum(r is None for r in results) == 1, results
            assert all(isinstance(r, TokenReused) for r in results if r is not None), results
            assert count(tmp_path / "plica.db", "x509_certs", "token_id = ?", (tok,)) == 1
    finally:
        await other.close()


async def test_revocation_is_recorded_once(db: SQLiteStorage, tmp_path: Path) -> None:
    await db.store_x509(cert("77"), token_id=None)
    await db.revoke_x509("77", provisioner_id="jwk/admin", reason_code=1, reason="key compromise", mtls=False,
                         token_id="rev-1", now=NOW)  # fmt: skip
    assert await db.is_x509_revoked("77") and not await db.is_x509_revoked("78")
    with pytest.raises(AlreadyRevoked):
        await db.revoke_x509(
            "77", provisioner_id="x", reason_code=0, reason="", mtls=True, token_id="rev-2", now=NOW
        )
    # The refused second revocation did not spend its token either.
    assert count(tmp_path / "plica.db", "used_tokens", "id = ?", ("rev-2",)) == 0
    row = await db.fetch_one("SELECT reason_code, reason, mtls FROM revoked_x509_certs WHERE serial = '77'")
    assert row == (1, "key compromise", 0)
    results = await asyncio.gather(
        *(db.revoke_x509("88", provisioner_id="p", reason_code=0, reason="", mtls=True, token_id=None, now=NOW)
          for _ in range(4)),
        return_exceptions=True,
    )  # fmt: skip
    assert sum(r is None for r in results) == 1
    assert all(isinstance(r, AlreadyRevoked) for r in results if r is not None)


async def test_ssh_host_principals_and_revocation(db: SQLiteStorage) -> None:
    async def host(serial: str, principals: list[str], valid_before: int) -> None:
        await db.store_ssh(serial=serial, cert=b"c", cert_type="host", key_id="h", principals=principals,
                           provisioner_id="jwk/admin", provisioner_name="admin", provisioner_type="JWK",
                           valid_before=valid_before, token_id=None, now=NOW)  # fmt: skip

    await host("1", ["web", "10.0.0.1"], NOW + 3600)
    await host("2", ["old"], NOW - 1)
    assert await db.ssh_host_exists("web", NOW) and await db.ssh_host_exists("10.0.0.1", NOW)
    assert not await db.ssh_host_exists("old", NOW)  # expired
    assert not await db.ssh_host_exists("nobody", NOW)
    await db.revoke_ssh("1", provisioner_id="p", reason_code=0, reason="", token_id="t", now=NOW)
    assert not await db.ssh_host_exists("web", NOW)
    assert await db.is_ssh_revoked("1")
    with pytest.raises(AlreadyRevoked):
        await db.revoke_ssh("1", provisioner_id="p", reason_code=0, reason="", token_id=None, now=NOW)
    # A second host certificate for the same name brings it back.
    await host("3", ["web"], NOW + 60)
    assert await db.ssh_host_exists("web", NOW)
    # A host cert whose token was used stores none of its principals.
    await db.use_token("spent", "p", NOW)
    with pytest.raises(TokenReused):
        await db.store_ssh(serial="4", cert=b"c", cert_type="host", key_id="h", principals=["ghost"],
                           provisioner_id="p", provisioner_name="n", provisioner_type="JWK",
                           valid_before=NOW + 60, token_id="spent", now=NOW)  # fmt: skip
    assert not await db.ssh_host_exists("ghost", NOW)
    assert await db.fetch_one("SELECT 1 FROM ssh_certs WHERE serial = '4'") is None


async def test_execute_many_is_all_or_nothing(db: SQLiteStorage) -> None:
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


async def test_wal_mode_and_bad_options(tmp_path: Path) -> None:
    s = await opened(tmp_path / "w.db")
    assert await s.fetch_one("PRAGMA journal_mode") == ("wal",)
    await s.close()
    with pytest.raises(StorageError, match="synchronous"):
        SQLiteStorage(str(tmp_path / "x.db") + "?synchronous=SOMETIMES")
    s = SQLiteStorage(str(tmp_path / "f.db") + "?synchronous=FULL")
    await s.open()
    assert await s.fetch_one("PRAGMA synchronous") == (2,)
    await s.close()
    with pytest.raises(StorageError, match="not open"):
        await s.fetch_one("SELECT 1")


def hold_write_lock(path: Path, seconds: float) -> tuple[threading.Thread, list[float]]:
    """Another writer (a connection of its own, as another worker would have) holds the write lock for
    `seconds`; the thread ends when it has committed, and the list then holds when it began to commit (the
    lock is free from inside COMMIT on: a waiter can take it and run on before this thread has the GIL back
    to note the time after)."""
    con = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    con.execute("BEGIN IMMEDIATE")
    con.execute("INSERT INTO used_tokens (id, provisioner, used_at) VALUES ('holder', 'p', 0)")
    released: list[float] = []

    def release() -> None:
        time.sleep(seconds)
        released.append(time.monotonic())
        con.execute("COMMIT")
        con.close()

    t = threading.Thread(target=release)
    t.start()
    return t, released


async def test_a_short_lock_wait_keeps_the_request_in_place(db: SQLiteStorage, tmp_path: Path) -> None:
    # An asyncio pause on a lock wait would put the request behind everything else the loop has ready;
    # a wait shorter than lock_spin is waited out in place: the work queued behind the write runs only
    # once the other writer has let go.
    db.lock_spin = 5.0  # generous, so a slow machine cannot make the holder outlast it
    holder, released = hold_write_lock(tmp_path / "plica.db", 0.02)
    write = asyncio.ensure_future(db.store_x509(cert("s1"), token_id="t-short"))
    await asyncio.sleep(0)  # the write is submitted; its group commit is queued
    behind: list[float] = []
    asyncio.get_running_loop().call_soon(lambda: behind.append(time.monotonic()))
    await write
    holder.join()
    assert behind and behind[0] >= released[0]
    assert await db.get_x509("s1") == cert("s1")
    assert count(tmp_path / "plica.db", "used_tokens", "id IN ('holder', 't-short')") == 2


async def test_a_long_lock_wait_does_not_block_the_loop(db: SQLiteStorage, tmp_path: Path) -> None:
    db.lock_spin = 0.002
    holder, _ = hold_write_lock(tmp_path / "plica.db", 0.3)
    ticks: list[float] = []

    async def ticker() -> None:
        while True:
            ticks.append(time.monotonic())
            await asyncio.sleep(0.01)

    t = asyncio.get_running_loop().create_task(ticker())
    await asyncio.sleep(0)
    start = time.monotonic()
    await db.store_x509(cert("s2"), token_id="t-long")
    t.cancel()
    holder.join()
    assert time.monotonic() - start >= 0.25  # it did wait for the holder
    assert len(ticks) >= 10  # and the loop served other work meanwhile
    assert await db.get_x509("s2") == cert("s2")


def commits_by_others(path: Path) -> Callable[[], int]:
    """A counter of the commits other connections make to `path` (PRAGMA data_version)."""
    con = sqlite3.connect(path, isolation_level=None)
    return lambda: con.execute("PRAGMA data_version").fetchone()[0]


async def test_writes_of_one_turn_share_a_commit_and_fail_alone(db: SQLiteStorage, tmp_path: Path) -> None:
    path = tmp_path / "plica.db"
    await db.use_token("taken", "p", NOW)
    version = commits_by_others(path)
    before = version()
    results = await asyncio.gather(
        db.store_x509(cert("g1"), token_id="dup"),
        db.store_x509(cert("g2"), token_id="dup"),  # a replay inside the same group
        db.execute_many(
            [
                ("INSERT INTO used_tokens (id, provisioner, used_at) VALUES (?, ?, ?)", ("fresh", "p", NOW)),
                ("INSERT INTO used_tokens (id, provisioner, used_at) VALUES (?, ?, ?)", ("taken", "p", NOW)),
            ]
        ),
        db.store_x509(cert("g3"), token_id="other"),
        db.execute("DELETE FROM used_tokens WHERE id = ?", ("nothing-there",)),
        return_exceptions=True,
    )
    assert results[0] is None and results[3] is None and results[4] == 0
    assert isinstance(results[1], TokenReused) and isinstance(results[2], TokenReused)
    assert version() - before == 1  # one commit for the five writes
    assert count(path, "x509_certs", "serial IN ('g1', 'g3')") == 2
    assert count(path, "x509_certs", "serial = 'g2'") == 0
    assert count(path, "used_tokens", "id = 'fresh'") == 0  # the failed group left nothing


async def test_a_write_that_loses_the_transaction_fails_the_whole_group(
    db: SQLiteStorage, tmp_path: Path
) -> None:
    # RAISE(ROLLBACK) ends the whole transaction, as a full disk or an I/O error would: the writes already
    # run in the group are gone, so none of them may be reported as done.
    await db.execute("CREATE TABLE doomed (x INT)")
    await db.execute(
        "CREATE TRIGGER doomed_rollback BEFORE INSERT ON doomed BEGIN SELECT RAISE(ROLLBACK, 'no'); END"
    )
    results = await asyncio.gather(
        db.store_x509(cert("l1"), token_id="l1"),
        db.execute("INSERT INTO doomed (x) VALUES (1)"),
        db.store_x509(cert("l2"), token_id="l2"),
        return_exceptions=True,
    )
    assert all(isinstance(r, StorageError) for r in results), results
    assert count(tmp_path / "plica.db", "x509_certs") == 0
    assert count(tmp_path / "plica.db", "used_tokens") == 0
    await db.store_x509(cert("l3"), token_id="l3")  # the connection is usable again
    assert count(tmp_path / "plica.db", "x509_certs") == 1


async def test_the_wal_starts_over_under_steady_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Writers that never pause keep a PASSIVE checkpoint from ever catching up, and the WAL from ever
    # starting over: it grows by every page written (260 MB in 10 s of ACME orders). Here, without the
    # RESTART checkpoints, it reaches 37-54 MB; with them 4.5-9 MB (the pages written in about one
    # checkpoint interval), idle or with three busy processes beside it. The bound sits between the two
    # with room either side, since how far the WAL gets between checkpoints depends on the machine.
    from plica.storage import sqlite as engine

    monkeypatch.setattr(engine, "CHECKPOINT_INTERVAL", 0.05)
    monkeypatch.setattr(engine, "WAL_RESTART_FRAMES", 256)
    monkeypatch.setattr(engine, "WAL_SIZE_LIMIT", 256 * 1024)
    db = await opened(tmp_path / "plica.db")
    wal = tmp_path / "plica.db-wal"
    biggest = 0
    try:
        for round_ in range(800):
            await asyncio.gather(
                *(db.store_x509(cert(f"{round_}-{i}"), token_id=f"{round_}-{i}") for i in range(20))
            )
            biggest = max(biggest, wal.stat().st_size)
        assert count(tmp_path / "plica.db", "x509_certs") == 16000
    finally:
        await db.close()
    assert biggest < 20_000_000, biggest


async def test_a_group_that_cannot_begin_fails_and_the_next_one_works(
    db: SQLiteStorage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Whatever stops BEGIN (an I/O error, a full disk) must answer the waiting requests, not leave them
    # hanging on a callback that raised.
    group = db._group
    assert group is not None
    real = group._begin

    def broken() -> bool:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(group, "_begin", broken)
    results = await asyncio.gather(
        db.store_x509(cert("b1"), token_id="b1"), db.use_token("b2", "p", NOW), return_exceptions=True
    )
    assert all(isinstance(r, StorageError) and "disk I/O error" in str(r) for r in results), results
    monkeypatch.setattr(group, "_begin", real)
    await db.store_x509(cert("b3"), token_id="b3")
    assert count(tmp_path / "plica.db", "x509_certs") == 1


def test_close_leaves_no_database_thread_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """close() right after open(), while the background checkpointer's connection is still being made in
    aiosqlite's thread (each connect slowed here as by a slow disk): once close() returns, no thread calls
    back into the event loop, which the process may close next ("Event loop is closed" in that thread)."""
    real_connect = sqlite3.connect

    def slow_connect(*args: object, **kwargs: object) -> sqlite3.Connection:
        time.sleep(0.2)
        return real_connect(*args, **kwargs)  # type: ignore[arg-type]

    failures: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: failures.append(args.exc_value))
    before = set(threading.enumerate())

    async def open_and_close() -> None:
        storage = SQLiteStorage(str(tmp_path / "plica.db"))
        await storage.open()
        await asyncio.sleep(0)  # the checkpointer task, if one connects on its own, starts connecting
        await storage.close()

    monkeypatch.setattr(sqlite3, "connect", slow_connect)
    asyncio.run(open_and_close())
    for t in set(threading.enumerate()) - before:
        t.join(timeout=5)
    assert failures == []
