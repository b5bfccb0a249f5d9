"""TLS handshakes that time out or fail are logged (issue 17.1): the event loop's own TLS server closed
them without a word, so a flood of clients that never finish a handshake left nothing in the log. The
lines are aggregated (one per kind per second, with a count) so that a flood cannot flood the log, and
their counts add up to the connections closed.

Against the real HTTPS server in this process (`GuardedSite`, as `plica start` serves), with a 1 s
handshake timeout.
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from plica.testing import CAFiles, in_process_ca, make_ca

pytestmark = pytest.mark.asyncio(loop_scope="module")
LINE = re.compile(r"closed (\d+) connection\(s\) (.*) \(latest from (.*)\)$")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def ca(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[CAFiles]:
    files = make_ca(tmp_path_factory.mktemp("handshake"))
    async with in_process_ca(files, limits_env={"PLICA_TIMEOUT_HANDSHAKE": "1"}):
        yield files


def limit_lines(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    out = []
    for r in caplog.records:
        if r.name == "plica.http.limits" and (m := LINE.search(r.getMessage())):
            out.append((int(m.group(1)), m.group(2)))
    return out


async def silent(files: CAFiles) -> bool:
    """A TCP connection that never starts TLS; whether the server closed it."""
    r, w = await asyncio.open_connection("127.0.0.1", files.port)
    try:
        return await asyncio.wait_for(r.read(), 10) == b""
    except ConnectionError:
        return True
    finally:
        w.close()


async def test_a_handshake_timeout_is_logged(ca: CAFiles, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="plica.http.limits"):
        assert await silent(ca)
        await asyncio.sleep(2)  # the sweep says what a quiet second left unsaid
    lines = limit_lines(caplog)
    assert (1, "at the TLS handshake timeout limit") in lines, caplog.text


async def test_a_flood_of_silent_clients_gives_a_few_lines_that_count_them_all(
    ca: CAFiles, caplog: pytest.LogCaptureFixture
) -> None:
    n = 300
    with caplog.at_level(logging.INFO, logger="plica.http.limits"):
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        closed = await asyncio.gather(*(silent(ca) for _ in range(n)))
        span = loop.time() - t0
        await asyncio.sleep(2)
    assert all(closed)
    lines = [(c, k) for c, k in limit_lines(caplog) if k == "at the TLS handshake timeout limit"]
    assert sum(c for c, _ in lines) == n, lines
    assert len(lines) <= span + 3, (span, lines)


async def test_failed_handshakes_are_logged_with_their_reason(
    ca: CAFiles, caplog: pytest.LogCaptureFixture
) -> None:
    """Plain HTTP to the HTTPS port, and bytes that are not TLS at all."""

    async def send(data: bytes) -> None:
        r, w = await asyncio.open_connection("127.0.0.1", ca.port)
        w.write(data)
        await asyncio.wait_for(r.read(), 10)
        w.close()

    with caplog.at_level(logging.INFO, logger="plica.http.limits"):
        for _ in range(5):
            await send(b"GET /health HTTP/1.1\r\nHost: ca\r\n\r\n")
        for _ in range(3):
            await send(b"\x00" * 64)
        await asyncio.sleep(2)
    kinds: dict[str, int] = {}
    for c, k in limit_lines(caplog):
        kinds[k] = kinds.get(k, 0) + c
    assert kinds.pop("in a failed TLS handshake (http request)", 0) == 5, caplog.text
    assert sum(c for k, c in kinds.items() if k.startswith("in a failed TLS handshake (")) == 3, caplog.text


async def test_clients_still_get_answers(ca: CAFiles) -> None:
    ctx = ssl.create_default_context(cafile=str(ca.root))
    for _ in range(3):
        r, w = await asyncio.open_connection("127.0.0.1", ca.port, ssl=ctx)
        w.write(b"GET /health HTTP/1.1\r\nHost: ca\r\nConnection: close\r\n\r\n")
        assert (await asyncio.wait_for(r.read(), 10)).startswith(b"HTTP/1.1 200")
        w.close()
