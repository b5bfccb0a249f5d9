"""Group commit for the SQLite engine's writes on the event loop.

Every write a worker's requests ask for during one turn of the event loop is run in one transaction at
the end of that turn: one write lock, one commit, one page-cache refresh for the whole group instead of
one per statement. With several worker processes sharing the file that is what writes cost most: each
commit by another process invalidates this connection's page cache, and each lock taken is a chance to
find the other process holding it. Each write still succeeds or fails on its own: a statement that breaks
a constraint is undone by SQLite alone (its conflict resolution is ABORT) and a group of statements
(`execute_many`) runs inside a savepoint, so one request's replayed token never fails its neighbours.
A caller's await returns only once its write is committed, so what a request answers is durable as
before, and it reads its own writes.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import Any

from plica.storage.base import StorageError

Statement = tuple[str, Sequence[Any]]
# One write: a single statement (its row count is the result) or a list of statements that stand or fall
# together (the result is None).
Write = tuple[str | None, Sequence[Any] | Sequence[Statement]]


def is_busy(e: sqlite3.OperationalError) -> bool:
    text = str(e)
    return "locked" in text or "busy" in text


class GroupCommit:
    def __init__(
        self,
        conn: sqlite3.Connection,
        *,
        classify: Callable[[sqlite3.IntegrityError], Exception],
        lock_wait: float,
        lock_spin: float,
    ) -> None:
        self.conn = conn
        self.classify = classify
        self.lock_wait = lock_wait
        self.lock_spin = lock_spin
        self._pending: list[tuple[Write, asyncio.Future[Any], float]] = []
        self._scheduled = False

    def submit(self, write: Write) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        self._pending.append((write, fut, time.monotonic() + self.lock_wait))
        if not self._scheduled:
            self._scheduled = True
            # call_soon runs after every callback already queued for this turn: the requests resumed in
            # this turn all add their writes before the group is committed.
            loop.call_soon(self._flush)
        return fut

    def _flush(self) -> None:
        batch = [p for p in self._pending if not p[1].done()]  # a cancelled request's write is dropped
        self._pending = []
        if not batch:
            self._scheduled = False
            return
        try:
            began = self._begin()
        except Exception as e:  # e.g. an I/O error: this group fails, the next one tries afresh
            self._scheduled = False
            err = StorageError(f"the database refused the write: {e}")
            for _, fut, _ in batch:
                fut.set_exception(err)
            return
        if not began:
            now = time.monotonic()
            for _, fut, deadline in batch:
                if now > deadline:
                    fut.set_exception(StorageError("the database stayed locked for too long"))
            # Still locked after a short wait in place: try again shortly, without blocking the loop. New
            # writes join this retry (self._scheduled stays set).
            self._pending = [p for p in batch if not p[1].done()] + self._pending
            asyncio.get_running_loop().call_later(random.uniform(0.0002, 0.002), self._flush)
            return
        self._scheduled = False
        self._run(batch)

    def _begin(self) -> bool:
        """BEGIN IMMEDIATE, waiting up to lock_spin in place while another process holds the lock."""
        spin_until = 0.0
        while True:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                return True
            except sqlite3.OperationalError as e:
                if not is_busy(e):
                    raise
            now = time.monotonic()
            if not spin_until:
                spin_until = now + self.lock_spin
            if now >= spin_until:
                return False
            # Another process holds the write lock for one short commit (~50-300 µs). Waiting here blocks
            # the loop that long; an asyncio pause instead would put every request of the group behind
            # everything else the loop has ready (at concurrency 32, ~15 ms of other requests).
            time.sleep(0.00005)

    def _run(self, batch: list[tuple[Write, asyncio.Future[Any], float]]) -> None:
        conn = self.conn
        outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
        try:
            for (sql, params), fut, _ in batch:
                try:
                    if sql is not None:
                        outcomes.append((fut, conn.execute(sql, params).rowcount, None))
                    else:
                        self._savepoint(params)  # type: ignore[arg-type]
                        outcomes.append((fut, None, None))
                except Exception as e:
                    if not conn.in_transaction:
                        # SQLite gave up the whole transaction (a full disk, an I/O error, a trigger's
                        # RAISE(ROLLBACK)): every write of the group is lost, so every one of them fails.
                        raise
                    error = self.classify(e) if isinstance(e, sqlite3.IntegrityError) else e
                    outcomes.append((fut, None, error))
            conn.execute("COMMIT")
        except BaseException as e:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            err = StorageError(f"the database refused the write: {e}")
            for _, fut, _ in batch:
                if not fut.done():
                    fut.set_exception(err)
            if not isinstance(e, Exception):
                raise
            return
        for fut, result, error in outcomes:
            if fut.done():
                continue
            if error is not None:
                fut.set_exception(error)
            else:
                fut.set_result(result)

    def _savepoint(self, statements: Sequence[Statement]) -> None:
        conn = self.conn
        conn.execute("SAVEPOINT plica_write")
        try:
            for sql, params in statements:
                conn.execute(sql, params)
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK TO plica_write")
                conn.execute("RELEASE plica_write")
            raise
        conn.execute("RELEASE plica_write")

    def fail_pending(self, error: Exception) -> None:
        """Fail the writes not yet committed (the storage is closing)."""
        pending, self._pending = self._pending, []
        for _, fut, _ in pending:
            if not fut.done():
                fut.set_exception(error)
