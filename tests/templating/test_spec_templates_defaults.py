"""Every default template quoted in docs/reference/step-templates.md §4 renders with realistic data, yields
valid JSON, and has the fields the spec says it produces (the texts: spec_templates_texts.py).
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from plica.templating import StringSlice, TypedNil, render

from .spec_templates_data import (
    DEFAULT_USER_EXTENSIONS,
    SAN,
    ECPublicKey,
    RSAPublicKey,
    Subject,
    render_json,
    ssh_data,
    x509_data,
)
from .spec_templates_texts import (
    CERTIFICATE_REQUEST,
    DEFAULT_ADMIN_LEAF,
    DEFAULT_ATTESTED_LEAF,
    DEFAULT_CERTIFICATE_REQUEST,
    DEFAULT_IID_LEAF,
    DEFAULT_INTERMEDIATE,
    DEFAULT_LEAF,
    DEFAULT_ROOT,
    DOC_7_3_RENDERED,
    DOC_7_6_PASSTHROUGH,
    SSH_CERTIFICATE_REQUEST,
    SSH_DEFAULT,
    SSH_DEFAULT_ADMIN,
    SSH_DEFAULT_IID,
)

# ---------------------------------------------------------------------------------------------------------
# §4 default templates


@pytest.mark.parametrize(
    ("key", "ku"),
    [(ECPublicKey(), ["digitalSignature"]), (RSAPublicKey(2048), ["keyEncipherment", "digitalSignature"])],
)
def test_default_leaf(key: Any, ku: list[str]) -> None:
    got = render_json(DEFAULT_LEAF, x509_data(key))
    assert got == {
        "subject": {"commonName": "jane@smallstep.com"},
        "sans": [{"type": "email", "value": "jane@smallstep.com"}],
        "keyUsage": ku,
        "extKeyUsage": ["serverAuth", "clientAuth"],
    }


def test_default_leaf_matches_docs_rendering_7_3() -> None:
    assert render_json(DEFAULT_LEAF, x509_data()) == json.loads(DOC_7_3_RENDERED)


def test_default_iid_leaf_with_and_without_sans() -> None:
    with_sans = x509_data(
        cn="i-0abc", sans=[SAN("dns", "ip-10-0-0-1.us-east-1.compute.internal"), SAN("ip", "10.0.0.1")]
    )
    got = render_json(DEFAULT_IID_LEAF, with_sans)
    assert got["subject"] == {"commonName": "i-0abc"}
    assert got["sans"] == [
        {"type": "dns", "value": "ip-10-0-0-1.us-east-1.compute.internal"},
        {"type": "ip", "value": "10.0.0.1"},
    ]
    assert got["keyUsage"] == ["digitalSignature"]
    no_sans = x509_data(cn="i-0abc", dns=["a.internal"])
    del no_sans["SANs"]
    got = render_json(DEFAULT_IID_LEAF, no_sans)
    assert "sans" not in got
    assert got["dnsNames"] == ["a.internal"]
    assert got["emailAddresses"] is None
    assert got["ipAddresses"] is None
    assert got["uris"] is None
    assert got["extKeyUsage"] == ["serverAuth", "clientAuth"]


def test_default_admin_leaf() -> None:
    data = x509_data(
        RSAPublicKey(4096),
        cn="system:serviceaccount:default:app",
        dns=["app.default.svc"],
        emails=["ops@example.com"],
    )
    got = render_json(DEFAULT_ADMIN_LEAF, data)
    assert got["subject"] == {"commonName": "system:serviceaccount:default:app"}
    assert got["dnsNames"] == ["app.default.svc"]
    assert got["emailAddresses"] == ["ops@example.com"]
    assert got["keyUsage"] == ["keyEncipherment", "digitalSignature"]


def test_default_attested_leaf() -> None:
    data = x509_data(sans=[SAN("permanentIdentifier", "ABC123")], cn="ABC123")
    got = render_json(DEFAULT_ATTESTED_LEAF, data)
    assert got["sans"] == [{"type": "permanentIdentifier", "value": "ABC123"}]
    assert got["extKeyUsage"] == ["clientAuth"]


def test_certificate_request_passthrough_4_and_7_6() -> None:
    data = x509_data(dns=["example.io"])
    for tmpl in (CERTIFICATE_REQUEST, DOC_7_6_PASSTHROUGH):
        out = render(tmpl, data)
        got = json.loads(out)
        assert list(got) == [
            "version",
            "subject",
            "rawSubject",
            "dnsNames",
            "emailAddresses",
            "ipAddresses",
            "uris",
            "sans",
            "extensions",
            "keyUsage",
            "extKeyUsage",
            "unknownExtKeyUsage",
            "basicConstraints",
            "signatureAlgorithm",
        ]
        assert got["version"] == 0
        assert got["subject"] == {"commonName": "jane@smallstep.com"}
        assert base64.b64decode(got["rawSubject"]) == data["Insecure"]["CR"].RawSubject
        assert got["dnsNames"] == ["example.io"]
        assert got["sans"] is None
        assert got["extensions"][0]["id"] == "2.5.29.17"
        assert got["extensions"][0]["critical"] is False
        assert got["signatureAlgorithm"] == ""


def test_default_certificate_request_template() -> None:
    got = render_json(
        DEFAULT_CERTIFICATE_REQUEST, x509_data(cn="host.example.com", sans=[SAN("dns", "host.example.com")])
    )
    assert got == {
        "subject": {"commonName": "host.example.com"},
        "sans": [{"type": "dns", "value": "host.example.com"}],
    }


@pytest.mark.parametrize(("tmpl", "pathlen"), [(DEFAULT_INTERMEDIATE, 0), (DEFAULT_ROOT, 1)])
def test_intermediate_and_root_7_5(tmpl: str, pathlen: int) -> None:
    data = {"Subject": Subject("ACME Root CA", Organization=["ACME"])}
    got = render_json(tmpl, data)
    assert got["subject"] == {"organization": ["ACME"], "commonName": "ACME Root CA"}
    assert got["keyUsage"] == ["certSign", "crlSign"]
    assert got["basicConstraints"] == {"isCA": True, "maxPathLen": pathlen}
    if tmpl is DEFAULT_ROOT:
        assert got["issuer"] == got["subject"]


def test_ssh_default_template() -> None:
    got = render_json(SSH_DEFAULT, ssh_data(), funcs="ssh")
    assert got == {
        "type": "user",
        "keyId": "carl@smallstep.com",
        "principals": ["carl", "carl@smallstep.com"],
        "extensions": DEFAULT_USER_EXTENSIONS,
        "criticalOptions": None,
    }
    host = render_json(SSH_DEFAULT, ssh_data("host", Principals=StringSlice(["web1.internal"])), funcs="ssh")
    assert host["type"] == "host"
    assert host["extensions"] is None


def test_ssh_default_admin_template() -> None:
    user = render_json(SSH_DEFAULT_ADMIN, ssh_data("user"), funcs="ssh")
    assert user == {
        "type": "user",
        "keyId": "requested-id",
        "principals": ["req1", "req2"],
        "extensions": DEFAULT_USER_EXTENSIONS,
        "criticalOptions": None,
    }
    host = render_json(SSH_DEFAULT_ADMIN, ssh_data("host"), funcs="ssh")
    assert host == {"type": "host", "keyId": "requested-id", "principals": ["req1", "req2"]}


def test_ssh_default_iid_template() -> None:
    data = ssh_data("host", KeyID="i-0abc", Principals=StringSlice(["10.0.0.1", "ip-10-0-0-1.internal"]))
    got = render_json(SSH_DEFAULT_IID, data, funcs="ssh")
    assert got["principals"] == ["req1", "req2"]
    data["Insecure"]["CR"].Principals = TypedNil("[]string")
    got = render_json(SSH_DEFAULT_IID, data, funcs="ssh")
    assert got["principals"] == ["10.0.0.1", "ip-10-0-0-1.internal"]
    assert got["keyId"] == "i-0abc"
    assert got["extensions"] is None


def test_ssh_certificate_request_template() -> None:
    user = render_json(SSH_CERTIFICATE_REQUEST, ssh_data("user"), funcs="ssh")
    assert user["extensions"] == DEFAULT_USER_EXTENSIONS
    host = render_json(SSH_CERTIFICATE_REQUEST, ssh_data("host"), funcs="ssh")
    assert "extensions" not in host
    assert host["type"] == "host"
