"""The single sign-on's redirect URI comes from the CA's configuration, never from the request's Host: a
spoofed Host is refused before any flow is stored, and `console.externalURL` wins when set. The OpenID
provider here is a local server with the discovery document and JWKS of a key this test made (the full
flow against the real oidc-provider is test_console_browser.py)."""

from __future__ import annotations

import ssl
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from plica.api import generate, public_jwk
from plica.testing import CAFiles, in_process_ca

from .conftest import configure
from .consolekit import Browser

CALLBACK = "/console/sso/callback"


@pytest_asyncio.fixture
async def provider() -> AsyncIterator[str]:
    jwk = {**public_jwk(generate("EC")), "kid": "k1", "alg": "ES256", "use": "sig"}
    base = ""

    async def disco(_: web.Request) -> web.Response:
        return web.json_response(
            {"issuer": base, "authorization_endpoint": f"{base}/auth", "token_endpoint": f"{base}/token",
             "jwks_uri": f"{base}/jwks"}
        )  # fmt: skip

    async def jwks(_: web.Request) -> web.Response:
        return web.json_response({"keys": [jwk]})

    app = web.Application()
    app.router.add_get("/.well-known/openid-configuration", disco)
    app.router.add_get("/jwks", jwks)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield base
    finally:
        await runner.cleanup()


def _with_sso(files: CAFiles, issuer: str, **console: Any) -> None:
    configure(files, **console)
    cfg = files.config()
    cfg["authority"]["provisioners"].append(
        {"type": "OIDC", "name": "sso", "clientID": "plica-console", "clientSecret": "s3cret",
         "configurationEndpoint": f"{issuer}/.well-known/openid-configuration"}
    )  # fmt: skip
    files.write_config(cfg)


async def _start(files: CAFiles, host: str | None) -> tuple[int, str, str]:
    """GET /console/sso/sso with `host` as the Host header: (status, redirect_uri sent to the provider, body)."""
    b = Browser.open(files.url, ssl.create_default_context(cafile=str(files.root)))
    try:
        headers = {"Host": host} if host else {}
        async with b.session.get(
            files.url + "/console/sso/sso", ssl=b.ssl_ctx, headers=headers, allow_redirects=False
        ) as r:
            location = r.headers.get("Location", "")
            q = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)
            return r.status, q.get("redirect_uri", [""])[0], await r.text()
    finally:
        await b.close()


async def _flows(authority: Any) -> int:
    row = await authority.storage.fetch_one("SELECT COUNT(*) FROM console_flows", ())
    return int(row[0])


async def test_redirect_uri_is_the_cas_own_name_and_a_foreign_host_is_refused(
    ca_files: CAFiles, provider: str
) -> None:
    _with_sso(ca_files, provider)
    port = urllib.parse.urlsplit(ca_files.url).port
    async with in_process_ca(ca_files) as authority:
        status, redirect, _ = await _start(ca_files, None)
        assert status == 303 and redirect == f"https://127.0.0.1:{port}{CALLBACK}", (status, redirect)
        # A configured name with another port: the CA's own port, not the Host's.
        status, redirect, _ = await _start(ca_files, "LOCALHOST:1")
        assert status == 303 and redirect == f"https://localhost:{port}{CALLBACK}", (status, redirect)
        assert await _flows(authority) == 2
        for host in (f"evil.example:{port}", "evil.example", "127.0.0.1.evil.example", "[::2]"):
            status, redirect, body = await _start(ca_files, host)
            assert status == 400 and not redirect, (host, status, redirect)
            assert "not one of this CA" in body and "Traceback" not in body
        assert await _flows(authority) == 2, "a refused sign-in stores no flow"


async def test_external_url_is_the_redirect_uri(ca_files: CAFiles, provider: str) -> None:
    _with_sso(ca_files, provider, externalURL="https://ca.example.com:8443/")
    async with in_process_ca(ca_files):
        for host in (None, "ca.example.com"):
            status, redirect, _ = await _start(ca_files, host)
            assert status == 303 and redirect == f"https://ca.example.com:8443{CALLBACK}", (host, redirect)
        status, _, _ = await _start(ca_files, "evil.example")
        assert status == 400


@pytest.mark.parametrize("bad", ["http://ca.example.com", "https://ca.example.com/?x=1", "ca.example.com"])
async def test_malformed_external_url_fails_closed(ca_files: CAFiles, provider: str, bad: str) -> None:
    _with_sso(ca_files, provider, externalURL=bad)
    async with in_process_ca(ca_files) as authority:
        status, redirect, body = await _start(ca_files, None)
        assert status == 400 and not redirect and "externalURL" in body, (status, body[:300])
        assert await _flows(authority) == 0


async def test_sign_in_reaches_the_provider(ca_files: CAFiles, provider: str) -> None:
    """The redirect goes to the provider's authorization endpoint with PKCE, as before."""
    _with_sso(ca_files, provider)
    async with in_process_ca(ca_files), aiohttp.ClientSession() as s:
        ctx = ssl.create_default_context(cafile=str(ca_files.root))
        async with s.get(ca_files.url + "/console/sso/sso", ssl=ctx, allow_redirects=False) as r:
            loc = urllib.parse.urlsplit(r.headers["Location"])
        assert f"{loc.scheme}://{loc.netloc}{loc.path}" == f"{provider}/auth"
        q = urllib.parse.parse_qs(loc.query)
        assert q["code_challenge_method"] == ["S256"] and q["client_id"] == ["plica-console"]
