"""Install the kernel and every plugin under plugins/ (editable) into the current environment.

A distribution already installed editable from its directory here, whose pyproject.toml has not changed
since this script installed it (its hash is kept in <environment>/plica-installed.json), is not installed
again: editable code needs no reinstall, only a changed pyproject.toml (dependencies, entry points) does.
A fresh environment (a fresh clone, CI) installs everything. `--dry-run` prints what would be installed.

The examples/ distributions are not installed here: their tests install them, as a user would.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARKER = Path(sys.prefix) / "plica-installed.json"


def distribution_paths() -> list[Path]:
    return [ROOT, *sorted(p for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").exists())]


def pyproject_hash(path: Path) -> str:
    return hashlib.sha256((path / "pyproject.toml").read_bytes()).hexdigest()


def installed_editable_from(path: Path) -> bool:
    """Whether the distribution of `path` is installed in this environment, editable, from `path`."""
    name = tomllib.loads((path / "pyproject.toml").read_text())["project"]["name"]
    try:
        dist = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return False
    raw = dist.read_text("direct_url.json")
    if not raw:
        return False
    info = json.loads(raw)
    return bool(info.get("dir_info", {}).get("editable")) and info.get("url") == path.resolve().as_uri()


def plan(paths: list[Path], marker: Path = MARKER) -> list[Path]:
    """The distributions to (re)install: new here, not editable from here, or with a changed pyproject."""
    try:
        done = json.loads(marker.read_text())
    except (OSError, ValueError):
        done = {}
    return [p for p in paths if done.get(str(p)) != pyproject_hash(p) or not installed_editable_from(p)]


def record(paths: list[Path], marker: Path = MARKER) -> None:
    try:
        done = json.loads(marker.read_text())
    except (OSError, ValueError):
        done = {}
    done.update({str(p): pyproject_hash(p) for p in paths})
    marker.write_text(json.dumps(done, indent=1, sort_keys=True) + "\n")


def main() -> None:
    paths = distribution_paths()
    todo = plan(paths)
    if "--dry-run" in sys.argv[1:]:
        print("would install:", ", ".join(p.name for p in todo) or "nothing")
        return
    if todo:
        args = [sys.executable, "-m", "pip", "install", "--quiet"]
        for p in todo:
            args += ["-e", str(p)]
        subprocess.run(args, check=True)
        record(todo)
    print("installed:", ", ".join(p.name for p in todo) or "nothing (all up to date)")


if __name__ == "__main__":
    main()
