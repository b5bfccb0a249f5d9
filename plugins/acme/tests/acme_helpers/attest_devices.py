"""Attestations built the way the devices build them, chained to test roots the tests make (real Apple
and YubiKey hardware cannot be had here): Apple's Managed Device Attestation (the leaf with Apple's
serial, UDID, sepOS and nonce extensions, raw values, and Apple's intermediate), a YubiKey's PIV
attestation as `step` sends it (the slot certificate with Yubico's serial, firmware, policy and form-factor
extensions, signed by the device's f9 attestation certificate; the signature over the key authorization
CBOR-encoded inside `sig`), and the AK certificate a TPM enrolment CA issues."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from typing import Any

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from plica.api import tlv

NOW = dt.datetime.now(dt.UTC)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


class CA:
    """A test certificate authority (root, or intermediate when `parent` is given)."""

    def __init__(self, cn: str, parent: CA | None = None, *, not_after: dt.datetime | None = None) -> None:
        self.key = ec.generate_private_key(ec.SECP384R1())
        self.name = name(cn)
        issuer = parent or self
        b = (
            x509.CertificateBuilder()
            .subject_name(self.name)
            .issuer_name(issuer.name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - dt.timedelta(days=1))
            .not_valid_after(not_after or NOW + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            )
        )
        self.cert = b.sign(issuer.key, hashes.SHA384())

    @property
    def der(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return self.cert.public_bytes(serialization.Encoding.DER)

    def pem(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(
        self,
        public_key: Any,
        subject: x509.Name,
        extensions: list[tuple[x509.ExtensionType, bool]],
        *,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
    ) -> x509.Certificate:
        b = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.name)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or NOW - dt.timedelta(hours=1))
            .not_valid_after(not_after or NOW + dt.timedelta(days=30))
        )
        for ext, critical in extensions:
            b = b.add_extension(ext, critical=critical)
        return b.sign(self.key, hashes.SHA384())


def der(cert: x509.Certificate) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return cert.public_bytes(serialization.Encoding.DER)


def roots_b64(*cas: CA) -> str:
    return base64.b64encode(b"".join(ca.pem() for ca in cas)).decode("ascii")


def raw_ext(oid: str, value: bytes) -> tuple[x509.ExtensionType, bool]:
    return x509.UnrecognizedExtension(x509.ObjectIdentifier(oid), value), False


# ---------------------------------------------------------------------------------------------- Apple


def apple_attobj(
    intermediate: CA,
    device_key: Any,
    *,
    nonce: bytes,
    serial: str = "C02XK1ZZJGH5",
    udid: str = "00008030-001A2D8E3C02802E",
    sep_version: str = "20.4",
    not_after: dt.datetime | None = None,
) -> bytes:
    """What an Apple device sends (`{"fmt": "apple", "attStmt": {"x5c": [leaf, Apple's intermediate]}}`)."""
    leaf = intermediate.issue(
        device_key.public_key(),
        name(hashlib.sha256(udid.encode()).hexdigest()),  # Apple's leaves name a hash, not the device
        [
            (x509.KeyUsage(True, False, False, False, False, False, False, False, False), True),
            raw_ext("1.2.840.113635.100.8.9.1", serial.encode()),
            raw_ext("1.2.840.113635.100.8.9.2", udid.encode()),
            raw_ext("1.2.840.113635.100.8.10.2", sep_version.encode()),
            raw_ext("1.2.840.113635.100.8.11.1", nonce),
        ],
        not_after=not_after,
    )
    return cbor2.dumps({"fmt": "apple", "attStmt": {"x5c": [der(leaf), intermediate.der]}})


# -------------------------------------------------------------------------------------------- YubiKey


class YubiKey:
    """A YubiKey's PIV attestation chain: the device's f9 attestation certificate (issued by the root,
    CA:TRUE as on a YubiKey 5) and slot certificates it signs."""

    def __init__(self, root: CA, serial: int = 17_483_201) -> None:
        self.serial = serial
        self.f9 = CA(f"Yubico PIV Attestation {serial}", parent=root)

    def slot_certificate(
        self, public_key: Any, *, serial: int | None = None, firmware: bytes = bytes([5, 4, 3]),
        pin_policy: int = 2, touch_policy: int = 3, not_after: dt.datetime | None = None,
    ) -> x509.Certificate:  # fmt: skip
        return self.f9.issue(
            public_key,
            name("YubiKey PIV Attestation 9a"),
            [
                raw_ext("1.3.6.1.4.1.41482.3.3", firmware),
                raw_ext("1.3.6.1.4.1.41482.3.7", tlv(0x02, (serial or self.serial).to_bytes(4, "big"))),
                raw_ext("1.3.6.1.4.1.41482.3.8", bytes([pin_policy, touch_policy])),
                raw_ext("1.3.6.1.4.1.41482.3.9", bytes([1])),  # USB-A keychain
            ],
            not_after=not_after,
        )

    def attobj(self, slot_key: Any, key_auth: str, cert: x509.Certificate | None = None) -> bytes:
        """`step ca certificate --attestation-uri yubikey:slot-id=9a`'s attestation object: the signature
        (ES256 over SHA-256 of the key authorization) is itself CBOR-encoded in `sig`."""
        cert = cert or self.slot_certificate(slot_key.public_key())
        sig = slot_key.sign(key_auth.encode(), ec.ECDSA(hashes.SHA256()))
        stmt = {"alg": -7, "sig": cbor2.dumps(sig), "x5c": [der(cert), self.f9.der]}
        return cbor2.dumps({"fmt": "step", "attStmt": stmt})


# ------------------------------------------------------------------------------------------------ TPM


def permanent_identifier(value: str) -> x509.OtherName:
    return x509.OtherName(x509.ObjectIdentifier("1.3.6.1.5.5.7.8.3"), tlv(0x30, tlv(0x0C, value.encode())))


def ak_certificate(
    ca: CA,
    ak_public: Any,
    *,
    device: str | None,
    eku: str = "2.23.133.8.3",
    not_after: dt.datetime | None = None,
) -> x509.Certificate:
    """An AK certificate as WebAuthn §8.3.1 wants it: empty subject, critical SAN with the TPM's
    manufacturer, model and version (and here the device's permanentIdentifier), EKU tcg-kp-AIKCertificate."""
    tpm_name = x509.Name(
        [
            x509.NameAttribute(x509.ObjectIdentifier("2.23.133.2.1"), "id:49424D00"),  # IBM (swtpm)
            x509.NameAttribute(x509.ObjectIdentifier("2.23.133.2.2"), "swtpm"),
            x509.NameAttribute(x509.ObjectIdentifier("2.23.133.2.3"), "id:20191023"),
        ]
    )
    sans: list[x509.GeneralName] = [x509.DirectoryName(tpm_name)]
    if device:
        sans.append(permanent_identifier(device))
    return ca.issue(
        ak_public,
        x509.Name([]),
        [
            (x509.SubjectAlternativeName(sans), True),
            (x509.ExtendedKeyUsage([x509.ObjectIdentifier(eku)]), False),
            (x509.BasicConstraints(ca=False, path_length=None), True),
        ],
        not_after=not_after,
    )
