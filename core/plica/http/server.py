"""Running the CA: TLS with a certificate the CA issues itself, worker processes, signals.

The master process reads ca.json, decrypts the CA keys and discovers plugins once, binds the listening
sockets (so a port in use stops the start with one line), then forks workers (`--workers N`) that accept
on those sockets (on `address`, a socket each: `listen_per_worker`) and share the database. A worker
dies with its master (parent-death signal, and a pipe it watches); a worker that dies is logged and
replaced. SIGHUP reloads ca.json in every worker (requests in flight finish on the old config; a broken
file keeps the old one and says why); SIGTERM/SIGINT stop gracefully.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import gc
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from aiohttp import web
from attrs import define, field

from plica import config as config_mod
from plica import logs
from plica.admin import sync
from plica.admin.provstore import migrate_from_config
from plica.admin.store import bootstrap
from plica.authority import Authority
from plica.config import CAConfig
from plica.errors import ConfigError, PluginError, StartError
from plica.http import openssl_ec
from plica.http.guard import Guard, GuardedSite, Limits, raise_file_limit
from plica.http.lifecycle import start_app
from plica.http.pidfile import check_not_running, write_pid_file
from plica.kms import DEFAULT_KMS, KMSConfig, OpenedKeys, Signer, after_fork, open_kms
from plica.metrics import cleanup as cleanup_metrics
from plica.metrics import prepare_multiprocess
from plica.pki import CAMaterial
from plica.plugins import Plugins, get_plugins
from plica.storage import Storage, db_source, open_storage

log = logging.getLogger("plica.server")
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


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
    sockets: list[socket.socket],
    worker: bool,
    master_fd: int | None = None,
    ready: Any = None,
    password: bytes | None = None,
) -> None:
    """One worker: open the storage, serve HTTPS (and plain HTTP on insecureAddress) until told to stop.
    What starts and stops with the server (the storage, the server certificate's renewal, plugins) is
    the application's cleanup contexts (`plica.http.lifecycle`)."""
    # The storage thread needs the GIL for a few µs per query; with the default 5 ms switch interval a
    # busy event loop makes every query wait up to 5 ms for it, which caps throughput at high concurrency.
    sys.setswitchinterval(float(os.environ.get("PLICA_SWITCH_INTERVAL", "0.0005")))
    openssl_ec.install()
    if master_fd is not None:
        watch_master(master_fd)
    authority = await open_authority(
        cfg, material, plugins, start_time=start_time, migrate=not worker, password=password
    )
    metrics_runner = None
    if cfg.metrics_address:
        from plica.metrics import PrometheusMeter, metrics_app  # prometheus_client: only when configured

        authority.meter = PrometheusMeter(start_time)
        metrics_runner = web.AppRunner(metrics_app(authority.meter), access_log=None, handle_signals=False)
    limits = Limits.from_env()
    runner, tls = await start_app(authority, plugins, keepalive=limits.keepalive)
    guard = Guard(limits)
    try:
        host, port = split_address(cfg.address)
        # sockets: address, then insecureAddress and metricsAddress when configured (`listen_all`)
        sites: list[web.BaseSite] = [GuardedSite(runner, sock=sockets[0], guard=guard, ssl_context=tls.ctx)]
        if cfg.insecure_address:
            sites.append(GuardedSite(runner, sock=sockets[1], guard=guard))
        if metrics_runner is not None:
            await metrics_runner.setup()
            sites.append(web.SockSite(metrics_runner, sockets[-1]))
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
                if new.metrics_address != cfg.metrics_address:
                    log.warning("metricsAddress changed: the metrics listener moves at the next restart")
            except (ConfigError, PluginError, OSError, ValueError) as e:
                log.error("reload of %s failed, keeping the previous configuration: %s", config_path, e)

        loop.add_signal_handler(signal.SIGHUP, reload)
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        kind = "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"
        log.info(
            "serving https://%s:%d %s (pid %d, %s event loop)",
            host,
            port,
            bind_scope(host, cfg.address),
            os.getpid(),
            kind,
        )
        if cfg.insecure_address:
            log.info(
                "serving plain http on %s: only the routes that may go without TLS", cfg.insecure_address
            )
        if metrics_runner is not None:
            log.info("serving metrics on http://%s/metrics (metricsAddress)", cfg.metrics_address)
        log.debug(
            "provisioners: %s",
            ", ".join(f"{p.name} ({p.type.name})" for p in authority.snapshot.provisioners.items) or "none",
        )
        # What it took to start (modules, configuration, plugins, the snapshot) lives as long as the worker:
        # frozen out of the collector's generations, a full collection walks only what came since, not the
        # whole process every few hundred requests.
        gc.collect()
        gc.freeze()
        if ready is not None:
            ready()
        await stop.wait()
        log.info("stopping (pid %d)", os.getpid())
    finally:
        await guard.stop()
        if metrics_runner is not None:
            await metrics_runner.cleanup()
        await runner.cleanup()


def bind_scope(host: str, address: str) -> str:
    """Who can reach the CA, for the start-up line: ca.json's ":9000" binds every interface."""
    if host in ("0.0.0.0", "::"):
        return f"on every network interface, reachable from other machines: ca.json address {address!r}"
    if host in ("127.0.0.1", "::1", "localhost"):
        return "on the loopback interface, this machine only"
    return f"on {host} only"


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


def listen(addr: str, what: str, *, reuse_port: bool = False, port: int | None = None) -> socket.socket:
    """The listening socket for `addr`, bound by the master before any worker starts and inherited by
    them. Without SO_REUSEPORT: a port that anything else holds (another CA, a CA's orphaned workers,
    any program) stops the start here instead of being shared with it. `port` replaces the address's (the
    port the first of several sockets got for port 0)."""
    host, addr_port = split_address(addr)
    port = addr_port if port is None else port
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT only, never a live listener
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(1024)
    except OSError as e:
        sock.close()
        reason = "the port is in use by another process" if e.errno == errno.EADDRINUSE else e.strerror
        raise StartError(f"cannot listen on {host}:{port} ({what}): {reason}") from None
    sock.set_inheritable(True)
    return sock


def listen_per_worker(addr: str, what: str, workers: int) -> list[socket.socket]:
    """One listening socket per worker on the same port (SO_REUSEPORT), all bound by the master.

    On one shared socket every idle worker races to accept, and the same one tends to win: 32 keep-alive
    clients ended up 28/4 or 22/10 over two workers, one core saturated while the other idled (throughput
    and p99 at high concurrency). With a socket each, the kernel hashes each new connection to one of them,
    so each worker gets its share on average (16/16, 16/16, 20/12 in three tries). First the port is
    bound once without SO_REUSEPORT and let go, so that a port held by anything else (another CA, orphaned
    workers, another program) still stops the start."""
    listen(addr, what).close()
    socks: list[socket.socket] = []
    try:
        for _ in range(workers):
            port = socks[0].getsockname()[1] if socks else None
            socks.append(listen(addr, what, reuse_port=True, port=port))
    except StartError:
        for s in socks:
            s.close()
        raise
    return socks


def die_with_parent(master: int) -> None:
    """In a worker: be killed the moment the master dies (Linux's parent-death signal), so no orphan
    keeps serving an old configuration. Elsewhere the pipe the worker watches does it (`watch_master`)."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != master:  # the master died before the signal was armed
        os._exit(1)


def watch_master(fd: int) -> None:
    """In a worker's event loop: the master holds the write end of this pipe; end-of-file means it died."""
    loop = asyncio.get_running_loop()

    def gone() -> None:
        log.error("worker %d: the master process is gone; exiting", os.getpid())
        os._exit(1)

    loop.add_reader(fd, gone)


@define
class Master:
    """The master of `--workers N`: forks the workers, forwards signals to them, and replaces one that
    dies while the CA is not stopping (logging why it died)."""

    config_path: Path
    cfg: CAConfig
    material: CAMaterial
    plugins: Plugins
    start_time: float
    sockets: list[socket.socket]  # insecureAddress's and metricsAddress's, shared by the workers
    workers: int
    worker_sockets: list[socket.socket] = field(factory=list)  # `address`: one per worker slot
    children: dict[int, tuple[float, int]] = field(factory=dict)  # pid -> (start time, slot)
    stopping: bool = False
    watch_r: int = -1
    watch_w: int = -1

    def spawn(self, slot: int) -> int:
        master = os.getpid()
        pid = os.fork()
        if pid == 0:
            for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
                signal.signal(sig, signal.SIG_DFL)
            os.close(self.watch_w)
            for i, other in enumerate(self.worker_sockets):
                if i != slot:
                    other.close()
            die_with_parent(master)
            after_fork()
            code = 0
            try:
                run_event_loop(
                    serve(
                        self.config_path,
                        self.cfg,
                        self.material,
                        self.plugins,
                        start_time=self.start_time,
                        sockets=[self.worker_sockets[slot], *self.sockets],
                        worker=True,
                        master_fd=self.watch_r,
                    )
                )
            except Exception:
                log.exception("worker %d failed", os.getpid())
                code = 1
            finally:
                logs.flush()  # os._exit skips logging's own shutdown, and access lines wait for their turn's end
                os._exit(code)
        self.children[pid] = (time.monotonic(), slot)
        return pid

    def forward(self, signum: int, _frame: Any) -> None:
        if signum in (signal.SIGTERM, signal.SIGINT):
            self.stopping = True
        elif signum == signal.SIGHUP:
            self.reload()
        for c in list(self.children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(c, signum)

    def reload(self) -> None:
        """The configuration a replacement worker starts with: the file as it is now, if it loads."""
        try:
            self.cfg = config_mod.load(self.config_path)
        except (ConfigError, OSError, ValueError) as e:
            log.error(
                "reload of %s failed in the master; replacements keep the previous one: %s",
                self.config_path,
                e,
            )

    def run(self) -> int:
        self.watch_r, self.watch_w = os.pipe()
        os.set_inheritable(self.watch_r, True)
        for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self.forward)
        for slot in range(self.workers):
            self.spawn(slot)
        code = 0
        recent: list[float] = []
        while self.children:
            try:
                pid, status = os.wait()
            except InterruptedError:
                continue
            except ChildProcessError:
                break
            if pid not in self.children:
                continue
            _, slot = self.children.pop(pid)
            how = describe_exit(status)
            if self.stopping:
                if os.waitstatus_to_exitcode(status) not in (0, -signal.SIGTERM, -signal.SIGINT):
                    code = 1
                continue
            now = time.monotonic()
            recent = [t for t in recent if now - t < 10] + [now]
            if len(recent) > 2 * self.workers:
                # Workers die as fast as they start (a broken database, a full disk): stop instead of
                # forking forever; the operator sees the workers' own errors above this line.
                log.error("worker %d %s; workers keep dying, stopping the CA", pid, how)
                self.forward(signal.SIGTERM, None)
                code = 1
                continue
            new = self.spawn(slot)
            log.error("worker %d %s; started worker %d in its place", pid, how, new)
        return code


def describe_exit(status: int) -> str:
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


def run(
    config_path: Path, password: bytes | None, *, workers: int = 1, plugins: Plugins | None = None
) -> int:
    """Start the CA in the foreground. Returns the process exit code; StartError (one line) when the port
    is taken or a CA already runs from this home."""
    cfg = config_mod.load(config_path)
    event_loop_name()  # an unknown PLICA_EVENT_LOOP stops the start here, not in every worker
    raise_file_limit()  # before the workers fork: they inherit it, and their connection cap follows it
    Limits.from_env()  # a bad limit stops the start here too
    openssl_ec.wanted()  # and so does an unknown PLICA_TLS_EC_ENGINE
    plugins = plugins or get_plugins()
    for f in plugins.failures:
        log.warning("%s", f)
    material = load_material(cfg, password)
    start_time = time.time()
    check_not_running(cfg.home)

    # Validate everything (and migrate the database) once, in the master, before any worker starts.
    async def check() -> None:
        a = await open_authority(cfg, material, plugins, start_time=start_time, password=password)
        await a.storage.close()

    asyncio.run(check())
    main = (
        listen_per_worker(cfg.address, "address", workers)
        if workers > 1
        else [listen(cfg.address, "address")]
    )
    sockets: list[socket.socket] = []
    if cfg.insecure_address:
        sockets.append(listen(cfg.insecure_address, "insecureAddress"))
    if cfg.metrics_address:
        sockets.append(listen(cfg.metrics_address, "metricsAddress"))
    write_pid_file(cfg.home)
    if workers <= 1:
        run_event_loop(
            serve(
                config_path,
                cfg,
                material,
                plugins,
                start_time=start_time,
                sockets=[*main, *sockets],
                worker=False,
                password=password,
            )
        )
        return 0
    master = Master(
        config_path=config_path,
        cfg=cfg,
        material=material,
        plugins=plugins,
        start_time=start_time,
        sockets=sockets,
        workers=workers,
        worker_sockets=main,
    )
    # Workers count in files of one directory, which any of them adds up when scraped (plica.metrics).
    metrics_dir = prepare_multiprocess() if cfg.metrics_address else None
    try:
        return master.run()
    finally:
        if metrics_dir is not None:
            cleanup_metrics(metrics_dir)


def main_log_setup(level: int = logging.INFO) -> None:
    logs.setup(verbose=level <= logging.DEBUG)
