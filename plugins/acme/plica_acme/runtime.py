"""Per-process ACME state: the nonce pool, the account-key cache, the validator and the housekeeper.

One `Runtime` per Authority (per worker process); `http_routes` creates it, `on_startup` starts its
background tasks and `on_shutdown` stops them before the storage closes.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

from aiohttp import web

from plica.api import AuthorityView

from . import housekeeping
from .model import KeyCache
from .nonces import NoncePool
from .validator import Validator

log = logging.getLogger("plica.acme")

HOUSEKEEPING_INTERVAL = 300.0
FIRST_SWEEP_AFTER = 5.0


class Runtime:
    def __init__(self, authority: Any) -> None:
        # The kernel's Authority: an AuthorityView plus `issue`, which finalize uses.
        self.authority = authority
        self.storage = authority.storage
        self.nonces = NoncePool(self.storage)
        self.keys = KeyCache()
        self.validator = Validator(self)
        self._housekeeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._housekeeper is None:
            self._housekeeper = asyncio.get_running_loop().create_task(self._housekeeping_loop())

    async def stop(self) -> None:
        if self._housekeeper is not None:
            self._housekeeper.cancel()
            await asyncio.gather(self._housekeeper, return_exceptions=True)
            self._housekeeper = None
        await self.validator.stop()

    async def housekeeping_once(self) -> dict[str, int]:
        counts = await housekeeping.sweep(self.storage)
        counts["resumed"] = await self.validator.recover()
        return counts

    async def _housekeeping_loop(self) -> None:
        delay = FIRST_SWEEP_AFTER
        while True:
            await asyncio.sleep(delay * random.uniform(0.9, 1.1))
            delay = HOUSEKEEPING_INTERVAL
            try:
                counts = await self.housekeeping_once()
                if any(counts.values()):
                    log.info("ACME housekeeping: %s", counts)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("ACME housekeeping failed; trying again later")


_runtimes: dict[int, Runtime] = {}


def runtime_for(authority: AuthorityView) -> Runtime:
    rt = _runtimes.get(id(authority))
    if rt is None or rt.authority is not authority:
        rt = _runtimes[id(authority)] = Runtime(authority)
    return rt


def runtime_for_request(request: web.Request) -> Runtime:
    from plica.http.app import AUTHORITY_KEY

    return runtime_for(request.app[AUTHORITY_KEY])


async def stop_runtime(authority: AuthorityView) -> None:
    rt = _runtimes.pop(id(authority), None)
    if rt is not None:
        await rt.stop()
