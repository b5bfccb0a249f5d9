"""plica.keysources against a real provider: an aiohttp server on 127.0.0.1 (plain http, which `check_url`
allows to a loopback address) serving an OpenID discovery document and a JWKS that the test changes while the
application runs. Timing knobs are the module's constants, made small with monkeypatch."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web
from attrs import define, field
from cryptography.hazmat.primitives.asymmetric import ec

from plica import keysources
from plica.jose import public_jwk
from plica.keysources import KeySource, check_url, key_source, refresh_key_sources
from plica.testing import free_port


@define
class Provider:
    """What an identity provider publishes; change it while the CA runs."""

    port: int
    keys: dict[str, Any] = field(factory=dict)  # kid -> private key
    max_age: int | None = 3600
    fail: bool = False
    issuer_named: str | None = None  # what the discovery document says (default: the right issuer)
    jwks_uri: str | None = None
    hits: dict[str, int] = field(factory=dict)

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def jwks_url(self) -> str:
        return f"{self.issuer}/jwks"

    def rotate(self, kid: str) -> None:
        self.keys[kid] = ec.generate_private_key(ec.SECP256R1())

    def app(self) -> web.Application:
        async def discovery(request: web.Request) -> web.Response:
            self.hits["discovery"] = self.hits.get("discovery", 0) + 1
            if self.fail:
                return web.json_response({"message": "unavailable"}, status=503)
            return web.json_response(
                {"issuer": self.issuer_named or self.issuer, "jwks_uri": self.jwks_uri or self.jwks_url}
            )

        async def jwks(request: web.Request) -> web.Response:
            self.hits["jwks"] = self.hits.get("jwks", 0) + 1
            if self.fail:
                return web.json_response({"message": "unavailable"}, status=503)
            headers = {"Cache-Control": f"public, max-age={self.max_age}"} if self.max_age is not None else {}
            body = {"keys": [{**public_jwk(k.public_key()), "kid": kid} for kid, k in self.keys.items()]}
            return web.json_response(body, headers=headers)

        app = web.Application()
        app.router.add_get("/.well-known/openid-configuration", discovery)
        app.router.add_get("/jwks", jwks)
        return app

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[Provider]:
        runner = web.AppRunner(self.app(), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port).start()
        try:
            yield self
        finally:
            await runner.cleanup()


@pytest.fixture
async def provider() -> AsyncIterator[Provider]:
    p = Provider(port=free_port())
    p.rotate("k1")
    async with p.serving():
        yield p


@contextlib.asynccontextmanager
async def ca_app(
    sources: Callable[[], list[KeySource]], name: str = "Test"
) -> AsyncIterator[web.Application]:
    """An application that refreshes `sources` as a plugin's `http_setup` would make it, started (its
    cleanup contexts entered) and stopped as the server does."""
    app = web.Application()
    refresh_key_sources(app, name, sources)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        yield app
    finally:
        await runner.cleanup()


async def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


# ============================================================================ fetching


async def test_discovery_then_jwks_before_serving(provider: Provider) -> None:
    src = key_source(provider.issuer, None)
    async with ca_app(lambda: [src]):
        # Fetched while the application started: no waiting.
        assert src.fetched and src.last_error == ""
        assert len(src.keys) == 1 and list(src.keys.candidates("k1"))
        assert src.discovered_issuer == provider.issuer
        assert provider.hits == {"discovery": 1, "jwks": 1}


async def test_a_jwks_url_is_fetched_directly(provider: Provider) -> None:
    src = key_source(None, provider.jwks_url)
    async with ca_app(lambda: [src]):
        assert src.fetched and provider.hits == {"jwks": 1}
        assert src.where == provider.jwks_url


async def test_sources_are_shared_by_location_and_trust(provider: Provider) -> None:
    # A reload loads the provisioners again; the same place gives the same source, keys and schedule.
    assert key_source(provider.issuer, None) is key_source(provider.issuer, None)
    assert key_source(None, provider.jwks_url) is not key_source(provider.issuer, None)


async def test_discovery_naming_another_issuer_is_refused(
    provider: Provider, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="plica.gcp")
    provider.issuer_named = "https://evil.example"
    src = key_source(provider.issuer, None)
    async with ca_app(lambda: [src], name="GCP"):
        assert not src.fetched and len(src.keys) == 0
        assert "names issuer 'https://evil.example'" in src.last_error
        assert provider.hits.get("jwks", 0) == 0
    assert any(
        r.name == "plica.gcp" and r.getMessage().startswith("GCP: cannot refresh keys from")
        for r in caplog.records
    )


async def test_a_discovered_jwks_uri_in_the_clear_is_refused(provider: Provider) -> None:
    provider.jwks_uri = "http://keys.example/jwks"
    src = key_source(provider.issuer, None)
    async with ca_app(lambda: [src]):
        assert not src.fetched and "must be an https URL" in src.last_error
        assert provider.hits.get("jwks", 0) == 0


def test_check_url() -> None:
    for ok in (
        "https://k.example/jwks",
        "http://127.0.0.1:8001/jwks",
        "http://[::1]/x",
        "http://localhost/x",
    ):
        assert check_url(ok, "jwksURL") == ok
    for bad, needle in [
        ("http://k.example/jwks", "must be an https URL"),
        ("http://10.0.0.1/jwks", "must be an https URL"),
        ("ftp://k.example/jwks", "must be an https URL"),
        ("https://admin:hunter2@k.example/jwks", "credentials"),
    ]:
        with pytest.raises(ValueError, match=needle) as e:
            check_url(bad, "jwksURL")
        assert str(e.value).startswith("jwksURL") and "hunter2" not in str(e.value)
    with pytest.raises(ValueError, match="https"):
        key_source(None, "http://k.example/jwks")
    with pytest.raises(ValueError, match="https"):
        key_source("http://k.example", None)


# ============================================================================ refreshing


async def test_max_age_is_honoured_with_a_floor(provider: Provider, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keysources, "MIN_TTL", 0.4)
    provider.max_age = 2
    src = key_source(None, provider.jwks_url)
    async with ca_app(lambda: [src]):
        assert src.next_refresh - src.last_attempt == pytest.approx(2, abs=0.2)
        # max-age=0 is raised to MIN_TTL: refetched about every 0.4 s, not in a loop.
        provider.max_age = 0
        await wait_until(lambda: provider.hits["jwks"] >= 2)  # the fetch that read max-age=0
        start, before = time.monotonic(), provider.hits["jwks"]
        await wait_until(lambda: provider.hits["jwks"] >= before + 3)
        assert time.monotonic() - start >= 3 * 0.4 - 0.1
        await asyncio.sleep(0.5)
        assert provider.hits["jwks"] <= before + 5


async def test_an_unknown_kid_makes_one_early_refresh(
    provider: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keysources, "ON_DEMAND_INTERVAL", 0.2)
    src = key_source(None, provider.jwks_url)
    async with ca_app(lambda: [src]):
        provider.rotate("k2")
        assert not list(src.keys.candidates("k2"))
        await asyncio.sleep(0.25)
        src.request_refresh()  # what a verifier does when no key has the token's kid
        await wait_until(lambda: bool(list(src.keys.candidates("k2"))))
        await asyncio.sleep(0.3)
        # max-age is an hour: only the unknown kid made it look again, and only once.
        assert provider.hits["jwks"] == 2


async def test_a_flood_of_unknown_kids_fetches_at_most_once_per_interval(
    provider: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keysources, "ON_DEMAND_INTERVAL", 1.5)
    src = key_source(None, provider.jwks_url)
    async with ca_app(lambda: [src]):
        await asyncio.sleep(1.6)
        for _ in range(100):  # 100 tokens naming made-up kids over one second
            src.request_refresh()
            await asyncio.sleep(0.01)
        assert provider.hits["jwks"] == 2
        await asyncio.sleep(1.6 - (time.monotonic() - src.last_attempt))
        for _ in range(20):
            src.request_refresh()
        await wait_until(lambda: provider.hits["jwks"] == 3)
        await asyncio.sleep(0.2)
        assert provider.hits["jwks"] == 3


async def test_the_ca_starts_while_the_provider_is_down(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="plica.k8ssa")
    monkeypatch.setattr(keysources, "RETRY_MIN", 0.2)
    monkeypatch.setattr(keysources, "RETRY_MAX", 0.4)
    provider = Provider(port=free_port())  # nothing listens there yet
    provider.rotate("k1")
    src = key_source(provider.issuer, None)
    async with ca_app(lambda: [src], name="K8sSA"):
        assert not src.fetched and len(src.keys) == 0
        assert src.last_error and provider.issuer.removeprefix("http://") in src.last_error
        assert any(
            r.getMessage().startswith(f"K8sSA: cannot refresh keys from {src.where}")
            and "no keys yet" in r.getMessage()
            for r in caplog.records
        )
        # The provider comes up: its keys are used without a restart.
        async with provider.serving():
            await wait_until(lambda: src.fetched)
            assert src.last_error == "" and list(src.keys.candidates("k1"))
            # Down again: the last good keys stay.
            provider.fail = True
            src.next_refresh = 0.0
            keysources._wake_refreshers()
            await wait_until(lambda: src.failures >= 1)
            assert "HTTP 503" in src.last_error and list(src.keys.candidates("k1"))


async def test_a_source_added_by_a_reload_is_fetched_at_once(provider: Provider) -> None:
    live: list[KeySource] = []
    async with ca_app(lambda: live):
        live.append(key_source(provider.issuer, None))  # the reload's provisioner
        await wait_until(lambda: live[0].fetched, timeout=2.0)  # well before IDLE_CHECK


async def test_the_refresher_lives_and_ends_with_its_application(provider: Provider) -> None:
    src = key_source(None, provider.jwks_url)
    async with ca_app(lambda: [src]) as app:
        refresher = app[keysources._app_key("Test")]
        assert refresher.task is not None and not refresher.task.done()
        with pytest.raises(ValueError, match="already"):
            refresh_key_sources(app, "Test", lambda: [])
    assert refresher.task.done() and refresher.session is not None and refresher.session.closed
    assert refresher.wake not in keysources._WAKERS
