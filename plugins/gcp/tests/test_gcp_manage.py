"""`plica provisioner add|update --type GCP` (the real `plica` command):
step's flags make step's block, update adds to and removes from the allow-lists, and what cannot load is
refused with ca.json left as it was."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from plica.testing import CAFiles, make_ca, plica_cli


@pytest.fixture
def files(tmp_path: Path) -> CAFiles:
    return make_ca(tmp_path)


def run(files: CAFiles, *args: str) -> subprocess.CompletedProcess[str]:
    return plica_cli("provisioner", *args, "--home", str(files.home), env=files.env())


def block(files: CAFiles, name: str = "Google") -> dict[str, Any]:
    (b,) = [p for p in files.config()["authority"]["provisioners"] if p["name"] == name]
    return b


def test_add_with_steps_flags(files: CAFiles) -> None:
    # docs/reference/provisioners.md: step ca provisioner add Google --type GCP --gcp-service-account ...
    r = run(files, "add", "Google", "--type", "GCP", "--gcp-service-account", "1234567890",
            "--gcp-service-account", "vm@p.iam.gserviceaccount.com", "--gcp-project", "identity",
            "--gcp-project", "accounting", "--instance-age", "1h", "--disable-custom-sans")  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    assert block(files) == {
        "type": "GCP",
        "name": "Google",
        "serviceAccounts": ["1234567890", "vm@p.iam.gserviceaccount.com"],
        "projectIDs": ["identity", "accounting"],
        "instanceAge": "1h",
        "disableCustomSANs": True,
        "disableTrustOnFirstUse": False,
    }
    # Nothing but the type: every project and account, trust on first use, Google's keys.
    assert run(files, "add", "any", "--type", "GCP").returncode == 0
    assert block(files, "any") == {
        "type": "GCP", "name": "any", "disableCustomSANs": False, "disableTrustOnFirstUse": False,
    }  # fmt: skip


def test_update_adds_removes_and_clears(files: CAFiles) -> None:
    assert run(files, "add", "Google", "--type", "GCP", "--gcp-project", "identity", "--instance-age", "1h",
               "--gcp-jwks-url", "https://keys.example/certs").returncode == 0  # fmt: skip
    r = run(files, "update", "Google", "--gcp-project", "accounting", "--gcp-project", "identity",
            "--gcp-service-account", "1234567890", "--disable-trust-on-first-use")  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    b = block(files)
    assert b["projectIDs"] == ["identity", "accounting"] and b["serviceAccounts"] == ["1234567890"]
    assert b["disableTrustOnFirstUse"] is True and b["disableCustomSANs"] is False
    r = run(files, "update", "Google", "--remove-gcp-project", "identity", "--remove-gcp-project", "accounting",
            "--remove-gcp-service-account", "1234567890", "--instance-age", "", "--gcp-jwks-url", "",
            "--disable-trust-on-first-use=false")  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    assert block(files) == {
        "type": "GCP", "name": "Google", "disableCustomSANs": False, "disableTrustOnFirstUse": False,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (["--instance-age", "an hour"], "--instance-age"),
        (["--instance-age", "-1h"], "--instance-age"),
        (["--gcp-jwks-url", "http://keys.example/certs"], "https"),
    ],
)
def test_refusals_leave_ca_json_as_it_was(files: CAFiles, flags: list[str], needle: str) -> None:
    before = files.config_path.read_bytes()
    r = run(files, "add", "Google", "--type", "GCP", *flags)
    assert r.returncode != 0 and needle in r.stdout + r.stderr, r.stdout + r.stderr
    assert files.config_path.read_bytes() == before


def test_a_step_ca_block_with_organization_id_does_not_load(files: CAFiles) -> None:
    """Newer step-ca's organizationID is refused rather than ignored (ignoring it would allow every project)."""
    cfg = files.config()
    cfg["authority"]["provisioners"].append({"type": "GCP", "name": "org", "organizationID": "1234567"})
    files.write_config(cfg)
    r = run(files, "update", "org", "--gcp-project", "identity")
    assert r.returncode != 0 and "organizationID" in r.stderr, r.stdout + r.stderr
