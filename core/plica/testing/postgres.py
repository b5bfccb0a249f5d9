"""A PostgreSQL database of a test's own: created with a random name on the server that
`PLICA_TEST_POSTGRES` names (an admin URL; PostgreSQL on 127.0.0.1:5432 with trust auth for `postgres` by
default, as .ci/system-deps.sh leaves it), and dropped afterwards even while connections to it are open."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

POSTGRES_ADMIN_URL = os.environ.get("PLICA_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


def postgres_listening(url: str = POSTGRES_ADMIN_URL) -> bool:
    """Whether anything accepts connections at the server's address (for tests that skip without it)."""
    parts = urlsplit(url)
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex((parts.hostname or "127.0.0.1", parts.port or 5432)) == 0


def database_url(admin_url: str, name: str) -> str:
    """`admin_url` with its database replaced by `name`."""
    return urlunsplit(urlsplit(admin_url)._replace(path="/" + name))


def _admin(url: str, sql: str) -> None:
    """Run one statement; on a thread of its own, so that fixtures inside an event loop can call it too."""
    import asyncpg  # the postgres extra: only PostgreSQL tests need it

    async def run() -> None:
        conn = await asyncpg.connect(url, timeout=10)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    with ThreadPoolExecutor(1, thread_name_prefix="plica-test-postgres") as pool:
        pool.submit(asyncio.run, run()).result()  # raises what the statement raised


@contextmanager
def postgres_database(prefix: str = "plica_test", admin_url: str = POSTGRES_ADMIN_URL) -> Iterator[str]:
    """A new, empty database named `<prefix>_<random>`: its URL; dropped on exit."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    _admin(admin_url, f'CREATE DATABASE "{name}"')
    try:
        yield database_url(admin_url, name)
    finally:
        _admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
