"""Turning decoded X.509 descriptions into real certificates signed by a throwaway EC P-256 CA (§1.1-§1.10)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import shutil
import subprocess
import warnings
from typing import Any

import attrs
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

from plica.certdesc import DescriptionError, X509Description, signing_params
from plica.certdesc.sans import SANEntry, general_name_for
from plica.certdesc.signing import hash_for_signature_algorithm

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


@attrs.frozen
class CA:
    key: Any
    cert: x509.Certificate


def _self_signed_root(key: Any, cn: str) -> x509.Certificate:
    desc = X509Description.from_json(
        '{"subject": {"commonName": "'
        + cn
        + '", "organization": "Plica"}, "keyUsage": ["certSign", "crlSign"],'
        ' "basicConstraints": {"isCA": true, "maxPathLen": 1}}'
    )
    builder = desc.apply(x509.CertificateBuilder(), public_key=key.public_key())
    params = signing_params("", key)
    builder = builder.serial_number(x509.random_serial_number())
    builder = builder.not_valid_before(NOW - dt.timedelta(days=1)).not_valid_after(
        NOW + dt.timedelta(days=365)
    )
    return builder.sign(key, params.algorithm, rsa_padding=params.rsa_padding)


@pytest.fixture(scope="module")
def root() -> CA:
    key = ec.generate_private_key(ec.SECP256R1())
    return CA(key, _self_signed_root(key, "Plica Test Root CA"))


@pytest.fixture(scope="module")
def ca(root: CA) -> CA:
    """The intermediate that signs leaves (it has a SKID, so leaves get AKID = its SKID)."""
    key = ec.generate_private_key(ec.SECP256R1())
    desc = X509Description.from_json(
        '{"subject": {"commonName": "Plica Test Intermediate CA", "organization": "Plica"},'
        ' "keyUsage": ["certSign", "crlSign"], "basicConstraints": {"isCA": true, "maxPathLen": 0}}'
    )
    cert = sign(desc, key.public_key(), root)
    return CA(key, cert)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def sign(desc: X509Description, public_key: Any, issuer: CA | None, **kwargs: Any) -> x509.Certificate:
    """What the CA does around `apply` (§1.10 steps 4 and 7)."""
    builder = desc.apply(
        x509.CertificateBuilder(),
        public_key=public_key,
        issuer_cert=issuer.cert if issuer else None,
        **kwargs,
    )
    builder = builder.serial_number(desc.serial_number or x509.random_serial_number())
    builder = builder.not_valid_before(desc.not_before or NOW - dt.timedelta(minutes=1))
    builder = builder.not_valid_after(desc.not_after or NOW + dt.timedelta(hours=24))
    assert issuer is not None
    params = signing_params(desc.signature_algorithm, issuer.key, ca_cert=issuer.cert)
    return builder.sign(issuer.key, params.algorithm, rsa_padding=params.rsa_padding)


def build(text: str, public_key: Any, ca: CA, **kwargs: Any) -> x509.Certificate:
    return sign(X509Description.from_json(text, template="test.tpl"), public_key, ca, **kwargs)


def oids(cert: x509.Certificate) -> list[str]:
    return [e.oid.dotted_string for e in cert.extensions]


def ext(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> x509.Extension[Any]:
    return cert.extensions.get_extension_for_oid(oid)


def sha1_skid(public_key: Any) -> bytes:
    return x509.SubjectKeyIdentifier.from_public_key(public_key).digest


LEAF_73 = """{
    "subject": {
        "commonName": "jane@doe.com"
    },
    "sans": [{"type": "email", "value": "jane@doe.com"}],
    "keyUsage": ["digitalSignature"],
    "extKeyUsage": ["serverAuth", "clientAuth"]
}"""


def test_rendered_default_leaf_73(ec_key: ec.EllipticCurvePrivateKey, ca: CA) -> None:
    cert = build(LEAF_73, ec_key.public_key(), ca)
    assert cert.subject.rfc4514_string() == "CN=jane@doe.com"
    assert cert.issuer == ca.cert.subject
    san = ext(cert, ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    assert not san.critical
    assert san.value.get_values_for_type(x509.RFC822Name) == ["jane@doe.com"]
    assert len(list(san.value)) == 1
    ku = ext(cert, ExtensionOID.KEY_USAGE)
    assert ku.critical and ku.value.digital_signature
    assert not (ku.value.key_encipherment or ku.value.key_cert_sign or ku.value.content_commitment)
    eku = ext(cert, ExtensionOID.EXTENDED_KEY_USAGE)
    assert not eku.critical
    assert list(eku.value) == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    assert ext(cert, ExtensionOID.SUBJECT_KEY_IDENTIFIER).value.digest == sha1_skid(ec_key.public_key())
    ca_skid = ext(ca.cert, ExtensionOID.SUBJECT_KEY_IDENTIFIER).value.digest
    akid = ext(cert, ExtensionOID.AUTHORITY_KEY_IDENTIFIER).value
    assert akid.key_identifier == ca_skid and akid.authority_cert_issuer is None
    # Go's buildCertExtensions order: KU, EKU, (BC), SKID, AKID, (AIA), SAN.
    assert oids(cert) == ["2.5.29.15", "2.5.29.37", "2.5.29.14", "2.5.29.35", "2.5.29.17"]
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)
    cert.verify_directly_issued_by(ca.cert)


def test_rsa_leaf_key_usages(rsa_key: rsa.RSAPrivateKey, ca: CA) -> None:
    text = LEAF_73.replace('["digitalSignature"]', '["keyEncipherment", "digitalSignature"]')
    ku = ext(build(text, rsa_key.public_key(), ca), ExtensionOID.KEY_USAGE)
    assert ku.critical and ku.value.digital_signature and ku.value.key_encipherment
    assert not ku.value.data_encipherment


def test_san_is_critical_exactly_when_subject_is_empty(ec_key: Any, ca: CA) -> None:
    cert = build('{"dnsNames": ["a.example.com"]}', ec_key.public_key(), ca)
    assert cert.subject == x509.Name([])
    assert ext(cert, ExtensionOID.SUBJECT_ALTERNATIVE_NAME).critical
    cert = build('{"subject": "a", "dnsNames": ["a.example.com"]}', ec_key.public_key(), ca)
    assert not ext(cert, ExtensionOID.SUBJECT_ALTERNATIVE_NAME).critical


def test_san_order_and_auto_typing_on_the_standard_path(ec_key: Any, ca: CA) -> None:
    cert = build(
        '{"subject": "x", "uris": "spiffe://x/y", "ipAddresses": ["::1"], "dnsNames": ["a.example.com"],'
        ' "sans": [{"type": "auto", "value": "10.0.0.1"}, {"value": "b@example.com"},'
        ' {"type": "", "value": "urn:uuid:1234"}, {"type": "dns", "value": "b.example.com"},'
        ' {"type": "ip", "value": "not-an-ip"}, {"type": "uri", "value": "http://a\\u0001"}]}',
        ec_key.public_key(),
        ca,
    )
    names = list(ext(cert, ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value)
    assert names == [
        x509.DNSName("a.example.com"),
        x509.DNSName("b.example.com"),
        x509.RFC822Name("b@example.com"),
        x509.IPAddress(ipaddress.ip_address("::1")),
        x509.IPAddress(ipaddress.ip_address("10.0.0.1")),
        x509.UniformResourceIdentifier("spiffe://x/y"),
        x509.UniformResourceIdentifier("urn:uuid:1234"),
    ]


def test_non_ascii_dns_name_fails_on_the_standard_path(ec_key: Any, ca: CA) -> None:
    with pytest.raises(DescriptionError, match="IA5String"):
        build('{"dnsNames": ["bücher.example"]}', ec_key.public_key(), ca)


def test_raw_san_extension_wins_over_the_san_fields(ec_key: Any, ca: CA) -> None:
    raw = x509.SubjectAlternativeName([x509.DNSName("raw.example.com")]).public_bytes()
    text = (
        '{"subject": "x", "dnsNames": ["ignored.example.com"], "sans": [{"type": "permanentIdentifier",'
        ' "value": "ignored"}], "extensions": [{"id": "2.5.29.17", "value": "'
        + base64.b64encode(raw).decode()
        + '"}]}'
    )
    cert = build(text, ec_key.public_key(), ca)
    san = ext(cert, ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    assert list(san.value) == [x509.DNSName("raw.example.com")]
    assert not san.critical
    assert oids(cert)[-1] == "2.5.29.17"  # raw extensions come after the generated ones


def test_raw_extension_replaces_generated_key_usage(ec_key: Any, ca: CA) -> None:
    raw = x509.KeyUsage(False, False, False, False, True, False, False, False, False).public_bytes()
    text = '{"keyUsage": "digitalSignature", "extensions": [{"id": "2.5.29.15", "critical": false, "value": "%s"}]}'
    cert = build(text % base64.b64encode(raw).decode(), ec_key.public_key(), ca)
    ku = ext(cert, ExtensionOID.KEY_USAGE)
    assert not ku.critical and ku.value.key_agreement and not ku.value.digital_signature
    assert oids(cert).count("2.5.29.15") == 1


def test_arbitrary_raw_extension_79_is_not_validated(ec_key: Any, ca: CA) -> None:
    text = (
        '{"extensions": [{"id": "1.2.3.4", "critical": false, "value": "Y3VzdG9tIGV4dGVuc2lvbiB2YWx1ZQ=="}]}'
    )
    cert = build(text, ec_key.public_key(), ca)
    e = ext(cert, x509.ObjectIdentifier("1.2.3.4"))
    assert not e.critical and e.value.value == b"custom extension value"


def test_duplicate_raw_extensions_fail(ec_key: Any, ca: CA) -> None:
    text = '{"extensions": [{"id": "1.2.3.4", "value": "AQ=="}, {"id": "1.2.3.4", "value": "Ag=="}]}'
    with pytest.raises(DescriptionError, match=r"duplicate extension 1\.2\.3\.4"):
        build(text, ec_key.public_key(), ca)


def test_extended_sans(ec_key: Any, ca: CA) -> None:
    text = """{
      "subject": {"commonName": "device"},
      "dnsNames": ["Foo.Example.COM"],
      "ipAddresses": ["192.0.2.1"],
      "extensions": [{"id": "1.2.3.9", "value": "BQA="}],
      "sans": [
        {"type": "dns", "value": "bücher.example"},
        {"type": "permanentIdentifier", "value": "UDID-1234"},
        {"type": "permanentIdentifier", "asn1Value": {"identifier": "X", "assigner": "1.2.3.4"}},
        {"type": "hardwareModuleName", "asn1Value": {"type": "1.2.3.1", "serialNumber": "MTIzNDU2"}},
        {"type": "dn", "asn1Value": {"country": "US", "organization": "ACME", "commonName": "rocket"}},
        {"type": "dn", "value": "{\\"commonName\\": \\"from-text\\"}"},
        {"type": "registeredID", "value": "1.2.3.5"},
        {"type": "userPrincipalName", "value": "foo@upn.com"},
        {"type": "1.2.3.4", "value": "int:123456"},
        {"type": "1.2.3.6", "value": "YubiKey"},
        {"type": "1.2.3.7", "value": "utf8:héllo"}
      ]
    }"""
    cert = build(text, ec_key.public_key(), ca)
    # The CA-built SAN goes first among the raw extensions, i.e. right after the generated ones.
    assert oids(cert) == ["2.5.29.14", "2.5.29.35", "2.5.29.17", "1.2.3.9"]
    san = ext(cert, ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    assert not san.critical
    names = list(san.value)
    assert names[0] == x509.DNSName("foo.example.com")  # IDNA Lookup.ToASCII lowercases
    assert names[1] == x509.IPAddress(ipaddress.ip_address("192.0.2.1"))
    assert names[2] == x509.DNSName("xn--bcher-kva.example")
    assert names[3] == x509.OtherName(
        x509.ObjectIdentifier("1.3.6.1.5.5.7.8.3"), bytes.fromhex("300b0c09") + b"UDID-1234"
    )
    assert names[4] == x509.OtherName(
        x509.ObjectIdentifier("1.3.6.1.5.5.7.8.3"), bytes.fromhex("30080c0158" + "06032a0304")
    )
    assert names[5] == x509.OtherName(
        x509.ObjectIdentifier("1.3.6.1.5.5.7.8.4"), bytes.fromhex("300d06032a0301" + "0406313233343536")
    )
    assert isinstance(names[6], x509.DirectoryName)
    assert names[6].value.rfc4514_string() == "CN=rocket,O=ACME,C=US"
    assert names[7].value.rfc4514_string() == "CN=from-text"
    assert names[8] == x509.RegisteredID(x509.ObjectIdentifier("1.2.3.5"))
    assert names[9] == x509.OtherName(x509.ObjectIdentifier("1.3.6.1.4.1.311.20.2.3"), b"\x0c\x0bfoo@upn.com")
    assert names[10] == x509.OtherName(x509.ObjectIdentifier("1.2.3.4"), base64.b64decode("AgMB4kA="))
    assert names[11] == x509.OtherName(x509.ObjectIdentifier("1.2.3.6"), base64.b64decode("EwdZdWJpS2V5"))
    assert names[12] == x509.OtherName(x509.ObjectIdentifier("1.2.3.7"), b"\x0c\x06" + "héllo".encode())


def test_extended_san_critical_with_empty_subject(ec_key: Any, ca: CA) -> None:
    cert = build('{"sans": [{"type": "permanentIdentifier", "value": "abc"}]}', ec_key.public_key(), ca)
    assert ext(cert, ExtensionOID.SUBJECT_ALTERNATIVE_NAME).critical


@pytest.mark.parametrize(
    ("san", "needle"),
    [
        ('{"type": "x400Address", "value": "x"}', "unimplemented SAN type x400Address"),
        ('{"type": "ediPartyName", "value": "x"}', "unimplemented SAN type ediPartyName"),
        ('{"type": "DNS", "value": "a.example.com"}', "unsupported SAN type DNS"),
        ('{"type": "registeredID", "value": "x.y"}', "not an ASN1 object identifier"),
        ('{"type": "ip", "value": "1.2.3"}', "to IP"),
        ('{"type": "dns", "value": "a_b.example.com"}', "invalid character"),
        ('{"type": "dn", "asn1Value": {}}', "empty or malformed"),
        ('{"type": "hardwareModuleName", "value": "nope"}', "HardwareModuleName"),
        ('{"type": "1.2.3.4", "value": "int:abc"}', "invalid int value"),
        ('{"type": "1.2.3.4", "value": "a&b"}', "invalid printable value"),
        ('{"type": "1.2.3.4", "value": "raw:AA=="}', "not a single DER element"),
        ('{"type": "email", "value": "jäne@doe.com"}', "to ia5"),
    ],
)
def test_extended_san_errors(ec_key: Any, ca: CA, san: str, needle: str) -> None:
    text = '{"sans": [{"type": "permanentIdentifier", "value": "p"}, ' + san + "]}"
    with pytest.raises(DescriptionError) as info:
        build(text, ec_key.public_key(), ca)
    assert needle in str(info.value)
    assert info.value.template == "test.tpl"


def test_typed_other_name_values() -> None:
    def value(v: str) -> bytes:
        gn = general_name_for(SANEntry("1.2.3.4", v))
        assert isinstance(gn, x509.OtherName)
        return gn.value

    assert value("oid:1.2.3.4") == base64.b64decode("BgMqAwQ=")
    assert value("ia5:http://example.com/cps") == b"\x16\x16http://example.com/cps"
    assert value("numeric:12 3") == b"\x12\x0412 3"
    assert value("bool:true") == b"\x01\x01\xff"
    assert value("raw:BQA=") == b"\x05\x00"
    assert value("utc:2024-01-02T03:04:05Z") == b"\x17\x0d240102030405Z"
    assert value("generalized:2024-01-02 03:04:05 +0100 CET") == b"\x18\x1320240102030405+0100"
    assert value("explicit,utf8:a") == b"\x0c\x01a"
    assert value("*.example") == b"\x13\x09*.example"


def test_subject_encoding_order_string_types_and_multi_valued_rdns(ec_key: Any, ca: CA) -> None:
    text = """{"subject": {
        "commonName": "Jane*", "serialNumber": "42", "organizationalUnit": ["Eng"],
        "organization": ["Beta", "Alpha"], "postalCode": "12345", "streetAddress": "1 Main St",
        "locality": "Springfield", "province": "CA", "country": "US",
        "extraNames": [{"type": "1.2.840.113549.1.9.1", "value": "jane@doe.com"},
                       {"type": "0.9.2342.19200300.100.1.25", "value": "example"}]
    }}"""
    cert = build(text, ec_key.public_key(), ca)
    rdns = [[(a.oid.dotted_string, a.value, a._type.name) for a in rdn] for rdn in cert.subject.rdns]
    assert rdns == [
        [("2.5.4.6", "US", "PrintableString")],
        [("2.5.4.8", "CA", "PrintableString")],
        [("2.5.4.7", "Springfield", "PrintableString")],
        [("2.5.4.9", "1 Main St", "PrintableString")],
        [("2.5.4.17", "12345", "PrintableString")],
        # One SET holding both values, in DER order (by encoding: the shorter "Beta" first), as Go sorts it.
        [("2.5.4.10", "Beta", "PrintableString"), ("2.5.4.10", "Alpha", "PrintableString")],
        [("2.5.4.11", "Eng", "PrintableString")],
        [("2.5.4.3", "Jane*", "UTF8String")],  # '*' is not printable for Go's default string encoding
        [("2.5.4.5", "42", "PrintableString")],
        [("1.2.840.113549.1.9.1", "jane@doe.com", "IA5String")],
        [("0.9.2342.19200300.100.1.25", "example", "PrintableString")],
    ]


def test_extra_name_with_a_standard_oid_drops_the_standard_attribute(ec_key: Any, ca: CA) -> None:
    text = '{"subject": {"commonName": "dropped", "extraNames": [{"type": "2.5.4.3", "value": "kept"}]}}'
    cert = build(text, ec_key.public_key(), ca)
    assert cert.subject.rfc4514_string() == "CN=kept"


def test_non_string_extra_name_value_fails(ec_key: Any, ca: CA) -> None:
    with pytest.raises(DescriptionError, match="only strings"):
        build('{"subject": {"extraNames": [{"type": "1.2.3.4", "value": 3}]}}', ec_key.public_key(), ca)


def test_raw_subject_is_used_byte_for_byte_and_ignores_defaults(ec_key: Any, ca: CA) -> None:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "raw"),  # UTF8String and CN first: not Go's own encoding
            x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"),
        ]
    )
    der = name.public_bytes()
    text = '{"subject": "ignored", "rawSubject": "' + base64.b64encode(der).decode() + '"}'
    cert = build(text, ec_key.public_key(), ca, subject_defaults={"organization": "Defaults Inc"})
    assert cert.subject.public_bytes() == der
    tbs = cert.tbs_certificate_bytes
    assert der in tbs


def test_subject_defaults_fill_only_empty_attributes(ec_key: Any, ca: CA) -> None:
    defaults = {"country": "US", "organization": "Smallstep", "commonName": "default-cn", "locality": ""}
    cert = build('{"subject": {"organization": "Mine"}}', ec_key.public_key(), ca, subject_defaults=defaults)
    assert cert.subject.rfc4514_string() == "CN=default-cn,O=Mine,C=US"


def test_webhook_subject_716_with_defaults(ec_key: Any, ca: CA) -> None:
    cert = build(
        '{"subject": {"organizationalUnit": "admins"}}',
        ec_key.public_key(),
        ca,
        subject_defaults={"commonName": "from ca.json"},
    )
    assert cert.subject.rfc4514_string() == "CN=from ca.json,OU=admins"
    assert oids(cert) == ["2.5.29.14", "2.5.29.35"]  # no SANs, no KU/EKU


@pytest.mark.parametrize(
    ("bc", "ca_flag", "path_length"),
    [
        ('{"isCA": true, "maxPathLen": 0}', True, 0),
        ('{"isCA": true}', True, 0),
        ('{"isCA": true, "maxPathLen": -1}', True, None),
        ('{"isCA": true, "maxPathLen": 3}', True, 3),
        ('{"isCA": false, "maxPathLen": 3}', False, None),
    ],
)
def test_basic_constraints_table(
    ec_key: Any, ca: CA, bc: str, ca_flag: bool, path_length: int | None
) -> None:
    cert = build('{"basicConstraints": ' + bc + "}", ec_key.public_key(), ca)
    e = ext(cert, ExtensionOID.BASIC_CONSTRAINTS)
    assert e.critical
    assert (e.value.ca, e.value.path_length) == (ca_flag, path_length)


def test_intermediate_with_name_constraints_78(ec_key: Any, ca: CA) -> None:
    text = """{
    "subject": {"commonName": "Constrained CA"},
    "keyUsage": ["certSign", "crlSign"],
    "basicConstraints": {"isCA": true, "maxPathLen": 0},
    "nameConstraints": {"critical": true, "permittedDNSDomains": ["example.com"]}
}"""
    cert = build(text, ec_key.public_key(), ca)
    nc = ext(cert, ExtensionOID.NAME_CONSTRAINTS)
    assert nc.critical
    assert nc.value.permitted_subtrees == [x509.DNSName("example.com")]
    assert nc.value.excluded_subtrees is None
    ku = ext(cert, ExtensionOID.KEY_USAGE).value
    assert ku.key_cert_sign and ku.crl_sign and not ku.digital_signature
    bc = ext(cert, ExtensionOID.BASIC_CONSTRAINTS).value
    assert bc.ca and bc.path_length == 0
    assert oids(cert) == ["2.5.29.15", "2.5.29.19", "2.5.29.14", "2.5.29.35", "2.5.29.30"]


def test_all_name_constraint_keys(ec_key: Any, ca: CA) -> None:
    text = """{"nameConstraints": {
        "critical": false,
        "permittedDNSDomains": ["doe.com"], "excludedDNSDomains": ["doe.org"],
        "permittedIPRanges": ["1.2.3.0/24"], "excludedIPRanges": ["3.2.1.0/24"],
        "permittedEmailAddresses": ["jane@doe.com"], "excludedEmailAddresses": ["jane@doe.org"],
        "permittedURIDomains": ["https://doe.com"], "excludedURIDomains": ["https://doe.org"]}}"""
    nc = ext(build(text, ec_key.public_key(), ca), ExtensionOID.NAME_CONSTRAINTS)
    assert not nc.critical
    assert nc.value.permitted_subtrees == [
        x509.DNSName("doe.com"),
        x509.IPAddress(ipaddress.ip_network("1.2.3.0/24")),
        x509.RFC822Name("jane@doe.com"),
        x509.UniformResourceIdentifier("https://doe.com"),
    ]
    assert nc.value.excluded_subtrees == [
        x509.DNSName("doe.org"),
        x509.IPAddress(ipaddress.ip_network("3.2.1.0/24")),
        x509.RFC822Name("jane@doe.org"),
        x509.UniformResourceIdentifier("https://doe.org"),
    ]


def test_empty_name_constraints_emit_nothing(ec_key: Any, ca: CA) -> None:
    cert = build('{"nameConstraints": {"critical": true}}', ec_key.public_key(), ca)
    assert "2.5.29.30" not in oids(cert)


def test_crl_aia_and_policies(ec_key: Any, ca: CA) -> None:
    text = """{"subject": "x",
      "crlDistributionPoints": ["http://ca.example.com/1.0/crl", "http://backup.example.com/crl"],
      "issuingCertificateURL": "http://ca.example.com/ca.crt",
      "ocspServer": ["http://ocsp.example.com"],
      "policyIdentifiers": ["2.23.140.1.2.1", "1.3.6.1.4.1.99999.123456789012345678901234567890"],
      "extKeyUsage": [], "unknownExtKeyUsage": ["1.3.6.1.4.1.311.20.2.2"]}"""
    cert = build(text, ec_key.public_key(), ca)
    assert oids(cert) == [
        "2.5.29.37",
        "2.5.29.14",
        "2.5.29.35",
        "1.3.6.1.5.5.7.1.1",
        "2.5.29.32",
        "2.5.29.31",
    ]
    crl = ext(cert, ExtensionOID.CRL_DISTRIBUTION_POINTS)
    assert not crl.critical
    assert [dp.full_name for dp in crl.value] == [
        [x509.UniformResourceIdentifier("http://ca.example.com/1.0/crl")],
        [x509.UniformResourceIdentifier("http://backup.example.com/crl")],
    ]
    aia = list(ext(cert, ExtensionOID.AUTHORITY_INFORMATION_ACCESS).value)
    assert [(a.access_method.dotted_string, a.access_location.value) for a in aia] == [
        ("1.3.6.1.5.5.7.48.1", "http://ocsp.example.com"),
        ("1.3.6.1.5.5.7.48.2", "http://ca.example.com/ca.crt"),
    ]
    policies = ext(cert, ExtensionOID.CERTIFICATE_POLICIES)
    assert [p.policy_identifier.dotted_string for p in policies.value] == [
        "2.23.140.1.2.1",
        "1.3.6.1.4.1.99999.123456789012345678901234567890",
    ]
    assert all(p.policy_qualifiers is None for p in policies.value)
    assert [o.dotted_string for o in ext(cert, ExtensionOID.EXTENDED_KEY_USAGE).value] == [
        "1.3.6.1.4.1.311.20.2.2"
    ]


def test_certificate_policies_with_cps_711(ec_key: Any, ca: CA) -> None:
    value = "MDUwMwYLKwYBBAGGjR8BAQEwJDAiBggrBgEFBQcCARYWaHR0cDovL2V4YW1wbGUuY29tL2Nwcw=="
    cert = build('{"extensions": [{"id": "2.5.29.32", "value": "' + value + '"}]}', ec_key.public_key(), ca)
    policies = ext(cert, ExtensionOID.CERTIFICATE_POLICIES)
    assert not policies.critical
    (info,) = list(policies.value)
    assert info.policy_identifier.dotted_string == "1.3.6.1.4.1.99999.1.1.1"
    assert info.policy_qualifiers == ["http://example.com/cps"]


def test_skid_corner_cases(ec_key: Any, ca: CA) -> None:
    pub = ec_key.public_key()
    assert "2.5.29.14" not in oids(build('{"subjectKeyId": ""}', pub, ca))
    cert = build('{"subjectKeyId": "", "basicConstraints": {"isCA": true}}', pub, ca)
    bits = pub.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    assert ext(cert, ExtensionOID.SUBJECT_KEY_IDENTIFIER).value.digest == hashlib.sha256(bits).digest()[:20]
    cert = build('{"subjectKeyId": "AQID"}', pub, ca)
    assert ext(cert, ExtensionOID.SUBJECT_KEY_IDENTIFIER).value.digest == b"\x01\x02\x03"


def test_template_akid_only_without_an_issuer_skid(ec_key: Any, ca: CA) -> None:
    cert = build('{"authorityKeyId": "AQID"}', ec_key.public_key(), ca)
    ca_skid = ext(ca.cert, ExtensionOID.SUBJECT_KEY_IDENTIFIER).value.digest
    assert ext(cert, ExtensionOID.AUTHORITY_KEY_IDENTIFIER).value.key_identifier == ca_skid
    # Self-signed: the issuer is the subject, so the template value is used (and none by default).
    key = ec.generate_private_key(ec.SECP256R1())
    desc = X509Description.from_json('{"subject": "self", "authorityKeyId": "AQID"}')
    builder = desc.apply(x509.CertificateBuilder(), public_key=key.public_key())
    builder = builder.serial_number(1).not_valid_before(NOW).not_valid_after(NOW + dt.timedelta(days=1))
    self_signed = builder.sign(key, hashes.SHA256())
    assert ext(self_signed, ExtensionOID.AUTHORITY_KEY_IDENTIFIER).value.key_identifier == b"\x01\x02\x03"
    assert self_signed.issuer == self_signed.subject


def test_root_has_no_akid(root: CA) -> None:
    assert "2.5.29.35" not in oids(root.cert)
    assert oids(root.cert) == ["2.5.29.15", "2.5.29.19", "2.5.29.14"]


def test_provisioner_extension_is_replaced_in_place_or_appended(ec_key: Any, ca: CA) -> None:
    prov = x509.Extension(
        x509.ObjectIdentifier("1.3.6.1.4.1.37476.9000.64.1"),
        False,
        x509.UnrecognizedExtension(
            x509.ObjectIdentifier("1.3.6.1.4.1.37476.9000.64.1"), b"\x30\x03\x02\x01\x01"
        ),
    )
    text = (
        '{"extensions": [{"id": "1.2.3.1", "value": "AQ=="}, {"id": "1.3.6.1.4.1.37476.9000.64.1", "critical": true,'
        ' "value": "BQA="}, {"id": "1.2.3.2", "value": "AQ=="}]}'
    )
    cert = build(text, ec_key.public_key(), ca, provisioner_extension=prov)
    assert oids(cert)[-3:] == ["1.2.3.1", "1.3.6.1.4.1.37476.9000.64.1", "1.2.3.2"]
    e = ext(cert, prov.oid)
    assert not e.critical and e.value.value == b"\x30\x03\x02\x01\x01"
    cert = build('{"subject": "x", "dnsNames": "a"}', ec_key.public_key(), ca, provisioner_extension=prov)
    assert oids(cert)[-1] == "1.3.6.1.4.1.37476.9000.64.1"


def test_encipher_only_without_key_agreement_is_still_encoded(ec_key: Any, ca: CA) -> None:
    # cryptography refuses to parse this combination back, so look at the DER: Go's bit string 07 80 80.
    cert = build('{"keyUsage": ["digitalSignature", "decipherOnly"]}', ec_key.public_key(), ca)
    assert bytes.fromhex("0603551d0f0101ff04050303078080") in cert.tbs_certificate_bytes


def test_negative_serial_fails(ec_key: Any, ca: CA) -> None:
    with pytest.raises(DescriptionError, match="serial number"):
        build('{"serialNumber": -1}', ec_key.public_key(), ca)


def test_template_validity_and_serial_are_exposed(ec_key: Any, ca: CA) -> None:
    desc = X509Description.from_json(
        '{"serialNumber": "0x1234", "notBefore": "2030-01-01T00:00:00Z", "notAfter": "2030-01-02T00:00:00Z"}'
    )
    assert desc.serial_number == 0x1234
    cert = sign(desc, ec_key.public_key(), ca)
    assert cert.serial_number == 0x1234
    assert cert.not_valid_before_utc == dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    assert cert.not_valid_after_utc == dt.datetime(2030, 1, 2, tzinfo=dt.UTC)


# -- signature algorithms (§1.9, §1.10 step 7) ------------------------------------------------------------


def test_signature_algorithm_defaults_per_ca_key() -> None:
    assert isinstance(
        hash_for_signature_algorithm("", ec.generate_private_key(ec.SECP256R1())), hashes.SHA256
    )
    assert isinstance(
        hash_for_signature_algorithm("", ec.generate_private_key(ec.SECP384R1())), hashes.SHA384
    )
    assert isinstance(
        hash_for_signature_algorithm("", ec.generate_private_key(ec.SECP521R1())), hashes.SHA512
    )
    assert hash_for_signature_algorithm("", ed25519.Ed25519PrivateKey.generate()) is None
    assert hash_for_signature_algorithm("Ed25519", ed25519.Ed25519PrivateKey.generate()) is None


def test_signature_algorithm_names(rsa_key: rsa.RSAPrivateKey) -> None:
    p = signing_params("sha384-rsa", rsa_key)
    assert isinstance(p.algorithm, hashes.SHA384) and isinstance(p.rsa_padding, padding.PKCS1v15)
    p = signing_params("SHA512-RSAPSS", rsa_key)
    assert isinstance(p.algorithm, hashes.SHA512) and isinstance(p.rsa_padding, padding.PSS)
    assert isinstance(
        signing_params("ECDSA-SHA512", ec.generate_private_key(ec.SECP256R1())).algorithm, hashes.SHA512
    )


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("SHA256-RSA", "does not match private key type ECDSA"),
        ("Ed25519", "does not match"),
        ("MD5-RSA", "not supported"),
        ("DSA-SHA256", "not supported"),
        ("RSA-SHA3", "unsupported signatureAlgorithm"),
    ],
)
def test_signature_algorithm_errors(name: str, needle: str) -> None:
    with pytest.raises(DescriptionError, match=needle):
        signing_params(name, ec.generate_private_key(ec.SECP256R1()))


def test_rsa_ca_reuses_its_own_signature_algorithm(ec_key: Any) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    builder = X509Description.from_json('{"subject": "rsa root", "basicConstraints": {"isCA": true}}').apply(
        x509.CertificateBuilder(), public_key=key.public_key()
    )
    builder = builder.serial_number(7).not_valid_before(NOW).not_valid_after(NOW + dt.timedelta(days=1))
    root_cert = builder.sign(key, hashes.SHA384(), rsa_padding=padding.PSS(padding.MGF1(hashes.SHA384()), 48))
    rsa_ca = CA(key, root_cert)
    cert = build('{"subject": "leaf"}', ec_key.public_key(), rsa_ca)
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA384)
    assert isinstance(cert.signature_algorithm_parameters, padding.PSS)
    cert = build('{"subject": "leaf", "signatureAlgorithm": "SHA256-RSA"}', ec_key.public_key(), rsa_ca)
    assert cert.signature_algorithm_oid.dotted_string == "1.2.840.113549.1.1.11"


# -- openssl agrees -------------------------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_openssl_reads_the_extensions(ec_key: Any, ca: CA) -> None:
    text = """{
      "subject": {"commonName": "web.example.com", "organization": "Plica"},
      "dnsNames": ["web.example.com"], "ipAddresses": ["10.0.0.7"],
      "keyUsage": ["digitalSignature"], "extKeyUsage": ["serverAuth", "clientAuth"],
      "crlDistributionPoints": "http://ca.example.com/1.0/crl",
      "policyIdentifiers": "2.23.140.1.2.1",
      "extensions": [{"id": "1.2.3.4", "critical": false, "value": "AgM6uFk="}]
    }"""
    cert = build(text, ec_key.public_key(), ca)
    out = subprocess.run(
        ["openssl", "x509", "-noout", "-text"],
        input=cert.public_bytes(serialization.Encoding.PEM),
        capture_output=True,
        check=True,
    ).stdout.decode()
    lines = [line.strip() for line in out.splitlines()]
    assert "X509v3 Key Usage: critical" in lines
    assert lines[lines.index("X509v3 Key Usage: critical") + 1] == "Digital Signature"
    assert "X509v3 Extended Key Usage:" in lines
    assert (
        lines[lines.index("X509v3 Extended Key Usage:") + 1]
        == "TLS Web Server Authentication, TLS Web Client Authentication"
    )
    assert "X509v3 Subject Alternative Name:" in lines  # not critical: the subject is set
    assert (
        lines[lines.index("X509v3 Subject Alternative Name:") + 1]
        == "DNS:web.example.com, IP Address:10.0.0.7"
    )
    assert "X509v3 CRL Distribution Points:" in lines
    assert "URI:http://ca.example.com/1.0/crl" in lines
    assert "Policy: 2.23.140.1.2.1" in lines
    assert "X509v3 Subject Key Identifier:" in lines
    assert "X509v3 Authority Key Identifier:" in lines
    assert "1.2.3.4:" in lines
    assert "Subject: O = Plica, CN = web.example.com" in lines
    assert "Signature Algorithm: ecdsa-with-SHA256" in lines


def test_go_accepts_lengths_cryptography_would_refuse(ec_key: Any, ca: CA) -> None:
    long_cn = "a" * 100
    text = '{"subject": {"commonName": "' + long_cn + '", "country": ["USA", ""]}}'
    cert = build(text, ec_key.public_key(), ca)
    with warnings.catch_warnings():  # cryptography warns when it reads such names back
        warnings.simplefilter("ignore")
        subject = cert.subject
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == long_cn
    assert [a.value for a in subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)] == ["", "USA"]


def test_san_criticality_and_authority_template_defaults(ec_key: Any, ca: CA) -> None:
    defaults = {"commonName": "from ca.json"}
    # Standard path: Go decides at signing time, after the defaults filled the subject.
    cert = build('{"dnsNames": ["a.example.com"]}', ec_key.public_key(), ca, subject_defaults=defaults)
    assert not ext(cert, ExtensionOID.SUBJECT_ALTERNATIVE_NAME).critical
    # Extended path: step built the extension from the template's own (empty) subject.
    cert = build(
        '{"sans": [{"type": "permanentIdentifier", "value": "x"}]}',
        ec_key.public_key(),
        ca,
        subject_defaults=defaults,
    )
    assert cert.subject.rfc4514_string() == "CN=from ca.json"
    assert ext(cert, ExtensionOID.SUBJECT_ALTERNATIVE_NAME).critical


def test_invalid_raw_subject_is_a_description_error(ec_key: Any, ca: CA) -> None:
    with pytest.raises(DescriptionError, match="invalid rawSubject"):
        build('{"rawSubject": "BAA="}', ec_key.public_key(), ca)


def test_signing_params_accept_public_keys_too() -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    assert isinstance(signing_params("", key.public_key()).algorithm, hashes.SHA384)
    assert signing_params("ECDSA-SHA256", key.public_key()).rsa_padding is None
