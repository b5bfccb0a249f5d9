"""SQLite engine (the embedded default), through aiosqlite.

WAL mode with synchronous=NORMAL: a commit survives a crash of the process (the WAL is on disk); only an
OS crash or power loss can lose the last commits. That is the trade docs/performance.md measured (-33 % CPU)
and the one most embedded CAs make; `?synchronous=FULL` in `dataSource` selects the stricter mode.
In that mode (the default) queries run inline on the event loop, and the writes of one loop turn are
committed together (`group_commit.py`); with `?synchronous=FULL` every query goes through aiosqlite's
thread, one statement and one commit at a time, and multi-statement transactions hold a lock so
concurrent requests never join them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs

import aiosqlite

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
from plica.storage.group_commit import GroupCommit, is_busy
from plica.types import Migration

T = TypeVar("T")
LOCK_SPIN = 0.002  # seconds a lock wait may block the event loop before it yields
CHECKPOINT_INTERVAL = 0.25  # seconds between background WAL checkpoints (shorter ones: lower p99)
WAL_RESTART_FRAMES = 32768  # WAL frames (pages) beyond which a checkpoint makes the next commit restart it
WAL_SIZE_LIMIT = 128 * 1024 * 1024  # bytes a WAL file is cut back to when it starts over
LOCK_WAIT = 10.0  # seconds a write may wait for another process's write lock


def _classify(e: sqlite3.IntegrityError) -> StorageError:
    msg = str(e)
    if "used_tokens.id" in msg:
        return TokenReused("token already used")
    if "revoked_x509_certs.serial" in msg or "revoked_ssh_certs.serial" in msg:
        return AlreadyRevoked("already revoked")
    if "UNIQUE constraint failed" in msg or "PRIMARY KEY" in msg:
        return UniqueViolation(msg)
    return StorageError(msg)


class _Section:
    """Statements inside `SQLiteStorage.exclusive`, on the connection that holds the write lock."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self.db = db

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        try:
            cur = await self.db.execute(sql, params)
        except sqlite3.IntegrityError as e:
            raise _classify(e) from None
        return cur.rowcount

    async def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        async with self.db.execute(sql, params) as cur:
            row = await cur.fetchone()
        return tuple(row) if row is not None else None

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        async with self.db.execute(sql, params) as cur:
            rows = await cur.fetchall()
        return [tuple(r) for r in rows]


