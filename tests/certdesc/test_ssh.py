"""SSH JSON certificate descriptions (docs/reference/step-templates.md §2)."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import SSHCertificateBuilder, SSHCertificateType

from plica.certdesc import DescriptionError, SSHDescription


def decode(text: str) -> SSHDescription:
    return SSHDescription.from_json(text, template="host.tpl")


def sign(desc: SSHDescription) -> serialization.SSHCertificate:
    """What the CA does around `apply` (§2.3): key, validity, serial, signing."""
    ca = ed25519.Ed25519PrivateKey.generate()
    user_key = ec.generate_private_key(ec.SECP256R1()).public_key()
    now = int(dt.datetime.now(dt.UTC).timestamp())
    builder = desc.apply(SSHCertificateBuilder()).public_key(user_key)
    builder = builder.valid_after(now - 60).valid_before(now + 16 * 3600).serial(desc.serial or 12345)
    return builder.sign(ca)


def test_default_template_output_decodes_and_signs() -> None:
    desc = decode(
        '{"type": "user", "keyId": "carl", "principals": ["carl", "carl@smallstep.com"],'
        ' "extensions": {"permit-pty": "", "permit-X11-forwarding": "", "login@github.com": "tashian"},'
        ' "criticalOptions": null}'
    )
    assert desc.type == "user" and desc.key_id == "carl"
    cert = sign(desc)
    assert cert.type == SSHCertificateType.USER
    assert cert.key_id == b"carl"
    assert cert.valid_principals == [b"carl", b"carl@smallstep.com"]
    assert cert.extensions == {
        b"login@github.com": b"tashian",
        b"permit-X11-forwarding": b"",
        b"permit-pty": b"",
    }
    assert cert.critical_options == {}
    cert.verify_cert_signature()


def test_host_certificate_with_critical_options_and_no_principals() -> None:
    desc = decode(
        '{"TYPE": "Host", "keyid": "i-123", "principals": null, "criticalOptions": {"source-address": "10.0.0.0/8"}}'
    )
    cert = sign(desc)
    assert cert.type == SSHCertificateType.HOST
    assert cert.valid_principals == []  # valid for any principal
    assert cert.critical_options == {b"source-address": b"10.0.0.0/8"}
    assert cert.extensions == {}


def test_validity_serial_nonce_and_reserved_are_exposed() -> None:
    desc = decode(
        '{"type": "user", "validAfter": "2030-01-01T00:00:00Z", "validBefore": "2030-01-01T16:00:00+00:00",'
        ' "serial": 18446744073709551615, "nonce": "AAEC", "reserved": ""}'
    )
    assert desc.valid_after == dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    assert desc.valid_before == dt.datetime(2030, 1, 1, 16, tzinfo=dt.UTC)
    assert desc.serial == 2**64 - 1
    assert desc.nonce == b"\x00\x01\x02"
    assert desc.reserved == b""


def test_missing_type_fails_when_applied() -> None:
    desc = decode('{"keyId": "x"}')
    with pytest.raises(DescriptionError, match="ssh certificate type has not been set"):
        desc.apply(SSHCertificateBuilder())


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('{"type": "service"}', "error unmarshaling 'service' as a certificate type"),
        ('{"type": 1}', "cannot unmarshal number"),
        ('{"principals": "carl"}', "cannot unmarshal string"),
        ('{"principals": [1]}', "cannot unmarshal number"),
        ('{"extensions": {"permit-pty": true}}', "cannot unmarshal bool"),
        ('{"extensions": ["permit-pty"]}', "cannot unmarshal array"),
        ('{"validAfter": 1700000000}', "cannot unmarshal number"),
        ('{"validAfter": "+1h"}', "RFC 3339"),
        ('{"serial": -1}', "cannot unmarshal number"),
        ('{"serial": 1.0}', "cannot unmarshal number"),
        ('{"serial": 18446744073709551616}', "cannot unmarshal number"),
        ('{"nonce": "###"}', "illegal base64"),
        ('{"type": "user",', "error unmarshaling certificate"),
        ("", "EOF"),
    ],
)
def test_ssh_decode_errors(text: str, needle: str) -> None:
    with pytest.raises(DescriptionError) as info:
        decode(text)
    assert needle in str(info.value)
    assert info.value.template == "host.tpl"


def test_null_map_values_become_empty_strings() -> None:
    assert decode('{"extensions": {"permit-pty": null}}').extensions == {"permit-pty": ""}
