"""Running the CA: TLS with a certificate the CA issues itself, worker processes, signals.

The master process reads ca.json, decrypts the CA keys and discovers plugins once, then forks workers
(`--workers N`) that share the port (SO_REUSEPORT) and the database. SIGHUP reloads ca.json in every
worker (requests in flight finish on the old config; a broken file keeps the old one and says why);
SIGTERM/SIGINT stop gracefully.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from aiohttp import web

from plica import config as config_mod
from plica.admin import sync
from plica.admin.provstore import migrate_from_config
from plica.admin.store import bootstrap
from plica.authority import Authority
from plica.config import CAConfig
from plica.errors import ConfigError, PluginError
from plica.http.lifecycle import start_app
from plica.http.pidfile import write_pid_file
from plica.kms import DEFAULT_KMS, KMSConfig, OpenedKeys, Signer, after_fork, open_kms
from plica.pki import CAMaterial
from plica.plugins import Plugins, get_plugins
from plica.storage import Storage, db_source, open_storage

log = logging.getLogger("plica.server")


def kms_config(cfg: CAConfig, password: bytes | None) -> KMSConfig:
    block = dict(cfg.kms or {})
    kind, uri = block.pop("type", None) or DEFAULT_KMS, block.pop("uri", None) or ""
    if not isinstance(kind, str) or not isinstance(uri, str):
        raise ConfigError("ca.json.kms", "type and uri must be strings")
    return KMSConfig(type=kind, uri=uri, extra=block, home=cfg.home, password=password)


def open_keys(cfg: CAConfig, password: bytes | None) -> OpenedKeys:
    """The configured key manager and the CA's keys from it (ca.json `key`, `ssh.userKey`, `ssh.hostKey`)."""
    manager = open_kms(kms_config(cfg, password))
    try:
        ssh = cfg.ssh
        return OpenedKeys(
            manager=manager,
            intermediate=Signer(manager.open_key(cfg.key), what="intermediate key"),
            ssh_user=Signer(manager.open_key(ssh.user_key), what="SSH user key")
            if ssh and ssh.user_key
            else None,
            ssh_host=Signer(manager.open_key(ssh.host_key), what="SSH host key")
            if ssh and ssh.host_key
            else None,
        )
    except BaseException:
        manager.close()
        raise


def load_material(cfg: CAConfig, password: bytes | None) -> CAMaterial:
    try:
        keys = open_keys(cfg, password)
        try:
            return CAMaterial.load(
                root_paths=[cfg.resolve(r) for r in cfg.roots],
                crt_path=cfg.resolve(cfg.crt),
                keys=keys,
                federated_paths=[cfg.resolve(r) for r in cfg.federated_roots],
            )
        except BaseException:
            keys.close()
            raise
    except FileNotFoundError as e:
        raise ConfigError("ca.json", f"file not found: {e.filename}") from None


async def open_authority(
    cfg: CAConfig,
    material: CAMaterial,
    plugins: Plugins,
    *,
    start_time: float,
    migrate: bool = True,
    password: bytes | None = None,
) -> Authority:
    """Open the storage and load the provisioners. With `enableAdmin` they come from the database: the
    first start (`migrate`) moves ca.json's there (`password` encrypts a new `Admin JWK` when ca.json has
    no JWK provisioner)."""
    kind, src = db_source(cfg)
    storage: Storage = open_storage(kind, src)
    await storage.open()
    if migrate:
        migrations = [m for res in plugins.pm.hook.storage_migrations() for m in (res or [])]
        await storage.migrate(migrations)
    authority = Authority(material=material, storage=storage, plugins=plugins, start_time=start_time)
    try:
        if cfg.authority.enable_admin:
            if migrate:
                await migrate_from_config(storage, cfg, plugins, password)
            await sync.load(authority, cfg)
            if migrate:
                await bootstrap(storage, authority.config.authority.provisioners)
        else:
            authority.install(authority.load_snapshot(cfg))
    except BaseException:
        await storage.close()
        raise
    return authority


def split_address(addr: str) -> tuple[str, int]:
    host, _, port = addr.rpartition(":")
    host = host.strip("[]") or "0.0.0.0"
    try:
        return host, int(port)
    except ValueError:
        raise ConfigError("ca.json.address", f"invalid address {addr!r} (expected host:port)") from None


