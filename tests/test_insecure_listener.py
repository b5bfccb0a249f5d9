"""ca.json's `insecureAddress`: a plain-HTTP listener that serves only the routes marked `Route.insecure`
(a plugin's here, as SCEP's are; the kernel's CRL will be one too) and answers 404 in the error shape to
everything else, the token API above all; the TLS listener serves every route, the marked ones included.
Without `insecureAddress` nothing listens for plain HTTP and no guard is installed."""

from __future__ import annotations

import types
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from plica.api import Route, hookimpl
from plica.plugins import load_plugins
from plica.testing import Api, in_process_ca, make_ca


async def _ping(request: web.Request) -> web.Response:
    return web.Response(text=f"pong over {request.scheme}")


def _plugin() -> types.ModuleType:
    mod = types.ModuleType("plica_test_insecure_routes")

    @hookimpl
    def http_routes(authority: object) -> list[Route]:
        return [Route("GET", "/plain/ping", _ping, insecure=True), Route("GET", "/tls-only/ping", _ping)]

    mod.http_routes = http_routes  # type: ignore[attr-defined]
    return mod


async def test_plain_http_serves_only_insecure_routes(tmp_path: Path) -> None:
    files = make_ca(tmp_path, ssh=False)
    http = files.enable_insecure()
    plugins = load_plugins(extra=[_plugin()])
    async with in_process_ca(files, plugins=plugins), aiohttp.ClientSession() as session:
        async with session.get(f"{http}/plain/ping") as r:
            assert r.status == 200 and await r.text() == "pong over http"
        for method, path in (("GET", "/tls-only/ping"), ("GET", "/health"), ("GET", "/provisioners"),
                             ("POST", "/sign"), ("POST", "/1.0/renew"), ("GET", "/nothing")):  # fmt: skip
            async with session.request(method, http + path, json={}) as r:
                body = await r.json()
                assert r.status == 404 and body["status"] == 404, (path, body)
        api = Api(files, session)
        for path in ("/plain/ping", "/tls-only/ping"):
            r2 = await api.get(path)
            assert r2.status == 200 and r2.raw == b"pong over https"


async def test_no_insecure_address_no_plain_listener(tmp_path: Path) -> None:
    files = make_ca(tmp_path, ssh=False)
    assert "insecureAddress" not in files.config()
    async with (
        in_process_ca(files, plugins=load_plugins(extra=[_plugin()])),
        aiohttp.ClientSession() as session,
    ):
        r = await Api(files, session).get("/plain/ping")
        assert r.status == 200
        with pytest.raises(aiohttp.ClientError):
            await session.get(f"http://127.0.0.1:{files.port}/plain/ping")
