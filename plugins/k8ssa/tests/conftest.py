"""Fixtures for the K8sSA tests. Helpers live in k8ssakit.py (put on sys.path here, because pytest runs with
--import-mode=importlib and test modules cannot import their neighbours)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from aiohttp import web

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from k8ssakit import Cluster, SAKey, make_tls  # noqa: E402

from plica.testing import free_port  # noqa: E402


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def cluster() -> AsyncIterator[Cluster]:
    port = free_port()
    c = Cluster(issuer=f"https://127.0.0.1:{port}", tls=make_tls(), keys=[SAKey.rsa(), SAKey.ec()])
    runner = web.AppRunner(c.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, ssl_context=c.tls.server_ctx)
    await site.start()
    try:
        yield c
    finally:
        await runner.cleanup()
