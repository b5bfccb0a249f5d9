"""Two requests creating an EAB key with the same reference at the same moment: exactly one wins, on the
real SQLite engine (the unique index of migration acme-0002 decides, not the read-then-write check)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from plica.api import Sealer, open_storage
from plica_acme.eab import add_key
from plica_acme.schema import MIGRATIONS
from plica_acme.store import AcmeStore


async def test_concurrent_adds_with_one_reference(tmp_path: Path) -> None:
    engines = [open_storage("sqlite", str(tmp_path / "ca.db")) for _ in range(2)]
    sealer = Sealer(os.urandom(32))
    stores = [AcmeStore(e, sealer) for e in engines]
    for e in engines:
        await e.open()
    await engines[0].migrate(MIGRATIONS)
    try:
        results = await asyncio.gather(
            *(add_key(stores[i % 2], "acme", "team-a") for i in range(8)), return_exceptions=True
        )
        wins = [r for r in results if not isinstance(r, BaseException)]
        losses = [r for r in results if isinstance(r, BaseException)]
        assert len(wins) == 1
        assert all(isinstance(r, ValueError) and "already exists" in str(r) for r in losses)
        assert [k.reference for k in await stores[0].eab_keys("acme", "team-a")] == ["team-a"]
        # Keys without a reference are not constrained.
        await asyncio.gather(add_key(stores[0], "acme"), add_key(stores[1], "acme"))
        assert len(await stores[0].eab_keys("acme")) == 3
    finally:
        for e in engines:
            await e.close()
