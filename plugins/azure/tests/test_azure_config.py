"""The Azure block: the README shows the spec's example as it is, `plica provisioner add|update --type Azure`
writes step's fields from step's flags (and refuses what would not load), and loading takes step's own
spelling `tenantID` and refuses a second provisioner for one tenant."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from plica.api import ConfigError
from plica.testing import CAFiles, load_snapshot, make_ca, plica_cli

README = Path(__file__).resolve().parents[1] / "README.md"
SPEC = Path(__file__).resolve().parents[3] / "docs" / "reference" / "provisioners.md"
TENANT = "b17c217c-84db-43f0-babd-e06a71083cda"
OTHER = "6f1d2c3b-4a5e-4f60-8a7b-9c0d1e2f3a4b"


def test_the_readme_shows_the_spec_example_exactly() -> None:
    spec = [line.strip() for line in SPEC.read_text().splitlines() if line.startswith('{ "type": "Azure"')]
    readme = re.findall(r"```json\n(.*?)\n```", README.read_text(), re.DOTALL)
    assert len(spec) == 1 and readme[0] == spec[0]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> CAFiles:
    return make_ca(tmp_path_factory.mktemp("ca"))


def provisioner(files: CAFiles, *args: str, ok: bool = True) -> Any:
    r = plica_cli("provisioner", *args, "--home", str(files.home), env=files.env())
    assert (r.returncode == 0) == ok, f"{args}:\n{r.stdout}\n{r.stderr}"
    return r


def block(files: CAFiles, name: str) -> dict[str, Any]:
    return next(p for p in files.config()["authority"]["provisioners"] if p["name"] == name)


def test_add_and_update_write_steps_fields(files: CAFiles) -> None:
    provisioner(files, "add", "az", "--type", "Azure", "--azure-tenant", TENANT,
                "--azure-resource-group", "backend", "--azure-resource-group", "accounting",
                "--azure-subscription-id", "sub-1", "--azure-object-id", "oid-1", "--azure-object-id", "oid-2",
                "--azure-audience", "https://management.core.windows.net/", "--disable-custom-sans")  # fmt: skip
    assert block(files, "az") == {
        "type": "Azure",
        "name": "az",
        "tenantId": TENANT,
        "resourceGroups": ["backend", "accounting"],
        "subscriptionIDs": ["sub-1"],
        "objectIDs": ["oid-1", "oid-2"],
        "audience": "https://management.core.windows.net/",
        "disableCustomSANs": True,
        "disableTrustOnFirstUse": False,
    }
    # A list given replaces the old one, "" empties it; "" removes the audience (the default applies);
    # `=false` turns a flag off; the tenant may change.
    provisioner(files, "update", "az", "--azure-tenant", OTHER, "--azure-resource-group", "frontend",
                "--azure-object-id", "", "--azure-audience", "", "--disable-custom-sans=false",
                "--disable-trust-on-first-use", "--azure-discovery-url", "https://login.example.org/x/.well-known/openid-configuration")  # fmt: skip
    assert block(files, "az") == {
        "type": "Azure",
        "name": "az",
        "tenantId": OTHER,
        "resourceGroups": ["frontend"],
        "subscriptionIDs": ["sub-1"],
        "disableCustomSANs": False,
        "disableTrustOnFirstUse": True,
        "discoveryURL": "https://login.example.org/x/.well-known/openid-configuration",
    }
    provisioner(files, "update", "az", "--azure-discovery-url", "")
    assert "discoveryURL" not in block(files, "az")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "--azure-tenant"),
        (["--azure-tenant", "contoso.onmicrosoft.com"], "is not a tenant id"),
        (["--azure-tenant", TENANT, "--azure-discovery-url", "http://login.example.org/t"], "https"),
        # Azure has no instanceAge (the flag is AWS's and GCP's, unknown without their plugins).
        (
            ["--azure-tenant", TENANT, "--instance-age", "1h"],
            "not an option of provisioner type Azure|No such option",
        ),
    ],
)
def test_add_refuses_what_would_not_work(files: CAFiles, args: list[str], message: str) -> None:
    r = provisioner(files, "add", "bad", "--type", "Azure", *args, ok=False)
    assert any(m in r.stderr for m in message.split("|")), r.stderr
    assert all(p["name"] != "bad" for p in files.config()["authority"]["provisioners"])


def with_provisioners(files: CAFiles, *blocks: dict[str, Any]) -> CAFiles:
    cfg = files.config()
    cfg["authority"]["provisioners"] = list(blocks)
    files.write_config(cfg)
    return files


def test_steps_spelling_tenantID_loads(tmp_path: Path) -> None:
    files = with_provisioners(
        make_ca(tmp_path), {"type": "Azure", "name": "step", "tenantID": TENANT.upper()}
    )
    prov = load_snapshot(files).provisioners.by_name["step"]
    assert prov.id == TENANT  # step's id for an Azure provisioner: its tenant
    assert (
        prov.state.source.where
        == f"https://login.microsoftonline.com/{TENANT}/.well-known/openid-configuration"
    )
    assert prov.state.audience == "https://management.azure.com/"


def test_one_provisioner_per_tenant(tmp_path: Path) -> None:
    files = with_provisioners(
        make_ca(tmp_path),
        {"type": "Azure", "name": "one", "tenantId": TENANT},
        {"type": "Azure", "name": "two", "tenantId": TENANT.upper()},
    )
    with pytest.raises(ConfigError) as e:
        load_snapshot(files)
    assert e.value.path == "ca.json.authority.provisioners[1]" and "same token key" in e.value.message
