"""Fixtures for the ACME tests: a real CA with an ACME provisioner, a real DNS server on 127.0.0.1 (dnslib),
and challenge responders. Helper modules live in acme_helpers/ (put on sys.path here, because pytest runs
with --import-mode=importlib and test modules cannot import their neighbours)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HELPERS = str(Path(__file__).resolve().parent / "acme_helpers")
if HELPERS not in sys.path:
    sys.path.insert(0, HELPERS)

from acme_test_ca import acme_block  # noqa: E402
from acme_test_dns import TestDNS  # noqa: E402

from plica.testing import CAFiles, free_port, make_ca  # noqa: E402


@pytest.fixture
def dns_server(tmp_path: Path) -> Iterator[TestDNS]:
    records = tmp_path / "dns-records"
    records.mkdir()
    server = TestDNS(records_dir=records)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def session() -> Any:
    import aiohttp

    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
def ports() -> dict[str, int]:
    return {"http": free_port(), "tls": free_port()}


@pytest.fixture
def acme_ca(tmp_path: Path, dns_server: TestDNS, ports: dict[str, int]) -> CAFiles:
    """A CA with an ACME provisioner `acme` whose validator uses the test DNS server and free ports."""
    files = make_ca(tmp_path)
    files.add_provisioner(acme_block(dns_server, ports))
    return files
