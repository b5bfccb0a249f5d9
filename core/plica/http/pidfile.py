"""`<home>/run/plica.pid`: where `plica start` records its (master) pid, so that `plica provisioner ...
--reload` can SIGHUP it. A module of its own so that the CLI finds it without importing the server."""

from __future__ import annotations

import atexit
import os
from pathlib import Path


def pid_file_path(home: Path) -> Path:
    """Where `plica start` records its (master) pid, so `plica provisioner ... --reload` can SIGHUP it."""
    return home / "run" / "plica.pid"


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
