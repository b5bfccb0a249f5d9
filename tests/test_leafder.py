"""The hand-assembled default leaf (plica.x509.fastleaf) is byte for byte what cryptography's builder writes
for the same inputs, for every kind of CA key, and its signature verifies."""

from __future__ import annotations

import datetime as dt
import ipaddress
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from plica.asn1 import ProvisionerExtension, der_oid
from plica.keys import generate
from plica.pki import create_intermediate, create_root, default_key_usage, signature_hash
from plica.softkms import SoftKey
from plica.x509.fastleaf import LeafEncoder, der_time

EKU = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH])


def ca(kind: str) -> tuple[x509.Certificate, object]:
    make = {
        "P-256": lambda: ec.generate_private_key(ec.SECP256R1()),
        "P-384": lambda: ec.generate_private_key(ec.SECP384R1()),
        "RSA": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "Ed25519": ed25519.Ed25519PrivateKey.generate,
    }[kind]
    root_key, key = make(), make()
    root = create_root(root_key, "T")
    return create_intermediate(key, "T", root, root_key), key


@pytest.mark.parametrize("ca_kind", ["P-256", "P-384", "RSA", "Ed25519"])
@pytest.mark.parametrize("leaf_kind", ["EC", "RSA", "OKP"])
@pytest.mark.parametrize("with_subject", [True, False])
def test_same_tbs_as_the_builder(ca_kind: str, leaf_kind: str, with_subject: bool) -> None:
    inter, key = ca(ca_kind)
    ski = inter.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    akid = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
    hash_alg = signature_hash(key)  # type: ignore[arg-type]
    enc = LeafEncoder(inter, key.public_key(), hash_alg, akid)
    leaf_key = generate(leaf_kind)
    pub = leaf_key.public_key()
    subject = (
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "jane@doe.com")])
        if with_subject
        else x509.Name([])
    )
    san = x509.SubjectAlternativeName(
        [
            x509.DNSName("a.example.com"),
            x509.RFC822Name("jane@doe.com"),
            x509.IPAddress(ipaddress.ip_address("::1")),
        ]
    )
    prov = ProvisionerExtension(1, "admin", "kid-123", ("k=v",))
    nb = dt.datetime(2026, 11, 27, 5, 0, 0, 123456, tzinfo=dt.UTC)
    na = dt.datetime(2051, 1, 1, tzinfo=dt.UTC)  # past 2049: GeneralizedTime
    serial = (1 << 127) | 12345
    ku = default_key_usage(pub)
    tbs = enc.tbs(
        serial=serial, subject=subject, public_key=pub, not_before=nb, not_after=na, key_usage=ku,
        ext_key_usage=EKU, san=san, san_critical=not with_subject, extra=[(prov.extension().oid.dotted_string,
        prov.to_der())],
    )  # fmt: skip
    der = enc.signed(tbs, SoftKey("test", key).sign(tbs))
    ours = x509.load_der_x509_certificate(der)
    ref = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(inter.subject)
        .public_key(pub)
        .serial_number(serial)
        .not_valid_before(nb)
        .not_valid_after(na)
        .add_extension(ku, critical=True)
        .add_extension(EKU, critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(pub), critical=False)
        .add_extension(akid, critical=False)
        .add_extension(san, critical=not with_subject)
        .add_extension(prov.extension(), critical=False)
        .sign(key, hash_alg)  # type: ignore[arg-type]
    )
    assert ours.tbs_certificate_bytes == ref.tbs_certificate_bytes
    assert ours.signature_algorithm_oid == ref.signature_algorithm_oid
    ours.verify_directly_issued_by(inter)


