"""Fixtures for the GCP tests: Google's side (the metadata server and the JWKS endpoint, gcpkit.py) started
once, and reset to a new VM and the published key for every test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .gcpkit import VM, Google, GoogleKey


@pytest.fixture(scope="session")
def google_servers() -> Iterator[Google]:
    g = Google().start()
    try:
        yield g
    finally:
        g.stop()


@pytest.fixture
def google(google_servers: Google) -> Google:
    """Google's side for one test: one published key signing, a VM of its own (a new instance id)."""
    g = google_servers
    g.keys[:] = g.keys[:1] or [GoogleKey()]
    g.vm, g.signer = VM(), None
    g.requests.clear()
    return g
