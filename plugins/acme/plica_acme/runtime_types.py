"""The slice of the kernel's storage interface this plugin uses (for type hints only)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class StorageLike(Protocol):
    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int: ...

    async def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None: ...

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    async def execute_many(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> None: ...
