"""The fuzz suite's CA and its client: a real CA (every installed plugin, a JWK and an ACME provisioner, the
admin API on) served in a thread of this process, its routes discovered from the running application, and
a blocking HTTPS client that checks every answer.

Why a thread: hypothesis drives synchronous tests, and the routes must come from the application the CA
really serves (so the SCEP, OIDC or any later plugin's routes are fuzzed the day they are installed). The
server's log records are collected, so a request that reached the catch-all fails even when its answer
looked fine.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import logging
import re
import secrets
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from attrs import define, field
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from plica import config as config_mod
from plica.http.guard import Guard, GuardedSite, Limits
from plica.http.lifecycle import start_app
from plica.http.server import load_material, open_authority
from plica.jose import b64url_encode, default_alg, public_jwk, sign_compact
from plica.testing import CAFiles, ProvKey, admin_key, make_ca

SLOW = 5.0  # seconds: an answer slower than this is a failure
# What no answer may hold: a Python traceback, a source path, a module path of this machine.
LEAK = re.compile(
    r"Traceback \(most recent call last\)|File \"/|\.py\", line|site-packages|/home/|/tmp/|/work/"
)


@define
class RouteInfo:
    method: str
    path: str  # aiohttp's canonical form, e.g. /acme/{provisioner}/order/{order}
    params: list[str]

    @property
    def kernel_path(self) -> str:
        """The path without step's /1.0 prefix (the key of plica.http.wire.BODIES)."""
        return self.path.removeprefix("/1.0")


class LogTrap(logging.Handler):
    """Every record of level ERROR or with a traceback: the catch-all's, or a failure nothing handled."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or record.exc_info:
            self.records.append(record)


@define
class FuzzCA:
    files: CAFiles
    routes: list[RouteInfo]
    jwk: ProvKey
    acme_key: Any
    acme_kid: str
    trap: LogTrap
    ctx: ssl.SSLContext
    conn: http.client.HTTPSConnection | None = field(default=None)
    statuses: dict[int, int] = field(factory=dict)  # answers of the fuzzed requests, by status

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.files.port}"

    def url(self, path: str) -> str:
        return f"https://{self.host}{path}"

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, str], bytes, float]:
        """One request on a kept-alive connection (reopened when the server closed it)."""
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPSConnection(
                    "127.0.0.1", self.files.port, context=self.ctx, timeout=SLOW * 2
                )
            t0 = time.monotonic()
            try:
                self.conn.putrequest(method, path, skip_accept_encoding=True)
                for k, v in (headers or {}).items():
                    self.conn.putheader(k, v)
                if body is not None:
                    self.conn.putheader("Content-Length", str(len(body)))
                self.conn.endheaders(body)
                r = self.conn.getresponse()
                data = r.read()
                took = time.monotonic() - t0
                if r.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return r.status, {k.lower(): v for k, v in r.getheaders()}, data, took
            except (
                http.client.RemoteDisconnected,
                ConnectionError,
                http.client.BadStatusLine,
                ssl.SSLEOFError,
            ):
                # The server closed a kept-alive connection (as it does after a malformed request): once more
                # on a new one; a second failure is a failure.
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
            except BaseException:
                self.conn.close()  # a timeout, or the test failing: the connection is in no known state
                self.conn = None
                raise
        raise AssertionError("unreachable")

    def nonce(self, provisioner: str = "acme") -> str:
        status, headers, _, _ = self.request("HEAD", f"/acme/{provisioner}/new-nonce")
        assert status == 200, status
        return headers["replay-nonce"]

    def acme_jws(self, path: str, payload: bytes, *, header: dict[str, Any] | None = None) -> bytes:
        """A flattened JWS for `path`, signed by the fuzz account's key with a fresh nonce, so that the
        request gets past authentication to the handler's reading of the payload."""
        h: dict[str, Any] = {
            "alg": default_alg(public_jwk(self.acme_key)),
            "url": self.url(path),
            "nonce": self.nonce(),
            "kid": self.acme_kid,
        }
        h.update(header or {})
        p, pl, s = sign_compact(h, payload, self.acme_key).split(".")
        return json.dumps({"protected": p, "payload": pl, "signature": s}).encode()

    def check(self, what: str, status: int, body: bytes, took: float) -> None:
        """The properties every answer has: below 500, no traceback or path in it, quick, nothing logged
        as a failure."""
        self.statuses[status] = self.statuses.get(status, 0) + 1
        text = body[:20000].decode("utf-8", "replace")
        # 501 is step-ca's deliberate answer for what it does not offer (passive=false revocation, SSH on a
        # CA without SSH keys); every other 5xx is a failure.
        assert status < 500 or status == 501, f"{what}: {status} {text[:500]}"
        assert not LEAK.search(text), f"{what}: the answer leaks internals: {text[:500]}"
        assert took < SLOW, f"{what}: took {took:.1f} s"
        if self.trap.records:
            rec = self.trap.records[:]
            self.trap.records.clear()
            exc = logging.Formatter().formatException(rec[0].exc_info) if rec[0].exc_info else ""
            raise AssertionError(
                f"{what}: logged {rec[0].levelname}: {rec[0].getMessage()[:500]}\n{exc[-3000:]}"
            )


