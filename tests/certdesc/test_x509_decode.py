"""Decoding rendered X.509 templates with Go encoding/json rules (docs/reference/step-templates.md §1, "JSON decoding rules")."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import random
from typing import Any

import pytest

from plica.certdesc import DescriptionError, X509Description
from plica.certdesc.extensions import BasicConstraints, RawExtension
from plica.certdesc.names import ExtraName, Name
from plica.certdesc.x509desc import parse_go_bigint


def decode(text: str) -> X509Description:
    return X509Description.from_json(text, template="leaf.tpl")


def test_keys_match_case_insensitively_and_last_duplicate_wins() -> None:
    d = decode(
        '{"DNSNames": "a.example.com", "dnsnames": ["b.example.com"], "SUBJECT": "x", "KeyUsage": "certSign"}'
    )
    assert d.dns_names == ("b.example.com",)
    assert d.subject == Name(common_name="x")
    assert d.key_usage_names == ["certSign"]


def test_exact_key_and_folded_key_map_to_the_same_field() -> None:
    d = decode('{"dnsNames": "a", "DNSNAMES": "b"}')
    assert d.dns_names == ("b",)


def test_only_the_first_json_value_is_read() -> None:
    d = decode('\n  {"subject": "a"} trailing garbage {"subject": "b"}')
    assert d.subject.common_name == "a"


def test_unknown_keys_are_ignored_and_null_leaves_fields_unset() -> None:
    d = decode('{"publicKey": "x", "whatever": [1, 2], "subject": null, "sans": null, "keyUsage": null}')
    assert d == X509Description()


def test_null_document_is_an_empty_description() -> None:
    assert decode("null") == X509Description()


def test_multistring_accepts_string_or_array_and_skips_empty_san_values() -> None:
    d = decode(
        '{"dnsNames": "a.example.com", "emailAddresses": ["", "j@doe.com"], "ipAddresses": "10.0.0.1",'
        ' "uris": ["HTTPS://x.example.com/p", ""]}'
    )
    assert d.dns_names == ("a.example.com",)
    assert d.email_addresses == ("j@doe.com",)
    assert d.ip_addresses == (ipaddress.ip_address("10.0.0.1"),)
    assert d.uris == ("https://x.example.com/p",)  # Go's url.Parse lowercases the scheme


def test_ipv4_mapped_ipv6_becomes_ipv4() -> None:
    assert decode('{"ipAddresses": ["::ffff:1.2.3.4"]}').ip_addresses == (ipaddress.ip_address("1.2.3.4"),)


def test_subject_object_and_extra_names() -> None:
    d = decode(
        '{"subject": {"commonName": "jane", "country": "US", "organization": ["A", "B"],'
        ' "extraNames": [{"type": "1.2.840.113549.1.9.1", "value": "jane@doe.com"}], "serialNumber": "42"}}'
    )
    assert d.subject == Name(
        country=("US",),
        organization=("A", "B"),
        serial_number="42",
        common_name="jane",
        extra_names=(ExtraName("1.2.840.113549.1.9.1", "jane@doe.com"),),
    )


def test_issuer_is_decoded_but_has_no_other_effect() -> None:
    assert decode('{"issuer": {"commonName": "ignored"}}').issuer.common_name == "ignored"
    with pytest.raises(DescriptionError):
        decode('{"issuer": 3}')


def test_sans_entries() -> None:
    d = decode(
        '{"sans": [{"type": "dns", "value": "a"}, {"type": "email", "value": ""}, {"value": "10.1.1.1"},'
        ' {"type": "permanentIdentifier", "asn1Value": {"identifier": "X"}}]}'
    )
    assert [(s.type, s.value) for s in d.sans] == [
        ("dns", "a"),
        ("", "10.1.1.1"),
        ("permanentIdentifier", ""),
    ]
    assert d.has_extended_sans


def test_extensions_base64_and_empty_id_skipped() -> None:
    d = decode(
        '{"extensions": [{"id": "1.2.3.4", "critical": true, "value": "Y3VzdG9tIGV4dGVuc2lvbiB2YWx1ZQ=="},'
        ' {"id": "", "value": "AA=="}, {"id": "1.2.3.5"}]}'
    )
    assert d.extensions == (
        RawExtension("1.2.3.4", True, b"custom extension value"),
        RawExtension("1.2.3.5", False, b""),
    )


def test_key_usage_names_ignore_case_and_underscores() -> None:
    d = decode('{"keyUsage": ["digital_signature", "KEYENCIPHERMENT", "nonRepudiation", "crl_sign"]}')
    assert d.key_usage_names == ["digitalSignature", "contentCommitment", "keyEncipherment", "crlSign"]


def test_ext_key_usage_names_and_unknown_oids() -> None:
    d = decode(
        '{"extKeyUsage": ["server_auth", "ClientAuth", "ocspSigning"], "unknownExtKeyUsage": "1.2.3.4"}'
    )
    assert d.ext_key_usage == ("1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2", "1.3.6.1.5.5.7.3.9")
    assert d.unknown_ext_key_usage == ("1.2.3.4",)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"basicConstraints": {"isCA": true}}', BasicConstraints(True, 0)),
        ('{"basicConstraints": {"isCA": true, "maxPathLen": -1}}', BasicConstraints(True, -1)),
        ('{"basicConstraints": {"isca": true, "MAXPATHLEN": 2}}', BasicConstraints(True, 2)),
        ('{"basicConstraints": {"isCA": false, "maxPathLen": 5}}', BasicConstraints(False, 5)),
    ],
)
def test_basic_constraints(text: str, expected: BasicConstraints) -> None:
    assert decode(text).basic_constraints == expected


def test_times_are_rfc3339_and_zero_time_is_unset() -> None:
    d = decode('{"notBefore": "2024-01-02T03:04:05.123456789+02:00", "notAfter": "0001-01-01T00:00:00Z"}')
    assert d.not_before == dt.datetime(2024, 1, 2, 1, 4, 5, 123456, tzinfo=dt.UTC)
    assert d.not_after is None


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('"0x10"', 16),
        ('"0b101"', 5),
        ('"0o17"', 15),
        ('"017"', 15),
        ('"1_000"', 1000),
        ('"-5"', -5),
        ('"123456789012345678901234567890"', 123456789012345678901234567890),
        ("42", 42),
    ],
)
def test_serial_number_forms(text: str, value: int) -> None:
    assert decode('{"serialNumber": ' + text + "}").serial_number == value


@pytest.mark.parametrize("text", ["1_", "_1", "0x", "1__0", " 1", "12a", ""])
def test_bad_go_bigint(text: str) -> None:
    with pytest.raises(ValueError):
        parse_go_bigint(text)


def test_signature_algorithm_is_matched_case_insensitively() -> None:
    assert decode('{"signatureAlgorithm": "ecdsa-sha384"}').signature_algorithm == "ECDSA-SHA384"
    assert decode('{"signatureAlgorithm": ""}').signature_algorithm == ""


def test_name_constraints() -> None:
    d = decode(
        '{"nameConstraints": {"critical": true, "permittedDNSDomains": "example.com",'
        ' "permittedIPRanges": ["1.2.3.4/24"], "excludedEmailAddresses": ["jane@doe.org"],'
        ' "permittedURIDomains": ["https://doe.com"]}}'
    )
    nc = d.name_constraints
    assert nc is not None and nc.critical
    assert nc.permitted_dns_domains == ("example.com",)
    assert nc.permitted_ip_ranges == (ipaddress.ip_network("1.2.3.0/24"),)
    assert nc.excluded_email_addresses == ("jane@doe.org",)
    assert nc.permitted_uri_domains == ("https://doe.com",)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "EOF"),
        ("   ", "EOF"),
        ('{"subject": ', "error unmarshaling certificate"),
        ('{"subject": "a",}', "error unmarshaling certificate"),
        ('{"serialNumber": NaN}', "error unmarshaling certificate"),
        ("[1, 2]", "cannot unmarshal array"),
        ('"x"', "cannot unmarshal string"),
        ('{"dnsNames": 3}', "cannot unmarshal number"),
        ('{"dnsNames": [1]}', "cannot unmarshal number"),
        ('{"subject": {"commonName": ["a"]}}', "cannot unmarshal array"),
        ('{"ipAddresses": ["10.0.0.256"]}', "ip 10.0.0.256 is not valid"),
        ('{"ipAddresses": "fe80::1%eth0"}', "is not valid"),
        ('{"keyUsage": ["digitalSignature", "foo"]}', "unsupported keyUsage foo"),
        ('{"keyUsage": ["digital-signature"]}', "unsupported keyUsage digital-signature"),
        ('{"extKeyUsage": "webAuth"}', "unsupported extKeyUsage webAuth"),
        ('{"signatureAlgorithm": "SHA3-RSA"}', "unsupported signatureAlgorithm SHA3-RSA"),
        ('{"subjectKeyId": "not base64!"}', "illegal base64"),
        ('{"rawSubject": "AAA"}', "illegal base64"),
        ('{"notBefore": "2024-01-02 03:04:05"}', "RFC 3339"),
        ('{"notAfter": 1700000000}', "cannot unmarshal number"),
        ('{"serialNumber": "0xZZ"}', "serialNumber 0xZZ is not valid"),
        ('{"serialNumber": 1.5}', "cannot unmarshal number"),
        ('{"basicConstraints": {"isCA": "yes"}}', "cannot unmarshal string"),
        ('{"basicConstraints": {"maxPathLen": 1e3}}', "cannot unmarshal number"),
        ('{"basicConstraints": [true]}', "cannot unmarshal array"),
        ('{"extensions": [{"id": "1.2.x"}]}', "not an ASN1 object identifier"),
        ('{"extensions": [{"id": "1.2.3", "critical": 1}]}', "cannot unmarshal number"),
        ('{"policyIdentifiers": ["1"]}', "not an ASN1 object identifier"),
        ('{"unknownExtKeyUsage": ["3.1"]}', "not a valid ASN1 object identifier"),
        ('{"nameConstraints": {"permittedIPRanges": "10.0.0.0"}}', "invalid CIDR address"),
        ('{"sans": {"type": "dns"}}', "cannot unmarshal object"),
        ('{"sans": [{"type": "dns", "value": 5}]}', "cannot unmarshal number"),
        ('{"uris": ["http://a\\u0001b"]}', "invalid URL"),
    ],
)
def test_decode_errors_are_description_errors_naming_the_template(text: str, needle: str) -> None:
    with pytest.raises(DescriptionError) as info:
        decode(text)
    assert needle in str(info.value)
    assert info.value.template == "leaf.tpl"
    assert str(info.value).startswith('template "leaf.tpl": ')


def test_deeply_nested_garbage_is_still_a_description_error() -> None:
    with pytest.raises(DescriptionError):
        decode("[" * 100000)


# -- robustness: whatever a template renders, the only failure is a DescriptionError ---------------------

_KEYS = [
    "version", "subject", "rawSubject", "issuer", "serialNumber", "dnsNames", "emailAddresses", "ipAddresses",
    "uris", "sans", "notBefore", "notAfter", "extensions", "keyUsage", "extKeyUsage", "unknownExtKeyUsage",
    "subjectKeyId", "authorityKeyId", "ocspServer", "issuingCertificateURL", "crlDistributionPoints",
    "policyIdentifiers", "basicConstraints", "nameConstraints", "signatureAlgorithm",
]  # fmt: skip
_NESTED_KEYS = [
    "commonName", "country", "extraNames", "type", "value", "asn1Value", "id", "critical", "isCA", "maxPathLen",
    "permittedDNSDomains", "permittedIPRanges", "identifier", "assigner", "serialNumber",
]  # fmt: skip
_STRINGS = [
    "", "a.example.com", "10.0.0.1", "::1", "1.2.3.4", "2.5.29.17", "jane@doe.com", "https://x/y", "AQID",
    "2024-01-02T03:04:05Z", "0x10", "-1", "digitalSignature", "serverAuth", "dns", "dn", "permanentIdentifier",
    "hardwareModuleName", "registeredID", "userPrincipalName", "x400Address", "1.2.3.4/24", "int:5", "raw:AA==",
    "ü", "*", "{\"commonName\": \"x\"}", "SHA256-RSA", "ECDSA-SHA256", "Ed25519", "auto", "1.3.6.1.5.5.7.8.3",
]  # fmt: skip


def _random_value(rng: random.Random, depth: int) -> Any:
    kind = rng.randrange(9 if depth < 3 else 5)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice([0, 1, -1, 2**63, 1.5, 3])
    if kind in (3, 4):
        return rng.choice(_STRINGS)
    if kind in (5, 6):
        return [_random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    keys = _KEYS if depth == 0 else _NESTED_KEYS
    return {rng.choice(keys): _random_value(rng, depth + 1) for _ in range(rng.randrange(5))}


def test_random_documents_fail_only_with_description_errors() -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    from plica.certdesc import SSHDescription

    rng = random.Random(20240611)
    key = ec.generate_private_key(ec.SECP256R1())
    outcomes = {"ok": 0, "decode": 0, "apply": 0}
    for _ in range(1500):
        doc = {rng.choice(_KEYS): _random_value(rng, 1) for _ in range(rng.randrange(1, 6))}
        text = json.dumps(doc)
        try:
            desc = X509Description.from_json(text, template="fuzz")
        except DescriptionError:
            outcomes["decode"] += 1
            continue
        try:
            builder = desc.apply(x509.CertificateBuilder(), public_key=key.public_key())
            builder = builder.serial_number(1).not_valid_before(dt.datetime(2030, 1, 1))
            builder.not_valid_after(dt.datetime(2030, 1, 2)).sign(key, hashes.SHA256())
            outcomes["ok"] += 1
        except DescriptionError:
            outcomes["apply"] += 1
        try:
            SSHDescription.from_json(text)
        except DescriptionError:
            pass
    assert all(outcomes.values()), outcomes
