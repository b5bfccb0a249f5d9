"""The ca.json block: the spec's own example (tests/data), the rules of step-ca's Init, and step's
principals for SSH user certificates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from plica.api import ConfigError
from plica.testing import DEFAULT_LEAF_TEMPLATE, CAFiles, load_snapshot
from plica.testing.conformance import SSH_DEFAULT_TEMPLATE
from plica_oidc.authorize import sanitize_ssh_user, ssh_principals
from plica_oidc.provisioner import discovery_url, expected_issuer, sanitize_email

DATA = Path(__file__).resolve().parent / "data"


def spec_example(files: CAFiles) -> dict:  # type: ignore[type-arg]
    """The spec's block, with the template files it names written where it names them."""
    for rel, text in (("x509", DEFAULT_LEAF_TEMPLATE), ("ssh", SSH_DEFAULT_TEMPLATE)):
        path = files.home / "templates" / "certs" / rel / "default.tpl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return json.loads((DATA / "spec_google.json").read_text())


def test_the_spec_example_as_printed_is_refused_naming_clientid(ca_files: CAFiles) -> None:
    # The page lost its URLs: clientID is "" there, which step-ca's Init refuses first, and so does Plica.
    ca_files.add_provisioner(spec_example(ca_files))
    with pytest.raises(ConfigError) as e:
        load_snapshot(ca_files)
    assert e.value.path.endswith(".clientID") and "cannot be empty" in str(e.value)


def test_the_spec_example_filled_in_loads(ca_files: CAFiles) -> None:
    block = spec_example(ca_files)
    block.update(clientID="1087160488420.apps.googleusercontent.com", admins=["you@smallstep.com"],
                 configurationEndpoint="https://accounts.google.com", domains=["smallstep.com"])  # fmt: skip
    ca_files.add_provisioner(block)
    snap = load_snapshot(ca_files)
    prov = next(p for p in snap.provisioners if p.name == "Google")
    assert prov.state.source.where == "https://accounts.google.com/.well-known/openid-configuration"
    assert prov.claims.disable_renewal is True


def test_discovery_url_and_emails() -> None:
    assert discovery_url("https://idp.example.com/realms/x") == (
        "https://idp.example.com/realms/x/.well-known/openid-configuration"
    )
    assert (
        discovery_url("https://a/.well-known/openid-configuration")
        == "https://a/.well-known/openid-configuration"
    )
    assert sanitize_email("Bob.Smith@EXAMPLE.com") == "Bob.Smith@example.com"


def test_ssh_principals_as_step() -> None:
    assert sanitize_ssh_user("Bob.Smith+ops@example.com") == "bobsmith_ops"
    assert ssh_principals("Bob.Smith@example.com") == ["bobsmith", "Bob.Smith", "Bob.Smith@example.com"]
    assert ssh_principals("root@example.com") == ["root", "root@example.com"]


def test_tenant_id_replaces_the_placeholder_of_the_discovered_issuer(ca_files: CAFiles) -> None:
    # Azure AD's common discovery document names "https://login.microsoftonline.com/{tenantid}/v2.0".
    ca_files.add_provisioner(
        {
            "type": "OIDC",
            "name": "aad",
            "clientID": "c",
            "tenantID": "t-1234",
            "configurationEndpoint": "https://login.microsoftonline.com/common/v2.0",
        }
    )
    prov = next(p for p in load_snapshot(ca_files).provisioners if p.name == "aad")
    assert prov.state.source.where == (
        "https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration"
    )
    source = prov.state.source  # shared process-wide: put back what was there
    kept, source.discovered_issuer = (
        source.discovered_issuer,
        "https://login.microsoftonline.com/{tenantid}/v2.0",
    )
    try:
        assert expected_issuer(prov) == "https://login.microsoftonline.com/t-1234/v2.0"
    finally:
        source.discovered_issuer = kept
