"""Changing a running CA: `plica provisioner update ... --reload` (SIGHUP to `plica start`) takes effect
without a restart, requests in flight finish, a broken file leaves the old configuration serving and the
log says why, and `/provisioners` (with step's cursor pagination, docs/reference/wire.md §10.7) shows every change."""

from __future__ import annotations

import hashlib
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from plica.cli.client_cmds import build_csr
from plica.plugins import get_plugins
from plica.testing import CAFiles, ca_process, client_context, make_ca
from plica.types import ClientContext

pytestmark = pytest.mark.slow


def plica(files: CAFiles, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "plica", *args], capture_output=True, text=True, env=files.env(), timeout=120
    )


def ok(res: subprocess.CompletedProcess[str]) -> str:
    assert res.returncode == 0, res.stderr
    return res.stdout


class Log:
    """The server's log file (plica.testing.ca_process writes it to <home>/plica.log), read as it grows."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def lines(self) -> list[str]:
        return self.path.read_text(errors="replace").splitlines() if self.path.exists() else []

    def wait_for(self, text: str, count: int = 1, timeout: float = 20.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            hits = [line for line in self.lines if text in line]
            if len(hits) >= count:
                return hits
            time.sleep(0.05)
        raise AssertionError(f"the log never said {text!r} ({count}x):\n" + "\n".join(self.lines))


@contextmanager
def running(files: CAFiles, workers: int = 1) -> Iterator[tuple[subprocess.Popen[bytes], Log]]:
    with ca_process(files, workers=workers) as proc:
        yield proc, Log(files.home / "plica.log")


# ---------------------------------------------------------------------------- a client in this process

_KEYS: dict[str, Any] = {}


def token(files: CAFiles, subject: str) -> str:
    provs = get(files, "/provisioners?limit=100")[1]["provisioners"]
    prov = next(p for p in provs if p["name"] == "admin")
    # Decrypting the provisioner key costs 100k PBKDF2 rounds: do it once per key.
    key_file = _KEYS.get(prov["key"]["kid"])
    if key_file is None:
        from plica.jose import jwe_decrypt_pbes2

        _, jwk = jwe_decrypt_pbes2(prov["encryptedKey"], files.password)
        key_file = files.home / f"{prov['key']['kid']}.jwk"
        key_file.write_bytes(jwk)
        _KEYS[prov["key"]["kid"]] = key_file
    ctx = ClientContext(
        provisioner=prov,
        ca_url=files.url,
        audience=files.url + "/1.0/sign",
        subject=subject,
        sans=[subject],
        options={"key": str(key_file)},
    )
    # Only the type's own plugin makes its tokens (the kernel asks no other).
    make = get_plugins().type_hook("JWK", "client_token")
    return make(provisioner_type="JWK", context=ctx, operation="sign")


def get(files: CAFiles, path: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(files.url + path, context=client_context(files), timeout=10) as r:
            return r.status, orjson.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, orjson.loads(e.read())


def sign_body(files: CAFiles, subject: str, not_after: str | None) -> bytes:
    csr = build_csr(ec.generate_private_key(ec.SECP256R1()), subject, [subject])
    return orjson.dumps({"csr": csr, "ott": token(files, subject), "notAfter": not_after})


def sign(files: CAFiles, subject: str, not_after: str | None) -> tuple[int, Any]:
    req = urllib.request.Request(
        files.url + "/1.0/sign",
        data=sign_body(files, subject, not_after),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, context=client_context(files), timeout=10) as r:
            return r.status, orjson.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, orjson.loads(e.read())


def wait_until(pred: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


# ============================================================================ the max-duration change


@pytest.mark.parametrize("workers", [1, 2])
def test_max_duration_update_applies_on_sighup_without_restart(tmp_path: Path, workers: int) -> None:
    pytest.importorskip("plica_jwk")
    files = make_ca(tmp_path)
    with running(files, workers) as (proc, log):
        pid_file = files.home / "run" / "plica.pid"
        assert pid_file.read_text().strip() == str(proc.pid)
        status, body = sign(files, "before.example.com", "2h")
        assert status == 201, body

        ok(plica(files, "provisioner", "update", "admin", "--x509-max-dur=1h", "--reload"))
        log.wait_for("reloaded", count=workers)
        # every worker reloaded: requests land on either of them (SO_REUSEPORT), all get the new limit
        for i in range(4 * workers):
            status, body = sign(files, f"after{i}.example.com", "2h")
            assert status == 403, body
            assert "more than the authorized maximum of 1h0m0s" in body["message"]
        status, body = sign(files, "short.example.com", "45m")
        assert status == 201, body
        # A request that names no duration gets the inherited 24h default pulled down to the new maximum.
        status, body = sign(files, "default.example.com", None)
        assert status == 201, body
        assert proc.poll() is None  # the same process, never restarted
        admin = next(p for p in get(files, "/provisioners")[1]["provisioners"] if p["name"] == "admin")
        assert admin["claims"]["maxTLSCertDuration"] == "1h"
    assert not pid_file.exists()  # removed when the CA stops


# ============================================================================ in-flight requests and broken files


def test_requests_in_flight_finish_across_reloads(tmp_path: Path) -> None:
    pytest.importorskip("plica_jwk")
    files = make_ca(tmp_path)
    ok(plica(files, "provisioner", "update", "admin", "--x509-default-dur", "30m"))
    with running(files) as (proc, log):
        # One request half sent when the reload happens: it completes on the new configuration.
        body = sign_body(files, "inflight.example.com", "20m")
        ctx = client_context(files)
        raw = socket.create_connection(("127.0.0.1", files.port), timeout=10)
        conn = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        head = (
            f"POST /1.0/sign HTTP/1.1\r\nHost: 127.0.0.1:{files.port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        conn.sendall(head + body[: len(body) // 2])

        # Meanwhile a stream of requests, while the configuration is reloaded several times.
        results: list[int] = []
        stop = threading.Event()

        def load() -> None:
            i = 0
            while not stop.is_set():
                results.append(sign(files, f"load{i}.example.com", "20m")[0])
                i += 1

        t = threading.Thread(target=load)
        t.start()
        for n, dur in enumerate(["1h", "2h", "1h"], start=1):
            ok(plica(files, "provisioner", "update", "admin", f"--x509-max-dur={dur}", "--reload"))
            log.wait_for("reloaded", count=n)
        stop.set()
        t.join(timeout=30)

        conn.sendall(body[len(body) // 2 :])
        response = b""
        while chunk := conn.recv(65536):
            response += chunk
        conn.close()
        assert response.startswith(b"HTTP/1.1 201"), response[:200]
        assert results and set(results) == {201}, results
        assert proc.poll() is None


def test_a_broken_file_keeps_the_old_configuration_and_the_log_says_why(tmp_path: Path) -> None:
    pytest.importorskip("plica_jwk")
    files = make_ca(tmp_path)
    ok(plica(files, "provisioner", "update", "admin", "--x509-default-dur", "30m"))
    ok(plica(files, "provisioner", "update", "admin", "--x509-max-dur", "1h"))
    good = files.config_path.read_bytes()
    with running(files) as (proc, log):
        assert sign(files, "a.example.com", "2h")[0] == 403

        # 1. a provisioner block that does not load (written by hand: the tool refuses to write it)
        cfg = files.config()
        cfg["authority"]["provisioners"][0]["claims"]["maxTLSCertDuration"] = "3h"
        cfg["authority"]["provisioners"][0]["key"]["x"] = "not-a-point"
        files.write_config(cfg)
        proc.send_signal(signal.SIGHUP)
        (line,) = log.wait_for("keeping the previous configuration")
        assert "ca.json.authority.provisioners[0].key" in line
        # still the old configuration: 2h refused, 30m issued with the old key
        status, body = sign(files, "b.example.com", "2h")
        assert status == 403 and "1h0m0s" in body["message"]
        assert sign(files, "c.example.com", "30m")[0] == 201

        # 2. not even JSON
        files.config_path.write_text('{"address": ')
        proc.send_signal(signal.SIGHUP)
        lines = log.wait_for("keeping the previous configuration", count=2)
        assert "not valid JSON" in lines[1]
        assert sign(files, "d.example.com", "30m")[0] == 201

        # the tool refuses to edit a file that does not load, and says why
        res = plica(files, "provisioner", "update", "admin", "--x509-max-dur", "3h")
        assert res.returncode != 0 and "not valid JSON" in res.stderr

        # 3. back to a good file, raised limit: applies
        files.config_path.write_bytes(good)
        ok(plica(files, "provisioner", "update", "admin", "--x509-max-dur", "3h", "--reload"))
        log.wait_for("reloaded")
        assert sign(files, "e.example.com", "2h")[0] == 201
        assert proc.poll() is None


# ============================================================================ /provisioners


def _uid(index: int, pid: str) -> str:
    """step's collection uid (authority/provisioner/collection.go): SHA-1 of the id, first 4 bytes = index."""
    d = bytearray(hashlib.sha1(pid.encode()).digest())
    d[:4] = index.to_bytes(4, "big")
    return d.hex()


