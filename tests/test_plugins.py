"""Plugin discovery and the capability matrix: the kernel alone knows no type; a missing or broken plugin is
reported by type and distribution; with plica-jwk the JWK row is exactly its six capabilities."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import orjson
import pytest

from plica.errors import PluginError
from plica.hookspecs import hookimpl
from plica.http.server import run
from plica.plugins import KNOWN_DISTRIBUTIONS, load_plugins
from plica.testing import Api, in_process_ca, make_ca, new_jwk_provisioner
from plica.types import CAPABILITIES, ProvisionerType

JWK_CAPABILITIES = [
    "x509-sign",
    "x509-renew",
    "x509-revoke",
    "ssh-user-cert-sign",
    "ssh-host-cert-sign",
    "ssh-revoke",
]


def plica(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "plica", *args], capture_output=True, text=True, env=env or dict(os.environ),
        timeout=timeout,
    )  # fmt: skip


# ============================================================================ the kernel alone


def test_kernel_alone_has_no_types() -> None:
    kernel = load_plugins(entry_points=False)
    assert kernel.types == {} and kernel.plugins == [] and kernel.failures == []
    assert kernel.capability_rows() == [] and kernel.identifier_rows() == []


async def test_kernel_alone_serves_and_refuses_tokens_clearly(tmp_path: Path) -> None:
    kernel = load_plugins(entry_points=False)
    files = make_ca(tmp_path, plugins=kernel)
    assert files.config()["authority"]["provisioners"] == []  # init made no JWK provisioner without plica-jwk
    _, key = new_jwk_provisioner("admin")
    async with in_process_ca(files, plugins=kernel), aiohttp.ClientSession() as session:
        api = Api(files, session)
        assert (await api.get("/health")).status == 200
        r = await api.get("/capabilities")
        assert r.json == {
            "provisionerTypes": [],
            "identifierTypes": [],
            "brokenPlugins": [],
            "keyManagers": [],
        }
        assert (await api.get("/provisioners")).json == {"provisioners": [], "nextCursor": ""}
        r, _ = await api.sign(key, "a.example")
        assert r.status == 401
        assert "does not belong to any provisioner" in r.error()["message"]


def test_start_with_an_uninstalled_type_names_it_and_the_distribution(tmp_path: Path) -> None:
    files = make_ca(tmp_path)  # its ca.json has a JWK provisioner first
    with pytest.raises(PluginError) as e:
        run(files.config_path, files.password, plugins=load_plugins(entry_points=False))
    assert str(e.value) == (
        "ca.json.authority.provisioners[0]: provisioner type 'JWK' is not installed: install it with "
        "`pip install plica-jwk`"
    )


@pytest.mark.slow
def test_plica_start_refuses_an_unknown_type(tmp_path: Path) -> None:
    files = make_ca(tmp_path)
    n = len(files.config()["authority"]["provisioners"])
    files.add_provisioner({"type": "Frobnicator", "name": "f"})
    r = plica(
        "start", "--home", str(files.home), "--password-file", str(files.password_file), env=files.env()
    )
    assert r.returncode == 1
    assert (
        f"cannot start: ca.json.authority.provisioners[{n}]: provisioner type 'Frobnicator' is not installed"
        in r.stderr
    )
    assert "pip install" in r.stderr and "Traceback" not in r.stderr
    # A step type whose plugin this machine lacks (if any): the message names its distribution.
    missing = [t for t in KNOWN_DISTRIBUTIONS if t not in load_plugins().types]
    if missing:
        cfg = files.config()
        cfg["authority"]["provisioners"] = [{"type": missing[0].upper(), "name": "m"}]
        files.write_config(cfg)
        r = plica(
            "start", "--home", str(files.home), "--password-file", str(files.password_file), env=files.env()
        )
        assert r.returncode == 1 and f"`pip install {KNOWN_DISTRIBUTIONS[missing[0]]}`" in r.stderr


# ============================================================================ broken plugins


@pytest.fixture
def broken_site(tmp_path: Path) -> Iterator[Path]:
    """A directory that holds an installed distribution (dist-info with an entry point) whose module raises
    when imported — what `pip install` of a broken plugin leaves behind."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "plica_broken_demo.py").write_text('raise RuntimeError("boom at import")\n')
    info = site / "plica_broken_demo-0.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: plica-broken-demo\nVersion: 0.3\n")
    (info / "entry_points.txt").write_text("[plica.provisioners]\nbrokendemo = plica_broken_demo\n")
    sys.path.insert(0, str(site))
    try:
        yield site
    finally:
        sys.path.remove(str(site))
        sys.modules.pop("plica_broken_demo", None)


