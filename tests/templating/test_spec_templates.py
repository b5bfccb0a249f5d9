# ruff: noqa: E101
"""Every template quoted in docs/reference/step-templates.md §4 (default templates) and §7 (documentation examples) renders with
realistic data, yields valid JSON, and has the fields the spec says it produces.

The template texts below are copied verbatim from the spec: they are the configuration users bring.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from typing import Any

import pytest

from plica.templating import StringSlice, TemplateError, TypedNil, parse, render

# ---------------------------------------------------------------------------------------------------------
# §4 and §7 templates, verbatim

DEFAULT_LEAF = """{
	"subject": {{ toJson .Subject }},
	"sans": {{ toJson .SANs }},
{{- if typeIs "*rsa.PublicKey" .Insecure.CR.PublicKey }}
	"keyUsage": ["keyEncipherment", "digitalSignature"],
{{- else }}
	"keyUsage": ["digitalSignature"],
{{- end }}
	"extKeyUsage": ["serverAuth", "clientAuth"]
}"""

DEFAULT_IID_LEAF = """{
	"subject": {"commonName": {{ toJson .Insecure.CR.Subject.CommonName }}},
{{- if .SANs }}
	"sans": {{ toJson .SANs }},
{{- else }}
	"dnsNames": {{ toJson .Insecure.CR.DNSNames }},
	"emailAddresses": {{ toJson .Insecure.CR.EmailAddresses }},
	"ipAddresses": {{ toJson .Insecure.CR.IPAddresses }},
	"uris": {{ toJson .Insecure.CR.URIs }},
{{- end }}
{{- if typeIs "*rsa.PublicKey" .Insecure.CR.PublicKey }}
	"keyUsage": ["keyEncipherment", "digitalSignature"],
{{- else }}
	"keyUsage": ["digitalSignature"],
{{- end }}
	"extKeyUsage": ["serverAuth", "clientAuth"]
}"""

DEFAULT_ADMIN_LEAF = """{
	"subject": {{ toJson .Insecure.CR.Subject }},
	"dnsNames": {{ toJson .Insecure.CR.DNSNames }},
	"emailAddresses": {{ toJson .Insecure.CR.EmailAddresses }},
	"ipAddresses": {{ toJson .Insecure.CR.IPAddresses }},
	"uris": {{ toJson .Insecure.CR.URIs }},
{{- if typeIs "*rsa.PublicKey" .Insecure.CR.PublicKey }}
	"keyUsage": ["keyEncipherment", "digitalSignature"],
{{- else }}
	"keyUsage": ["digitalSignature"],
{{- end }}
	"extKeyUsage": ["serverAuth", "clientAuth"]
}"""

DEFAULT_ATTESTED_LEAF = """{
	"subject": {{ toJson .Subject }},
	"sans": {{ toJson .SANs }},
{{- if typeIs "*rsa.PublicKey" .Insecure.CR.PublicKey }}
	"keyUsage": ["keyEncipherment", "digitalSignature"],
{{- else }}
	"keyUsage": ["digitalSignature"],
{{- end }}
	"extKeyUsage": ["clientAuth"]
}"""

CERTIFICATE_REQUEST = """{{ toJson .Insecure.CR }}"""

DEFAULT_CERTIFICATE_REQUEST = """{
	"subject": {{ toJson .Subject }},
	"sans": {{ toJson .SANs }}
}"""

DEFAULT_INTERMEDIATE = """{
	"subject": {{ toJson .Subject }},
	"keyUsage": ["certSign", "crlSign"],
	"basicConstraints": {
		"isCA": true,
		"maxPathLen": 0
	}
}"""

DEFAULT_ROOT = """{
	"subject": {{ toJson .Subject }},
	"issuer": {{ toJson .Subject }},
	"keyUsage": ["certSign", "crlSign"],
	"basicConstraints": {
		"isCA": true,
		"maxPathLen": 1
	}
}"""

SSH_DEFAULT = """{
	"type": {{ toJson .Type }},
	"keyId": {{ toJson .KeyID }},
	"principals": {{ toJson .Principals }},
	"extensions": {{ toJson .Extensions }},
	"criticalOptions": {{ toJson .CriticalOptions }}
}"""

SSH_DEFAULT_ADMIN = """{
	"type": {{ toJson .Insecure.CR.Type }},
	"keyId": {{ toJson .Insecure.CR.KeyID }},
	"principals": {{ toJson .Insecure.CR.Principals }}
{{- if eq .Insecure.CR.Type "user" }}
	, "extensions": {{ toJson .Extensions }},
	"criticalOptions": {{ toJson .CriticalOptions }}
{{- end }}
}"""

SSH_DEFAULT_IID = """{
	"type": {{ toJson .Type }},
	"keyId": {{ toJson .KeyID }},
{{- if .Insecure.CR.Principals }}
	"principals": {{ toJson .Insecure.CR.Principals }},
{{- else }}
	"principals": {{ toJson .Principals }},
{{- end }}
	"extensions": {{ toJson .Extensions }}
}"""

SSH_CERTIFICATE_REQUEST = """{
	"type": {{ toJson .Insecure.CR.Type }},
	"keyId": {{ toJson .Insecure.CR.KeyID }},
	"principals": {{ toJson .Insecure.CR.Principals }}
{{- if eq .Insecure.CR.Type "user" }}
	, "extensions": {
		"permit-X11-forwarding":   "",
		"permit-agent-forwarding": "",
		"permit-port-forwarding":  "",
		"permit-pty":              "",
		"permit-user-rc":          ""
	}
{{- end }}
}"""

DOC_7_1_LEAF = """{
    "subject": {
        "organizationalUnit": {{ toJson .OrganizationalUnit }},
        "commonName": {{ toJson .Subject.CommonName }}
    },
    "sans": {{ toJson .SANs }},
    "keyUsage": ["digitalSignature"],
    "extKeyUsage": ["serverAuth", "clientAuth"]
}"""

DOC_7_2_INLINE_PLAIN = """{
    "x509": {
        "template": "{{ toJson .Insecure.CR }}",
    }
}"""

DOC_7_2_INLINE_B64 = """{
    "x509": {
        "template": "e3sgdG9Kc29uIC5JbnNlY3VyZS5DUiB9fQ==",
    }
}"""

DOC_7_3_RENDERED = """{
    "subject": {
        "commonName": "jane@smallstep.com"
    },
    "sans": [{"type": "email", "value": "jane@smallstep.com"}],
    "keyUsage": ["digitalSignature"],
    "extKeyUsage": ["serverAuth", "clientAuth"]
}"""

DOC_7_4_SNIPPET = """"extensions": [
  {"id": "1.2.3.4", "critical": false, "value": {{ asn1Enc "int:3848281" | toJson }}}
]"""

DOC_7_4_ASN1 = """{
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

DOC_7_6_PASSTHROUGH = """{{ toJson .Insecure.CR }}"""

DOC_7_7_USER = """{
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

DOC_7_8_NAME_CONSTRAINTS = """{
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

DOC_7_9_RAW_EXTENSION = """  "extensions": [
    {"id": "1.2.3.4", "critical": false, "value": "Y3VzdG9tIGV4dGVuc2lvbiB2YWx1ZQ=="}
  ]"""

DOC_7_10_CRL_DP = """   {
           "subject": {{ toJson .Subject }},
           "keyUsage": ["certSign", "crlSign"],
           "basicConstraints": {
                   "isCA": true,
                   "maxPathLen": 0
           },
           "crlDistributionPoints": ["http://ca.example.com/1.0/crl"]
   }"""

DOC_7_11_POLICIES = """  "extensions": [
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
  ]"""

DOC_7_12_OPENVPN_CLIENT = """{
  "subject": {"commonName": {{ toJson .Insecure.CR.Subject.CommonName }}},
  "sans": {{ toJson .SANs }},
  "keyUsage": ["digitalSignature", "keyAgreement"],
  "extKeyUsage": ["clientAuth"]
}"""

DOC_7_12_OPENVPN_SERVER = """{
  "subject": {{ toJson .Subject }},
  "sans": {{ toJson .SANs }},
  "keyUsage": ["digitalSignature", "keyEncipherment", "keyAgreement"],
  "extKeyUsage": ["serverAuth"]
}"""

DOC_7_13_SSH_GITHUB = """{
	"type": {{ toJson .Type }},
	"keyId": {{ toJson .KeyID }},
	"principals": {{ toJson .Principals }},
	"criticalOptions": {{ toJson .CriticalOptions }},
{{ if .Token.ghu }}
	"extensions": {
	  "login@github.com": {{ toJson .Token.ghu }}
	}
{{ else }}
	"extensions": {{ toJson .Extensions }}
{{ end }}
}"""

DOC_7_14_SSH_GROUPS = """  {
    "type": {{ toJson .Type }},
    "keyId": {{ toJson .KeyID }},
    "principals": {{ toJson ((concat .Principals (splitList " " .Token.groups)) | uniq) }},
    "criticalOptions": {{ toJson .CriticalOptions }},
    "extensions": {{ toJson .Extensions }}
  }"""

DOC_7_15_SSH_X5C = """{
        "type": {{ toJson .Type }},
        "keyId": {{ toJson .AuthorizationCrt.Subject.CommonName }},
        "principals": [
            {{ replace "@example.com" "" .AuthorizationCrt.Subject.CommonName | toJson }},
            {{ toJson .AuthorizationCrt.Subject.CommonName }}
        ],
        "extensions": {{ toJson .Extensions }},
        "criticalOptions": {{ toJson .CriticalOptions }}
    }"""

DOC_7_16_WEBHOOK = """    {
      "subject": {
        "organizationalUnit": {{ toJson .Webhooks.people.role }}
      }
    }"""

DOC_7_17_SSH_USER = """{
	"type": "{{ .Type }}",
	"keyId": "{{ .KeyID }}",
	"principals": {{ toJson .Principals }},
{{- if .Insecure.User.username }}
	"extensions": {{ set .Extensions "login@github.com" .Insecure.User.username | toJson }}
{{- else }}
    "extensions": {{ toJson .Extensions }}
{{- end }}
}"""

DOC_7_18_EXAMPLE = """{
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

# ---------------------------------------------------------------------------------------------------------
# Go value stand-ins for the template data of §3 (what the CA passes in)


def _omit_empty(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    return {k: v for k, v in pairs if v not in (None, "", [], {})}


class Subject:
    __go_type__ = "x509util.Subject"

    def __init__(self, cn: str = "", **kw: Any) -> None:
        self.CommonName = cn
        self.Country = kw.get("Country", [])
        self.Organization = kw.get("Organization", [])
        self.OrganizationalUnit = kw.get("OrganizationalUnit", [])
        self.Locality: list[str] = []
        self.Province: list[str] = []
        self.StreetAddress: list[str] = []
        self.PostalCode: list[str] = []
        self.SerialNumber = ""
        self.ExtraNames: list[Any] = []

    def __go_json__(self) -> dict[str, Any]:
        return _omit_empty(
            [
                ("country", self.Country),
                ("organization", self.Organization),
                ("organizationalUnit", self.OrganizationalUnit),
                ("locality", self.Locality),
                ("province", self.Province),
                ("streetAddress", self.StreetAddress),
                ("postalCode", self.PostalCode),
                ("serialNumber", self.SerialNumber),
                ("commonName", self.CommonName),
                ("extraNames", self.ExtraNames),
            ]
        )


class SAN:
    __go_type__ = "x509util.SubjectAlternativeName"

    def __init__(self, typ: str, value: str) -> None:
        self.Type = typ
        self.Value = value
        self.ASN1Value = ""

    def __go_json__(self) -> dict[str, Any]:
        return _omit_empty([("type", self.Type), ("value", self.Value), ("asn1Value", self.ASN1Value)])


class CurveParams:
    def __init__(self, name: str, bits: int) -> None:
        self.Name = name
        self.BitSize = bits


class Curve:
    __go_type__ = "elliptic.p256Curve"

    def Params(self) -> CurveParams:
        return CurveParams("P-256", 256)


class ECPublicKey:
    __go_type__ = "*ecdsa.PublicKey"

    def __init__(self) -> None:
        self.Curve = Curve()


class RSAPublicKey:
    __go_type__ = "*rsa.PublicKey"

    def __init__(self, bits: int) -> None:
        self.E = 65537
        self._bits = bits

    def Size(self) -> int:
        return self._bits // 8


class Extension:
    __go_type__ = "x509util.Extension"

    def __init__(self, oid: str, critical: bool, value: bytes) -> None:
        self.ID = oid
        self.Critical = critical
        self.Value = value

    def __go_json__(self) -> dict[str, Any]:
        return {"id": self.ID, "critical": self.Critical, "value": self.Value}


class PublicKeyAlgorithm(int):
    __go_type__ = "x509.PublicKeyAlgorithm"

    def __go_str__(self) -> str:
        return {1: "RSA", 3: "ECDSA", 4: "Ed25519"}[int(self)]


class CertificateRequest:
    """``*x509util.CertificateRequest`` (§3.2)."""

    __go_type__ = "*x509util.CertificateRequest"

    def __init__(
        self, subject: Subject, key: Any, dns: list[str] | None = None, emails: list[str] | None = None
    ) -> None:
        self.Version = 0
        self.Subject = subject
        self.RawSubject = b"0\x151\x130\x11\x06\x03U\x04\x03\x0c\nexample.io"
        self.DNSNames = StringSlice(dns) if dns is not None else TypedNil("[]string")
        self.EmailAddresses = StringSlice(emails) if emails is not None else TypedNil("[]string")
        self.IPAddresses = TypedNil("[]net.IP")
        self.URIs = TypedNil("[]*url.URL")
        self.SANs = TypedNil("[]x509util.SubjectAlternativeName")
        self.Extensions = [Extension("2.5.29.17", False, b"0\x0c\x82\nexample.io")]
        self.KeyUsage = TypedNil("x509util.KeyUsage")
        self.ExtKeyUsage = TypedNil("x509util.ExtKeyUsage")
        self.UnknownExtKeyUsage = TypedNil("x509util.UnknownExtKeyUsage")
        self.BasicConstraints = TypedNil("*x509util.BasicConstraints")
        self.SignatureAlgorithm = ""
        self.PublicKey = key
        self.PublicKeyAlgorithm = PublicKeyAlgorithm(1 if isinstance(key, RSAPublicKey) else 3)
        self.Signature = b"\x30\x00"

    def __go_json__(self) -> dict[str, Any]:
        return {
            "version": self.Version,
            "subject": self.Subject,
            "rawSubject": self.RawSubject,
            "dnsNames": self.DNSNames,
            "emailAddresses": self.EmailAddresses,
            "ipAddresses": self.IPAddresses,
            "uris": self.URIs,
            "sans": self.SANs,
            "extensions": self.Extensions,
            "keyUsage": self.KeyUsage,
            "extKeyUsage": self.ExtKeyUsage,
            "unknownExtKeyUsage": self.UnknownExtKeyUsage,
            "basicConstraints": self.BasicConstraints,
            "signatureAlgorithm": self.SignatureAlgorithm,
        }


class PkixName:
    __go_type__ = "pkix.Name"

    def __init__(self, cn: str) -> None:
        self.CommonName = cn


class X509Certificate:
    __go_type__ = "*x509.Certificate"

    def __init__(self, cn: str, not_after: dt.datetime, dns: list[str] | None = None) -> None:
        self.Subject = PkixName(cn)
        self.NotAfter = not_after
        self.DNSNames = StringSlice(dns or [])


class SSHKey:
    __go_type__ = "*ssh.ed25519PublicKey"

    def Type(self) -> str:
        return "ssh-ed25519"


class SSHCertificateRequest:
    __go_type__ = "sshutil.CertificateRequest"

    def __init__(self, typ: str, key_id: str, principals: list[str] | None) -> None:
        self.Key = SSHKey()
        self.Type = typ
        self.KeyID = key_id
        self.Principals = StringSlice(principals) if principals is not None else TypedNil("[]string")

    def __go_json__(self) -> dict[str, Any]:
        return {
            "Key": {"type": "ssh-ed25519"},
            "Type": self.Type,
            "KeyID": self.KeyID,
            "Principals": self.Principals,
        }


DEFAULT_USER_EXTENSIONS = {
    "permit-X11-forwarding": "",
    "permit-agent-forwarding": "",
    "permit-port-forwarding": "",
    "permit-pty": "",
    "permit-user-rc": "",
}

NOT_AFTER = dt.datetime(2030, 6, 1, 12, 0, 0, tzinfo=dt.UTC)


def jwk_token(sub: str = "jane@smallstep.com") -> dict[str, Any]:
    return {
        "aud": "https://ca.example.com/1.0/sign",
        "exp": 1606870196.0,
        "iat": 1606869896.0,
        "iss": "jane-jwk",
        "jti": "3f8bd4a5b1ac6a6c",
        "nbf": 1606869896.0,
        "sans": [sub],
        "sha": "1d9b2f0e5c3a",
        "sub": sub,
    }


def x509_data(
    key: Any = None,
    cn: str = "jane@smallstep.com",
    sans: list[SAN] | None = None,
    dns: list[str] | None = None,
    emails: list[str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "Subject": Subject(cn),
        "SANs": sans if sans is not None else [SAN("email", cn)],
        "Token": jwk_token(cn),
        "Insecure": {"CR": CertificateRequest(Subject(cn), key or ECPublicKey(), dns, emails)},
    }
    data.update(extra)
    return data


def ssh_data(typ: str = "user", **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "Type": typ,
        "KeyID": "carl@smallstep.com",
        "Principals": StringSlice(["carl", "carl@smallstep.com"]),
        "Extensions": dict(DEFAULT_USER_EXTENSIONS) if typ == "user" else TypedNil("map[string]interface {}"),
        "Token": {
            "aud": "https://ca.example.com/1.0/ssh/sign",
            "exp": 1606870196.0,
            "iss": "carl@smallstep.com",
            "nbf": 1606869896.0,
            "step": {"ssh": {"certType": "user", "keyID": "carl"}},
            "sub": "carl",
        },
        "Insecure": {"CR": SSHCertificateRequest(typ, "requested-id", ["req1", "req2"])},
    }
    data.update(extra)
    return data


def render_json(text: str, data: dict[str, Any], funcs: str = "x509") -> Any:
    out = render(text, data, funcs=funcs)
    return json.loads(out)


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
    for name, value in list(globals().items()):
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
