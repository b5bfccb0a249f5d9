"""The provider as the CA meets it over time: down when the CA starts (503 "provider unreachable", then
working once it is up, no restart), answering garbage or hanging (503 naming why), and rotating its keys
(picked up on the first token with the new `kid`, no restart)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from plica.testing import Api, CAFiles, csr_pem, db_counts, ec_key, free_port, in_process_ca, make_csr

from .conftest import login_token
from .oidckit import Provider


@pytest.fixture
def fast_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """The key sources' schedule in seconds instead of minutes (the policy is the kernel's; the test is that
    the provisioner follows it without a restart)."""
    monkeypatch.setattr("plica.keysources.RETRY_MIN", 0.2)
    monkeypatch.setattr("plica.keysources.RETRY_MAX", 0.5)
    monkeypatch.setattr("plica.keysources.ON_DEMAND_INTERVAL", 0.2)
    monkeypatch.setattr("plica.keysources.FETCH_TIMEOUT", 1.0)


async def sign(api: Api, ott: str, name: str = "alice@example.com"):  # type: ignore[no-untyped-def]
    return await api.post("/sign", {"csr": csr_pem(make_csr(ec_key(), name, [name])), "ott": ott})


async def until_signed(api: Api, ott: str, timeout: float = 20) -> list[int]:
    """POST /sign until it succeeds; the statuses seen on the way."""
    seen: list[int] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = await sign(api, ott)
        seen.append(r.status)
        if r.status == 201:
            return seen
        assert r.status in (401, 503), r.raw
        await asyncio.sleep(0.2)
    raise AssertionError(f"never signed: {seen}")


async def test_provider_down_at_start(
    ca_files: CAFiles, session: aiohttp.ClientSession, tmp_path: Path, fast_keys: None
) -> None:
    provider = Provider(tmp_path, port=free_port())  # not started: nothing listens there
    ca_files.add_provisioner(provider.block())
    async with in_process_ca(ca_files):
        api = Api(ca_files, session)
        before = db_counts(ca_files)
        r = await sign(api, provider.forge({}))
        body = r.error()
        assert r.status == 503 and "provider unreachable" in body["message"], body
        assert provider.issuer in body["message"], body
        assert db_counts(ca_files) == before
        provider.start()
        try:
            tok = await asyncio.to_thread(login_token, provider, "alice")
            seen = await until_signed(api, tok)
            assert set(seen[:-1]) <= {503}, seen
            # Down again: the CA keeps the keys it fetched, and a token issued before still verifies.
            tok = await asyncio.to_thread(login_token, provider, "alice")
            provider.stop()
            assert (await sign(api, tok)).status == 201
        finally:
            provider.stop()


@pytest.fixture
async def bad_provider() -> AsyncIterator[Callable[[str], str]]:
    """A server at 127.0.0.1 whose discovery document is garbage (`/garbage`) or never comes (`/hang`)."""

    async def garbage(request: web.Request) -> web.Response:
        return web.Response(text="<html>not JSON</html>")

    async def hang(request: web.Request) -> web.Response:
        await asyncio.sleep(3600)
        raise AssertionError

    app = web.Application()
    app.router.add_get("/garbage/.well-known/openid-configuration", garbage)
    app.router.add_get("/hang/.well-known/openid-configuration", hang)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield lambda path: f"http://127.0.0.1:{port}{path}"
    finally:
        await runner.cleanup()


async def test_provider_answers_garbage_or_hangs(
    ca_files: CAFiles,
    session: aiohttp.ClientSession,
    tmp_path: Path,
    fast_keys: None,
    bad_provider: Callable[[str], str],
) -> None:
    provider = Provider(tmp_path)
    for name in ("garbage", "hang"):
        ca_files.add_provisioner(
            {
                **provider.block(name, client_id=f"client-{name}"),
                "configurationEndpoint": bad_provider(f"/{name}"),
            }
        )
    async with in_process_ca(ca_files):
        api = Api(ca_files, session)
        before = db_counts(ca_files)
        for name, why in (("garbage", "did not answer JSON"), ("hang", "TimeoutError")):
            r = await sign(api, provider.forge({"aud": f"client-{name}"}))
            body = r.error()
            assert r.status == 503 and "provider unreachable" in body["message"], body
            assert why in body["message"], body
        assert db_counts(ca_files) == before


async def test_key_rotation_without_restart(
    ca_files: CAFiles,
    provider: Provider,
    session: aiohttp.ClientSession,
    fast_keys: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The provider says its keys may be kept for an hour: only the unknown kid makes the CA look again.
    provider.stop()
    provider.cache_control = "public, max-age=3600"
    provider.start()
    ca_files.add_provisioner(provider.block())
    async with in_process_ca(ca_files):
        api = Api(ca_files, session)
        tok = await asyncio.to_thread(login_token, provider, "alice")
        assert (await sign(api, tok)).status == 201
        old_kids = {k.kid for k in provider.keys}
        provider.rotate()
        assert not old_kids & {k.kid for k in provider.keys}
        tok = await asyncio.to_thread(login_token, provider, "alice")
        seen = await until_signed(api, tok)
        # The first try named a kid the CA did not have yet (401, nothing spent); then it had it.
        assert seen[0] == 401 and set(seen[:-1]) <= {401}, seen
        # A flood of unknown kids with the kernel's floor (one early fetch per 30 s): refused every time,
        # and the provider asked at most once more.
        monkeypatch.setattr("plica.keysources.ON_DEMAND_INTERVAL", 30.0)
        fetched = provider.jwks_fetches
        for _ in range(50):
            r = await sign(api, provider.forge({}, kid="nobody-has-this-kid"))
            assert r.status == 401 and "does not verify" in r.error()["message"]
        await asyncio.sleep(0.5)
        assert provider.jwks_fetches - fetched <= 1


async def test_keys_refreshed_as_cache_control_says(
    ca_files: CAFiles,
    provider: Provider,
    session: aiohttp.ClientSession,
    fast_keys: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("plica.keysources.MIN_TTL", 0.5)
    provider.stop()
    provider.cache_control = "max-age=1"
    provider.start()
    ca_files.add_provisioner(provider.block())
    async with in_process_ca(ca_files):
        api = Api(ca_files, session)
        provider.rotate()
        fetched = provider.jwks_fetches
        # No token has named the new kid yet: the CA fetches again on its own when max-age runs out.
        deadline = time.monotonic() + 15
        while provider.jwks_fetches == fetched:
            assert time.monotonic() < deadline, "the CA never fetched the keys again"
            await asyncio.sleep(0.2)
        await asyncio.sleep(0.3)
        tok = await asyncio.to_thread(login_token, provider, "alice")
        assert (await sign(api, tok)).status == 201


# Two tests in this order, in one process: the second's provider takes the first's port, with new keys.
_FIRST_PORT: list[int] = []


@pytest.mark.parametrize("turn", ["first", "second"])
async def test_a_later_test_on_the_same_port_gets_its_own_keys(
    turn: str, ca_files: CAFiles, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """Key sources are shared process-wide by URL (a reload finds its keys). Under pytest-xdist a provider
    in a later test once got an earlier test's port, and its CA verified with the earlier keys: 401 on a
    good token. Each test now starts with none, as `plica start` does (plica.testing's `_fresh_key_sources`)."""
    provider = Provider(tmp_path, port=_FIRST_PORT[0] if _FIRST_PORT else free_port()).start()
    try:
        _FIRST_PORT[:] = [provider.port]
        ca_files.add_provisioner(provider.block())
        async with in_process_ca(ca_files):
            r = await sign(Api(ca_files, session), provider.forge({}))
            assert r.status == 201, (turn, r.raw)
    finally:
        provider.stop()
