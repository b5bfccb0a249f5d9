"""Rendering the documentation examples of step's templates (§7) into real certificates."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

from plica.certdesc import defaults, load_template_option, render_ssh, render_x509, ssh_data, x509_data
from plica.templating import TemplateError

from .render_helpers import (
    CA,
    NOW,
    SERVER_CLIENT,
    TOKEN,
    csr_for,
    defaults_user_extensions,
    ekus,
    ext,
    has,
    issue,
    key_usages,
    san_list,
    ssh_sign,
)

# -- §7 documentation examples -------------------------------------------------------------------------------

TEMPLATE_71 = """{
    "subject": {
        "organizationalUnit": {{ toJson .OrganizationalUnit }},
        "commonName": {{ toJson .Subject.CommonName }}
    },
    "sans": {{ toJson .SANs }},
    "keyUsage": ["digitalSignature"],
    "extKeyUsage": ["serverAuth", "clientAuth"]
}"""


def test_71_template_data(ca: CA, ec_key: Any, tmp_path: Path) -> None:
    (tmp_path / "templates/certs/x509").mkdir(parents=True)
    (tmp_path / "templates/certs/x509/leaf.tpl").write_text(TEMPLATE_71)
    options = {
        "templateFile": "templates/certs/x509/leaf.tpl",
        "templateData": {"OrganizationalUnit": "Engineering Team"},
    }
    template = load_template_option(options, base_dir=str(tmp_path))
    assert template == TEMPLATE_71
    csr = csr_for(ec_key, "jane@doe.com")
    data = x509_data("jane@doe.com", ["jane@doe.com"], TOKEN, csr, provisioner_data=options["templateData"])
    cert = issue(ca, template, data, csr)
    assert cert.subject.rfc4514_string() == "CN=jane@doe.com,OU=Engineering Team"  # encoded OU, then CN
    assert [rdn._attributes[0].oid for rdn in cert.subject.rdns] == [
        NameOID.ORGANIZATIONAL_UNIT_NAME,
        NameOID.COMMON_NAME,
    ]
    assert san_list(cert) == [x509.RFC822Name("jane@doe.com")]
    assert key_usages(cert) == {"digital_signature"} and ekus(cert) == SERVER_CLIENT


@pytest.mark.parametrize("inline", ["{{ toJson .Insecure.CR }}", "e3sgdG9Kc29uIC5JbnNlY3VyZS5DUiB9fQ=="])
def test_72_inline_template_plain_and_base64(ca: CA, ec_key: Any, inline: str) -> None:
    template = load_template_option(
        {"template": inline, "templateFile": "ignored.tpl"}, base_dir="/nonexistent"
    )
    assert template == defaults.CERTIFICATE_REQUEST_TEMPLATE
    csr = csr_for(ec_key, "svc", [x509.DNSName("svc.example.com")])
    cert = issue(ca, template, x509_data("svc", None, TOKEN, csr), csr)
    assert cert.subject.public_bytes() == csr.subject.public_bytes()
    assert san_list(cert) == [x509.DNSName("svc.example.com")]


TEMPLATE_74 = """{
	"subject": {{ toJson .Subject }},
	"sans": {{ toJson .SANs }},
{{- if typeIs "*rsa.PublicKey" .Insecure.CR.PublicKey }}
	"keyUsage": ["keyEncipherment", "digitalSignature"],
{{- else }}
	"keyUsage": ["digitalSignature"],
{{- end }}
	"extKeyUsage": ["serverAuth", "clientAuth"],
	"extensions": [
		{"id": "1.2.3.4", "value": {{ asn1Marshal .AuthorizationCrt.NotAfter | toJson }}},
		{"id": "1.2.3.5", "value": {{ asn1Set (asn1Marshal (first .Insecure.CR.DNSNames) "utf8") (asn1Enc "int:123456") | toJson }}},
		{"id": "1.2.3.6", "value": {{ asn1Seq (asn1Enc "YubiKey") (asn1Enc "int:123456") | toJson }}}
	]
}"""


def test_74_asn1_extensions(ca: CA, ec_key: Any) -> None:
    x5c_key = ec.generate_private_key(ec.SECP256R1())
    not_after = dt.datetime(2031, 5, 6, 7, 8, 9, tzinfo=dt.UTC)
    x5c = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x5c leaf")]))
        .issuer_name(ca.cert.subject)
        .public_key(x5c_key.public_key())
        .serial_number(3)
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(not_after)
        .sign(ca.key, hashes.SHA256())
    )
    csr = csr_for(ec_key, "host.example.com", [x509.DNSName("host.example.com")])
    data = x509_data("host.example.com", ["host.example.com"], TOKEN, csr, authorization_crt=x5c)
    cert = issue(ca, TEMPLATE_74, data, csr)
    assert ext(cert, x509.ObjectIdentifier("1.2.3.4")).value.value == b"\x17\x0d310506070809Z"
    assert ext(cert, x509.ObjectIdentifier("1.2.3.5")).value.value == (
        b"\x31\x17" + b"\x0c\x10host.example.com" + b"\x02\x03\x01\xe2\x40"
    )
    assert ext(cert, x509.ObjectIdentifier("1.2.3.6")).value.value == base64.b64decode(
        "MA4TB1l1YmlLZXkCAwHiQA=="
    )
    assert not ext(cert, x509.ObjectIdentifier("1.2.3.6")).critical
    snippet = '{"extensions": [{"id": "1.2.3.4", "critical": false, "value": {{ asn1Enc "int:3848281" | toJson }}}]}'
    cert = issue(ca, snippet, data, csr)
    assert ext(cert, x509.ObjectIdentifier("1.2.3.4")).value.value == base64.b64decode("AgM6uFk=")


TEMPLATE_77 = """{
	"subject": {{ toJson .Subject }},
{{- if .Insecure.User.dnsName }}
	"dnsNames": {{ toJson .Insecure.User.dnsName }},
{{- else }}
	"sans": {{ toJson .SANs }},
{{- end }}
{{- if typeIs "*rsa.PublicKey" .Insecure.CR.PublicKey }}
	"keyUsage": ["keyEncipherment", "digitalSignature"],
{{- else }}
	"keyUsage": ["digitalSignature"],
{{- end }}
	"extKeyUsage": ["serverAuth", "clientAuth"]
}"""


def test_77_user_provided_values(ca: CA, ec_key: Any) -> None:
    csr = csr_for(ec_key, "backend")
    data = x509_data("backend", ["backend.internal"], TOKEN, csr, user={"dnsName": "backend.example.com"})
    assert san_list(issue(ca, TEMPLATE_77, data, csr)) == [x509.DNSName("backend.example.com")]
    data = x509_data("backend", ["backend.internal"], TOKEN, csr)  # no --set: .Insecure.User is absent
    assert san_list(issue(ca, TEMPLATE_77, data, csr)) == [x509.DNSName("backend.internal")]
    data = x509_data(
        "backend", ["backend.internal"], TOKEN, csr, user={"dnsName": "x"}, custom_template=False
    )
    assert san_list(issue(ca, TEMPLATE_77, data, csr)) == [x509.DNSName("backend.internal")]


TEMPLATE_78 = """{
    "subject": {{ toJson .Subject }},
    "keyUsage": ["certSign", "crlSign"],
    "basicConstraints": {
        "isCA": true,
        "maxPathLen": 0
    },
    "nameConstraints": {
        "critical": true,
        "permittedDNSDomains": ["example.com"]
    }
}"""


def test_78_name_constraints(ca: CA, ec_key: Any) -> None:
    csr = csr_for(ec_key, "Constrained Intermediate")
    cert = issue(ca, TEMPLATE_78, x509_data("Constrained Intermediate", None, None, csr), csr)
    nc = ext(cert, ExtensionOID.NAME_CONSTRAINTS)
    assert nc.critical and nc.value.permitted_subtrees == [x509.DNSName("example.com")]
    bc = ext(cert, ExtensionOID.BASIC_CONSTRAINTS).value
    assert bc.ca and bc.path_length == 0
    assert key_usages(cert) == {"key_cert_sign", "crl_sign"}


TEMPLATE_710 = """   {
           "subject": {{ toJson .Subject }},
           "keyUsage": ["certSign", "crlSign"],
           "basicConstraints": {
                   "isCA": true,
                   "maxPathLen": 0
           },
           "crlDistributionPoints": ["http://ca.example.com/1.0/crl"]
   }"""


def test_710_crl_distribution_point(ca: CA, ec_key: Any) -> None:
    csr = csr_for(ec_key, "Intermediate")
    for template in (
        TEMPLATE_710,
        defaults.DEFAULT_LEAF_TEMPLATE.replace(
            '"extKeyUsage": ["serverAuth", "clientAuth"]',
            '"extKeyUsage": ["serverAuth", "clientAuth"],\n\t"crlDistributionPoints": ["http://ca.example.com/1.0/crl"]',
        ),
    ):
        cert = issue(ca, template, x509_data("Intermediate", ["a.example.com"], TOKEN, csr), csr)
        crl = ext(cert, ExtensionOID.CRL_DISTRIBUTION_POINTS)
        assert not crl.critical
        assert [dp.full_name for dp in crl.value] == [
            [x509.UniformResourceIdentifier("http://ca.example.com/1.0/crl")]
        ]


TEMPLATE_711 = """{
  "subject": {{ toJson .Subject }},
  "extensions": [
    {
      "id": "2.5.29.32",
      "value": {{
        asn1Seq
          (asn1Seq
            (asn1Enc "oid:1.3.6.1.4.1.99999.1.1.1")
            (asn1Seq (asn1Seq (asn1Enc "oid:1.3.6.1.5.5.7.2.1") (asn1Enc "ia5:http://example.com/cps")))
          )
        | toJson
      }}
    }
  ]
}"""


def test_711_certificate_policies_with_cps(ca: CA, ec_key: Any) -> None:
    csr = csr_for(ec_key, "policy")
    cert = issue(ca, TEMPLATE_711, x509_data("policy", None, TOKEN, csr), csr)
    policies = ext(cert, ExtensionOID.CERTIFICATE_POLICIES)
    assert not policies.critical
    assert policies.value.public_bytes() == base64.b64decode(
        "MDUwMwYLKwYBBAGGjR8BAQEwJDAiBggrBgEFBQcCARYWaHR0cDovL2V4YW1wbGUuY29tL2Nwcw=="
    )
    (info,) = list(policies.value)
    assert info.policy_identifier.dotted_string == "1.3.6.1.4.1.99999.1.1.1"
    assert info.policy_qualifiers == ["http://example.com/cps"]


OPENVPN_CLIENT = """{
  "subject": {"commonName": {{ toJson .Insecure.CR.Subject.CommonName }}},
  "sans": {{ toJson .SANs }},
  "keyUsage": ["digitalSignature", "keyAgreement"],
  "extKeyUsage": ["clientAuth"]
}"""
OPENVPN_SERVER = """{
  "subject": {{ toJson .Subject }},
  "sans": {{ toJson .SANs }},
  "keyUsage": ["digitalSignature", "keyEncipherment", "keyAgreement"],
  "extKeyUsage": ["serverAuth"]
}"""


def test_712_openvpn(ca: CA, ec_key: Any) -> None:
    csr = csr_for(ec_key, "laptop-from-csr")
    data = x509_data("vpn.example.com", ["vpn.example.com"], TOKEN, csr)
    client = issue(ca, OPENVPN_CLIENT, data, csr)
    assert client.subject.rfc4514_string() == "CN=laptop-from-csr"
    assert san_list(client) == [x509.DNSName("vpn.example.com")]
    assert key_usages(client) == {"digital_signature", "key_agreement"}
    assert ekus(client) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    server = issue(ca, OPENVPN_SERVER, data, csr)
    assert server.subject.rfc4514_string() == "CN=vpn.example.com"
    assert key_usages(server) == {"digital_signature", "key_encipherment", "key_agreement"}
    assert ekus(server) == [ExtendedKeyUsageOID.SERVER_AUTH]


GITHUB_713 = (
    # Verbatim from the docs, which mix tabs and spaces (written with escapes to keep linters quiet).
    "{\n"
    '\t"type": {{ toJson .Type }},\n'
    '\t"keyId": {{ toJson .KeyID }},\n'
    '\t"principals": {{ toJson .Principals }},\n'
    '\t"criticalOptions": {{ toJson .CriticalOptions }},\n'
    "{{ if .Token.ghu }}\n"
    '\t"extensions": {\n'
    '\t  "login@github.com": {{ toJson .Token.ghu }}\n'
    "\t}\n"
    "{{ else }}\n"
    '\t"extensions": {{ toJson .Extensions }}\n'
    "{{ end }}\n"
    "}"
)


def test_713_github_login_extension(ssh_key: Any) -> None:
    token = {"aud": "https://ca/1.0/ssh/sign", "exp": 1606870196, "ghu": "tashian", "iss": "carl@smallstep.com",
             "sub": "carl", "step": {"ssh": {"certType": "user", "keyID": "carl"}}}  # fmt: skip
    cert = ssh_sign(
        render_ssh(GITHUB_713, ssh_data("user", "carl", ["carl"], token=token, public_key=ssh_key))
    )
    assert cert.extensions == {b"login@github.com": b"tashian"}
    assert cert.key_id == b"carl" and cert.valid_principals == [b"carl"]
    del token["ghu"]
    cert = ssh_sign(
        render_ssh(GITHUB_713, ssh_data("user", "carl", ["carl"], token=token, public_key=ssh_key))
    )
    assert set(cert.extensions) == {e.encode() for e in defaults_user_extensions()}


GROUPS_714 = """  {
    "type": {{ toJson .Type }},
    "keyId": {{ toJson .KeyID }},
    "principals": {{ toJson ((concat .Principals (splitList " " .Token.groups)) | uniq) }},
    "criticalOptions": {{ toJson .CriticalOptions }},
    "extensions": {{ toJson .Extensions }}
  }"""


def test_714_group_principals(ssh_key: Any) -> None:
    data = ssh_data("user", "jane@doe.com", ["jane", "jane@doe.com"], token={"groups": "admins jane ops"},
                    public_key=ssh_key)  # fmt: skip
    desc = render_ssh(GROUPS_714, data)
    assert desc.principals == ("jane", "jane@doe.com", "admins", "ops")
    data = ssh_data("user", "jane", ["jane"], token={"groups": ["admins"]}, public_key=ssh_key)
    with pytest.raises(TemplateError):
        render_ssh(GROUPS_714, data)


X5C_715 = """{
        "type": {{ toJson .Type }},
        "keyId": {{ toJson .AuthorizationCrt.Subject.CommonName }},
        "principals": [
            {{ replace "@example.com" "" .AuthorizationCrt.Subject.CommonName | toJson }},
            {{ toJson .AuthorizationCrt.Subject.CommonName }}
        ],
        "extensions": {{ toJson .Extensions }},
        "criticalOptions": {{ toJson .CriticalOptions }}
    }"""


def test_715_ssh_from_x5c(ca: CA, ssh_key: Any) -> None:
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "alice@example.com")]))
        .issuer_name(ca.cert.subject)
        .public_key(leaf_key.public_key())
        .serial_number(11)
        .not_valid_before(NOW - dt.timedelta(hours=1))
        .not_valid_after(NOW + dt.timedelta(hours=1))
        .sign(ca.key, hashes.SHA256())
    )
    data = ssh_data("user", "sub", ["sub"], public_key=ssh_key, authorization_crt=leaf)
    desc = render_ssh(X5C_715, data)
    assert desc.key_id == "alice@example.com"
    assert desc.principals == ("alice", "alice@example.com")
    cert = ssh_sign(desc)
    assert cert.valid_principals == [b"alice", b"alice@example.com"]


WEBHOOK_716 = """    {
      "subject": {
        "organizationalUnit": {{ toJson .Webhooks.people.role }}
      }
    }"""


def test_716_webhook_subject(ca: CA, ec_key: Any) -> None:
    csr = csr_for(ec_key, "jane")
    data = x509_data("jane", ["jane@doe.com"], TOKEN, csr, webhooks={"people": {"role": "eng"}})
    cert = issue(ca, WEBHOOK_716, data, csr)
    assert cert.subject.rfc4514_string() == "OU=eng"
    assert not has(cert, ExtensionOID.SUBJECT_ALTERNATIVE_NAME) and not has(cert, ExtensionOID.KEY_USAGE)
    cert = issue(ca, WEBHOOK_716, data, csr, subject_defaults={"commonName": "default"})
    assert cert.subject.rfc4514_string() == "CN=default,OU=eng"


GITHUB_717 = """{
	"type": "{{ .Type }}",
	"keyId": "{{ .KeyID }}",
	"principals": {{ toJson .Principals }},
{{- if .Insecure.User.username }}
	"extensions": {{ set .Extensions "login@github.com" .Insecure.User.username | toJson }}
{{- else }}
    "extensions": {{ toJson .Extensions }}
{{- end }}
}"""


def test_717_ssh_with_user_data(ssh_key: Any) -> None:
    data = ssh_data("user", "jdoe", ["jdoe"], public_key=ssh_key, user={"username": "jdoe"})
    desc = render_ssh(GITHUB_717, data)
    assert desc.extensions == {**{e: "" for e in defaults_user_extensions()}, "login@github.com": "jdoe"}
    data = ssh_data("host", "h", ["h"], public_key=ssh_key, user={"username": "jdoe"})
    with pytest.raises(TemplateError):  # `set` on the nil host extensions map panics
        render_ssh(GITHUB_717, data)


EXAMPLE_718 = """{
	"subject": {{ toJson .Insecure.CR.Subject }},
	"sans": {{ toJson .SANs }},
{{- if .Insecure.CR.EmailAddresses }}
	"emailAddresses": {{ toJson .Insecure.CR.EmailAddresses }},
{{- end }}
{{- if .Token }}
	"uris": "{{ .Token.iss }}#{{ .Token.sub }}",
{{- end }}
	"notBefore": "{{ dateInZone "2006-01-02T15:04:05Z07:00" .Token.nbf "UTC" }}",
	"notAfter": "{{ .Webhooks.Test.notAfter }}",
{{- if typeIs "*rsa.PublicKey" .Insecure.CR.PublicKey }}
	{{- if lt .Insecure.CR.PublicKey.Size 384 }}
		{{ fail "Key length must be at least 3072 bits" }}
	{{- end }}
{{- end }}
{{- if typeIs "*rsa.PublicKey" .Insecure.CR.PublicKey }}
	"keyUsage": ["keyEncipherment", "digitalSignature"],
{{- else }}
	"keyUsage": ["digitalSignature"],
{{- end }}
	"extKeyUsage": ["serverAuth", "clientAuth"]
}"""


def test_718_fail_and_webhook_fixture(ca: CA, ec_key: Any, rsa_key: Any) -> None:
    token = {"iss": "https://idp.example.com", "sub": "1234", "nbf": 1606869896}
    webhooks = {"Test": {"notAfter": (NOW + dt.timedelta(hours=6)).strftime("%Y-%m-%dT%H:%M:%SZ")}}
    csr = csr_for(rsa_key, "small-rsa")
    with pytest.raises(TemplateError) as info:
        render_x509(EXAMPLE_718, x509_data("x", ["x.example.com"], token, csr, webhooks=webhooks))
    assert getattr(info.value, "fail_message", None) == "Key length must be at least 3072 bits"
    csr = csr_for(ec_key, "svc", [x509.RFC822Name("ops@example.com"), x509.DNSName("ignored.example.com")])
    desc = render_x509(EXAMPLE_718, x509_data("x", ["svc.example.com"], token, csr, webhooks=webhooks))
    assert desc.not_after == NOW + dt.timedelta(hours=6)
    assert desc.not_before is not None  # float64 nbf: dateInZone renders "now"
    cert = ca.sign(desc, csr.public_key())
    assert cert.subject.rfc4514_string() == "CN=svc"
    assert san_list(cert) == [
        x509.DNSName("svc.example.com"),
        x509.RFC822Name("ops@example.com"),
        x509.UniformResourceIdentifier("https://idp.example.com#1234"),
    ]
