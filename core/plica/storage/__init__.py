"""Storage: one async interface (`Storage`), SQLite by default, PostgreSQL for several instances."""

from __future__ import annotations

from plica.storage.base import AlreadyRevoked, Storage, StorageError, TokenReused, UniqueViolation


def open_storage(db_type: str, data_source: str) -> Storage:
    """The engine for ca.json's `db` block. Imported lazily so a SQLite CA never needs asyncpg."""
    kind = db_type.lower()
    if kind == "sqlite":
        from plica.storage.sqlite import SQLiteStorage

        return SQLiteStorage(data_source)
    if kind in ("postgresql", "postgres"):
        from plica.storage.postgres import PostgresStorage

        return PostgresStorage(data_source)
    raise StorageError(f"unsupported database type {db_type!r} (expected 'sqlite' or 'postgresql')")


__all__ = ["AlreadyRevoked", "Storage", "StorageError", "TokenReused", "UniqueViolation", "open_storage"]