def reference_tbs(
    not_before: dt.datetime = dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    not_after: dt.datetime = dt.datetime(2026, 1, 2, tzinfo=dt.UTC),
    extension: x509.ExtensionType | None = None,
) -> bytes:
    """The TBS bytes cryptography's own builder writes, to look for our encodings in."""
    inter, key = ca("P-256")
    b = (
        x509.CertificateBuilder()
        .subject_name(inter.subject)
        .issuer_name(inter.subject)
        .public_key(key.public_key())  # type: ignore[attr-defined]
        .serial_number(7)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    if extension is not None:
        b = b.add_extension(extension, False)
    return b.sign(key, hashes.SHA256()).tbs_certificate_bytes  # type: ignore[arg-type]


def test_oid_encoding() -> None:
    # Against cryptography's own encoding, read from a certificate extension.
    oid = x509.ObjectIdentifier("1.3.6.1.4.1.37476.9000.64.1")
    assert der_oid(oid.dotted_string) in reference_tbs(extension=x509.UnrecognizedExtension(oid, b"\x05\x00"))


@pytest.mark.parametrize(
    "when",
    [
        dt.datetime(1999, 12, 31, 23, 59, 59, tzinfo=dt.UTC),
        dt.datetime(2049, 12, 31, 23, 59, 59, tzinfo=dt.UTC),  # the last UTCTime
        dt.datetime(2050, 1, 1, 0, 0, 0, tzinfo=dt.UTC),  # the first GeneralizedTime
        dt.datetime(2106, 2, 7, 6, 28, 16, 999999, tzinfo=dt.UTC),  # fractions are dropped
        dt.datetime(2026, 3, 4, 5, 6, 7, tzinfo=dt.timezone(dt.timedelta(hours=-5))),  # not UTC
    ],
)
def test_times_as_cryptography_writes_them(when: dt.datetime) -> None:
    assert der_time(when) in reference_tbs(dt.datetime(1990, 1, 1, tzinfo=dt.UTC), when)


def _old_leaf(kind: str, old_inter: x509.Certificate, old_key: object) -> x509.Certificate:
    """A certificate to renew, issued by another intermediate (so the renewal's AKI differs): the default
    leaf's extensions, or a template's odder ones (AKI not last, no SKI, critical SAN, policies, CDP, AIA,
    an extension cryptography does not know), in the order they were issued."""
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    pub = leaf_key.public_key()
    old_akid = x509.AuthorityKeyIdentifier.from_issuer_public_key(old_key.public_key())  # type: ignore[attr-defined]
    b = (
        x509.CertificateBuilder()
        .issuer_name(old_inter.subject)
        .public_key(pub)
        .serial_number(99)
        .not_valid_before(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
        .not_valid_after(dt.datetime(2026, 1, 2, tzinfo=dt.UTC))
    )
    prov = ProvisionerExtension(1, "admin", "kid-123", ("k=v",))
    if kind == "default":
        b = (
            b.subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "a.example.com")]))
            .add_extension(default_key_usage(pub), critical=True)
            .add_extension(EKU, critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(pub), critical=False)
            .add_extension(old_akid, critical=False)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("a.example.com")]), critical=False)
            .add_extension(prov.extension(), critical=False)
        )
    else:
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "DE", _type=x509.name._ASN1Type.PrintableString),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Ünïcode GmbH"),
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "ops"),
            ]
        )
        b = (
            b.subject_name(subject)
            .add_extension(old_akid, critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("b.example"), x509.IPAddress(ipaddress.ip_address("10.0.0.1"))]
                ),
                critical=True,
            )
            .add_extension(
                x509.CertificatePolicies([x509.PolicyInformation(x509.ObjectIdentifier("1.2.3.4"), ["https://cps"])]),
                critical=False,
            )
            .add_extension(
                x509.CRLDistributionPoints(
                    [x509.DistributionPoint([x509.UniformResourceIdentifier("http://crl")], None, None, None)]
                ),
                critical=False,
            )
            .add_extension(
                x509.AuthorityInformationAccess(
                    [x509.AccessDescription(x509.AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier("http://ocsp"))]
                ),
                critical=False,
            )
            .add_extension(x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"), b"\x0c\x02hi"), critical=False)
        )  # fmt: skip
    return b.sign(old_key, signature_hash(old_key))  # type: ignore[arg-type]


def renewal_builder(
    cert: x509.Certificate,
    *,
    issuer: x509.Name,
    akid: x509.AuthorityKeyIdentifier,
    serial: int,
    not_before: dt.datetime,
    not_after: dt.datetime,
    new_key: Any = None,
) -> x509.CertificateBuilder:
    """The renewal as cryptography's builder makes it (what renew built before `LeafEncoder.renewed_tbs`):
    the reference the direct encoding is compared with."""
    public_key = new_key if new_key is not None else cert.public_key()
    b = (
        x509.CertificateBuilder()
        .subject_name(cert.subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    for e in cert.extensions:
        if isinstance(e.value, x509.AuthorityKeyIdentifier):
            continue
        if isinstance(e.value, x509.SubjectKeyIdentifier) and new_key is not None:
            b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(new_key), critical=e.critical)
            continue
        b = b.add_extension(e.value, critical=e.critical)
    return b.add_extension(akid, critical=False)


@pytest.mark.parametrize("ca_kind", ["P-256", "RSA", "Ed25519"])
@pytest.mark.parametrize("old_kind", ["default", "template"])
@pytest.mark.parametrize("rekey", [None, "EC", "RSA"])
def test_renewal_same_tbs_as_the_builder(ca_kind: str, old_kind: str, rekey: str | None) -> None:
    """What renew encodes directly (`LeafEncoder.renewed_tbs`) is what renew's builder makes of the same
    certificate (`renewal_builder`), for a renewal and a rekey, and it verifies."""
    inter, key = ca(ca_kind)
    old_inter, old_key = ca("P-256")
    akid = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
        inter.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    )
    hash_alg = signature_hash(key)  # type: ignore[arg-type]
    enc = LeafEncoder(inter, key.public_key(), hash_alg, akid)  # type: ignore[attr-defined]
    old = _old_leaf(old_kind, old_inter, old_key)
    new_key = generate(rekey).public_key() if rekey else None
    nb = dt.datetime(2026, 11, 27, 5, 0, 0, 123456, tzinfo=dt.UTC)
    na = dt.datetime(2026, 11, 28, 5, 0, 0, 123456, tzinfo=dt.UTC)
    serial = (1 << 126) | 777
    tbs = enc.renewed_tbs(old, serial=serial, not_before=nb, not_after=na, public_key=new_key)
    ours = x509.load_der_x509_certificate(enc.signed(tbs, SoftKey("test", key).sign(tbs)))
    ref = renewal_builder(
        old, issuer=inter.subject, akid=akid, serial=serial, not_before=nb, not_after=na, new_key=new_key
    ).sign(key, hash_alg)  # type: ignore[arg-type]
    assert ours.tbs_certificate_bytes == ref.tbs_certificate_bytes
    ours.verify_directly_issued_by(inter)
    assert [e.oid for e in ours.extensions][-1] == x509.ExtensionOID.AUTHORITY_KEY_IDENTIFIER
