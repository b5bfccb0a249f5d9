"""plica.testing as a pytest plugin: registered through its pytest11 entry point, and its fixtures give a
real CA that issues (ca_files, ca, admin, csr_for, jwk_key, session)."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from plica.testing import CAFiles, ProvKey
from plica.testing.pytest_plugin import RunningCA


def test_the_plugin_is_an_entry_point(pytestconfig: pytest.Config) -> None:
    eps = {ep.name: ep.value for ep in importlib.metadata.entry_points(group="pytest11")}
    assert eps.get("plica") == "plica.testing.pytest_plugin"
    assert pytestconfig.pluginmanager.has_plugin("plica")


@pytest.fixture
def extra(jwk_key: Callable[..., tuple[dict[str, Any], ProvKey]]) -> tuple[dict[str, Any], ProvKey]:
    return jwk_key("extra", kty="RSA")


@pytest.fixture
def ca_files(ca_files: CAFiles, extra: tuple[dict[str, Any], ProvKey]) -> CAFiles:
    """Extends the plugin's fixture, as a plugin's tests do: one more JWK provisioner, with RSA."""
    ca_files.add_provisioner(extra[0])
    return ca_files


async def test_the_fixtures_make_a_ca_that_issues(
    ca: RunningCA,
    admin: ProvKey,
    extra: tuple[dict[str, Any], ProvKey],
    csr_for: Any,
    session: aiohttp.ClientSession,
) -> None:
    assert isinstance(ca.files, CAFiles) and ca.authority.provisioner_by_name("extra") is not None
    for prov in (admin, extra[1]):
        csr = csr_for(["fixture.example", "10.0.0.7"])
        ott = prov.token("fixture.example", ca.api.aud("/sign"), sans=["fixture.example", "10.0.0.7"])
        r = await ca.api.post("/sign", {"csr": csr.pem, "ott": ott})
        assert r.status == 201, r.raw
    async with session.get(ca.files.url + "/health", ssl=ca.api.ctx) as r:
        assert r.status == 200
