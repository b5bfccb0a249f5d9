"""Clients that hold connections (issue 17.1), against a real `plica start` with short limits: idle TCP
connections that never start TLS, idle TLS connections, slowloris clients trickling their headers and
clients trickling a body. /health keeps answering quickly throughout, the server closes each kind by its
timeout and says so in its log; a worker at its connection cap refuses more and logs it.

The full figure (1,000 idle TLS connections and 200 slowloris clients for 2 minutes) is bench/hostile_clients.py.
"""

from __future__ import annotations

import asyncio
import ssl
import statistics
import time
from pathlib import Path

import pytest

from plica.testing import CAFiles, ca_process, make_ca

pytestmark = pytest.mark.slow

LIMITS = {
    "PLICA_TIMEOUT_HANDSHAKE": "2",
    "PLICA_TIMEOUT_HEADER": "2",
    "PLICA_TIMEOUT_BODY": "2",
    "PLICA_TIMEOUT_KEEPALIVE": "3",
}


async def health_ms(files: CAFiles, ctx: ssl.SSLContext) -> float:
    """One /health on a new connection (TLS handshake included), in milliseconds."""
    t0 = time.perf_counter()
    r, w = await asyncio.open_connection("127.0.0.1", files.port, ssl=ctx)
    w.write(b"GET /health HTTP/1.1\r\nHost: ca\r\nConnection: close\r\n\r\n")
    data = await r.read()
    w.close()
    assert data.startswith(b"HTTP/1.1 200"), data[:200]
    return (time.perf_counter() - t0) * 1000


async def closed_by_server(reader: asyncio.StreamReader, within: float) -> bool:
    try:
        while True:
            if not await asyncio.wait_for(reader.read(65536), within):
                return True
    except (ConnectionError, ssl.SSLError):
        return True
    except TimeoutError:
        return False


async def hold(
    files: CAFiles, ctx: ssl.SSLContext, *, raw: int, idle: int, slow_headers: int, slow_bodies: int
) -> dict[str, list[bool]]:
    """Open the hostile connections, measure /health while they are held, and report which ones the server
    closed within its limits (plus some slack for a busy machine)."""

    async def raw_conn() -> bool:
        r, _w = await asyncio.open_connection("127.0.0.1", files.port)
        return await closed_by_server(r, 10)

    async def idle_conn() -> bool:
        r, _w = await asyncio.open_connection("127.0.0.1", files.port, ssl=ctx)
        return await closed_by_server(r, 10)

    async def trickle(first: bytes, then: bytes) -> bool:
        r, w = await asyncio.open_connection("127.0.0.1", files.port, ssl=ctx)
        w.write(first)
        closing = asyncio.ensure_future(closed_by_server(r, 10))
        try:
            for _ in range(40):  # one piece every 0.25 s: forever, for a header timeout of 2 s
                if closing.done():
                    break
                w.write(then)
                await asyncio.sleep(0.25)
        except (ConnectionError, ssl.SSLError):
            pass
        return await closing

    slow_body = (
        b"POST /sign HTTP/1.1\r\nHost: ca\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
    )
    tasks = {
        "raw": [asyncio.ensure_future(raw_conn()) for _ in range(raw)],
        "idle": [asyncio.ensure_future(idle_conn()) for _ in range(idle)],
        "slow headers": [
            asyncio.ensure_future(trickle(b"GET /health HTTP/1.1\r\n", b"X-Slow: 1\r\n"))
            for _ in range(slow_headers)
        ],
        "slow bodies": [asyncio.ensure_future(trickle(slow_body, b" ")) for _ in range(slow_bodies)],
    }
    await asyncio.sleep(0.5)
    times = []
    for _ in range(20):
        times.append(await health_ms(files, ctx))
        await asyncio.sleep(0.1)
    results = {k: list(await asyncio.gather(*v)) for k, v in tasks.items()}
    results["health_ms"] = times  # type: ignore[assignment]
    return results


def test_held_connections_time_out_and_health_answers(tmp_path: Path) -> None:
    files = make_ca(tmp_path)
    log = tmp_path / "ca.log"
    ctx = ssl.create_default_context(cafile=str(files.root))
    with ca_process(files, workers=2, log=log, env=LIMITS):
        res = asyncio.run(hold(files, ctx, raw=60, idle=100, slow_headers=30, slow_bodies=10))
    times = res.pop("health_ms")
    # A new TLS connection each time, on a machine other tests share: the median is the figure, the
    # maximum only has to show nothing was blocked.
    assert statistics.median(times) < 100, times
    assert max(times) < 1000, times
    for kind, closed in res.items():
        assert all(closed), f"{closed.count(False)} of {len(closed)} {kind} connections were not closed"
    text = log.read_text()
    for limit in ("TLS handshake timeout", "header timeout", "body timeout", "keep-alive timeout"):
        assert f"at the {limit} limit" in text, text[-3000:]


def test_a_worker_at_its_connection_cap_refuses_more_and_logs_it(tmp_path: Path) -> None:
    files = make_ca(tmp_path)
    log = tmp_path / "ca.log"
    ctx = ssl.create_default_context(cafile=str(files.root))

    async def scenario() -> tuple[int, float]:
        conns = []
        refused = 0
        for _ in range(25):
            try:
                conns.append(await asyncio.open_connection("127.0.0.1", files.port, ssl=ctx))
            except (ConnectionError, ssl.SSLError):  # refused at accept, before its TLS handshake
                refused += 1
        for r, _w in conns:
            if await closed_by_server(r, 0.5):
                refused += 1
        # The idle ones go at the keep-alive timeout; then there is room again.
        await asyncio.sleep(float(LIMITS["PLICA_TIMEOUT_KEEPALIVE"]) + 1)
        return refused, await health_ms(files, ctx)

    with ca_process(files, workers=1, log=log, env={**LIMITS, "PLICA_MAX_CONNECTIONS": "20"}):
        refused, ms = asyncio.run(scenario())
    assert refused >= 5, refused
    assert ms < 1000
    assert "at the connection cap limit" in log.read_text()
