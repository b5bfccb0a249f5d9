"""Template data objects and data maps (docs/reference/step-templates.md §3, §6.2, §6.3)."""

from __future__ import annotations

import base64
import ipaddress
import json
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from plica.certdesc import (
    DEFAULT_SSH_USER_EXTENSIONS,
    CertificateRequest,
    Subject,
    SubjectAlternativeName,
    TemplateDataError,
    X509Description,
    create_sans,
    merge_template_data,
    ssh_data,
    x509_data,
)
from plica.certdesc.certdata import X509CertificateData
from plica.certdesc.govalues import GoSlice, go_json, go_str


def make_csr(
    key: Any,
    subject: list[x509.NameAttribute] | None = None,
    sans: list[x509.GeneralName] | None = None,
    extensions: list[tuple[x509.ExtensionType, bool]] = (),  # type: ignore[assignment]
) -> x509.CertificateSigningRequest:
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(subject or []))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    for value, critical in extensions:
        builder = builder.add_extension(value, critical)
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(key, algorithm)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def test_subject_json_omits_empty_fields_in_go_order() -> None:
    assert go_json(Subject(CommonName="foo")) == {"commonName": "foo"}
    s = Subject(CommonName="foo", Country="US", Organization=["A", "B"], SerialNumber="7")
    assert list(go_json(s)) == ["country", "organization", "serialNumber", "commonName"]
    assert go_json(s)["country"] == ["US"]
    assert go_str(Subject(CommonName="jane")) == "{[] [] [] [] [] [] []  jane []}"
    assert Subject.__go_type__ == "x509util.Subject"


def test_create_sans_groups_by_type() -> None:
    sans = create_sans(
        ["https://a.example/x", "jane@doe.com", "b.example.com", "::ffff:10.0.0.1", "2001:DB8::1", "a"]
    )
    assert go_json(sans) == [
        {"type": "dns", "value": "b.example.com"},
        {"type": "dns", "value": "a"},
        {"type": "ip", "value": "10.0.0.1"},
        {"type": "ip", "value": "2001:db8::1"},
        {"type": "email", "value": "jane@doe.com"},
        {"type": "uri", "value": "https://a.example/x"},
    ]
    assert sans.__go_type__ == "[]x509util.SubjectAlternativeName"


def test_san_json_includes_asn1_value_only_when_set() -> None:
    assert go_json(SubjectAlternativeName("permanentIdentifier", "x", {"identifier": "x"})) == {
        "type": "permanentIdentifier",
        "value": "x",
        "asn1Value": {"identifier": "x"},
    }


