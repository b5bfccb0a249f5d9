"""Every documentation example quoted in docs/reference/step-templates.md §7 renders with realistic data,
yields valid JSON, and has the fields the spec says it produces; and every template the spec quotes parses
(the texts: spec_templates_texts.py).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from typing import Any

import pytest

from plica.templating import StringSlice, TemplateError, parse, render

from . import spec_templates_texts
from .spec_templates_data import (
    DEFAULT_USER_EXTENSIONS,
    NOT_AFTER,
    SAN,
    RSAPublicKey,
    Subject,
    X509Certificate,
    render_json,
    ssh_data,
    x509_data,
)
from .spec_templates_texts import (
    DOC_7_1_LEAF,
    DOC_7_2_INLINE_B64,
    DOC_7_2_INLINE_PLAIN,
    DOC_7_4_ASN1,
    DOC_7_4_SNIPPET,
    DOC_7_6_PASSTHROUGH,
    DOC_7_7_USER,
    DOC_7_8_NAME_CONSTRAINTS,
    DOC_7_9_RAW_EXTENSION,
    DOC_7_10_CRL_DP,
    DOC_7_11_POLICIES,
    DOC_7_12_OPENVPN_CLIENT,
    DOC_7_12_OPENVPN_SERVER,
    DOC_7_13_SSH_GITHUB,
    DOC_7_14_SSH_GROUPS,
    DOC_7_15_SSH_X5C,
    DOC_7_16_WEBHOOK,
    DOC_7_17_SSH_USER,
    DOC_7_18_EXAMPLE,
)

# ---------------------------------------------------------------------------------------------------------
# §7 documentation examples


def test_7_1_template_data() -> None:
    data = x509_data(OrganizationalUnit="Engineering Team")
    got = render_json(DOC_7_1_LEAF, data)
    assert got["subject"] == {"organizationalUnit": "Engineering Team", "commonName": "jane@smallstep.com"}
    assert got["sans"] == [{"type": "email", "value": "jane@smallstep.com"}]
    assert got["keyUsage"] == ["digitalSignature"]
    assert got["extKeyUsage"] == ["serverAuth", "clientAuth"]


def test_7_2_inline_template_plain_and_base64() -> None:
    plain = re.search(r'"template": "(.*)"', DOC_7_2_INLINE_PLAIN)
    b64 = re.search(r'"template": "(.*)"', DOC_7_2_INLINE_B64)
    assert plain and b64
    decoded = base64.b64decode(b64.group(1)).decode()
    assert decoded == plain.group(1) == "{{ toJson .Insecure.CR }}"
    data = x509_data(dns=["example.io"])
    assert render(decoded, data) == render(DOC_7_6_PASSTHROUGH, data)


def test_7_4_asn1_snippet() -> None:
    got = json.loads("{" + render(DOC_7_4_SNIPPET, {}) + "}")
    assert got["extensions"] == [{"id": "1.2.3.4", "critical": False, "value": "AgM6uFk="}]


def test_7_4_asn1_template_x5c() -> None:
    crt = X509Certificate("leaf.example.com", NOT_AFTER)
    data = x509_data(cn="leaf.example.com", dns=["leaf.example.com"], AuthorizationCrt=crt)
    got = render_json(DOC_7_4_ASN1, data)
    ext = {e["id"]: base64.b64decode(e["value"]) for e in got["extensions"]}
    assert ext["1.2.3.4"] == b"\x17\x0d300601120000Z"
    name = b"leaf.example.com"
    assert (
        ext["1.2.3.5"]
        == b"\x31"
        + bytes([2 + len(name) + 5])
        + b"\x0c"
        + bytes([len(name)])
        + name
        + b"\x02\x03\x01\xe2\x40"
    )
    assert got["extensions"][2]["value"] == "MA4TB1l1YmlLZXkCAwHiQA=="
    assert got["keyUsage"] == ["digitalSignature"]


@pytest.mark.parametrize("user", [{"dnsName": "backend.example.com"}, None])
def test_7_7_user_provided_values(user: dict[str, Any] | None) -> None:
    data = x509_data(cn="backend", sans=[SAN("dns", "backend")])
    if user is not None:
        data["Insecure"]["User"] = user
    got = render_json(DOC_7_7_USER, data)
    if user:
        assert got["dnsNames"] == "backend.example.com"
        assert "sans" not in got
    else:
        assert got["sans"] == [{"type": "dns", "value": "backend"}]
    assert got["keyUsage"] == ["digitalSignature"]


def test_7_8_name_constraints() -> None:
    got = render_json(DOC_7_8_NAME_CONSTRAINTS, {"Subject": Subject("ACME Intermediate CA")})
    assert got["basicConstraints"] == {"isCA": True, "maxPathLen": 0}
    assert got["nameConstraints"] == {"critical": True, "permittedDNSDomains": ["example.com"]}


def test_7_9_raw_extension() -> None:
    got = json.loads("{" + render(DOC_7_9_RAW_EXTENSION, {}) + "}")
    assert base64.b64decode(got["extensions"][0]["value"]) == b"custom extension value"


def test_7_10_crl_distribution_point() -> None:
    got = render_json(DOC_7_10_CRL_DP, {"Subject": Subject("ACME Intermediate CA")})
    assert got["crlDistributionPoints"] == ["http://ca.example.com/1.0/crl"]
    assert got["basicConstraints"]["isCA"] is True


def test_7_11_certificate_policies() -> None:
    got = json.loads("{" + render(DOC_7_11_POLICIES, {}) + "}")
    assert got["extensions"] == [
        {
            "id": "2.5.29.32",
            "value": "MDUwMwYLKwYBBAGGjR8BAQEwJDAiBggrBgEFBQcCARYWaHR0cDovL2V4YW1wbGUuY29tL2Nwcw==",
        }
    ]


def test_7_12_openvpn() -> None:
    data = x509_data(cn="trusted", sans=[SAN("dns", "vpn.example.com")])
    data["Insecure"]["CR"].Subject = Subject("untrusted-client")
    client = render_json(DOC_7_12_OPENVPN_CLIENT, data)
    assert client == {
        "subject": {"commonName": "untrusted-client"},
        "sans": [{"type": "dns", "value": "vpn.example.com"}],
        "keyUsage": ["digitalSignature", "keyAgreement"],
        "extKeyUsage": ["clientAuth"],
    }
    server = render_json(DOC_7_12_OPENVPN_SERVER, data)
    assert server["subject"] == {"commonName": "trusted"}
    assert server["keyUsage"] == ["digitalSignature", "keyEncipherment", "keyAgreement"]
    assert server["extKeyUsage"] == ["serverAuth"]


def test_7_13_ssh_github() -> None:
    data = ssh_data()
    data["Token"]["ghu"] = "tashian"
    got = render_json(DOC_7_13_SSH_GITHUB, data, funcs="ssh")
    assert got["extensions"] == {"login@github.com": "tashian"}
    assert got["keyId"] == "carl@smallstep.com"
    assert got["criticalOptions"] is None
    del data["Token"]["ghu"]
    got = render_json(DOC_7_13_SSH_GITHUB, data, funcs="ssh")
    assert got["extensions"] == DEFAULT_USER_EXTENSIONS


def test_7_14_ssh_groups() -> None:
    data = ssh_data(Principals=StringSlice(["jane", "jane.doe", "jane.doe@example.com"]))
    data["Token"]["groups"] = "admins jane devs admins"
    got = render_json(DOC_7_14_SSH_GROUPS, data, funcs="ssh")
    assert got["principals"] == ["jane", "jane.doe", "jane.doe@example.com", "admins", "devs"]
    del data["Token"]["groups"]
    with pytest.raises(TemplateError, match=r"invalid value; expected string"):
        render(DOC_7_14_SSH_GROUPS, data, funcs="ssh")
    data["Token"]["groups"] = ["admins", "devs"]
    with pytest.raises(TemplateError, match=r"wrong type for value; expected string; got \[\]interface \{\}"):
        render(DOC_7_14_SSH_GROUPS, data, funcs="ssh")


def test_7_15_ssh_from_x5c() -> None:
    data = ssh_data(AuthorizationCrt=X509Certificate("alice@example.com", NOT_AFTER))
    got = render_json(DOC_7_15_SSH_X5C, data, funcs="ssh")
    assert got["keyId"] == "alice@example.com"
    assert got["principals"] == ["alice", "alice@example.com"]


def test_7_16_webhook_subject() -> None:
    data = x509_data(Webhooks={"people": {"role": "engineering", "name": "Jane"}})
    got = render_json(DOC_7_16_WEBHOOK, data)
    assert got == {"subject": {"organizationalUnit": "engineering"}}


def test_7_17_ssh_insecure_user() -> None:
    data = ssh_data()
    data["Insecure"]["User"] = {"username": "jdoe"}
    got = render_json(DOC_7_17_SSH_USER, data, funcs="ssh")
    assert got["type"] == "user"
    assert got["extensions"] == {**DEFAULT_USER_EXTENSIONS, "login@github.com": "jdoe"}
    got = render_json(DOC_7_17_SSH_USER, ssh_data(), funcs="ssh")
    assert got["extensions"] == DEFAULT_USER_EXTENSIONS
    host = ssh_data("host")
    host["Insecure"]["User"] = {"username": "jdoe"}
    with pytest.raises(TemplateError, match="assignment to entry in nil map"):
        render(DOC_7_17_SSH_USER, host, funcs="ssh")


def test_7_18_fail_time_and_webhook() -> None:
    data = x509_data(
        RSAPublicKey(2048),
        emails=["jane@example.com"],
        Webhooks={"Test": {"notAfter": "2030-01-01T00:00:00Z"}},
    )
    with pytest.raises(TemplateError) as ei:
        render(DOC_7_18_EXAMPLE, data)
    assert ei.value.fail_message == "Key length must be at least 3072 bits"

    data = x509_data(
        RSAPublicKey(3072),
        emails=["jane@example.com"],
        Webhooks={"Test": {"notAfter": "2030-01-01T00:00:00Z"}},
    )
    got = render_json(DOC_7_18_EXAMPLE, data)
    assert got["subject"] == {"commonName": "jane@smallstep.com"}
    assert got["emailAddresses"] == ["jane@example.com"]
    assert got["uris"] == "jane-jwk#jane@smallstep.com"
    assert got["notAfter"] == "2030-01-01T00:00:00Z"
    assert got["keyUsage"] == ["keyEncipherment", "digitalSignature"]
    # .Token.nbf is a float64, so dateInZone silently uses "now"
    nb = dt.datetime.fromisoformat(got["notBefore"].replace("Z", "+00:00"))
    assert abs((nb - dt.datetime.now(dt.UTC)).total_seconds()) < 60

    ec = x509_data(emails=None, Webhooks={"Test": {"notAfter": "2030-01-01T00:00:00Z"}})
    got = render_json(DOC_7_18_EXAMPLE, ec)
    assert "emailAddresses" not in got
    assert got["keyUsage"] == ["digitalSignature"]


def test_all_spec_templates_parse_in_x509_set() -> None:
    for name, value in list(vars(spec_templates_texts).items()):
        if name.isupper() and isinstance(value, str) and "{{" in value:
            parse(value, name=name)


def test_crcr_public_key_fields_reachable() -> None:
    data = x509_data()
    out = render(
        "{{ .Insecure.CR.PublicKey.Curve.Params.Name }} {{ .Insecure.CR.PublicKey.Curve.Params.BitSize }} {{ .Insecure.CR.PublicKeyAlgorithm }}",
        data,
    )
    assert out == "P-256 256 ECDSA"
    rsa = x509_data(RSAPublicKey(2048))
    assert render("{{ .Insecure.CR.PublicKey.Size }}", rsa) == "256"
