"""The `plica` pytest plugin (entry point `pytest11`): fixtures for tests of the kernel and of plugins.

Installed with plica, it is active in every pytest run of the environment; a fixture of the same name in a
conftest.py or a test module takes precedence, as pytest always does. What the fixtures build is real
(plica.testing): a CA in a temporary directory, its HTTPS server in the test's event loop, tokens signed by
a third-party JOSE library, CSRs.

    ca_files     a new CA (root, intermediate, SSH keys, the JWK provisioner `admin` when plica-jwk is installed)
    ca           that CA's server running in the test's event loop: a RunningCA (files, authority, api)
    session      an aiohttp ClientSession, closed afterwards
    admin        the `admin` JWK provisioner's key (ProvKey), decrypted with the CA's password
    jwk_key      a new JWK provisioner: `jwk_key(name, **kw)` gives (ca.json block, ProvKey)
    csr_for      `csr_for(["a.example", "10.0.0.1"])`: a new key and a CSR for those names (first = CN)

Every test also starts with no fetched provider keys (OIDC, cloud and Kubernetes key sources), as a new
`plica start` does (`_fresh_key_sources`, autouse).

The running-CA fixtures need pytest-asyncio (`pip install plica[testing]`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from attrs import frozen

from plica.keysources import forget_all
from plica.testing import CAFiles, csrs, in_process_ca, make_ca
from plica.testing.csrs import CSRFor
from plica.testing.httpapi import Api
from plica.testing.tokens import ProvKey, admin_key, new_jwk_provisioner

try:
    import pytest_asyncio
except ImportError:  # only the async fixtures need it; without it, pytest itself must still start
    pytest_asyncio = None

# The suite's asserts explain themselves when they fail, as a test module's do.
pytest.register_assert_rewrite("plica.testing.conformance")
async_fixture: Any = pytest_asyncio.fixture if pytest_asyncio is not None else pytest.fixture


@frozen
class RunningCA:
    """A CA whose real HTTPS server listens on `files.url` in this event loop."""

    files: CAFiles
    authority: Any
    api: Api


@pytest.fixture(autouse=True)
def _fresh_key_sources() -> Iterator[None]:
    """Each test's CAs start with no fetched provider keys, as `plica start` does: the sources are shared
    process-wide by URL, and a provider started by a later test may get an earlier one's port."""
    yield
    forget_all()


@pytest.fixture
def ca_files(tmp_path: Path) -> CAFiles:
    """A new CA in the test's temporary directory (not running: add provisioners, then start it)."""
    return make_ca(tmp_path)


@async_fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@async_fixture
async def ca(ca_files: CAFiles, session: aiohttp.ClientSession) -> AsyncIterator[RunningCA]:
    """`ca_files` served by the real server in the test's event loop (requests go through real TLS)."""
    async with in_process_ca(ca_files) as authority:
        yield RunningCA(files=ca_files, authority=authority, api=Api(ca_files, session))


@pytest.fixture
def admin(ca_files: CAFiles) -> ProvKey:
    """The private key of the CA's `admin` JWK provisioner (what `plica token` uses)."""
    return admin_key(ca_files)


@pytest.fixture
def jwk_key() -> Callable[..., tuple[dict[str, Any], ProvKey]]:
    """`jwk_key(name, kty="EC", claims=None, **fields)`: a ca.json JWK block and its key."""
    return new_jwk_provisioner


@pytest.fixture
def csr_for() -> Callable[[Iterable[str] | str], CSRFor]:
    """`csr_for(names, key=None)`: a CSR whose CN is the first name and whose SANs are all of them."""
    return csrs.csr_for
