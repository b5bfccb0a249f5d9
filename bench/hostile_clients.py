"""Clients that try to hold a CA's connections, and whether /health keeps answering (issue 17, "done means").

    python bench/hostile_clients.py [--idle 1000] [--slowloris 200] [--raw 0] [--seconds 120]
                                    [--workers 2] [--limit-ms 100]

Builds a real CA in a temp dir and starts `plica start --workers N` with its default limits (raise the open
file limit of this shell first: `ulimit -n 8192`). Then holds, for the whole run:

- `--idle` TLS connections that complete the handshake and send nothing; each one the server closes (at
  its keep-alive timeout) is opened again, so the count stays up;
- `--slowloris` TLS connections that send a request's headers one line every 2 s and never finish (each
  one the header timeout closes is opened again);
- `--raw` TCP connections that never start TLS (the handshake timeout's).

Every 0.2 s a /health over a new TLS connection is timed. The hostile clients run in a process of their
own (`--same-process` puts them in the prober's event loop, as the first version of this script did: then
a burst of their reconnections delays the prober's own loop and the figure measures the attacker too).
Prints how many hostile connections were open on average, how many the server closed, the /health
latency (p50, p99, max), how many answers were over `--limit-ms` and when (seconds into the run); exits 1
when any was, or when a /health failed.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import ssl
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from plica.testing import ca_process, make_ca


class Counters:
    def __init__(self) -> None:
        self.open = 0
        self.closed_by_server = 0
        self.errors = 0


async def hold_forever(
    host: str,
    port: int,
    ctx: ssl.SSLContext | None,
    first: bytes,
    every: bytes | None,
    c: Counters,
    stop: asyncio.Event,
) -> None:
    while not stop.is_set():
        try:
            r, w = await asyncio.open_connection(host, port, ssl=ctx)
        except OSError:
            c.errors += 1
            await asyncio.sleep(0.5)
            continue
        c.open += 1
        try:
            if first:
                w.write(first)
            while not stop.is_set():
                if every is not None:
                    w.write(every)
                try:
                    data = await asyncio.wait_for(r.read(4096), 2.0)
                except TimeoutError:
                    continue
                if not data:
                    c.closed_by_server += 1
                    break
        except (ConnectionError, ssl.SSLError, OSError):
            c.closed_by_server += 1
        finally:
            c.open -= 1
            w.close()


async def health(host: str, port: int, ctx: ssl.SSLContext) -> float:
    t0 = time.perf_counter()
    r, w = await asyncio.open_connection(host, port, ssl=ctx)
    w.write(b"GET /health HTTP/1.1\r\nHost: ca\r\nConnection: close\r\n\r\n")
    data = await asyncio.wait_for(r.read(), 10)
    w.close()
    if not data.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(data[:200])
    return (time.perf_counter() - t0) * 1000


async def attack(args: argparse.Namespace, port: int, root: Path, c: Counters, stop: asyncio.Event) -> list:
    ctx = ssl.create_default_context(cafile=str(root))
    host = "127.0.0.1"
    tasks = []
    for i in range(args.idle):
        tasks.append(asyncio.ensure_future(hold_forever(host, port, ctx, b"", None, c, stop)))
        if i % 50 == 0:
            await asyncio.sleep(0.05)  # not one burst of handshakes
    for _ in range(args.slowloris):
        tasks.append(
            asyncio.ensure_future(
                hold_forever(host, port, ctx, b"GET /health HTTP/1.1\r\nHost: ca\r\n", b"X-a: b\r\n", c, stop)
            )
        )
    for _ in range(args.raw):
        tasks.append(asyncio.ensure_future(hold_forever(host, port, None, b"", None, c, stop)))
    return tasks


def attacker_process(args: argparse.Namespace, port: int, root: Path, conn: Any) -> None:
    """The hostile clients in their own process and event loop: every second, how many are open; at the
    end (when `conn` says stop), the counts."""

    async def main() -> None:
        c, stop = Counters(), asyncio.Event()
        tasks = await attack(args, port, root, c, stop)
        conn.send(("started", 0))
        loop = asyncio.get_running_loop()
        while not await loop.run_in_executor(None, conn.poll, 1.0):
            conn.send(("open", c.open))
        stop.set()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        conn.send(("done", (c.closed_by_server, c.errors)))

    asyncio.run(main())


async def run(args: argparse.Namespace, port: int, root: Path) -> int:
    ctx = ssl.create_default_context(cafile=str(root))
    host = "127.0.0.1"
    c = Counters()
    stop = asyncio.Event()
    tasks: list = []
    proc = None
    if args.same_process:
        tasks = await attack(args, port, root, c, stop)
    else:
        here, there = multiprocessing.Pipe()
        proc = multiprocessing.get_context("fork").Process(
            target=attacker_process, args=(args, port, root, there)
        )
        proc.start()
        await asyncio.get_running_loop().run_in_executor(None, here.recv)  # ("started", 0)
    await asyncio.sleep(3)
    times: list[float] = []
    slow: list[tuple[float, float]] = []
    failures = 0
    opened: list[int] = []
    start = time.monotonic()
    deadline = start + args.seconds
    while time.monotonic() < deadline:
        t = time.monotonic() - start
        try:
            ms = await health(host, port, ctx)
            times.append(ms)
            if ms > args.limit_ms:
                slow.append((t, ms))
        except Exception as e:
            failures += 1
            print("health failed:", e, file=sys.stderr)
        if proc is not None:
            while here.poll():
                kind, value = here.recv()
                if kind == "open":
                    c.open = value
        opened.append(c.open)
        await asyncio.sleep(0.2)
    if proc is not None:
        here.send("stop")
        while True:
            kind, value = await asyncio.get_running_loop().run_in_executor(None, here.recv)
            if kind == "done":
                c.closed_by_server, c.errors = value
                break
        proc.join(30)
    else:
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    times.sort()
    over = sum(1 for t in times if t > args.limit_ms)
    print(
        f"hostile connections open: mean {statistics.mean(opened):.0f}, min {min(opened)} (asked {args.idle + args.slowloris + args.raw})"
    )
    print(f"closed by the server: {c.closed_by_server}; connect errors: {c.errors}")
    p99 = times[int(len(times) * 0.99) - 1] if times else float("nan")
    print(
        f"/health: {len(times)} answers, p50 {statistics.median(times):.1f} ms, p99 {p99:.1f} ms, max {times[-1]:.1f} ms, over {args.limit_ms} ms: {over}, failed: {failures}"
    )
    if slow:
        print("over the limit at (s into the run: ms): " + ", ".join(f"{t:.1f}: {ms:.0f}" for t, ms in slow))
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 1 if over or failures else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--idle", type=int, default=1000)
    ap.add_argument("--slowloris", type=int, default=200)
    ap.add_argument("--raw", type=int, default=0)
    ap.add_argument("--seconds", type=float, default=120)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--limit-ms", type=float, default=100)
    ap.add_argument("--same-process", action="store_true", help="hostile clients in the prober's event loop")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        files = make_ca(Path(d))
        with ca_process(
            files,
            workers=args.workers,
            env={"PLICA_MAX_CONNECTIONS": os.environ.get("PLICA_MAX_CONNECTIONS", "2048")},
        ):
            return asyncio.run(run(args, files.port, files.root))


if __name__ == "__main__":
    sys.exit(main())
