"""The signing threads of keys in devices (plica.signing_threads through `Signer`): results come back to the
event loop in batches, a device gets as many threads as it says it takes calls at once, and errors and
cancelled requests behave as with one call per request."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from plica.api import KeyUnavailable, Signer


class _DeviceKey:
    """A key that says it blocks (a device), signs for real in memory, and records how it was called."""

    uri = "device:key"
    blocking = True

    def __init__(self, parallel_calls: int, seconds: float = 0.0) -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        self.public_key = self._key.public_key()
        self.parallel_calls = parallel_calls
        self.seconds = seconds
        self.lock = threading.Lock()
        self.calls = 0
        self.running = 0
        self.most_at_once = 0
        self.threads: set[int] = set()
        self.all_signed = threading.Event()
        self.expected = 0
        self.fail: Exception | None = None

    def sign(self, data: bytes, hash_alg: hashes.HashAlgorithm | None = None, pss: bool = False) -> bytes:
        with self.lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
            self.threads.add(threading.get_ident())
        try:
            if self.seconds:
                time.sleep(self.seconds)
            if self.fail is not None:
                raise self.fail
            return self._key.sign(data, ec.ECDSA(hash_alg or hashes.SHA256()))
        finally:
            with self.lock:
                self.running -= 1
                self.calls += 1
                if self.calls == self.expected:
                    self.all_signed.set()


async def test_a_turns_signatures_come_back_with_one_wakeup_of_the_loop() -> None:
    key = _DeviceKey(parallel_calls=2)
    signer = Signer(key, what="test key")
    loop = asyncio.get_running_loop()
    wakeups = 0
    threadsafe = loop.call_soon_threadsafe

    def counted(*args: Any, **kw: Any) -> Any:
        nonlocal wakeups
        wakeups += 1
        return threadsafe(*args, **kw)

    loop.call_soon_threadsafe = counted  # type: ignore[method-assign]
    try:
        key.expected = 40
        tasks = [asyncio.create_task(signer.sign(b"tbs %d" % i)) for i in range(40)]
        await asyncio.sleep(0)  # the tasks ask for their signatures in this turn
        await asyncio.sleep(0)  # ... which go to the threads at its end
        # The loop is held here until the threads have made every signature: all 40 results then wait for
        # the loop's next turn, which one wake-up brings (one executor future each would take 40).
        assert key.all_signed.wait(30)
        sigs = await asyncio.gather(*tasks)
    finally:
        del loop.call_soon_threadsafe
    for i, sig in enumerate(sigs):
        key.public_key.verify(sig, b"tbs %d" % i, ec.ECDSA(hashes.SHA256()))
    assert wakeups == 1, wakeups


async def test_a_slow_device_is_called_on_as_many_threads_as_it_takes_calls_at_once() -> None:
    # 0.2 s a call, 3 calls at once (a token's pool of 3 sessions): the 9 requests spread over 3 threads,
    # never more (one thread more than the device has sessions would only wait for one).
    key = _DeviceKey(parallel_calls=3, seconds=0.2)
    signer = Signer(key, what="test key")
    sigs = await asyncio.gather(*(signer.sign(b"tbs %d" % i) for i in range(9)))
    for i, sig in enumerate(sigs):
        key.public_key.verify(sig, b"tbs %d" % i, ec.ECDSA(hashes.SHA256()))
    assert key.most_at_once == 3, key.most_at_once
    assert len(key.threads) == 3
    assert threading.get_ident() not in key.threads


async def test_errors_reach_their_request_and_a_cancelled_request_is_not_signed() -> None:
    key = _DeviceKey(parallel_calls=1, seconds=0.2)
    signer = Signer(key, what="test key")
    key.fail = KeyUnavailable("device:key: the device went away")
    with pytest.raises(KeyUnavailable):
        await signer.sign(b"tbs")
    key.fail = None
    # The first request holds the only thread for 0.2 s; the second is cancelled while it waits in the
    # queue: the device never sees it, and the first still gets its signature.
    first = asyncio.create_task(signer.sign(b"first"))
    second = asyncio.create_task(signer.sign(b"second"))
    await asyncio.sleep(0.05)
    second.cancel()
    sig = await first
    key.public_key.verify(sig, b"first", ec.ECDSA(hashes.SHA256()))
    with pytest.raises(asyncio.CancelledError):
        await second
    await asyncio.sleep(0.3)
    assert key.calls == 2  # the failed call and the first one: the cancelled one never ran
    # The device is back: the next signature works (the Signer logged the loss and the recovery once each).
    sig = await signer.sign(b"again")
    key.public_key.verify(sig, b"again", ec.ECDSA(hashes.SHA256()))
