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


async def test_the_sealer_is_derived_when_first_needed(tmp_path: Path) -> None:
    """A CA key in a device that is away while a worker starts: adding an EAB key answers 503 until the
    key is back, then works without a restart; a key that cannot seal at all refuses adds (501) and says
    so once."""
    from plica.api import KeyUnavailable, NotImplementedYet

    engine = open_storage("sqlite", str(tmp_path / "ca.db"))
    await engine.open()
    await engine.migrate(MIGRATIONS)
    calls: list[str] = []
    device_back = False
    sealer = Sealer(os.urandom(32))

    def derive() -> Sealer:
        calls.append("derive")
        if not device_back:
            raise KeyUnavailable("signing key unavailable")
        return sealer

    try:
        store = AcmeStore(engine, derive)
        try:
            await add_key(store, "acme")
            raise AssertionError("a key was added without a sealer")
        except KeyUnavailable:
            pass
        assert await store.eab_keys("acme") == []
        device_back = True
        key = await add_key(store, "acme")
        assert (await store.eab_secret("acme", key.id)) == (key.hmac_key, None)
        assert calls == ["derive", "derive"]  # derived once it worked, never again

        def cannot_seal() -> Sealer:
            raise ValueError("this CA's key signs non-deterministically")

        refusing = AcmeStore(engine, cannot_seal)
        for _ in range(2):
            try:
                await add_key(refusing, "acme")
                raise AssertionError("a key was added without a sealer")
            except NotImplementedYet as e:
                assert "cannot seal" in str(e)
    finally:
        await engine.close()