async def serve(
    config_path: Path,
    cfg: CAConfig,
    material: CAMaterial,
    plugins: Plugins,
    *,
    start_time: float,
    reuse_port: bool,
    ready: Any = None,
    password: bytes | None = None,
) -> None:
    """One worker: open the storage, serve HTTPS (and plain HTTP on insecureAddress) until told to stop.
    What starts and stops with the server (the storage, the server certificate's renewal, plugins) is
    the application's cleanup contexts (`plica.http.lifecycle`)."""
    # The storage thread needs the GIL for a few µs per query; with the default 5 ms switch interval a
    # busy event loop makes every query wait up to 5 ms for it, which caps throughput at high concurrency.
    sys.setswitchinterval(float(os.environ.get("PLICA_SWITCH_INTERVAL", "0.0005")))
    authority = await open_authority(
        cfg, material, plugins, start_time=start_time, migrate=not reuse_port, password=password
    )
    runner, tls = await start_app(authority, plugins)
    try:
        host, port = split_address(cfg.address)
        sites: list[web.BaseSite] = [
            web.TCPSite(runner, host, port, ssl_context=tls.ctx, reuse_port=reuse_port, backlog=1024)
        ]
        if cfg.insecure_address:
            ih, ip = split_address(cfg.insecure_address)
            sites.append(web.TCPSite(runner, ih, ip, reuse_port=reuse_port))
        for s in sites:
            await s.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def reload() -> None:
            try:
                new = config_mod.load(config_path)
                if db_source(new) != db_source(authority.config):
                    raise ConfigError("ca.json.db", "the db block cannot change on reload; restart the CA")
                if new.authority.enable_admin:
                    sync.reload_soon(authority, new)
                else:
                    authority.install(authority.load_snapshot(new))
                    authority.file_config = None  # enableAdmin turned off: ca.json's provisioners again
                log.info("reloaded %s (pid %d)", config_path, os.getpid())
            except (ConfigError, PluginError, OSError, ValueError) as e:
                log.error("reload of %s failed, keeping the previous configuration: %s", config_path, e)

        loop.add_signal_handler(signal.SIGHUP, reload)
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        kind = "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"
        log.info("serving https://%s:%d (pid %d, %s event loop)", host, port, os.getpid(), kind)
        if cfg.insecure_address:
            log.info(
                "serving plain http on %s: only the routes that may go without TLS", cfg.insecure_address
            )
        if ready is not None:
            ready()
        await stop.wait()
        log.info("stopping (pid %d)", os.getpid())
    finally:
        await runner.cleanup()


def event_loop_name() -> str:
    """The event loop the workers run: uvloop when it is installed (a dependency on Linux and macOS),
    unless PLICA_EVENT_LOOP=asyncio asks for asyncio's own. uvloop's sockets, TLS and callbacks cost less
    CPU: ~15 % less per ACME order (each opens connections and sockets of its own to validate), the same
    for a JWK certificate."""
    choice = os.environ.get("PLICA_EVENT_LOOP", "auto").lower()
    if choice not in ("auto", "uvloop", "asyncio"):
        raise ConfigError("PLICA_EVENT_LOOP", f"unknown event loop {choice!r} (auto, uvloop or asyncio)")
    if choice == "asyncio":
        return "asyncio"
    try:  # an optional dependency (not on Windows): imported only where it is looked for
        import uvloop  # noqa: F401
    except ImportError:
        if choice == "uvloop":
            raise ConfigError("PLICA_EVENT_LOOP", "uvloop is not installed (pip install uvloop)") from None
        return "asyncio"
    return "uvloop"


def run_event_loop(main: Coroutine[Any, Any, None]) -> None:
    if event_loop_name() == "uvloop":
        import uvloop  # optional: see event_loop_name

        uvloop.run(main)
    else:
        asyncio.run(main)


def run(
    config_path: Path, password: bytes | None, *, workers: int = 1, plugins: Plugins | None = None
) -> int:
    """Start the CA in the foreground. Returns the process exit code."""
    cfg = config_mod.load(config_path)
    event_loop_name()  # an unknown PLICA_EVENT_LOOP stops the start here, not in every worker
    plugins = plugins or get_plugins()
    for f in plugins.failures:
        log.warning("%s", f)
    material = load_material(cfg, password)
    start_time = time.time()

    # Validate everything (and migrate the database) once, in the master, before any worker starts.
    async def check() -> None:
        a = await open_authority(cfg, material, plugins, start_time=start_time, password=password)
        await a.storage.close()

    asyncio.run(check())
    write_pid_file(cfg.home)
    if workers <= 1:
        run_event_loop(
            serve(
                config_path,
                cfg,
                material,
                plugins,
                start_time=start_time,
                reuse_port=False,
                password=password,
            )
        )
        return 0
    children: list[int] = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:
            after_fork()
            code = 0
            try:
                run_event_loop(
                    serve(config_path, cfg, material, plugins, start_time=start_time, reuse_port=True)
                )
            except Exception:
                log.exception("worker %d failed", os.getpid())
                code = 1
            finally:
                os._exit(code)
        children.append(pid)

    def forward(signum: int, _frame: Any) -> None:
        for c in children:
            try:
                os.kill(c, signum)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGHUP, forward)
    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    code = 0
    for c in children:
        while True:
            try:
                _, status = os.waitpid(c, 0)
                break
            except InterruptedError:
                continue
        if os.waitstatus_to_exitcode(status) != 0:
            code = 1
    return code


def main_log_setup(level: int = logging.INFO) -> None:
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
