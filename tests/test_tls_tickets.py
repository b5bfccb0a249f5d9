"""The CA's HTTPS sends no TLS 1.3 session tickets (plica.http.tls: making them was ~20 % of a handshake's
CPU, and the clients that connect per renewal never use them): the real server, a TLS client from Python's
ssl."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

from plica.testing import client_context, in_process_ca, make_ca


async def _request(ctx: ssl.SSLContext, port: int, request: bytes) -> tuple[bytes, ssl.SSLObject]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname="localhost")
    writer.write(request)
    await writer.drain()
    data = await reader.read()  # Connection: close — the tickets, if any, came before the answer
    obj = writer.get_extra_info("ssl_object")
    writer.close()
    return data, obj


async def test_no_session_tickets(tmp_path: Path) -> None:
    files = make_ca(tmp_path)
    async with in_process_ca(files):
        ctx = client_context(files)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        data, obj = await _request(
            ctx, files.port, b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        )
        assert data.startswith(b"HTTP/1.1 200"), data[:200]
        assert obj.version() == "TLSv1.3"
        assert obj.session is not None and not obj.session.has_ticket
        assert not obj.session_reused
