"""The CA's SQLite file read with a connection of its own: what another worker would see."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from plica.testing import CAFiles

KERNEL_TABLES = ("x509_certs", "used_tokens", "revoked_x509_certs", "ssh_certs", "revoked_ssh_certs")


def db_path(files: CAFiles) -> Path:
    return files.home / "db" / "plica.db"


def db_counts(files: CAFiles, tables: tuple[str, ...] = KERNEL_TABLES) -> dict[str, int]:
    """Row counts of the kernel's tables (or `tables`), read with a separate connection: a refused request
    must leave them unchanged."""
    con = sqlite3.connect(db_path(files))
    try:
        return {t: con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}
    finally:
        con.close()


def db_row(files: CAFiles, sql: str, params: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
    con = sqlite3.connect(db_path(files))
    try:
        return con.execute(sql, params).fetchone()
    finally:
        con.close()
