"""`.AuthorizationCrt` for X5C: the commonly used fields of a Go `*x509.Certificate`."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from .govalues import GoSlice, exported_fields, struct_str
from .publickeys import PublicKeyAlgorithm, public_key_algorithm, wrap_public_key
from .standins import (
    OID_BC,
    OID_KU,
    OID_SAN,
    GoIP,
    GoURL,
    parse_basic_constraints,
    parse_key_usage,
    parse_sans,
)
from .subject import SUBJECT_GO_FIELDS, Subject


@attrs.define(eq=False)
class PkixName:
    """`pkix.Name` (Go field names, no JSON tags)."""

    __go_type__: ClassVar[str] = "pkix.Name"
    Country: GoSlice
    Organization: GoSlice
    OrganizationalUnit: GoSlice
    Locality: GoSlice
    Province: GoSlice
    StreetAddress: GoSlice
    PostalCode: GoSlice
    SerialNumber: str
    CommonName: str
    Names: GoSlice
    ExtraNames: GoSlice
    name: x509.Name | None = attrs.field(default=None, repr=False)

    @classmethod
    def from_x509(cls, name: x509.Name) -> PkixName:
        subject = Subject.from_x509_name(name, extra_names=False)
        names = [
            {"Type": a.oid.dotted_string, "Value": a.value if isinstance(a.value, str) else bytes(a.value)}
            for a in name
        ]
        # pkix.Name has x509util.Subject's fields, in the same order; only its ExtraNames are another kind.
        return cls(
            **{field: getattr(subject, field) for field in SUBJECT_GO_FIELDS if field != "ExtraNames"},
            Names=GoSlice(names, go_type="[]pkix.AttributeTypeAndValue"),
            ExtraNames=GoSlice(go_type="[]pkix.AttributeTypeAndValue", nil=True),
        )

    def String(self) -> str:
        return self._rfc2253()

    def _rfc2253(self) -> str:
        return self.name.rfc4514_string() if hasattr(self, "name") else ""

    def __go_json__(self) -> dict[str, Any]:
        return exported_fields(self)

    def __go_str__(self) -> str:
        return self._rfc2253()


@attrs.define(eq=True)
class PkixExtension:
    """`pkix.Extension` (Go field names, no JSON tags)."""

    __go_type__: ClassVar[str] = "pkix.Extension"
    Id: str
    Critical: bool
    Value: bytes

    def __go_json__(self) -> dict[str, Any]:
        return exported_fields(self)

    def __go_str__(self) -> str:
        return struct_str(*exported_fields(self).values())


# Go fields of the certificate that its toJson object leaves out (as this stand-in always has).
_NOT_IN_JSON = ("PublicKey", "PublicKeyAlgorithm", "Signature")


@attrs.define(eq=False)
class X509CertificateData:
    """The commonly used fields of a Go `*x509.Certificate` (X5C `.AuthorizationCrt`)."""

    __go_type__: ClassVar[str] = "*x509.Certificate"
    Raw: bytes
    Version: int
    SerialNumber: int
    Issuer: PkixName
    Subject: PkixName
    NotBefore: Any
    NotAfter: Any
    KeyUsage: int
    Extensions: GoSlice
    DNSNames: GoSlice
    EmailAddresses: GoSlice
    IPAddresses: GoSlice
    URIs: GoSlice
    PublicKey: Any
    PublicKeyAlgorithm: PublicKeyAlgorithm
    Signature: bytes
    IsCA: bool
    SubjectKeyId: bytes
    AuthorityKeyId: bytes
    certificate: x509.Certificate = attrs.field(repr=False)

    @classmethod
    def from_x509(cls, cert: x509.Certificate) -> X509CertificateData:
        der = cert.public_bytes(serialization.Encoding.DER)
        dns: list[str] = []
        emails: list[str] = []
        ips: list[GoIP] = []
        uris: list[GoURL] = []
        extensions = []
        key_usage = 0
        is_ca = False
        skid = akid = b""
        for ext in cert.extensions:
            raw = ext.value.public_bytes() if hasattr(ext.value, "public_bytes") else b""
            extensions.append(PkixExtension(ext.oid.dotted_string, ext.critical, raw))
            try:
                if ext.oid.dotted_string == OID_SAN:
                    dns, emails, ips, uris = parse_sans(raw)
                elif ext.oid.dotted_string == OID_KU:
                    key_usage = parse_key_usage(raw)
                elif ext.oid.dotted_string == OID_BC:
                    is_ca = parse_basic_constraints(raw).IsCA
                elif isinstance(ext.value, x509.SubjectKeyIdentifier):
                    skid = ext.value.digest
                elif isinstance(ext.value, x509.AuthorityKeyIdentifier):
                    akid = ext.value.key_identifier or b""
            except (ValueError, IndexError):
                pass
        subject, issuer = PkixName.from_x509(cert.subject), PkixName.from_x509(cert.issuer)
        key = cert.public_key()
        return cls(
            Raw=der,
            Version=cert.version.value + 1,
            SerialNumber=cert.serial_number,
            Issuer=issuer,
            Subject=subject,
            NotBefore=cert.not_valid_before_utc,
            NotAfter=cert.not_valid_after_utc,
            KeyUsage=key_usage,
            Extensions=GoSlice(extensions, go_type="[]pkix.Extension"),
            DNSNames=GoSlice(dns, go_type="[]string"),
            EmailAddresses=GoSlice(emails, go_type="[]string"),
            IPAddresses=GoSlice(ips, go_type="[]net.IP"),
            URIs=GoSlice(uris, go_type="[]*url.URL"),
            PublicKey=wrap_public_key(key),
            PublicKeyAlgorithm=public_key_algorithm(key),
            Signature=cert.signature,
            IsCA=is_ca,
            SubjectKeyId=skid,
            AuthorityKeyId=akid,
            certificate=cert,
        )

    def __go_json__(self) -> dict[str, Any]:
        return exported_fields(self, omit=_NOT_IN_JSON)

    def __go_str__(self) -> str:
        return struct_str(self.Subject, self.Issuer, self.SerialNumber, pointer=True)


__all__ = [
    "PkixExtension",
    "PkixName",
    "X509CertificateData",
]
