"""What every `plica` command shares: the CA home, client defaults, passwords."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click
import orjson


def default_home() -> Path:
    return Path(os.environ.get("PLICA_HOME") or Path.home() / ".plica")


def read_defaults(home: Path | None = None) -> dict[str, Any]:
    p = (home or default_home()) / "config" / "defaults.json"
    try:
        defaults: dict[str, Any] = orjson.loads(p.read_bytes())
        return defaults
    except (OSError, orjson.JSONDecodeError):
        return {}


def read_password_file(path: str | None) -> bytes | None:
    if not path:
        return None
    try:
        return Path(path).read_bytes().rstrip(b"\r\n")
    except OSError as e:
        raise click.UsageError(f"cannot read password file {path}: {e.strerror}") from None


home_option = click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The CA's directory (default $PLICA_HOME or ~/.plica).",
)