class SQLiteStorage(Storage):
    engine = "sqlite"

    def __init__(self, data_source: str) -> None:
        path, _, query = data_source.partition("?")
        self.path = path
        opts = {k: v[-1] for k, v in parse_qs(query).items()}
        self.synchronous = opts.get("synchronous", "NORMAL").upper()
        if self.synchronous not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise StorageError(f"invalid synchronous mode {self.synchronous!r}")
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        self._checkpointer: asyncio.Task[None] | None = None
        self._checkpoint_db: aiosqlite.Connection | None = None
        self._inline: sqlite3.Connection | None = None
        self._group: GroupCommit | None = None
        self._lock_spin = LOCK_SPIN

    @property
    def lock_spin(self) -> float:
        """How long a lock wait may block the event loop before the write yields (see GroupCommit)."""
        return self._lock_spin

    @lock_spin.setter
    def lock_spin(self, seconds: float) -> None:
        self._lock_spin = seconds
        if self._group is not None:
            self._group.lock_spin = seconds

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise StorageError("storage is not open")
        return self._db

    async def open(self) -> None:
        if self.path != ":memory:":
            private_db_files(Path(self.path))
        self._db = await aiosqlite.connect(self.path, isolation_level=None)
        await self._db.execute("PRAGMA journal_mode=WAL")
        await self._db.execute(f"PRAGMA synchronous={self.synchronous}")
        # Several worker processes share the file. SQLite's own busy handler sleeps 1, 2, 5, 10, ... ms
        # while another process holds the write lock, which stalls every query queued behind it (p99 of
        # 170 ms at concurrency 32 with two workers). Instead the lock is retried from the event loop
        # after a short random pause (`_retrying`), and WAL checkpoints run in the background on their
        # own connection rather than inside whichever request's commit crosses the threshold.
        await self._db.execute("PRAGMA busy_timeout=0")
        await self._db.execute("PRAGMA wal_autocheckpoint=0")
        await self._db.execute("PRAGMA foreign_keys=ON")
        if self.path != ":memory:":
            # Connected here rather than in the task: a task cancelled while aiosqlite's thread is still
            # connecting leaves that thread to call back into the loop after close() returned, and into a
            # closed loop if the process is stopping ("Event loop is closed" from the thread).
            self._checkpoint_db = await aiosqlite.connect(self.path, isolation_level=None)
            self._checkpointer = asyncio.get_running_loop().create_task(
                self._checkpoint_forever(self._checkpoint_db)
            )
            if self.synchronous in ("OFF", "NORMAL"):
                # Queries run inline on the event loop: in WAL with synchronous=NORMAL a commit does not
                # wait for the disk (~50 µs) and reads never wait for writers, both less than a hop to
                # aiosqlite's thread and back (~150 µs of CPU, plus waiting for the GIL). With FULL every
                # commit waits for an fsync, so then everything goes through aiosqlite.
                self._inline = sqlite3.connect(self.path, isolation_level=None, check_same_thread=True)
                self._inline.execute("PRAGMA busy_timeout=0")
                self._inline.execute(f"PRAGMA synchronous={self.synchronous}")
                self._inline.execute("PRAGMA wal_autocheckpoint=0")
                # The commit that starts the WAL over cuts the file back to this size.
                self._inline.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
                self._group = GroupCommit(
                    self._inline, classify=_classify, lock_wait=LOCK_WAIT, lock_spin=self._lock_spin
                )

    async def _checkpoint_forever(self, conn: aiosqlite.Connection) -> None:
        """WAL checkpoints on `conn` until cancelled; `close` closes `conn`."""
        await conn.execute("PRAGMA busy_timeout=1000")
        await conn.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
        while True:
            await asyncio.sleep(CHECKPOINT_INTERVAL)
            try:
                async with conn.execute("PRAGMA wal_checkpoint(PASSIVE)") as cur:
                    row = await cur.fetchone()
                if row is not None and row[1] > WAL_RESTART_FRAMES:
                    # Under steady load a PASSIVE checkpoint never catches up with the writers, so the
                    # WAL is never started over: it grew to 260 MB in 10 s of ACME orders, and every
                    # page lookup searches its whole index (CPU per request rose ~25 %). A RESTART
                    # checkpoint holds the writers off while it copies the frames the PASSIVE one left
                    # (a few ms) so that the next commit starts the WAL from the beginning.
                    await conn.execute("PRAGMA wal_checkpoint(RESTART)")
            except sqlite3.OperationalError:
                pass  # another process is checkpointing; the next round catches up

    async def _retrying(self, op: Callable[[], Awaitable[T]]) -> T:
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            try:
                return await op()
            except sqlite3.OperationalError as e:
                if not is_busy(e):
                    raise
                if time.monotonic() > deadline:
                    raise StorageError("the database stayed locked for too long") from None
            await asyncio.sleep(random.uniform(0.0002, 0.002))

    async def _write_inline(self, sql: str, params: Sequence[Any]) -> int:
        assert self._group is not None
        return int(await self._group.submit((sql, params)))

    async def _inline_retrying(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the inline connection; while another process holds the write lock, retry after
        short random pauses."""
        deadline = spin_until = 0.0
        while True:
            try:
                return fn()
            except sqlite3.IntegrityError as e:
                raise _classify(e) from None
            except sqlite3.OperationalError as e:
                if not is_busy(e):
                    raise
                now = time.monotonic()
                if not deadline:
                    deadline, spin_until = now + LOCK_WAIT, now + self._lock_spin
                elif now > deadline:
                    raise StorageError("the database stayed locked for too long") from None
                if now < spin_until:
                    # Another process holds the write lock for one short commit (~50-100 µs). Waiting for
                    # it here blocks the loop that long; an asyncio pause instead puts this request behind
                    # everything else the loop has ready (at concurrency 32, ~15 ms of other requests),
                    # which made lock waits the source of most of the p99 latency.
                    time.sleep(0.00005)
                    continue
            await asyncio.sleep(random.uniform(0.0002, 0.002))

    async def close(self) -> None:
        if self._group is not None:
            self._group.fail_pending(StorageError("storage is closing"))
            self._group = None
        if self._inline is not None:
            self._inline.close()
            self._inline = None
        if self._checkpointer is not None:
            self._checkpointer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checkpointer
            self._checkpointer = None
        if self._checkpoint_db is not None:
            # After the statement a cancelled checkpoint left running in aiosqlite's thread, if any.
            await self._checkpoint_db.close()
            self._checkpoint_db = None
        if self._db is not None:
            await self._db.close()
            self._db = None

    async def migrate(self, migrations: Sequence[Migration]) -> list[str]:
        return await self._retrying(lambda: self._migrate(migrations))

    async def _migrate(self, migrations: Sequence[Migration]) -> list[str]:
        applied: list[str] = []
        async with self._lock:
            await self.db.execute("BEGIN IMMEDIATE")
            try:
                await self.db.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations (id TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)"
                )
                async with self.db.execute("SELECT id FROM schema_migrations") as cur:
                    done = {r[0] for r in await cur.fetchall()}
                for m in [*KERNEL_MIGRATIONS, *migrations]:
                    if m.id in done:
                        continue
                    for stmt in m.sql.get("sqlite", []):
                        await self.db.execute(stmt)
                    await backfill(m.id, self.db.execute_fetchall, self.db.executemany)
                    await self.db.execute(
                        "INSERT INTO schema_migrations (id, applied_at) VALUES (?, ?)",
                        (m.id, int(time.time())),
                    )
                    applied.append(m.id)
                await self.db.execute("COMMIT")
            except BaseException:
                if self.db.in_transaction:
                    await self.db.execute("ROLLBACK")
                raise
        return applied

    async def _write(self, sql: str, params: Sequence[Any]) -> int:
        if self._inline is not None:
            return await self._write_inline(sql, params)

        async def once() -> int:
            async with self._lock:
                cur = await self.db.execute(sql, params)
                return cur.rowcount

        try:
            return await self._retrying(once)
        except sqlite3.IntegrityError as e:
            raise _classify(e) from None

    async def store_x509(self, cert: IssuedCert, *, token_id: str | None) -> None:
        await self._write(
            "INSERT INTO x509_certs (serial, der, provisioner_id, provisioner_name, provisioner_type, not_after,"
            " issued_at, token_id, names) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            cert.row(int(time.time()), token_id),
        )

    async def get_x509(self, serial: str) -> IssuedCert | None:
        row = await self.fetch_one(
            "SELECT serial, der, provisioner_id, provisioner_name, provisioner_type, not_after, names"
            " FROM x509_certs WHERE serial = ?",
            (serial,),
        )
        return IssuedCert(*row) if row else None

    async def is_x509_revoked(self, serial: str) -> bool:
        return (
            await self.fetch_one("SELECT 1 FROM revoked_x509_certs WHERE serial = ?", (serial,)) is not None
        )

    async def _store_ssh(self, cert: IssuedSSHCert, *, token_id: str | None, now: int) -> None:
        stmts: list[tuple[str, Sequence[Any]]] = [
            (
                "INSERT INTO ssh_certs (serial, cert, cert_type, key_id, provisioner_id, provisioner_name,"
                " provisioner_type, valid_before, issued_at, token_id, names)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                cert.row(now, token_id),
            )
        ]
        if cert.cert_type == "host":
            stmts += [
                (
                    "INSERT OR REPLACE INTO ssh_host_principals (principal, serial, valid_before) VALUES (?, ?, ?)",
                    (p, cert.serial, cert.valid_before),
                )
                for p in cert.principals
            ]
        if len(stmts) == 1:
            await self._write(*stmts[0])
        else:
            await self.execute_many(stmts)

    async def _revoke(self, revocation: Revocation, token_id: str | None) -> None:
        # The table's trigger records the token (see KERNEL_MIGRATIONS).
        await self._write(revocation.insert(), revocation.params(token_id))

    async def is_ssh_revoked(self, serial: str) -> bool:
        return await self.fetch_one("SELECT 1 FROM revoked_ssh_certs WHERE serial = ?", (serial,)) is not None

    async def ssh_host_exists(self, principal: str, now: int) -> bool:
        row = await self.fetch_one(
            "SELECT 1 FROM ssh_host_principals h WHERE h.principal = ? AND h.valid_before > ?"
            " AND NOT EXISTS (SELECT 1 FROM revoked_ssh_certs r WHERE r.serial = h.serial)",
            (principal, now),
        )
        return row is not None

    async def use_token(self, token_id: str, provisioner_id: str, now: int) -> None:
        await self._write(
            "INSERT INTO used_tokens (id, provisioner, used_at) VALUES (?, ?, ?)",
            (token_id, provisioner_id, now),
        )

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return await self._write(sql, params)

    async def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        if self._inline is not None:
            # Reads in WAL mode never wait for writers: ~11 µs inline against 100-200 µs of CPU for the
            # hops to aiosqlite's thread (measured by bench/acme_bench.py, ~14 reads per ACME order).
            conn = self._inline
            row = await self._inline_retrying(lambda: conn.execute(sql, params).fetchone())
            return tuple(row) if row is not None else None

        async def once() -> tuple[Any, ...] | None:
            async with self._lock, self.db.execute(sql, params) as cur:
                row = await cur.fetchone()
            return tuple(row) if row is not None else None

        return await self._retrying(once)

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        if self._inline is not None:
            conn = self._inline
            rows = await self._inline_retrying(lambda: conn.execute(sql, params).fetchall())
            return [tuple(r) for r in rows]

        async def once() -> list[tuple[Any, ...]]:
            async with self._lock, self.db.execute(sql, params) as cur:
                rows = await cur.fetchall()
            return [tuple(r) for r in rows]

        return await self._retrying(once)

    async def execute_many(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
        if self._inline is not None:
            assert self._group is not None
            await self._group.submit((None, list(statements)))
            return
        await self._retrying(lambda: self._transaction(statements))

    async def _transaction(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
        async with self._lock:
            await self.db.execute("BEGIN IMMEDIATE")
            try:
                for sql, params in statements:
                    await self.db.execute(sql, params)
                await self.db.execute("COMMIT")
            except sqlite3.IntegrityError as e:
                await self.db.execute("ROLLBACK")
                raise _classify(e) from None
            except BaseException:
                if self.db.in_transaction:
                    await self.db.execute("ROLLBACK")
                raise

    @contextlib.asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[Section]:
        # SQLite has one write lock per file: BEGIN IMMEDIATE takes it, so every process sharing the file
        # waits for this section (and it sees every commit made before), whatever `name` is.
        async with self._lock:
            await self._retrying(lambda: self.db.execute("BEGIN IMMEDIATE"))
            try:
                yield _Section(self.db)
            except BaseException:
                if self.db.in_transaction:
                    await self.db.execute("ROLLBACK")
                raise
            await self.db.execute("COMMIT")


def private_db_files(path: Path) -> None:
    """The database file 0600 before SQLite opens it (it creates the -wal and -shm files with the main
    file's mode), and an existing database, WAL and SHM of a looser mode tightened: they hold issued
    certificates, one-time token ids and ACME accounts, no business of other local users."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            if p.stat().st_mode & 0o077:
                os.chmod(p, 0o600)
        except FileNotFoundError:
            pass
