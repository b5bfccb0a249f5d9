"""`.Insecure.CR` for X.509 (§3.2): the CSR as sent, as step's `*x509util.CertificateRequest`."""

from __future__ import annotations

import base64
import functools
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from plica.asn1 import der_read

from .der import der_children, der_decode_oid
from .govalues import GoSlice, struct_str
from .publickeys import PublicKeyAlgorithm, public_key_algorithm, wrap_public_key
from .standins import (
    OID_BC,
    OID_EKU,
    OID_KU,
    OID_SAN,
    BasicConstraintsData,
    Extension,
    ExtKeyUsage,
    GoIP,
    GoURL,
    GoURLList,
    KeyUsage,
    SignatureAlgorithm,
    parse_basic_constraints,
    parse_ext_key_usage,
    parse_key_usage,
    parse_sans,
)
from .subject import Subject

_OID_EXTENSION_REQUEST = "1.2.840.113549.1.9.14"


def _csr_parts(der: bytes) -> tuple[int, bytes, list[tuple[str, bool, bytes]]]:
    """(version, raw subject DER, requested extensions) read straight from the CSR bytes.

    Reading the DER ourselves keeps the subject and extension values byte-exact, which the
    passthrough template (§7.6) relies on.
    """
    _, start, end = der_read(der)
    _, istart, iend, _ = der_children(der, start, end)[0]
    info = der_children(der, istart, iend)
    version = int.from_bytes(der[info[0][1] : info[0][2]], "big", signed=True)
    _, _, subject_end, subject_start = info[1]
    raw_subject = der[subject_start:subject_end]
    extensions: list[tuple[str, bool, bytes]] = []
    for tag, astart, aend, _ in info[3:]:
        if tag != 0xA0:
            continue
        for _, s, e, _ in der_children(der, astart, aend):  # each Attribute SEQUENCE
            attribute = der_children(der, s, e)
            if (
                len(attribute) < 2
                or der_decode_oid(der[attribute[0][1] : attribute[0][2]]) != _OID_EXTENSION_REQUEST
            ):
                continue
            for _, vs, ve, _ in der_children(der, attribute[1][1], attribute[1][2]):  # SET of Extensions
                for _, xs, xe, _ in der_children(der, vs, ve):  # each Extension
                    parts = der_children(der, xs, xe)
                    oid = der_decode_oid(der[parts[0][1] : parts[0][2]])
                    critical = False
                    if len(parts) == 3:
                        critical = der[parts[1][1] : parts[1][2]] != b"\x00"
                    value_tlv = parts[-1]
                    extensions.append((oid, critical, der[value_tlv[1] : value_tlv[2]]))
    return version, raw_subject, extensions


class CertificateRequest:
    """`*x509util.CertificateRequest`, the CSR as sent (`.Insecure.CR`, table 3.2).

    The extension-derived fields are read from the DER at once (byte-exact); Subject and PublicKey are
    built on first use, since many templates never look at them and they are the costly part.
    """

    __go_type__ = "*x509util.CertificateRequest"
    SANs: Any = None
    ChallengePassword = ""
    Signer: Any = None

    def __init__(self, csr: x509.CertificateSigningRequest) -> None:
        self.csr = csr
        version, raw_subject, requested = _csr_parts(csr.public_bytes(serialization.Encoding.DER))
        subject_empty = raw_subject == b"\x30\x00"
        dns: list[str] = []
        emails: list[str] = []
        ips: list[GoIP] = []
        uris: list[GoURL] = []
        extensions: list[Extension] = []
        key_usage = 0
        ekus: list[str] = []
        unknown: list[str] = []
        basic: BasicConstraintsData | None = None
        for oid, critical, value in requested:
            if oid == OID_SAN:
                critical = critical or subject_empty  # step marks it critical when the subject is empty
                d, m, i, u = parse_sans(value)
                dns += d
                emails += m
                ips += i
                uris += u
            # Malformed key usage or basic constraints requests are ignored, as in step.
            try:
                if oid == OID_KU:
                    key_usage = parse_key_usage(value)
                elif oid == OID_EKU:
                    ekus, unknown = parse_ext_key_usage(value)
                elif oid == OID_BC:
                    basic = parse_basic_constraints(value)
            except (ValueError, IndexError):
                pass
            extensions.append(Extension(oid, critical, value))
        self.Version = version
        self.RawSubject = raw_subject
        self.DNSNames = GoSlice(dns, go_type="[]string", nil=not dns)
        self.EmailAddresses = GoSlice(emails, go_type="[]string", nil=not emails)
        self.IPAddresses = GoSlice(ips, go_type="[]net.IP", nil=not ips)
        self.URIs = GoURLList(uris, nil=not uris)
        self.Extensions = GoSlice(extensions, go_type="[]x509util.Extension", nil=not extensions)
        self.KeyUsage = KeyUsage(key_usage)
        self.ExtKeyUsage = ExtKeyUsage(ekus)
        self.UnknownExtKeyUsage = GoSlice(unknown, go_type="x509util.UnknownExtKeyUsage", nil=not unknown)
        self.BasicConstraints = basic
        self.Signature = csr.signature
        self.SignatureAlgorithm = SignatureAlgorithm()

    @classmethod
    def from_csr(cls, csr: x509.CertificateSigningRequest) -> CertificateRequest:
        return cls(csr)

    @functools.cached_property
    def Subject(self) -> Subject:
        return Subject.from_x509_name(self.csr.subject)

    @functools.cached_property
    def _key(self) -> Any:
        return self.csr.public_key()

    @functools.cached_property
    def PublicKey(self) -> Any:
        return wrap_public_key(self._key)

    @functools.cached_property
    def PublicKeyAlgorithm(self) -> PublicKeyAlgorithm:
        return public_key_algorithm(self._key)

    def __go_json__(self) -> dict[str, Any]:
        return {
            "version": self.Version,
            "subject": self.Subject,
            "rawSubject": base64.b64encode(self.RawSubject).decode(),
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
            "signatureAlgorithm": "",
        }

    def __go_str__(self) -> str:
        return struct_str(
            self.Version,
            self.Subject,
            self.RawSubject,
            self.DNSNames,
            self.EmailAddresses,
            self.IPAddresses,
            self.URIs,
            self.SANs if self.SANs is not None else [],
            self.Extensions,
            self.KeyUsage,
            self.ExtKeyUsage,
            self.UnknownExtKeyUsage,
            self.BasicConstraints,
            self.SignatureAlgorithm,
            self.PublicKey,
            self.PublicKeyAlgorithm,
            self.Signature,
            pointer=True,
        )


__all__ = [
    "CertificateRequest",
]
