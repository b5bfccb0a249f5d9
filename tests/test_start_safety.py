"""`plica start` as the master of its workers, against kill -9 and against whatever else holds its port:

- a worker killed with SIGKILL is logged and replaced;
- a master killed with SIGKILL takes its workers with it (nothing listens on the port 2 s later);
- a port held by another CA, or by any process (also one that set SO_REUSEPORT, as the workers of older
  versions did), stops the start within seconds with one line and a non-zero exit;
- a second start from the home of a running CA leaves that CA's pid file alone.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from plica.http.pidfile import pid_file_path
from plica.testing import CAFiles, ca_process, make_ca, wait_healthy

pytestmark = pytest.mark.slow


def children(pid: int) -> set[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return {int(p) for p in out.split()}


def listeners(port: int) -> str:
    """`ss` lines of whatever listens on `port` (empty: nothing)."""
    out = subprocess.run(["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True).stdout
    return out.strip()


def start_cmd(files: CAFiles, *extra: str) -> list[str]:
    return [sys.executable, "-m", "plica", "start", "--home", str(files.home),
            "--password-file", str(files.password_file), *extra]  # fmt: skip


def failed_start(files: CAFiles, *extra: str) -> subprocess.CompletedProcess[str]:
    t0 = time.monotonic()
    r = subprocess.run(start_cmd(files, *extra), capture_output=True, text=True, timeout=60, env=files.env())
    took = time.monotonic() - t0
    assert r.returncode != 0, r.stderr
    assert took < 20, f"the failed start took {took:.1f} s"
    lines = [ln for ln in r.stderr.splitlines() if "Error:" in ln or "Traceback" in ln]
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    return r


def test_a_killed_worker_is_logged_and_replaced(tmp_path: Path) -> None:
    files = make_ca(tmp_path)
    log = tmp_path / "ca.log"
    with ca_process(files, workers=2, log=log) as proc:
        deadline = time.monotonic() + 20
        while log.read_text().count("serving https://") < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        before = children(proc.pid)
        assert len(before) == 2, (before, log.read_text())
        victim = min(before)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            now = children(proc.pid)
            if victim not in now and len(now) == 2:
                break
            time.sleep(0.1)
        assert victim not in now and len(now) == 2, (before, now, log.read_text())
        wait_healthy(files.url, files.root)
        text = log.read_text()
        assert f"worker {victim} was killed by SIGKILL; started worker" in text, text


def test_killing_the_master_leaves_nothing_on_the_port(tmp_path: Path) -> None:
    files = make_ca(tmp_path)
    with ca_process(files, workers=3) as proc:
        deadline = time.monotonic() + 20
        while len(children(proc.pid)) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        workers = children(proc.pid)
        assert listeners(files.port)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        t0 = time.monotonic()
        while (listeners(files.port) or any(_alive(w) for w in workers)) and time.monotonic() - t0 < 2:
            time.sleep(0.02)
        assert not listeners(files.port), listeners(files.port)
        assert not [w for w in workers if _alive(w)]
    # The pid file names a dead master: the next start is not refused for it.
    assert pid_file_path(files.home).exists()
    with ca_process(files, workers=1):
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (not yet reaped by init) no longer runs or listens.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False


def test_two_cas_cannot_share_a_port(tmp_path: Path) -> None:
    """Issue 16.1: the second CA (another home, the same port) stops with one line; the first keeps
    answering every request, and its pid file is its own."""
    first = make_ca(tmp_path / "one")
    second = make_ca(tmp_path / "two")
    cfg = second.config()
    cfg["address"] = f"127.0.0.1:{first.port}"
    second.write_config(cfg)
    with ca_process(first, workers=2) as proc:
        r = failed_start(second, "--workers", "2")
        assert f"cannot listen on 127.0.0.1:{first.port}" in r.stderr and "in use" in r.stderr, r.stderr
        assert not pid_file_path(second.home).exists()
        assert pid_file_path(first.home).read_text().strip() == str(proc.pid)
        wait_healthy(first.url, first.root)


@pytest.mark.parametrize("reuse_port", [False, True])
def test_a_port_held_by_another_process_stops_the_start(tmp_path: Path, reuse_port: bool) -> None:
    """Issue 16.2: one line, non-zero, within seconds, no pid file; also when the holder set SO_REUSEPORT
    (as an orphaned worker of an older version would have)."""
    files = make_ca(tmp_path)
    holder = socket.socket()
    if reuse_port:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    holder.bind(("127.0.0.1", files.port))
    holder.listen()
    try:
        r = failed_start(files, "--workers", "2")
        assert "cannot listen on" in r.stderr, r.stderr
        assert not pid_file_path(files.home).exists()
    finally:
        holder.close()


def test_a_second_start_of_a_running_ca_leaves_its_pid_file(tmp_path: Path) -> None:
    files = make_ca(tmp_path)
    with ca_process(files, workers=2) as proc:
        pid_file = pid_file_path(files.home)
        assert pid_file.read_text().strip() == str(proc.pid)
        r = failed_start(files)
        assert f"already running from {files.home} (pid {proc.pid}" in r.stderr, r.stderr
        assert pid_file.read_text().strip() == str(proc.pid)
        wait_healthy(files.url, files.root)
