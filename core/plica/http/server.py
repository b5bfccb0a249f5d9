"""Running the CA: TLS with a certificate the CA issues itself, worker processes, signals.

The master process reads ca.json, decrypts the CA keys and discovers plugins once, then forks workers
(`--workers N`) that share the port (SO_REUSEPORT) and the database. SIGHUP reloads ca.json in every
worker (requests in flight finish on the old config; a broken file keeps the old one and says why);
SIGTERM/SIGINT stop gracefully.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import logging
import os
import secrets
import signal
import ssl
import sys
import tempfile
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from plica import config as config_mod
from plica.admin.store import bootstrap
from plica.authority import Authority
from plica.config import CAConfig
from plica.errors import ConfigError, PluginError
from plica.http.app import build_app
from plica.pki import CAMaterial, random_serial
from plica.plugins import Plugins, get_plugins
from plica.storage import Storage, db_source, open_storage

log = logging.getLogger("plica.server")

SERVER_CERT_LIFETIME = dt.timedelta(hours=24)

_CIPHERS = {
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
}
_TLS_VERSIONS = {
    1.0: ssl.TLSVersion.TLSv1,
    1.1: ssl.TLSVersion.TLSv1_1,
    1.2: ssl.TLSVersion.TLSv1_2,
    1.3: ssl.TLSVersion.TLSv1_3,
}


def load_material(cfg: CAConfig, password: bytes | None) -> CAMaterial:
    try:
        return CAMaterial.load(
            root_paths=[cfg.resolve(r) for r in cfg.roots],
            crt_path=cfg.resolve(cfg.crt),
            key_path=cfg.resolve(cfg.key),
            password=password,
            federated_paths=[cfg.resolve(r) for r in cfg.federated_roots],
            ssh_user_key=cfg.resolve(cfg.ssh.user_key) if cfg.ssh and cfg.ssh.user_key else None,
            ssh_host_key=cfg.resolve(cfg.ssh.host_key) if cfg.ssh and cfg.ssh.host_key else None,
        )
    except FileNotFoundError as e:
        raise ConfigError("ca.json", f"file not found: {e.filename}") from None


async def open_authority(
    cfg: CAConfig, material: CAMaterial, plugins: Plugins, *, start_time: float, migrate: bool = True
) -> Authority:
    kind, src = db_source(cfg)
    storage: Storage = open_storage(kind, src)
    await storage.open()
    if migrate:
        migrations = [m for res in plugins.pm.hook.storage_migrations() for m in (res or [])]
        await storage.migrate(migrations)
    authority = Authority(material=material, storage=storage, plugins=plugins, start_time=start_time)
    try:
        authority.install(authority.load_snapshot(cfg))
        if migrate and cfg.authority.enable_admin:
            await bootstrap(storage, cfg.authority.provisioners)
    except BaseException:
        await storage.close()
        raise
    return authority


class ServerTLS:
    """The HTTPS context, with a leaf the CA issues to itself for `dnsNames` and renews at 2/3 of its life."""

    def __init__(self, authority: Authority) -> None:
        self.a = authority
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls = authority.config.tls
        self.ctx.minimum_version = _TLS_VERSIONS.get(tls.min_version, ssl.TLSVersion.TLSv1_2)
        self.ctx.maximum_version = _TLS_VERSIONS.get(tls.max_version, ssl.TLSVersion.TLSv1_3)
        ciphers = [_CIPHERS[c] for c in tls.cipher_suites if c in _CIPHERS]
        if ciphers:
            self.ctx.set_ciphers(":".join(ciphers))
        self.ctx.options |= ssl.OP_NO_RENEGOTIATION
        # mTLS: verify client certificates if given, against roots + intermediates (as step-ca does).
        self.ctx.verify_mode = ssl.CERT_OPTIONAL
        m = authority.material
        self.ctx.load_verify_locations(cadata="".join([*m.root_pem, *m.chain_pem]))
        self.not_after = dt.datetime.now(dt.UTC)
        self.issue()

    def issue(self) -> None:
        a = self.a
        key = ec.generate_private_key(ec.SECP256R1())
        names: list[x509.GeneralName] = []
        for n in a.config.dns_names:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(n)))
            except ValueError:
                names.append(x509.DNSName(n))
        now = dt.datetime.now(dt.UTC)
        cn = a.config.dns_names[0] if a.config.dns_names else "localhost"
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(a.material.intermediate.subject)
            .public_key(key.public_key())
            .serial_number(random_serial())
            .not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + SERVER_CERT_LIFETIME)
            .add_extension(
                x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(a.material.akid, critical=False)  # type: ignore[arg-type]
        )
        leaf = a.material.sign_builder(cert)
        chain = leaf.public_bytes(serialization.Encoding.PEM) + "".join(a.material.chain_pem).encode()
        # ssl can only load from files: a private temp dir, the key encrypted with a one-time password.
        pw = secrets.token_bytes(24)
        with tempfile.TemporaryDirectory(prefix="plica-tls-") as d:
            cpath, kpath = Path(d) / "crt.pem", Path(d) / "key.pem"
            cpath.write_bytes(chain)
            fd = os.open(kpath, os.O_WRONLY | os.O_CREAT, 0o600)
            os.write(
                fd,
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.BestAvailableEncryption(pw),
                ),
            )
            os.close(fd)
            self.ctx.load_cert_chain(cpath, kpath, password=pw)
        self.not_after = now + SERVER_CERT_LIFETIME
        self.lifetime = SERVER_CERT_LIFETIME

    async def renew_forever(self) -> None:
        while True:
            renew_at = self.not_after - self.lifetime / 3
            await asyncio.sleep(max(1.0, (renew_at - dt.datetime.now(dt.UTC)).total_seconds()))
            try:
                self.issue()
                log.info("renewed the server certificate (valid until %s)", self.not_after.isoformat())
            except Exception:
                log.exception("could not renew the server certificate; retrying in a minute")
                await asyncio.sleep(60)


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
) -> None:
    """One worker: open the storage, serve HTTPS (and plain HTTP on insecureAddress) until told to stop."""
    # The storage thread needs the GIL for a few µs per query; with the default 5 ms switch interval a
    # busy event loop makes every query wait up to 5 ms for it, which caps throughput at high concurrency.
    sys.setswitchinterval(float(os.environ.get("PLICA_SWITCH_INTERVAL", "0.0005")))
    authority = await open_authority(cfg, material, plugins, start_time=start_time, migrate=not reuse_port)
    routes = [r for res in plugins.pm.hook.http_routes(authority=authority) for r in (res or [])]
    app = build_app(authority, routes)
    tls = ServerTLS(authority)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    host, port = split_address(cfg.address)
    sites: list[web.BaseSite] = [
        web.TCPSite(runner, host, port, ssl_context=tls.ctx, reuse_port=reuse_port, backlog=1024)
    ]
    if cfg.insecure_address:
        ih, ip = split_address(cfg.insecure_address)
        sites.append(web.TCPSite(runner, ih, ip, reuse_port=reuse_port))
    for s in sites:
        await s.start()
    for res in plugins.pm.hook.on_startup(authority=authority):
        if asyncio.iscoroutine(res):
            await res
    renewer = asyncio.create_task(tls.renew_forever())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def reload() -> None:
        try:
            new = config_mod.load(config_path)
            if db_source(new) != db_source(authority.config):
                raise ConfigError("ca.json.db", "the db block cannot change on reload; restart the CA")
            authority.install(authority.load_snapshot(new))
            log.info("reloaded %s (pid %d)", config_path, os.getpid())
        except (ConfigError, PluginError, OSError, ValueError) as e:
            log.error("reload of %s failed, keeping the previous configuration: %s", config_path, e)

    loop.add_signal_handler(signal.SIGHUP, reload)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    kind = "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"
    log.info("serving https://%s:%d (pid %d, %s event loop)", host, port, os.getpid(), kind)
    if ready is not None:
        ready()
    await stop.wait()
    log.info("stopping (pid %d)", os.getpid())
    renewer.cancel()
    for res in plugins.pm.hook.on_shutdown(authority=authority):
        if asyncio.iscoroutine(res):
            await res
    await runner.cleanup()
    await authority.storage.close()


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
    try:
        import uvloop  # noqa: F401
    except ImportError:
        if choice == "uvloop":
            raise ConfigError("PLICA_EVENT_LOOP", "uvloop is not installed (pip install uvloop)") from None
        return "asyncio"
    return "uvloop"


def run_event_loop(main: Coroutine[Any, Any, None]) -> None:
    if event_loop_name() == "uvloop":
        import uvloop

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
        a = await open_authority(cfg, material, plugins, start_time=start_time)
        await a.storage.close()

    asyncio.run(check())
    write_pid_file(cfg.home)
    if workers <= 1:
        run_event_loop(serve(config_path, cfg, material, plugins, start_time=start_time, reuse_port=False))
        return 0
    children: list[int] = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:
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


def pid_file_path(home: Path) -> Path:
    """Where `plica start` records its (master) pid, so `plica provisioner ... --reload` can SIGHUP it."""
    return home / "run" / "plica.pid"


def write_pid_file(home: Path) -> None:
    """Write `<home>/run/plica.pid`; removed when this process exits normally (forked workers leave with
    os._exit, which skips atexit, so only the master removes it)."""
    import atexit

    path = pid_file_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    pid = os.getpid()
    path.write_text(f"{pid}\n")

    def remove() -> None:
        try:
            if path.read_text().strip() == str(pid):
                path.unlink()
        except OSError:
            pass

    atexit.register(remove)


def main_log_setup(level: int = logging.INFO) -> None:
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
