"""Helpers for tests of the kernel and of plugins: real CAs in temporary directories.

Everything here builds the real thing — keys, certificates, ca.json, the SQLite database, the HTTPS
server — only smaller and on a free port of 127.0.0.1. A plugin's tests may import this package (and
`plica.api`); installed with plica it is also a pytest plugin (`plica.testing.pytest_plugin`: fixtures)
and holds the conformance suite every provisioner type runs (`plica.testing.conformance`).

The submodules: `tokens` (client-side tokens signed with joserfc), `csrs` (keys, CSRs), `httpapi` (the API
over real TLS and step's error shape), `db` (the SQLite file as another worker sees it), `processes` (the
`plica` command, waiting), `loading` (a ca.json loaded as start-up and reload load it; a plugin imported
from its source tree).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import orjson
from attrs import define

from plica import config as config_mod
from plica import keys as keys_mod
from plica.admin.client import admin_token
from plica.authority import Authority
from plica.certdesc.defaults import DEFAULT_LEAF_TEMPLATE
from plica.http.guard import Guard, GuardedSite, Limits
from plica.http.lifecycle import start_app
from plica.http.server import load_material, open_authority
from plica.initca import InitOptions, init_ca
from plica.keys import load_key
from plica.plugins import Plugins, get_plugins
from plica.testing.csrs import (
    CSRFor,
    compressed_ec_point,
    csr_fingerprint,
    csr_for,
    csr_pem,
    ec_key,
    make_csr,
    pem_b64,
    pem_cert,
    root_ca,
    ssh_wire,
)
from plica.testing.db import KERNEL_TABLES, db_counts, db_path, db_row
from plica.testing.httpapi import Api, Reply, write_leaf
from plica.testing.loading import import_source, load_snapshot, opened_authority
from plica.testing.postgres import POSTGRES_ADMIN_URL, database_url, postgres_database, postgres_listening
from plica.testing.processes import plica_cli, stop, wait_for, wait_port
from plica.testing.tokens import (
    ProvKey,
    admin_key,
    b64url,
    b64url_decode,
    garbage_token,
    jose_key,
    jose_sign,
    new_jwk_provisioner,
    renew_token,
    tamper_payload,
)

__all__ = [
    "DEFAULT_LEAF_TEMPLATE",
    "KERNEL_TABLES",
    "PASSWORD",
    "POSTGRES_ADMIN_URL",
    "Api",
    "CAFiles",
    "CSRFor",
    "ProvKey",
    "Reply",
    "admin_key",
    "admin_token",
    "b64url",
    "b64url_decode",
    "ca_process",
    "client_context",
    "compressed_ec_point",
    "csr_fingerprint",
    "csr_for",
    "csr_pem",
    "database_url",
    "db_counts",
    "db_path",
    "db_row",
    "ec_key",
    "free_port",
    "garbage_token",
    "get_plugins",
    "import_source",
    "in_process_ca",
    "jose_key",
    "jose_sign",
    "load_key",
    "load_snapshot",
    "make_ca",
    "make_csr",
    "new_jwk_provisioner",
    "opened_authority",
    "pem_b64",
    "pem_cert",
    "plica_cli",
    "postgres_database",
    "postgres_listening",
    "renew_token",
    "root_ca",
    "ssh_wire",
    "stop",
    "tamper_payload",
    "wait_for",
    "wait_healthy",
    "wait_port",
    "write_leaf",
]

PASSWORD = b"correct horse battery staple"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@define
class CAFiles:
    home: Path
    config_path: Path
    root: Path
    intermediate: Path
    password_file: Path
    password: bytes
    port: int
    fingerprint: str

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def config(self) -> dict[str, Any]:
        return orjson.loads(self.config_path.read_bytes())

    def write_config(self, cfg: dict[str, Any]) -> None:
        self.config_path.write_bytes(orjson.dumps(cfg, option=orjson.OPT_INDENT_2))

    def update_config(self, **authority: Any) -> None:
        cfg = self.config()
        cfg["authority"].update(authority)
        self.write_config(cfg)

    def add_provisioner(self, block: dict[str, Any]) -> None:
        cfg = self.config()
        cfg["authority"]["provisioners"].append(block)
        self.write_config(cfg)

    def enable_insecure(self) -> str:
        """Set ca.json's `insecureAddress` to a free port of 127.0.0.1 and return its `http://` URL (the
        plain-HTTP listener: only routes marked `Route.insecure`)."""
        port = free_port()
        cfg = self.config()
        cfg["insecureAddress"] = f"127.0.0.1:{port}"
        self.write_config(cfg)
        return f"http://127.0.0.1:{port}"

    def env(self) -> dict[str, str]:
        """Environment for `plica` client commands talking to this CA."""
        return {
            **os.environ,
            "PLICA_HOME": str(self.home),
            "PLICA_CA_URL": self.url,
            "PLICA_ROOT": str(self.root),
        }


def make_ca(
    tmp: Path,
    *,
    ssh: bool = True,
    kty: str = "EC",
    password: bytes = PASSWORD,
    plugins: Plugins | None = None,
    provisioner: str = "admin",
    kms: str | None = None,
) -> CAFiles:
    """A new CA (root, intermediate, SSH keys, first JWK provisioner if plica-jwk is installed); with `kms`
    (a key manager URI, as `plica init --kms`) its keys are created there instead of in files."""
    port = free_port()
    home = tmp / "ca"
    # A throwaway CA's keys need no 600,000 PBKDF2 rounds (0.1 s per key, written and read by every test
    # that makes one); tests/test_keys_at_rest.py checks the real count.
    rounds, keys_mod.KDF_ROUNDS = keys_mod.KDF_ROUNDS, 2048
    try:
        res = init_ca(
            InitOptions(
                home=home,
                name="Test",
                dns_names=("127.0.0.1", "localhost"),
                address=f"127.0.0.1:{port}",
                provisioner=provisioner,
                kty=kty,
                ssh=ssh,
                password=password,
                kms=kms,
            ),
            plugins or get_plugins(),
        )
    finally:
        keys_mod.KDF_ROUNDS = rounds
    pw = home / "secrets" / "password"
    pw.write_bytes(password)
    os.chmod(pw, 0o600)
    # Tests make tokens right after starting the CA; step's iat-before-start rule is tested on its own.
    files = CAFiles(
        home=home,
        config_path=res.config_path,
        root=res.root_path,
        intermediate=home / "certs" / "intermediate_ca.crt",
        password_file=pw,
        password=password,
        port=port,
        fingerprint=res.fingerprint,
    )
    return files


def client_context(files: CAFiles, cert: tuple[str, str] | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(files.root))
    if cert:
        ctx.load_cert_chain(*cert)
    return ctx


def wait_healthy(
    url: str, root: Path, timeout: float = 30.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    ctx = ssl.create_default_context(cafile=str(root))
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
            raise RuntimeError(f"the CA exited with {proc.returncode}:\n{out}")
        try:
            with urllib.request.urlopen(url + "/health", context=ctx, timeout=2) as r:
                if r.status == 200:
                    return
        except Exception as e:
            last = e
        time.sleep(0.1)
    raise RuntimeError(f"the CA at {url} did not become healthy: {last}")


@contextlib.contextmanager
def ca_process(
    files: CAFiles,
    *,
    workers: int = 1,
    extra_args: list[str] | None = None,
    log: Path | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `plica start` for `files` in a subprocess (the real server), stopped with SIGTERM afterwards.
    Its output goes to `log` (default: plica.log in the CA's home), which a test may read while it runs;
    `env` adds to the environment it starts with."""
    cmd = [
        sys.executable,
        "-m",
        "plica",
        "start",
        "--home",
        str(files.home),
        "--password-file",
        str(files.password_file),
        "--workers",
        str(workers),
        *(extra_args or []),
    ]
    # The server's log goes to a file (a pipe nobody reads would block the server once it fills up).
    log_path = log or files.home / "plica.log"
    out = log_path.open("ab")
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env={**files.env(), **(env or {})})
    try:
        try:
            wait_healthy(files.url, files.root, proc=proc)
        except RuntimeError as e:
            raise RuntimeError(f"{e}\n--- {log_path} ---\n{log_path.read_text(errors='replace')}") from None
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        out.close()


