"""The serving application and what starts and stops with it.

Everything that lives as long as the application is an aiohttp cleanup context, entered in order when the
runner is set up and left in reverse when it is cleaned up:

1. the kernel's: the server certificate's and the CRL's renewal, the watch for provisioner changes in the
   database (with `enableAdmin`, `plica.admin.sync`), and the storage (opened by `open_authority`), closed
   when everything else has stopped;
2. whatever plugins append in `http_setup` (their per-application state);
3. one per plugin that implements `on_startup`/`on_shutdown`.

A context whose start fails is not left (it did not start), the ones entered before it are, so a plugin
that cannot start stops nothing it did not start, and the storage is always closed.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web
from pluggy import HookImpl

from plica.admin import sync
from plica.admin.routes import admin_routes
from plica.authority import Authority
from plica.errors import PluginError
from plica.http.app import build_app
from plica.http.guard import KEEPALIVE, install_protocol_filter
from plica.http.tls import ServerTLS
from plica.plugins import Plugins

log = logging.getLogger("plica.server")

CleanupContext = Callable[[web.Application], AsyncIterator[None]]


def serving_app(authority: Authority, plugins: Plugins, tls: ServerTLS) -> web.Application:
    """The application a server runs for `authority`: the kernel's routes and the plugins', then the
    cleanup contexts in the order above."""
    routes = admin_routes(authority)
    routes += [r for res in plugins.pm.hook.http_routes(authority=authority) for r in (res or [])]
    app = build_app(authority, routes)
    app.cleanup_ctx.append(_kernel_context(authority, tls))
    plugins.pm.hook.http_setup(app=app, authority=authority)
    for name, start, stop in plugin_lifecycles(plugins):
        app.cleanup_ctx.append(_plugin_context(authority, name, start, stop))
    return app


async def start_app(
    authority: Authority, plugins: Plugins, *, keepalive: float = KEEPALIVE
) -> tuple[web.AppRunner, ServerTLS]:
    """Build the serving application of `authority` and set up its runner (every context started); the
    caller adds the sites. From here on the runner's `cleanup()` closes the storage; when anything fails
    first, the storage is closed (and whatever started, stopped) before the error is raised."""
    try:
        tls = ServerTLS(authority)
        app = serving_app(authority, plugins, tls)
    except BaseException:
        await authority.storage.close()
        raise
    install_protocol_filter()
    runner = web.AppRunner(app, access_log=None, handle_signals=False, keepalive_timeout=keepalive)
    try:
        await runner.setup()
    except BaseException:
        try:
            await runner.cleanup()
        except Exception:
            log.exception("stopping what had started failed as well")
        raise
    return runner, tls


def _kernel_context(authority: Authority, tls: ServerTLS) -> CleanupContext:
    async def kernel(app: web.Application) -> AsyncIterator[None]:
        renewer = asyncio.create_task(tls.renew_forever())
        watcher = asyncio.create_task(sync.watch(authority)) if authority.file_config is not None else None
        crl = asyncio.create_task(authority.crl.renew_forever())
        try:
            yield
        finally:
            renewer.cancel()
            if watcher is not None:
                watcher.cancel()
            crl.cancel()
            await asyncio.gather(crl, return_exceptions=True)
            await authority.storage.close()

    return kernel


def plugin_lifecycles(plugins: Plugins) -> list[tuple[str, HookImpl | None, HookImpl | None]]:
    """(name, on_startup, on_shutdown) of every plugin that implements either, in the order pluggy calls
    hooks (the plugin registered last first)."""
    pm = plugins.pm
    starts = {id(i.plugin): i for i in pm.hook.on_startup.get_hookimpls()}
    stops = {id(i.plugin): i for i in pm.hook.on_shutdown.get_hookimpls()}
    order = [i.plugin for i in reversed(pm.hook.on_startup.get_hookimpls())]
    order += [i.plugin for i in reversed(pm.hook.on_shutdown.get_hookimpls()) if id(i.plugin) not in starts]
    return [(pm.get_name(p) or repr(p), starts.get(id(p)), stops.get(id(p))) for p in order]


def _plugin_context(
    authority: Authority, name: str, start: HookImpl | None, stop: HookImpl | None
) -> CleanupContext:
    async def plugin(app: web.Application) -> AsyncIterator[None]:
        if start is not None:
            try:
                await _call(start, authority)
            except Exception as e:
                raise PluginError(f"plugin {name!r} failed to start: {type(e).__name__}: {e}") from e
        yield
        if stop is not None:
            try:
                await _call(stop, authority)
            except Exception:
                log.exception("plugin %r failed to stop", name)
                raise

    return plugin


async def _call(impl: HookImpl, authority: Authority) -> None:
    """One plugin's implementation of a lifecycle hook (which may take fewer arguments than the spec,
    and may or may not be a coroutine function)."""
    args: dict[str, Any] = {"authority": authority}
    res = impl.function(**{a: args[a] for a in impl.argnames})
    if inspect.isawaitable(res):
        await res
