"""`plica start` as a process: worker processes sharing the port and the database, SIGHUP reloads (a broken
ca.json keeps the old configuration and the log says why), SIGTERM stops cleanly, start-up errors name the
JSON path, and the iat-before-start rule across a real restart."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from attrs import define

from plica.testing import (
    CAFiles,
    ProvKey,
    admin_key,
    ca_process,
    csr_pem,
    db_counts,
    ec_key,
    free_port,
    make_ca,
    make_csr,
    new_jwk_provisioner,
    plica_cli,
    stop,
    wait_for,
    wait_healthy,
)

pytestmark = pytest.mark.slow


def request(files: CAFiles, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    ctx = ssl.create_default_context(cafile=str(files.root))
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(files.url + path, data=data, method=method)
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=20) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def sign(files: CAFiles, prov: ProvKey, cn: str, token: str | None = None) -> int:
    ott = token or prov.token(cn, f"{files.url}/1.0/sign", sans=[cn])
    status, _ = request(files, "POST", "/sign", {"csr": csr_pem(make_csr(ec_key(), cn, [cn])), "ott": ott})
    return status


def server_cert_fingerprint(files: CAFiles) -> str:
    ctx = ssl.create_default_context(cafile=str(files.root))
    with socket.create_connection(("127.0.0.1", files.port), timeout=10) as raw:  # noqa: SIM117
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            return hashlib.sha256(tls.getpeercert(binary_form=True) or b"").hexdigest()


@define
class Server:
    files: CAFiles
    log: Path
    proc: Any
    admin: ProvKey

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def reload(self, cfg_text: str | None = None, *, expect: str) -> None:
        """Write ca.json (if given), SIGHUP the master, and wait until every worker logged `expect`."""
        if cfg_text is not None:
            self.files.config_path.write_text(cfg_text)
        seen = self.log_text().count(expect)
        self.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: self.log_text().count(expect) >= seen + 2, what=f"two workers logging {expect!r}")


def both_serving(log: Path) -> None:
    """The CA answers as soon as one worker listens; wait for the second before counting on it."""
    wait_for(
        lambda: log.read_text(errors="replace").count("serving https://") >= 2, what="two workers serving"
    )


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("workers")
    files = make_ca(tmp, ssh=False)
    log = tmp / "server.log"
    with ca_process(files, workers=2, log=log) as proc:
        both_serving(log)
        yield Server(files=files, log=log, proc=proc, admin=admin_key(files))


def test_both_workers_answer_and_share_the_database(two_workers: Server) -> None:
    files = two_workers.files
    # Each worker issues its own TLS certificate; new connections land on both (SO_REUSEPORT).
    seen = {server_cert_fingerprint(files) for _ in range(40)}
    assert len(seen) == 2
    assert (
        len(
            set(
                re.findall(
                    r"serving https://\S+ [^(]*\(pid (\d+), uvloop event loop\)", two_workers.log_text()
                )
            )
        )
        == 2
    )
    before = db_counts(files)["x509_certs"]
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda i: sign(files, two_workers.admin, f"w{i}.example"), range(16)))
    assert statuses == [201] * 16
    assert db_counts(files)["x509_certs"] == before + 16
    # A token spent on one worker is spent for the other too (one database).
    tok = two_workers.admin.token("once.example", f"{files.url}/1.0/sign", sans=["once.example"])
    with ThreadPoolExecutor(6) as pool:
        statuses = list(pool.map(lambda _: sign(files, two_workers.admin, "once.example", tok), range(6)))
    assert sorted(statuses) == [201, 401, 401, 401, 401, 401]


def test_each_worker_accepts_on_a_socket_of_its_own(two_workers: Server) -> None:
    """One shared listening socket let one worker win most accepts (32 keep-alive clients split 28/4): each
    worker has a listening socket of its own on the port (SO_REUSEPORT), which the kernel spreads new
    connections over; the master holds them all, so a replaced worker takes its predecessor's."""
    files = two_workers.files
    out = subprocess.run(
        ["ss", "-Htlnp", "sport", "=", f":{files.port}"], capture_output=True, text=True, check=True
    ).stdout
    lines = [ln for ln in out.splitlines() if ln.strip()]
    workers = {int(p) for p in re.findall(r"pid=(\d+)", out)} - {two_workers.proc.pid}
    assert len(lines) == 2 and len(workers) == 2, out
    for line in lines:  # each socket: the master and exactly one worker
        pids = {int(p) for p in re.findall(r"pid=(\d+)", line)}
        assert two_workers.proc.pid in pids and len(pids & workers) == 1, out
    # and 32 connections do land on both
    ctx = ssl.create_default_context(cafile=str(files.root))
    conns = [ctx.wrap_socket(socket.create_connection(("127.0.0.1", files.port), timeout=10), server_hostname="127.0.0.1") for _ in range(32)]  # fmt: skip
    try:
        est = subprocess.run(
            ["ss", "-Htnp", "state", "established", "sport", "=", f":{files.port}"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        per_worker = {w: len(re.findall(rf"pid={w},", est)) for w in workers}
        assert all(n >= 3 for n in per_worker.values()), per_worker
    finally:
        for c in conns:
            c.close()


def test_sighup_with_a_broken_config_keeps_serving(two_workers: Server) -> None:
    files = two_workers.files
    good = files.config_path.read_text()
    try:
        two_workers.reload('{"address": ', expect="reload of")
        assert "keeping the previous configuration" in two_workers.log_text()
        assert "not valid JSON" in two_workers.log_text()
        assert request(files, "GET", "/health") == (200, {"status": "ok"})
        assert sign(files, two_workers.admin, "still.example") == 201
        # A config error inside a provisioner: the log names the JSON path.
        cfg = json.loads(good)
        cfg["authority"]["provisioners"][0]["key"] = {"kty": "EC"}
        two_workers.reload(json.dumps(cfg), expect="ca.json.authority.provisioners[0].key")
        assert sign(files, two_workers.admin, "still2.example") == 201
    finally:
        files.config_path.write_text(good)


def test_sighup_with_a_valid_config_reloads_every_worker(two_workers: Server) -> None:
    files = two_workers.files
    block, added = new_jwk_provisioner("added")
    cfg = files.config()
    cfg["authority"]["provisioners"].append(block)
    two_workers.reload(json.dumps(cfg), expect="reloaded")
    for _ in range(12):  # new connections, both workers
        _, body = request(files, "GET", "/provisioners")
        assert "added" in [p["name"] for p in body["provisioners"]]
    assert sign(files, added, "added.example") == 201


def test_sigterm_stops_cleanly_and_restart_invalidates_old_tokens(tmp_path: Path) -> None:
    files = make_ca(tmp_path, ssh=False)
    admin = admin_key(files)
    early = admin.token("early.example", f"{files.url}/1.0/sign", sans=["early.example"])
    time.sleep(1.1)  # the CA's start is then strictly after this token's iat
    log = tmp_path / "server.log"
    with ca_process(files, workers=2, log=log) as proc:
        both_serving(log)
        status, body = request(
            files,
            "POST",
            "/sign",
            {"csr": csr_pem(make_csr(ec_key(), "early.example", ["early.example"])), "ott": early},
        )
        assert status == 401 and "before" in body["message"]
        assert sign(files, admin, "late.example") == 201
        assert stop(proc) == 0
    text = log.read_text()
    assert len(re.findall(r"stopping \(pid \d+\)", text)) == 2
    assert "Traceback" not in text
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", files.port), timeout=2).close()


def _start(files: CAFiles, *extra: str) -> Any:
    return plica_cli("start", "--home", str(files.home), *extra, env=files.env(), timeout=60)


def test_start_errors_name_the_problem(tmp_path: Path) -> None:
    files = make_ca(tmp_path, ssh=False)
    good = files.config()
    cfg = json.loads(json.dumps(good))
    cfg["authority"]["provisioners"][0]["key"]["crv"] = "P-999"
    files.write_config(cfg)
    r = _start(files, "--password-file", str(files.password_file))
    assert r.returncode == 1
    assert "cannot start: ca.json.authority.provisioners[0].key: " in r.stderr
    assert "Traceback" not in r.stderr
    # The wrong password: refused, and not repeated back.
    files.write_config(good)
    wrong = tmp_path / "wrong"
    wrong.write_text("hunter2-not-the-password\n")
    r = _start(files, "--password-file", str(wrong))
    assert r.returncode == 1 and "cannot decrypt" in r.stderr and "hunter2" not in r.stderr + r.stdout
    r = plica_cli("start", "--home", str(tmp_path / "empty"), env=files.env())
    assert r.returncode == 1 and "plica init" in r.stderr


def test_asyncio_event_loop_on_request(tmp_path: Path) -> None:
    # uvloop is the default where installed; PLICA_EVENT_LOOP=asyncio runs asyncio's own loop, and an
    # unknown name stops the start with a message rather than a worker's traceback.
    files = make_ca(tmp_path, ssh=False)
    log = tmp_path / "server.log"
    with ca_process(files, workers=2, log=log, env={"PLICA_EVENT_LOOP": "asyncio"}):
        both_serving(log)
        assert log.read_text().count("asyncio event loop)") == 2
        assert sign(files, admin_key(files), "loop.example") == 201
    r = subprocess.run(
        [sys.executable, "-m", "plica", "start", "--home", str(files.home), "--password-file",
         str(files.password_file)],
        capture_output=True, text=True, env={**files.env(), "PLICA_EVENT_LOOP": "twisted"}, timeout=60,
    )  # fmt: skip
    assert r.returncode == 1 and "unknown event loop 'twisted'" in r.stderr and "Traceback" not in r.stderr


def test_start_init_creates_and_serves_a_ca(tmp_path: Path) -> None:
    home = tmp_path / "fresh"
    port = free_port()
    log = (tmp_path / "init.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "plica", "start", "--init", "--home", str(home), "--address",
                             f"127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    root = home / "certs" / "root_ca.crt"
    try:
        wait_for(lambda: (home / "config" / "ca.json").exists() or proc.poll() is not None, what="plica init")
        wait_healthy(f"https://127.0.0.1:{port}", root, proc=proc)
        pw = home / "secrets" / "password"
        assert os.stat(pw).st_mode & 0o777 == 0o600
        text = (tmp_path / "init.log").read_text()
        fp = hashlib.sha256(ssl.PEM_cert_to_DER_cert(root.read_text())).hexdigest()
        assert f"root fingerprint: {fp}" in text
        # what it made, where (the README's quick start promises these), and what it listens on
        assert f"root certificate (the one to trust): {root}" in text
        assert f"configuration: {home / 'config' / 'ca.json'}" in text
        assert f"database: {home / 'db' / 'plica.db'}" in text
        assert f"serving https://127.0.0.1:{port} on the loopback interface, this machine only" in text
        assert pw.read_text().strip() not in text  # the generated password is in the file, not the log
    finally:
        code = stop(proc)
        log.close()
    assert code == 0


def test_the_server_log_holds_no_secrets(two_workers: Server) -> None:
    # Runs after the module's other tests on the shared server: refusals, reloads and issuance were logged.
    sign(two_workers.files, two_workers.admin, "log.example", token="not-a-token")
    text = two_workers.log_text()
    assert "refused (401)" in text
    assert two_workers.files.password.decode() not in text
    assert "eyJ" not in text  # no token (nor any base64 JSON) is echoed
    assert "Traceback" not in text
