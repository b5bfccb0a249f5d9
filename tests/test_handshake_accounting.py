"""Connections in their TLS handshake count against the per-worker cap, and stop counting however the
handshake ends: a count that leaked would, in time, make the worker refuse every client.

Against the real HTTPS server in this process (`GuardedSite`), with a cap of 4 connections.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from plica.testing import CAFiles, in_process_ca, make_ca

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def ca(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[CAFiles]:
    files = make_ca(tmp_path_factory.mktemp("accounting"))
    async with in_process_ca(
        files, limits_env={"PLICA_MAX_CONNECTIONS": "4", "PLICA_TIMEOUT_HANDSHAKE": "1"}
    ):
        yield files


async def health(files: CAFiles) -> bytes:
    ctx = ssl.create_default_context(cafile=str(files.root))
    r, w = await asyncio.open_connection("127.0.0.1", files.port, ssl=ctx)
    w.write(b"GET /health HTTP/1.1\r\nHost: ca\r\nConnection: close\r\n\r\n")
    data = await asyncio.wait_for(r.read(), 10)
    w.close()
    return data


async def test_every_way_a_handshake_ends_gives_its_place_back(ca: CAFiles) -> None:
    async def reset_at_once() -> None:
        _r, w = await asyncio.open_connection("127.0.0.1", ca.port)
        sock = w.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST on close
        w.close()

    async def half_a_client_hello() -> None:
        _r, w = await asyncio.open_connection("127.0.0.1", ca.port)
        w.write(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
        await asyncio.sleep(0.05)
        w.close()

    async def plain_http() -> None:
        r, w = await asyncio.open_connection("127.0.0.1", ca.port)
        w.write(b"GET /health HTTP/1.1\r\nHost: ca\r\n\r\n")
        await asyncio.wait_for(r.read(), 10)
        w.close()

    async def silent() -> None:  # the handshake timeout's
        r, w = await asyncio.open_connection("127.0.0.1", ca.port)
        await asyncio.wait_for(r.read(), 10)
        w.close()

    for kind in (reset_at_once, half_a_client_hello, plain_http, silent):
        for _ in range(3):
            await asyncio.gather(*(kind() for _ in range(4)), return_exceptions=True)
        await asyncio.sleep(0.2)
        assert (await health(ca)).startswith(b"HTTP/1.1 200"), kind.__name__
    for _ in range(8):  # more than the cap, one after the other: each gives its place back
        assert (await health(ca)).startswith(b"HTTP/1.1 200")
