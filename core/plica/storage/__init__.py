"""Storage: one async interface (`Storage`), SQLite by default, PostgreSQL for several instances."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit, urlunsplit

from plica.storage.base import AlreadyRevoked, Storage, StorageError, TokenReused, UniqueViolation
from plica.storage.sqlite import SQLiteStorage

if TYPE_CHECKING:
    from plica.config import CAConfig


def open_storage(db_type: str, data_source: str) -> Storage:
    """The engine for ca.json's `db` block."""
    kind = db_type.lower()
    if kind == "sqlite":
        return SQLiteStorage(data_source)
    if kind in ("postgresql", "postgres"):
        # Imported only here: asyncpg is an optional dependency, which a SQLite CA never needs.
        from plica.storage.postgres import PostgresStorage

        return PostgresStorage(data_source)
    raise StorageError(f"unsupported database type {db_type!r} (expected 'sqlite' or 'postgresql')")


def db_source(cfg: CAConfig) -> tuple[str, str]:
    """The engine and data source ca.json's `db` block names (relative SQLite paths resolved against the
    CA's home; step-ca's separate `database` name applied to a PostgreSQL URL)."""
    if cfg.db is None or (not cfg.db.data_source and cfg.db.type.lower() == "sqlite"):
        return "sqlite", str(cfg.home / "db" / "plica.db")
    kind = cfg.db.type.lower()
    src = cfg.db.data_source
    if kind == "sqlite" and not src.startswith(":memory:"):
        path, sep, q = src.partition("?")
        src = str(cfg.resolve(path)) + sep + q
    database = cfg.db.extra.get("database")
    if kind in ("postgresql", "postgres") and isinstance(database, str) and database:
        # step-ca's `database` names the database apart from the URL, and wins over the URL's.
        src = urlunsplit(urlsplit(src)._replace(path="/" + quote(database, safe="")))
    return kind, src


def open_storage_for(cfg: CAConfig) -> Storage:
    """The storage ca.json configures, not yet opened (`await storage.open()`; `close()` when done)."""
    return open_storage(*db_source(cfg))


__all__ = [
    "AlreadyRevoked",
    "Storage",
    "StorageError",
    "TokenReused",
    "UniqueViolation",
    "db_source",
    "open_storage",
    "open_storage_for",
]