def _all_pages(files: CAFiles, limit: int) -> tuple[list[dict[str, Any]], list[str]]:
    out: list[dict[str, Any]] = []
    cursors: list[str] = []
    cursor = ""
    while True:
        status, body = get(files, f"/provisioners?limit={limit}&cursor={cursor}")
        assert status == 200, body
        assert len(body["provisioners"]) <= limit
        out += body["provisioners"]
        cursor = body["nextCursor"]
        if not cursor:
            return out, cursors
        cursors.append(cursor)
        assert len(body["provisioners"]) == limit


def test_provisioners_endpoint_pages_and_follows_every_change(tmp_path: Path) -> None:
    pytest.importorskip("plica_jwk")
    files = make_ca(tmp_path)
    ok(plica(files, "provisioner", "remove", "sshpop"))
    with running(files) as (_, log):
        reloads = 0

        def reload_and_wait() -> None:
            nonlocal reloads
            reloads += 1
            log.wait_for("reloaded", count=reloads)

        # add 24 JWK provisioners (public keys only) with the real CLI, then one reload
        from click.testing import CliRunner

        from plica.cli.main import build_cli

        cli = build_cli()
        for i in range(24):
            pem = tmp_path / f"k{i}.pem"
            pem.write_bytes(
                ec.generate_private_key(ec.SECP256R1())
                .public_key()
                .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            )
            res = CliRunner().invoke(
                cli,
                ["provisioner", "add", f"team-{i:02d}", "--public-key", str(pem), "--home", str(files.home)],
                env=files.env(),
            )
            assert res.exit_code == 0, res.output
        ok(plica(files, "provisioner", "update", "team-05", "--x509-min-dur", "10m", "--reload"))
        reload_and_wait()

        blocks = files.config()["authority"]["provisioners"]
        expected = [
            b["name"]
            for _, b in sorted(
                ((_uid(i, f"{b['name']}:{b['key']['kid']}"), b) for i, b in enumerate(blocks)),
                key=lambda t: t[0],
            )
        ]
        assert len(expected) == 25
        for limit in (7, 10, 25, 100):
            items, cursors = _all_pages(files, limit)
            assert [p["name"] for p in items] == expected, limit
            # the cursor is the next item's uid without its leading zeros
            for c in cursors:
                assert c == c.lstrip("0") and int(c, 16) >= 0
        # step's limits: default 20, at most 100, non-positive means the default
        assert len(get(files, "/provisioners")[1]["provisioners"]) == 20
        assert len(get(files, "/provisioners?limit=0")[1]["provisioners"]) == 20
        assert len(get(files, "/provisioners?limit=1000")[1]["provisioners"]) == 25
        status, body = get(files, "/provisioners?limit=abc")
        assert status == 400 and "limit 'abc' is not an integer" in body["message"]
        team05 = next(p for p in _all_pages(files, 100)[0] if p["name"] == "team-05")
        assert team05["claims"] == {"minTLSCertDuration": "10m"}

        # remove some, update one, reload: the listing follows
        for name in ("team-00", "team-13", "team-23"):
            ok(plica(files, "provisioner", "remove", name))
        ok(plica(files, "provisioner", "update", "team-05", "--x509-min-dur", "", "--reload"))
        reload_and_wait()
        names = [p["name"] for p in _all_pages(files, 10)[0]]
        assert len(names) == 22 and not {"team-00", "team-13", "team-23"} & set(names)
        team05 = next(p for p in _all_pages(files, 100)[0] if p["name"] == "team-05")
        assert "claims" not in team05
