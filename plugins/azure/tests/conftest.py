"""Fixtures for the Azure tests: a local Azure (login.microsoftonline.com and the VMs' metadata services) in a
thread of its own. The helpers live in azurekit.py (tests import them relatively: `from .azurekit import VM`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .azurekit import FakeAzure


@pytest.fixture(scope="session")
def azure() -> Iterator[FakeAzure]:
    fake = FakeAzure().start()
    try:
        yield fake
    finally:
        fake.stop()