def test_certificate_request_fields_and_json(ec_key: ec.EllipticCurvePrivateKey) -> None:
    csr = make_csr(
        ec_key,
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.COMMON_NAME, "web.example.com"),
            x509.NameAttribute(NameOID.EMAIL_ADDRESS, "ops@example.com"),
        ],
        [
            x509.DNSName("web.example.com"),
            x509.IPAddress(ipaddress.ip_address("10.0.0.1")),
            x509.RFC822Name("ops@example.com"),
            x509.UniformResourceIdentifier("spiffe://example/web"),
        ],
        [
            (x509.KeyUsage(True, False, True, False, False, False, False, False, False), True),
            (
                x509.ExtendedKeyUsage(
                    [x509.ObjectIdentifier("1.3.6.1.5.5.7.3.1"), x509.ObjectIdentifier("1.2.3.4")]
                ),
                False,
            ),
            (x509.BasicConstraints(ca=False, path_length=None), True),
        ],
    )
    cr = CertificateRequest.from_csr(csr)
    assert cr.Subject.CommonName == "web.example.com"
    assert list(cr.DNSNames) == ["web.example.com"]
    assert [str(ip) for ip in cr.IPAddresses] == ["10.0.0.1"]
    assert cr.URIs[0].Scheme == "spiffe" and cr.URIs[0].Host == "example" and cr.URIs[0].Path == "/web"
    assert cr.PublicKey.__go_type__ == "*ecdsa.PublicKey"
    assert cr.PublicKey.Curve.Params().Name == "P-256"
    assert cr.PublicKey.Curve.Params().BitSize == 256
    assert go_str(cr.PublicKeyAlgorithm) == "ECDSA"
    assert cr.RawSubject == csr.subject.public_bytes()
    data = go_json(cr)
    assert list(data) == [
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
    assert data["version"] == 0
    assert data["subject"] == {
        "country": ["US"],
        "commonName": "web.example.com",
        "extraNames": [{"type": "1.2.840.113549.1.9.1", "value": "ops@example.com"}],
    }
    assert data["ipAddresses"] == ["10.0.0.1"]
    assert data["uris"] == ["spiffe://example/web"]
    assert data["sans"] is None
    assert data["keyUsage"] == ["digitalsignature", "keyencipherment"]
    assert data["extKeyUsage"] == ["serverauth"]
    assert data["unknownExtKeyUsage"] == ["1.2.3.4"]
    assert data["basicConstraints"] == {"isCA": False, "maxPathLen": -1}
    assert data["signatureAlgorithm"] == ""
    assert [e["id"] for e in data["extensions"]] == ["2.5.29.17", "2.5.29.15", "2.5.29.37", "2.5.29.19"]
    assert [e["critical"] for e in data["extensions"]] == [False, True, False, True]


def test_certificate_request_json_round_trips_into_a_description(ec_key: ec.EllipticCurvePrivateKey) -> None:
    """The passthrough template: decoding `toJson .Insecure.CR` keeps subject and extensions byte-exact."""
    csr = make_csr(
        ec_key,
        [x509.NameAttribute(NameOID.COMMON_NAME, "a", x509.name._ASN1Type.UTF8String)],
        [x509.DNSName("a.example.com")],
    )
    desc = X509Description.from_json(json.dumps(go_json(CertificateRequest.from_csr(csr))))
    assert desc.raw_subject == csr.subject.public_bytes()
    san_der = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.public_bytes()
    assert [(e.id, e.critical, e.value) for e in desc.extensions] == [("2.5.29.17", False, san_der)]
    assert desc.dns_names == ("a.example.com",)


def test_empty_csr_lists_are_nil_and_san_is_marked_critical_for_an_empty_subject(
    ec_key: ec.EllipticCurvePrivateKey,
) -> None:
    cr = CertificateRequest.from_csr(make_csr(ec_key, None, [x509.DNSName("a.example.com")]))
    data = go_json(cr)
    assert data["emailAddresses"] is None and data["ipAddresses"] is None and data["uris"] is None
    assert data["keyUsage"] is None and data["extKeyUsage"] == [] and data["basicConstraints"] is None
    assert data["extensions"][0]["critical"] is True
    assert data["subject"] == {}


def test_public_key_objects() -> None:
    r = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cr = CertificateRequest.from_csr(make_csr(r, [x509.NameAttribute(NameOID.COMMON_NAME, "r")]))
    assert cr.PublicKey.__go_type__ == "*rsa.PublicKey"
    assert cr.PublicKey.Size() == 256 and cr.PublicKey.E == 65537
    assert go_str(cr.PublicKeyAlgorithm) == "RSA"
    e = ed25519.Ed25519PrivateKey.generate()
    cr = CertificateRequest.from_csr(make_csr(e, [x509.NameAttribute(NameOID.COMMON_NAME, "e")]))
    assert cr.PublicKey.__go_type__ == "ed25519.PublicKey" and len(cr.PublicKey) == 32
    assert go_str(cr.PublicKeyAlgorithm) == "Ed25519"
    p384 = ec.generate_private_key(ec.SECP384R1())
    cr = CertificateRequest.from_csr(make_csr(p384, [x509.NameAttribute(NameOID.COMMON_NAME, "p")]))
    assert cr.PublicKey.Curve.Params().Name == "P-384"


def test_x509_data_map(ec_key: ec.EllipticCurvePrivateKey) -> None:
    csr = make_csr(ec_key, [x509.NameAttribute(NameOID.COMMON_NAME, "jane@doe.com")])
    token = {"sub": "jane@doe.com", "exp": 1606870196, "sans": ["jane@doe.com"], "step": {"ssh": None}}
    data = x509_data("jane@doe.com", ["jane@doe.com"], token, csr)
    assert set(data) == {"Subject", "SANs", "Token", "Insecure"}
    assert data["Subject"] == Subject(CommonName="jane@doe.com")
    assert go_json(data["SANs"]) == [{"type": "email", "value": "jane@doe.com"}]
    assert data["Token"]["exp"] == 1606870196.0 and isinstance(data["Token"]["exp"], float)
    assert set(data["Insecure"]) == {"CR"}


def test_x509_data_absent_sans_and_token(ec_key: ec.EllipticCurvePrivateKey) -> None:
    data = x509_data(Subject(CommonName="svc"), None, None, make_csr(ec_key))
    assert "SANs" not in data and "Token" not in data


def test_template_data_merge_overrides_and_insecure_is_replaced(ec_key: ec.EllipticCurvePrivateKey) -> None:
    csr = make_csr(ec_key)
    provisioner = json.dumps(
        {
            "OrganizationalUnit": "Engineering Team",
            "Subject": {"commonName": "override"},
            "Count": 3,
            "Insecure": {"User": {"x": 1}},
            "Webhooks": {"static": {"a": 1}},
        }
    )
    data = x509_data(
        "cn", ["a"], None, csr, provisioner_data=provisioner, webhooks={"people": {"role": "eng"}}
    )
    assert data["OrganizationalUnit"] == "Engineering Team"
    assert data["Subject"] == {"commonName": "override"}  # shallow replace, even of .Subject
    assert data["Count"] == 3.0
    assert set(data["Insecure"]) == {"CR"}
    assert data["Webhooks"] == {"static": {"a": 1.0}, "people": {"role": "eng"}}


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ({"dnsName": "backend.example.com"}, {"dnsName": "backend.example.com"}),
        ('{"n": 1}', {"n": 1.0}),
        ("[1, 2]", {}),
        ("not json", {}),
        ("", None),
        (None, None),
    ],
)
def test_user_data(ec_key: ec.EllipticCurvePrivateKey, user: Any, expected: Any) -> None:
    data = x509_data("cn", None, None, make_csr(ec_key), user=user)
    assert data["Insecure"].get("User") == expected


