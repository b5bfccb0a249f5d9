"""Replay nonces (RFC 8555 §6.5), kept in the shared database so any instance accepts any instance's nonce.

Issuing is amortised: a worker inserts a batch of nonces with one multi-row INSERT and hands them out from
memory, so a response costs no statement of its own. Using one is a single DELETE: the row count says
whether it existed (and had not expired), so a nonce is accepted at most once across every instance.
"""

from __future__ import annotations

import asyncio
import secrets
import time

from .store import AcmeStore

NONCE_LIFETIME = 3600
BATCH = 64


def new_nonce() -> str:
    """A nonce: the time it was made (milliseconds, 12 hex digits) and 120 random bits, 32 base64url
    characters in all (RFC 8555 §6.5.1). The time prefix keeps the nonces made and spent around the same
    moment side by side in the table's index, so a commit of many requests' nonces touches a few pages of
    it rather than one page per nonce."""
    return f"{time.time_ns() // 1_000_000:012x}{secrets.token_urlsafe(15)}"


class NoncePool:
    def __init__(self, store: AcmeStore, *, lifetime: int = NONCE_LIFETIME, batch: int = BATCH) -> None:
        self.store = store
        self.lifetime = lifetime
        self.batch = batch
        self._ready: list[tuple[str, int]] = []
        self._lock = asyncio.Lock()

    async def take(self) -> str:
        now = time.time()
        while True:
            while self._ready:
                nonce, expires = self._ready.pop()
                # Keep a margin so a nonce handed out is good for at least half its life.
                if expires - now > self.lifetime / 2:
                    return nonce
            async with self._lock:
                if not self._ready:
                    await self._refill()

    async def _refill(self) -> None:
        expires = int(time.time()) + self.lifetime
        fresh = [(new_nonce(), expires) for _ in range(self.batch)]
        await self.store.add_nonces(fresh)
        self._ready.extend(fresh)

    async def consume(self, nonce: str) -> bool:
        """True if `nonce` was issued by some instance, had not expired and had not been used."""
        if not nonce or len(nonce) > 64:
            return False
        return await self.store.use_nonce(nonce, int(time.time()))
