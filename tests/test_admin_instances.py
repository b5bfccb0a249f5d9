"""Several instances are one CA (`enableAdmin`): two `plica start` on one PostgreSQL database, and the
workers of one `plica start --workers 2` on SQLite, see a provisioner or admin change made through any
of them within a second, without restart or SIGHUP. Real servers in subprocesses; PostgreSQL on
127.0.0.1:5432 (or PLICA_TEST_POSTGRES), a fresh database per test, dropped afterwards."""

from __future__ import annotations

import asyncio
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import attrs
import pytest

from plica.testing import (
    POSTGRES_ADMIN_URL,
    CAFiles,
    ca_process,
    free_port,
    make_ca,
    postgres_database,
    postgres_listening,
)
from plica.testing.httpapi import Api
from plica.testing.tokens import admin_key

from .admin_helpers import Admin, credentials, jwk_body, jwk_provisioner, refused

asyncpg = pytest.importorskip("asyncpg", reason="asyncpg (the `postgres` extra) is not installed")

pytestmark = [pytest.mark.asyncio, pytest.mark.slow]


@pytest.fixture
def database() -> Iterator[str]:
    if not postgres_listening():
        pytest.fail(
            f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL} (run .ci/system-deps.sh)", pytrace=False
        )
    with postgres_database("plica_remote") as url:
        yield url


def second_instance(files: CAFiles, tmp: Path) -> CAFiles:
    """The same CA (keys, database) on another port, with a home of its own (not A's pid file, which
    names a running CA, nor A's log)."""
    home = tmp / "b"
    shutil.copytree(files.home, home, ignore=shutil.ignore_patterns("run", "*.log"))
    b = attrs.evolve(files, home=home, config_path=home / "config" / "ca.json", port=free_port())
    cfg = b.config()
    cfg["address"] = f"127.0.0.1:{b.port}"
    b.write_config(cfg)
    return b


async def until(fn: Any, timeout: float = 1.0) -> float:
    """Seconds until `fn()` returns true (polling); fails after `timeout`."""
    start = time.monotonic()
    while True:
        if await fn():
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            pytest.fail(f"not within {timeout} s")
        await asyncio.sleep(0.02)


async def test_two_instances_on_postgresql(tmp_path: Path, database: str) -> None:
    a = make_ca(tmp_path)
    cfg = a.config()
    cfg["db"] = {"type": "postgresql", "dataSource": database}
    cfg["authority"]["enableAdmin"] = True
    a.write_config(cfg)
    with ca_process(a):  # the first start migrates; B starts on the migrated database
        b = second_instance(a, tmp_path)
        with ca_process(b):
            async with aiohttp.ClientSession() as session:
                api_a, api_b = Api(a, session), Api(b, session)
                step_a = Admin(api_a, await credentials(api_a, admin_key(a), "step"))
                conn = await asyncpg.connect(database)
                try:
                    version = await conn.fetchval("SELECT version FROM config_state")
                    # a refused create through B: no row, no change for anyone to pick up
                    step_b = Admin(api_b, step_a.creds)
                    assert refused(
                        *await step_b("POST", "/admin/provisioners", jwk_body("admin")), 400, "badRequest"
                    )
                    assert await conn.fetchval("SELECT version FROM config_state") == version

                    # a provisioner added through A signs on B within a second
                    body, key = jwk_provisioner("dev")
                    status, _ = await step_a("POST", "/admin/provisioners", body)
                    assert status == 201

                    async def signs_on_b() -> bool:
                        reply, _ = await api_b.sign(key, "dev.example")
                        return reply.status == 201

                    took = await until(signs_on_b)
                    print(f"provisioner added on A signs on B after {took * 1000:.0f} ms")
                    assert await conn.fetchval("SELECT version FROM config_state") == version + 1

                    # an admin removed through B is refused on A at its next call
                    status, carl = await step_a(
                        "POST", "/admin/admins", {"subject": "carl", "provisioner": "admin", "type": 1}
                    )
                    assert status == 201
                    carl_a = Admin(api_a, await credentials(api_b, admin_key(a), "carl"))
                    assert (await carl_a("GET", "/admin/provisioners"))[0] == 200
                    assert (await step_b("DELETE", f"/admin/admins/{carl['id']}"))[0] == 200
                    assert "no admin" in refused(
                        *await carl_a("GET", "/admin/provisioners"), 401, "unauthorized"
                    )

                    # a provisioner removed through B stops signing on A within a second
                    assert (await step_b("DELETE", "/admin/provisioners/dev"))[0] == 200

                    async def refused_on_a() -> bool:
                        reply, _ = await api_a.sign(key, "dev.example")
                        return reply.status == 401

                    await until(refused_on_a)

                    # two super admins removed at once through A and B: exactly one goes, one stays
                    status, dora = await step_a(
                        "POST", "/admin/admins", {"subject": "dora", "provisioner": "admin", "type": 2}
                    )
                    assert status == 201
                    step_id = await conn.fetchval("SELECT id FROM admins WHERE subject = 'step'")
                    results = await asyncio.gather(
                        step_a("DELETE", f"/admin/admins/{step_id}"),
                        step_b("DELETE", f"/admin/admins/{dora['id']}"),
                    )
                    assert sorted(status for status, _ in results) == [200, 400], results
                    assert await conn.fetchval("SELECT COUNT(*) FROM admins WHERE type = 'SUPER_ADMIN'") == 1
                finally:
                    await conn.close()


async def test_workers_of_one_start_on_sqlite(tmp_path: Path) -> None:
    files = make_ca(tmp_path)
    files.update_config(enableAdmin=True)
    with ca_process(files, workers=2) as proc:
        async with aiohttp.ClientSession() as session:
            api = Api(files, session)
            step = Admin(api, await credentials(api, admin_key(files), "step"))
            body, key = jwk_provisioner("dev")
            assert (await step("POST", "/admin/provisioners", body))[0] == 201
            await asyncio.sleep(1.0)
            # SIGHUP re-reads ca.json; the provisioners stay the database's
            proc.send_signal(signal.SIGHUP)
            await asyncio.sleep(0.5)
            assert "dev" in [p["name"] for p in await api.provisioners()]
        # A second after the change every worker has it: 20 fresh connections (spread over the two
        # workers by SO_REUSEPORT) all sign with it.
        statuses = []
        for _ in range(20):
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as s:
                reply, _ = await Api(files, s).sign(key, "dev.example")
                statuses.append(reply.status)
        assert statuses == [201] * 20
