"""The threads that call a device's keys, and the hop from the event loop to them and back, batched.

A key in a device (`CAKey.blocking`) is never called on the event loop: a slow token must not stall other
requests. `loop.run_in_executor` made that hop once per signature: a concurrent future chained to an asyncio
one, a queue put that woke a thread, and on the way back one `call_soon_threadsafe` (a write to the loop's
self-pipe) per signature; under load that cost the CA more CPU than the token's signature itself. Here the
hop is batched as the storage's group commit batches writes:

- every call asked for during one turn of the event loop goes to the threads at the end of that turn, and
  wakes one idle thread only when no thread has calls to work through already;
- a thread takes calls one at a time from the shared queue until it is empty, so a busy thread goes on
  without sleeping. Only when a call has waited in the queue longer than `SPREAD_AFTER` (the device is slow,
  or many calls came at once) does a thread wake one more, so calls to a slow device spread over all the
  threads (the manager's sessions) within about one call's time, while a fast device (SoftHSM2 signs in
  ~100 µs) is served by one thread that seldom sleeps: on a CPU-bound machine each thread more that wakes
  costs context switches and GIL hand-overs without signing any faster;
- a result goes back to its loop with one `call_soon_threadsafe` for everything that finished before the
  loop ran again.

The threads are per process (a forked worker makes its own, `after_fork`): as many as the key's
`parallel_calls` (its token's sessions that sign at once), shared by the keys that ask for as many.
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

MAX_THREADS = 64
# A call that has waited this long (seconds) in the queue has the thread that takes the call before it wake
# one more idle thread.
SPREAD_AFTER = 0.005

# (loop side, future, function, arguments, when queued)
Call = tuple["_LoopSide", "asyncio.Future[Any]", Callable[..., Any], tuple[Any, ...], float]


class _LoopSide:
    """One event loop's end of the hop: the calls of this turn, and the results not yet handed back."""

    def __init__(self, threads: SigningThreads, loop: asyncio.AbstractEventLoop) -> None:
        self.threads = threads
        # Weakly: this object is the value of a WeakKeyDictionary keyed by the loop, which a strong
        # reference would keep alive forever.
        self.loop_ref = weakref.ref(loop)
        self.pending: list[Call] = []
        self.flush_scheduled = False
        self.done: deque[tuple[asyncio.Future[Any], Any, BaseException | None]] = deque()
        self.deliver_scheduled = False

    def submit(
        self, loop: asyncio.AbstractEventLoop, fn: Callable[..., Any], args: tuple[Any, ...]
    ) -> asyncio.Future[Any]:
        fut: asyncio.Future[Any] = loop.create_future()
        self.pending.append((self, fut, fn, args, time.monotonic()))
        if not self.flush_scheduled:
            self.flush_scheduled = True
            # After the callbacks already queued for this turn: the requests resumed now all join the batch.
            loop.call_soon(self._flush)
        return fut

    def _flush(self) -> None:
        self.flush_scheduled = False
        batch, self.pending = self.pending, []
        self.threads.put(batch)

    def post(self, fut: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
        """Called on a signing thread."""
        self.done.append((fut, result, exc))
        if not self.deliver_scheduled:
            # Cleared by `_deliver` before it empties `done`, so a result appended after that schedules the
            # next delivery and none is left behind; two threads racing here at worst schedule it twice.
            self.deliver_scheduled = True
            loop = self.loop_ref()
            if loop is None:
                return
            try:
                loop.call_soon_threadsafe(self._deliver)
            except RuntimeError:  # the loop is closed: nobody waits for these results any more
                pass

    def _deliver(self) -> None:
        self.deliver_scheduled = False
        done = self.done
        while done:
            fut, result, exc = done.popleft()
            if fut.done():  # the request was cancelled meanwhile
                continue
            if exc is None:
                fut.set_result(result)
            else:
                fut.set_exception(exc)


class SigningThreads:
    def __init__(self, threads: int) -> None:
        self._calls: deque[Call] = deque()
        self._idle: deque[threading.Lock] = deque()  # each idle thread waits on its own lock
        self._sides: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopSide] = (
            weakref.WeakKeyDictionary()
        )
        self._threads = [
            threading.Thread(target=self._run, name=f"plica-sign-{threads}-{i}", daemon=True)
            for i in range(threads)
        ]
        for t in self._threads:
            t.start()

    @property
    def size(self) -> int:
        return len(self._threads)

    def submit(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        """`fn(*args)` on a signing thread; the future is the running loop's."""
        loop = asyncio.get_running_loop()
        side = self._sides.get(loop)
        if side is None:
            side = self._sides[loop] = _LoopSide(self, loop)
        return side.submit(loop, fn, args)

    def put(self, batch: list[Call]) -> None:
        # A thread sleeps only after it saw the queue empty (see `_run`): while calls wait, one is awake and
        # takes these too.
        idle = not self._calls
        self._calls.extend(batch)
        if idle:
            self._wake_one()

    def _wake_one(self) -> None:
        try:
            lock = self._idle.pop()
        except IndexError:
            return  # every thread is busy; each looks for more calls before it sleeps
        lock.release()

    def _run(self) -> None:
        me = threading.Lock()
        me.acquire()
        calls = self._calls
        while True:
            try:
                side, fut, fn, args, _ = calls.popleft()
            except IndexError:
                self._idle.append(me)
                if calls:  # a batch came between the look and the append: no one may have woken us
                    try:
                        self._idle.remove(me)
                    except ValueError:
                        me.acquire()  # someone did: take their release back
                    continue
                me.acquire()
                continue
            try:
                if time.monotonic() - calls[0][4] > SPREAD_AFTER:
                    self._wake_one()
            except IndexError:
                pass
            if not fut.cancelled():  # a request that went away meanwhile is not signed for
                try:
                    result, exc = fn(*args), None
                except BaseException as e:  # handed to the awaiting request, which raises it
                    result, exc = None, e
                side.post(fut, result, exc)
                del result, exc
            del side, fut, fn, args  # no reference to a request's data while asleep


# Per process: one set of threads for each number of calls at once that keys asked for. A CA's keys are in
# one token and share its threads; a key that takes one call at a time gets one thread of its own.
_sets: dict[int, SigningThreads] = {}
_sets_lock = threading.Lock()


def signing_threads(parallel_calls: int) -> SigningThreads:
    """This process's `parallel_calls` signing threads (1 to MAX_THREADS)."""
    n = max(1, min(parallel_calls, MAX_THREADS))
    st = _sets.get(n)
    if st is None:
        with _sets_lock:
            st = _sets.get(n)
            if st is None:
                st = _sets[n] = SigningThreads(n)
    return st


def after_fork() -> None:
    """A forked child has none of its parent's threads: it starts its own on first use."""
    global _sets, _sets_lock
    _sets = {}
    _sets_lock = threading.Lock()
