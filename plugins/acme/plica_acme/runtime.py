"""What the ACME plugin keeps per server application: the store, the nonce pool, the account-key cache,
the validator, the housekeeper and the encoded alternate chains.

`setup` (the `http_setup` hook) makes one `Runtime` per aiohttp application, keeps it in `app[RUNTIME]`
for the handlers, and runs its background tasks through `app.cleanup_ctx`: they start with the
application and stop with it, before the kernel closes the storage.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
from collections.abc import AsyncIterator

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from plica.api import AuthorityView

from .model import KeyCache
from .nonces import NoncePool
from .provisioner import acme_provisioner
from .store import EAB_PURPOSE, AcmeStore
from .validator import Validator

log = logging.getLogger("plica.acme")

HOUSEKEEPING_INTERVAL = 300.0
FIRST_SWEEP_AFTER = 5.0


class Runtime:
    def __init__(self, authority: AuthorityView) -> None:
        # `issue`, which finalize uses, is part of the AuthorityView.
        self.authority = authority
        # The sealer is derived on first use: deriving it signs with the CA's key, which may be in a device
        # that is away while this worker starts.
        self.store = AcmeStore(authority.storage, functools.partial(authority.sealer, EAB_PURPOSE))
        self.nonces = NoncePool(self.store)
        self.keys = KeyCache()
        self.validator = Validator(self.store, functools.partial(acme_provisioner, authority))
        self._housekeeper: asyncio.Task[None] | None = None
        self._alternates: tuple[list[x509.Certificate], list[x509.Certificate], list[str]] | None = None

    async def start(self) -> None:
        if self._housekeeper is None:
            self._housekeeper = asyncio.get_running_loop().create_task(self._housekeeping_loop())

    async def stop(self) -> None:
        if self._housekeeper is not None:
            self._housekeeper.cancel()
            await asyncio.gather(self._housekeeper, return_exceptions=True)
            self._housekeeper = None
        await self.validator.stop()

    async def running(self, app: web.Application) -> AsyncIterator[None]:
        """The application's cleanup context: started with it, stopped with it."""
        await self.start()
        yield
        await self.stop()

    async def housekeeping_once(self) -> dict[str, int]:
        """Expired rows deleted, and validation jobs whose worker died resumed (every instance runs it:
        the statements are idempotent)."""
        counts = await self.store.sweep()
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

    def alternate_roots(self) -> list[str]:
        """Alternate chains (RFC 8555 §7.4.2): the default chain ends at the last intermediate; each
        alternate adds (PEM) a root that intermediate chains to, for servers and clients that want the
        full path. Encoded once per set of roots and intermediates rather than for every download."""
        roots, inters = self.authority.roots, self.authority.intermediates
        cached = self._alternates
        if cached is not None and cached[0] is roots and cached[1] is inters:
            return cached[2]
        out: list[str] = []
        if inters:
            top = inters[-1]
            out = [
                r.public_bytes(serialization.Encoding.PEM).decode("ascii")
                for r in roots
                if r.subject == top.issuer
            ]
        self._alternates = (roots, inters, out)
        return out


RUNTIME = web.AppKey("plica_acme.runtime", Runtime)


def setup(app: web.Application, authority: AuthorityView) -> None:
    rt = Runtime(authority)
    app[RUNTIME] = rt
    app.cleanup_ctx.append(rt.running)