def test_a_plugin_failing_at_import_is_reported_and_skipped(broken_site: Path) -> None:
    plugins = load_plugins()
    assert (
        "plugin 'brokendemo' from distribution plica-broken-demo 0.3 failed to import: RuntimeError: boom at import"
        in plugins.failures
    )
    assert "jwk" in plugins.types  # the others still load
    assert "brokendemo" not in plugins.types


@pytest.mark.slow
def test_the_cli_reports_a_broken_plugin(broken_site: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(broken_site), os.environ.get("PYTHONPATH", "")])}
    r = plica("provisioner", "capabilities", env=env)
    assert r.returncode == 0, r.stderr
    assert "warning: plugin 'brokendemo' from distribution plica-broken-demo 0.3 failed to import" in r.stdout
    assert any(line.startswith("JWK") for line in r.stdout.splitlines())
    # A CA that needs the broken type does not start, and its log says why.
    files = make_ca(tmp_path)
    files.add_provisioner({"type": "brokendemo", "name": "b"})
    r = plica(
        "start",
        "--home",
        str(files.home),
        "--password-file",
        str(files.password_file),
        env={**files.env(), **env},
    )
    assert r.returncode == 1
    assert "plica-broken-demo 0.3 failed to import: RuntimeError: boom at import" in r.stderr
    assert "provisioner type 'brokendemo' is not installed" in r.stderr


MISSPELT_PLUGIN = """
from attrs import define
from plica.api import ProvisionerConfig, ProvisionerType, hookimpl


@define(kw_only=True)
class Config(ProvisionerConfig):
    pass


@hookimpl
def provisioner_types():
    return [ProvisionerType(name="Misspelt", type_id=1999, config_class=Config)]


@hookimpl
def authorise_sign(provisioner, token, request, authority):
    raise AssertionError("never called")
"""