def discover_routes(app: Any) -> list[RouteInfo]:
    out = []
    for r in app.router.routes():
        info = r.resource.get_info() if r.resource is not None else {}
        path = info.get("path") or info.get("formatter")
        if not path or r.method == "*":
            continue
        params = re.findall(r"\{([^}:]+)(?::[^}]*)?\}", path)
        canon = re.sub(r"\{([^}:]+):[^}]*\}", r"{\1}", path)
        out.append(RouteInfo(method=r.method, path=canon, params=params))
    return out


def fill_path(route: RouteInfo, values: dict[str, str]) -> str:
    path = route.path
    for p in route.params:
        path = path.replace("{" + p + "}", quote(values.get(p, "x"), safe=""))
    return path


@contextmanager
def fuzz_ca(tmp: Path, *, db: dict[str, Any] | None = None) -> Iterator[FuzzCA]:
    files = make_ca(tmp)
    cfg = files.config()
    cfg["authority"]["enableAdmin"] = True
    # The validator's ports are closed ones of this host: a challenge request fails fast.
    cfg["authority"]["provisioners"].append(
        {
            "type": "ACME",
            "name": "acme",
            "validation": {"httpPort": 9, "tlsPort": 9, "resolver": "127.0.0.1:9", "timeout": "1s"},
        }
    )
    # Provisioners of the other installed protocol plugins, so their routes answer for a real one too.
    types = set(_plugins().types)
    if "scep" in types:
        crt, key = _rsa_decrypter()
        cfg["authority"]["provisioners"].append(
            {
                "type": "SCEP",
                "name": "scep",
                "challenge": "fuzz-secret",
                "decrypterCertificate": base64.b64encode(crt).decode(),
                "decrypterKeyPEM": base64.b64encode(key).decode(),
            }
        )
    if "x5c" in types:
        root_b64 = base64.b64encode(files.root.read_bytes()).decode()
        cfg["authority"]["provisioners"].append({"type": "X5C", "name": "x5c", "roots": root_b64})
    if "sshpop" in types and not any(p["type"] == "SSHPOP" for p in cfg["authority"]["provisioners"]):
        cfg["authority"]["provisioners"].append({"type": "SSHPOP", "name": "sshpop"})
    if db is not None:
        cfg["db"] = db
    files.write_config(cfg)
    trap = LogTrap()
    logging.getLogger().addHandler(trap)
    ready = threading.Event()
    state: dict[str, Any] = {}

    async def main() -> None:
        c = config_mod.load(files.config_path)
        authority = await open_authority(
            c, load_material(c, files.password), _plugins(), start_time=time.time() - 5
        )
        runner, tls = await start_app(authority, _plugins())
        guard = Guard(Limits())
        site = GuardedSite(runner, "127.0.0.1", files.port, guard=guard, ssl_context=tls.ctx)
        await site.start()
        state["routes"] = discover_routes(runner.app)
        state["stop"] = stop = asyncio.Event()
        state["loop"] = asyncio.get_running_loop()
        ready.set()
        try:
            await stop.wait()
        finally:
            await guard.stop()
            await runner.cleanup()

    def thread_main() -> None:
        try:
            # Run as module-level code: aiohttp's AppKey() looks for a "<module>" frame up the stack to
            # name itself, and a thread's stack has none.
            exec(
                compile("asyncio.run(main())", "<fuzz-ca>", "exec"),
                {"__name__": __name__, "asyncio": asyncio, "main": main},
            )
        except BaseException as e:  # reported to the test thread
            state["error"] = e
            ready.set()

    t = threading.Thread(target=thread_main, name="fuzz-ca", daemon=True)
    t.start()
    ready.wait(60)
    if "error" in state:
        raise state["error"]
    ctx = ssl.create_default_context(cafile=str(files.root))
    ca = FuzzCA(
        files=files,
        routes=state["routes"],
        jwk=admin_key(files),
        acme_key=ec.generate_private_key(ec.SECP256R1()),
        acme_kid="",
        trap=trap,
        ctx=ctx,
    )
    try:
        ca.acme_kid = _new_account(ca)
        yield ca
    finally:
        if ca.conn is not None:
            ca.conn.close()
        state["loop"].call_soon_threadsafe(state["stop"].set)
        t.join(30)
        logging.getLogger().removeHandler(trap)


