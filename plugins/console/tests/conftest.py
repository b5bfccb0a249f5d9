"""Fixtures of the console's tests: a CA with remote management on (so its first super admin, `step` of
the `admin` JWK provisioner, exists) served by the real server, and a browser-like client."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
from attrs import define

from plica.testing import CAFiles, in_process_ca

from .consolekit import Browser


@define
class ConsoleCA:
    files: CAFiles
    authority: Any
    ctx: ssl.SSLContext

    def browser(self) -> Browser:
        return Browser.open(self.files.url, self.ctx)


def configure(files: CAFiles, **console: Any) -> None:
    cfg = files.config()
    cfg["authority"]["enableAdmin"] = True
    if console:
        cfg["console"] = console
    files.write_config(cfg)


@pytest_asyncio.fixture
async def console_ca(ca_files: CAFiles) -> AsyncIterator[ConsoleCA]:
    configure(ca_files)
    async with in_process_ca(ca_files) as authority:
        yield ConsoleCA(ca_files, authority, ssl.create_default_context(cafile=str(ca_files.root)))


@pytest_asyncio.fixture
async def browser(console_ca: ConsoleCA) -> AsyncIterator[Browser]:
    b = console_ca.browser()
    try:
        yield b
    finally:
        await b.close()