@pytest.fixture
def misspelt_site(tmp_path: Path) -> Iterator[Path]:
    """An installed distribution whose plugin implements `authorise_sign`, a hook the kernel does not have."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "plica_misspelt_demo.py").write_text(MISSPELT_PLUGIN)
    info = site / "plica_misspelt_demo-1.2.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: plica-misspelt-demo\nVersion: 1.2\n")
    (info / "entry_points.txt").write_text("[plica.provisioners]\nmisspelt = plica_misspelt_demo\n")
    sys.path.insert(0, str(site))
    try:
        yield site
    finally:
        sys.path.remove(str(site))
        sys.modules.pop("plica_misspelt_demo", None)


MISSPELT_ERROR = "is broken: it implements hooks the kernel does not define: authorise_sign (did you mean 'authorize_sign'?)"


async def test_a_misspelt_hook_makes_the_plugin_broken(misspelt_site: Path, tmp_path: Path) -> None:
    plugins = load_plugins()
    assert "misspelt" not in plugins.types and "jwk" in plugins.types
    assert [b.as_json() for b in plugins.broken] == [
        {
            "plugin": "misspelt",
            "distribution": "plica-misspelt-demo",
            "version": "1.2",
            "error": MISSPELT_ERROR,
        }
    ]
    assert f"plugin 'misspelt' from distribution plica-misspelt-demo 1.2 {MISSPELT_ERROR}" in plugins.failures
    files = make_ca(tmp_path, plugins=plugins)
    async with in_process_ca(files, plugins=plugins), aiohttp.ClientSession() as session:
        r = await Api(files, session).get("/capabilities")
        assert r.json["brokenPlugins"] == [b.as_json() for b in plugins.broken]
        assert "Misspelt" not in [row["type"] for row in r.json["provisionerTypes"]]


@pytest.mark.slow
def test_the_cli_reports_a_misspelt_hook(misspelt_site: Path) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(misspelt_site), os.environ.get("PYTHONPATH", "")]),
    }
    r = plica("provisioner", "capabilities", env=env)
    assert r.returncode == 0, r.stderr
    assert (
        f"warning: plugin 'misspelt' from distribution plica-misspelt-demo 1.2 {MISSPELT_ERROR}" in r.stdout
    )
    r = plica("provisioner", "capabilities", "--json", env=env)
    assert orjson.loads(r.stdout)["brokenPlugins"][0]["distribution"] == "plica-misspelt-demo"


def _module(name: str, **hooks: object) -> types.ModuleType:
    mod = types.ModuleType(name)
    for k, v in hooks.items():
        setattr(mod, k, v)
    return mod


def test_invalid_and_duplicate_plugins_are_reported() -> None:
    @hookimpl
    def authorize_sign(
        provisioner: object, token: object, request: object, authority: object, surprise: object
    ) -> None:
        return None

    bad = _module("bad_hooks", authorize_sign=authorize_sign)

    @hookimpl
    def provisioner_types() -> list[ProvisionerType]:
        return [ProvisionerType(name="jwk", type_id=1, config_class=dict)]

    twin = _module("twin", provisioner_types=provisioner_types)
    plugins = load_plugins([bad, twin])
    assert any(
        f.startswith("plugin 'bad_hooks' from distribution (in-process) is invalid") for f in plugins.failures
    )
    assert any("provided twice (plica-jwk and (in-process))" in f for f in plugins.failures)
    assert plugins.types["jwk"].plugin.distribution == "plica-jwk"


def test_capabilities_are_the_hooks_a_plugin_implements() -> None:
    @hookimpl
    def provisioner_types() -> list[ProvisionerType]:
        return [
            ProvisionerType(name="Partial", type_id=1001, config_class=dict, identifier_types={"uri": True})
        ]

    @hookimpl
    def authorize_sign(provisioner: object, token: object, request: object, authority: object) -> None:
        return None

    @hookimpl
    def authorize_ssh_revoke(provisioner: object, token: object, request: object, authority: object) -> None:
        return None

    mod = _module("partial", provisioner_types=provisioner_types, authorize_sign=authorize_sign,
                  authorize_ssh_revoke=authorize_ssh_revoke)  # fmt: skip
    plugins = load_plugins([mod], entry_points=False)
    assert plugins.capability_rows() == [
        {
            "type": "Partial",
            "distribution": "(in-process)",
            "version": "",
            "capabilities": ["x509-sign", "ssh-revoke"],
        }
    ]
    assert plugins.identifier_rows() == [{"identifier": "uri", "columns": {"Partial": True}}]


# ============================================================================ the JWK row, as users see it


async def test_jwk_capability_matrix_from_the_cli_and_the_api_agree(tmp_path: Path) -> None:
    r = plica("provisioner", "capabilities", "--json")
    assert r.returncode == 0, r.stderr
    cli = orjson.loads(r.stdout)
    rows = {row["type"]: row for row in cli["provisionerTypes"]}
    assert rows["JWK"]["capabilities"] == JWK_CAPABILITIES
    assert rows["JWK"]["distribution"] == "plica-jwk"
    # The table: one column per capability, ✔ exactly under the JWK's.
    r = plica("provisioner", "capabilities")
    lines = r.stdout.splitlines()
    header = lines[0].split()
    assert header == ["type", *CAPABILITIES]
    jwk = next(line.split() for line in lines if line.split()[:1] == ["JWK"])
    assert [c for c, mark in zip(header[1:], jwk[1:], strict=True) if mark == "✔"] == JWK_CAPABILITIES
    assert all(mark in ("✔", "-") for mark in jwk[1:])
    # GET /capabilities serves the same document.
    files = make_ca(tmp_path)
    async with in_process_ca(files), aiohttp.ClientSession() as session:
        assert (await Api(files, session).get("/capabilities")).json == cli