def test_user_data_only_with_a_custom_template(ec_key: ec.EllipticCurvePrivateKey) -> None:
    data = x509_data("cn", None, None, make_csr(ec_key), user={"a": "b"}, custom_template=False)
    assert "User" not in data["Insecure"]


@pytest.mark.parametrize("bad", ["[1]", "3", '"x"', "{not json"])
def test_non_object_template_data_fails(bad: str) -> None:
    with pytest.raises(TemplateDataError, match="error unmarshaling template data"):
        merge_template_data({}, bad)


def test_null_template_data_is_skipped() -> None:
    assert merge_template_data({"a": 1}, "null") == {"a": 1}
    assert merge_template_data({"a": 1}, None) == {"a": 1}


def test_authorization_crt_wrapper(ec_key: ec.EllipticCurvePrivateKey) -> None:
    import datetime as dt

    now = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "alice@example.com")]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x5c CA")]))
        .public_key(ec_key.public_key())
        .serial_number(99)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("alice.example.com")]), False)
        .sign(ec_key, hashes.SHA256())
    )
    data = x509_data("alice", None, None, make_csr(ec_key), authorization_crt=cert)
    crt = data["AuthorizationCrt"]
    assert isinstance(crt, X509CertificateData)
    assert crt.Subject.CommonName == "alice@example.com"
    assert crt.NotAfter == now + dt.timedelta(days=1)
    assert list(crt.DNSNames) == ["alice.example.com"]
    assert crt.SerialNumber == 99
    assert crt.__go_type__ == "*x509.Certificate"


def test_ssh_data_map() -> None:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    data = ssh_data(
        "user",
        "carl",
        ["carl"],
        token={"sub": "carl", "ghu": "tashian"},
        public_key=key,
        request_type="user",
        request_key_id="carl",
        request_principals=["carl", "root"],
    )
    assert data["Type"] == "user" and data["KeyID"] == "carl" and list(data["Principals"]) == ["carl"]
    assert data["Extensions"] == DEFAULT_SSH_USER_EXTENSIONS
    assert data["Extensions"] is not DEFAULT_SSH_USER_EXTENSIONS  # `set` in a template must not leak
    assert "CriticalOptions" not in data
    cr = data["Insecure"]["CR"]
    assert cr.Key.Type() == "ssh-ed25519"
    assert list(cr.Principals) == ["carl", "root"]
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert go_json(cr) == {
        "Key": base64.b64encode(raw).decode(),
        "Type": "user",
        "KeyID": "carl",
        "Principals": ["carl", "root"],
    }


def test_ssh_host_data_has_nil_extensions_and_nil_principals() -> None:
    data = ssh_data("host", "i-123", None, critical_options={"force-command": "x"})
    assert data["Extensions"] is None
    assert go_json(data["Principals"]) is None
    assert data["CriticalOptions"] == {"force-command": "x"}
    assert go_json(data["Insecure"]["CR"])["Principals"] is None


def test_go_slice_nil_vs_empty() -> None:
    assert go_json(GoSlice(nil=True)) is None
    assert go_json(GoSlice([], nil=False)) == []
    assert go_str(GoSlice(["a", "b"])) == "[a b]"
