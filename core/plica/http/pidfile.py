"""`<home>/run/plica.pid`: where `plica start` records its (master) pid, so that `plica provisioner ...
--reload` can SIGHUP it. A module of its own so that the CLI finds it without importing the server."""

from __future__ import annotations

import atexit
import os
from pathlib import Path


def pid_file_path(home: Path) -> Path:
    """Where `plica start` records its (master) pid, so `plica provisioner ... --reload` can SIGHUP it."""
    return home / "run" / "plica.pid"


def running_pid(home: Path) -> int | None:
    """The pid in `<home>/run/plica.pid` if that process is alive (and, where /proc tells, is a plica),
    else None: a pid file left by a CA that was killed names nobody, or someone else."""
    try:
        pid = int(pid_file_path(home).read_text().strip())
    except (OSError, ValueError):
        return None
    if pid <= 0 or pid == os.getpid():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid  # alive, another user's: not ours to judge
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return pid
    return pid if b"plica" in cmdline else None


def check_not_running(home: Path) -> None:
    """StartError when a CA already runs from `home` (its pid file names a live plica): a second start
    must neither serve beside it nor overwrite its pid file."""
    from plica.errors import StartError

    pid = running_pid(home)
    if pid is not None:
        raise StartError(f"a CA is already running from {home} (pid {pid}, {pid_file_path(home)})")


def write_pid_file(home: Path) -> None:
    """Write `<home>/run/plica.pid`; removed when this process exits normally (forked workers leave with
    os._exit, which skips atexit, so only the master removes it)."""
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
