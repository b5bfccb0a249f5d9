"""What starts and stops with the server (plica.http.lifecycle), with in-process plugins: the kernel's
cleanup context first (its storage close last), then what plugins set up in `http_setup`, then one context
per plugin's `on_startup`/`on_shutdown`. A plugin that cannot start fails the start with its name, stops
nothing it did not start, and the storage is closed all the same."""

from __future__ import annotations

import types
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from plica import config as config_mod
from plica.errors import PluginError
from plica.hookspecs import hookimpl
from plica.http.server import listen, load_material, run, serve
from plica.plugins import Plugins, load_plugins
from plica.storage import Storage, StorageError
from plica.testing import CAFiles, in_process_ca, make_ca
from plica.types import Route


def _module(name: str, **hooks: Any) -> types.ModuleType:
    mod = types.ModuleType(name)
    for k, v in hooks.items():
        setattr(mod, k, hookimpl(v))
    return mod


class Recorder:
    """In-process plugins that write down what ran, in order; `storage` is the storage they saw."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.storage: Storage | None = None

    def starting(self, name: str) -> types.ModuleType:
        async def on_startup(authority: Any) -> None:
            self.storage = authority.storage
            self.events.append(f"{name} started")

        async def on_shutdown(authority: Any) -> None:
            self.events.append(f"{name} stopped")

        return _module(name, on_startup=on_startup, on_shutdown=on_shutdown)

    def failing(self, name: str) -> types.ModuleType:
        async def on_startup(authority: Any) -> None:
            raise RuntimeError("the licence server is unreachable")

        def on_shutdown(authority: Any) -> None:
            self.events.append(f"{name} stopped")

        return _module(name, on_startup=on_startup, on_shutdown=on_shutdown)


def kernel_with(*modules: types.ModuleType) -> Plugins:
    """The kernel and `modules` only (pluggy calls the module registered last first)."""
    return load_plugins(modules, entry_points=False)


@pytest.fixture
def files(tmp_path: Path) -> CAFiles:
    return make_ca(tmp_path, plugins=load_plugins(entry_points=False))


async def assert_closed(storage: Storage | None) -> None:
    assert storage is not None
    with pytest.raises(StorageError, match="not open"):
        await storage.fetch_one("SELECT 1")


async def test_plugins_start_in_order_and_stop_in_reverse(files: CAFiles) -> None:
    rec = Recorder()
    plugins = kernel_with(rec.starting("second"), rec.starting("first"))
    async with in_process_ca(files, plugins) as authority:
        assert rec.events == ["first started", "second started"]
        assert await authority.storage.fetch_one("SELECT 1") == (1,)
    assert rec.events == ["first started", "second started", "second stopped", "first stopped"]
    await assert_closed(rec.storage)


async def test_a_plugin_that_cannot_start_fails_the_start_and_stops_only_what_started(files: CAFiles) -> None:
    rec = Recorder()
    # Call order: first, broken, never.
    plugins = kernel_with(rec.starting("never"), rec.failing("broken"), rec.starting("first"))
    with pytest.raises(PluginError) as e:
        async with in_process_ca(files, plugins):
            pytest.fail("the server started")
    assert str(e.value) == "plugin 'broken' failed to start: RuntimeError: the licence server is unreachable"
    assert isinstance(e.value.__cause__, RuntimeError)
    # `first` started, so it stops; `broken` did not start and `never` never ran.
    assert rec.events == ["first started", "first stopped"]
    await assert_closed(rec.storage)


async def test_serve_fails_with_the_plugin_named_and_the_storage_closed(files: CAFiles) -> None:
    rec = Recorder()
    plugins = kernel_with(rec.failing("broken"), rec.starting("first"))
    cfg = config_mod.load(files.config_path)
    material = load_material(cfg, files.password)
    with pytest.raises(PluginError, match="plugin 'broken' failed to start"):
        await serve(
            files.config_path,
            cfg,
            material,
            plugins,
            start_time=0,
            sockets=[listen(cfg.address, "address")],
            worker=False,
        )
    assert rec.events == ["first started", "first stopped"]
    await assert_closed(rec.storage)


def test_plica_start_fails_with_the_plugin_named(files: CAFiles) -> None:
    """What `plica start` runs (the CLI answers PluginError with `cannot start: <message>`)."""
    rec = Recorder()
    with pytest.raises(PluginError, match="plugin 'broken' failed to start: RuntimeError"):
        run(files.config_path, files.password, plugins=kernel_with(rec.failing("broken")))
    assert rec.events == []


async def test_a_plugin_that_fails_to_stop_does_not_keep_the_storage_open(files: CAFiles) -> None:
    rec = Recorder()

    async def on_shutdown(authority: Any) -> None:
        raise RuntimeError("stuck")

    plugins = kernel_with(rec.starting("last"), _module("stuck", on_shutdown=on_shutdown))
    with pytest.raises(RuntimeError, match="stuck"):
        async with in_process_ca(files, plugins):
            pass
    assert rec.events == ["last started", "last stopped"]
    await assert_closed(rec.storage)


EVENTS: web.AppKey[list[str]] = web.AppKey("lifecycle-test-events", list)


async def test_http_setup_state_lives_and_dies_with_the_application(files: CAFiles) -> None:
    """A plugin keeps its per-application state in the app and starts/stops it through cleanup_ctx; its
    context runs after the kernel's (the storage is open while it starts and stops)."""
    events: list[str] = []

    def http_setup(app: web.Application, authority: Any) -> None:
        app[EVENTS] = events

        async def state(app: web.Application) -> AsyncIterator[None]:
            events.append(f"started {await authority.storage.fetch_one('SELECT 1')}")
            yield
            events.append(f"stopped {await authority.storage.fetch_one('SELECT 2')}")

        app.cleanup_ctx.append(state)

    async def count(request: web.Request) -> web.Response:
        return web.json_response({"events": request.app[EVENTS]})

    def http_routes(authority: Any) -> list[Route]:
        return [Route("GET", "/test/lifecycle", count)]

    plugins = kernel_with(_module("stateful", http_setup=http_setup, http_routes=http_routes))
    async with in_process_ca(files, plugins) as authority, aiohttp.ClientSession() as session:
        async with session.get(f"{files.url}/test/lifecycle", ssl=False) as r:
            assert await r.json() == {"events": ["started (1,)"]}
        storage = authority.storage
    assert events == ["started (1,)", "stopped (2,)"]
    await assert_closed(storage)
