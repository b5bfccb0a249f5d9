"""An ID token is used once across every instance sharing one PostgreSQL database: spent on the first, it is
refused on the second, and two instances racing with the same token issue one certificate.

Needs PostgreSQL on 127.0.0.1:5432 with trust auth for `postgres` (or PLICA_TEST_POSTGRES, the URL of a
database its user may create databases from); each test makes its own database and drops it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator

import aiohttp
import attrs
import pytest

from plica.testing import (
    Api,
    CAFiles,
    csr_pem,
    ec_key,
    free_port,
    in_process_ca,
    make_csr,
    postgres_database,
    postgres_listening,
)

from .oidckit import Provider

asyncpg = pytest.importorskip("asyncpg", reason="asyncpg (the `postgres` extra) is not installed")


if not postgres_listening():
    pytest.skip("nothing listens at PostgreSQL's address", allow_module_level=True)


@pytest.fixture
def pg_url() -> Iterator[str]:
    with postgres_database("plica_oidc") as url:
        yield url


async def sign(api: Api, ott: str):  # type: ignore[no-untyped-def]
    name = "alice@example.com"
    return await api.post("/sign", {"csr": csr_pem(make_csr(ec_key(), name, [name])), "ott": ott})


async def test_replay_refused_on_another_instance(
    ca_files: CAFiles,
    provider: Provider,
    id_token: Callable[..., str],
    pg_url: str,
    session: aiohttp.ClientSession,
) -> None:
    cfg = ca_files.config()
    cfg["db"] = {"type": "postgresql", "dataSource": pg_url}
    ca_files.write_config(cfg)
    ca_files.add_provisioner(provider.block())
    other = attrs.evolve(ca_files, port=free_port())
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(in_process_ca(ca_files))
        await stack.enter_async_context(in_process_ca(other))
        one, two = Api(ca_files, session), Api(other, session)
        tok = await asyncio.to_thread(id_token, "alice")
        assert (await sign(one, tok)).status == 201
        r = await sign(two, tok)
        assert r.status == 401 and "already used" in r.error()["message"], r.raw
        # Both instances at once with a fresh token: one certificate.
        tok = await asyncio.to_thread(id_token, "alice")
        replies = await asyncio.gather(sign(one, tok), sign(two, tok))
        assert sorted(r.status for r in replies) == [201, 401], [r.raw for r in replies]
    # The two certificates are in the shared database, nowhere else.
    conn = await asyncpg.connect(pg_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM x509_certs") == 2
    finally:
        await conn.close()
