"""Fixtures for the ACME tests: a real CA with an ACME provisioner, a real DNS server on 127.0.0.1 (dnslib),
and challenge responders. The helpers live in acme_helpers/ (tests import them relatively:
`from .acme_helpers.acme_test_client import Acme`); the CA, the aiohttp `session` and the rest of the
author kit come from the `plica.testing` pytest plugin."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from plica.testing import CAFiles, free_port, make_ca

from .acme_helpers.acme_test_ca import acme_block
from .acme_helpers.acme_test_dns import TestDNS


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
def ports() -> dict[str, int]:
    return {"http": free_port(), "tls": free_port()}


@pytest.fixture
def acme_ca(tmp_path: Path, dns_server: TestDNS, ports: dict[str, int]) -> CAFiles:
    """A CA with an ACME provisioner `acme` whose validator uses the test DNS server and free ports."""
    files = make_ca(tmp_path)
    files.add_provisioner(acme_block(dns_server, ports))
    return files