def _rsa_decrypter() -> tuple[bytes, bytes]:
    """A SCEP provisioner's own RSA decrypter (PEM certificate and key), for a CA whose keys are EC."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(65537, 2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fuzz SCEP decrypter")])
    now = dt.datetime.now(dt.UTC)
    crt = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return crt.public_bytes(serialization.Encoding.PEM), key_pem


_PLUGINS: list[Any] = []


def _plugins() -> Any:
    from plica.plugins import get_plugins

    if not _PLUGINS:
        _PLUGINS.append(get_plugins())
    return _PLUGINS[0]


def _new_account(ca: FuzzCA) -> str:
    path = "/acme/acme/new-account"
    h = {
        "alg": default_alg(public_jwk(ca.acme_key)),
        "url": ca.url(path),
        "nonce": ca.nonce(),
        "jwk": public_jwk(ca.acme_key),
    }
    p, pl, s = sign_compact(h, b'{"termsOfServiceAgreed": true}', ca.acme_key).split(".")
    body = json.dumps({"protected": p, "payload": pl, "signature": s}).encode()
    status, headers, data, _ = ca.request("POST", path, body, {"Content-Type": "application/jose+json"})
    assert status == 201, data
    return headers["location"]


def token_for(key: ProvKey, claims: dict[str, Any] | bytes, header: dict[str, Any] | None = None) -> str:
    """A token signed by a provisioner's real key, with any claims (raw JSON bytes allowed: big integers,
    NULs), so the request reaches the checks behind the signature."""
    payload = claims if isinstance(claims, bytes) else json.dumps(claims).encode()
    h = {"alg": key.alg, "kid": key.kid, "typ": "JWT", **(header or {})}
    try:
        return sign_compact(h, payload, key.private)
    except (
        TypeError
    ):  # orjson cannot encode the header (an integer beyond 64 bits): sign it as json writes it
        return _sign_es_with_json_header(h, payload, key)


def _sign_es_with_json_header(header: dict[str, Any], payload: bytes, key: ProvKey) -> str:
    assert key.alg.startswith("ES"), key.alg  # the fuzz CA's JWK provisioner key
    signing_input = f"{b64url_encode(json.dumps(header).encode())}.{b64url_encode(payload)}".encode()
    hash_alg = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}[key.alg[2:]]
    r, s = decode_dss_signature(key.private.sign(signing_input, ec.ECDSA(hash_alg)))
    size = (key.private.curve.key_size + 7) // 8
    return f"{signing_input.decode()}.{b64url_encode(r.to_bytes(size, 'big') + s.to_bytes(size, 'big'))}"


def free_local_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def new_jti() -> str:
    return secrets.token_hex(16)


__all__ = ["FuzzCA", "RouteInfo", "b64url_encode", "fill_path", "fuzz_ca", "new_jti", "token_for"]
