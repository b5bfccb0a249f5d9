"""Fixtures for the K8sSA tests: a fake Kubernetes API server (discovery and JWKS) on 127.0.0.1. The helpers
live in k8ssakit.py (tests import them relatively: `from .k8ssakit import SAKey`)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from aiohttp import web

from plica.testing import free_port

from .k8ssakit import Cluster, SAKey, make_tls


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