@contextlib.asynccontextmanager
async def in_process_ca(
    files: CAFiles, plugins: Plugins | None = None, *, limits_env: dict[str, str] | None = None
) -> AsyncIterator[Authority]:
    """The real HTTPS server of `files`, in this event loop (for fast API tests with an aiohttp client),
    started and stopped as `plica start` does (`plica.http.lifecycle`: storage, plugins' `http_setup`,
    `on_startup`/`on_shutdown`). Yields the Authority; the server listens on `files.url`, and on ca.json's
    `insecureAddress` for plain HTTP when it is set (`CAFiles.enable_insecure`). `limits_env` sets this server's
    connection limits and timeouts (`PLICA_TIMEOUT_HANDSHAKE`, ... as `plica start` reads them from its
    environment)."""
    plugins = plugins or get_plugins()
    cfg = config_mod.load(files.config_path)
    material = load_material(cfg, files.password)
    authority = await open_authority(cfg, material, plugins, start_time=time.time() - 5)
    limits = Limits.from_env({**os.environ, **(limits_env or {})})
    runner, tls = await start_app(authority, plugins, keepalive=limits.keepalive)
    guard = Guard(limits)
    try:
        site = GuardedSite(runner, "127.0.0.1", files.port, guard=guard, ssl_context=tls.ctx)
        await site.start()
        if cfg.insecure_address:
            host, _, port = cfg.insecure_address.rpartition(":")
            await GuardedSite(runner, host or "127.0.0.1", int(port), guard=guard).start()
        yield authority
    finally:
        await guard.stop()
        await runner.cleanup()
