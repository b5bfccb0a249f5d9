"""step's JSON X.509 certificate description (`x509util.Certificate`), decoded with Go `encoding/json` rules.

A rendered template is decoded into an `X509Description` (docs/reference/step-templates.md §1), which `apply` turns into a
`cryptography` `CertificateBuilder` carrying the subject, issuer, public key and every extension, in the
order and with the criticality Go's `x509.CreateCertificate` gives them. Validity, serial number and the
signature algorithm stay with the caller (§1.10 steps 4 and 7); the description only exposes them.

The field types live in their own modules: `gojson` (decoding rules), `names`, `sans`, `keyusage`,
`extensions` and `signing`.
"""

from __future__ import annotations

import binascii
import datetime as dt
import hashlib
from collections.abc import Sequence
from typing import Any

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtensionOID

from plica.asn1 import der_read

from .der import der_children
from .errors import DescriptionError
from .extensions import (
    BasicConstraints,
    NameConstraints,
    RawExtension,
    dec_basic_constraints,
    dec_extensions,
    dec_name_constraints,
)
from .gojson import (
    Decoder,
    dec_bytes,
    dec_int,
    dec_time,
    decode_certificate,
    tuple_multistring,
    tuple_of,
)
from .goparse import IPAddress, classify_san, dec_multi_oid, ia5_name, normalize_go_url, parse_go_ip
from .keyusage import KEY_USAGES, dec_ext_key_usage, dec_key_usage, key_usage_extension
from .names import Name, dec_name, name_from_der
from .sans import (
    STANDARD_SAN_TYPES,
    SANEntry,
    dec_ip_list,
    dec_san_strings,
    dec_sans,
    dec_uris,
    general_name_for,
)
from .signing import dec_signature_algorithm
from .signing import signing_params as signing_params  # authority.py imports it from here

# -- serialNumber ----------------------------------------------------------------------------------------


def parse_go_bigint(text: str) -> int:
    """Go `big.Int.SetString(s, 0)`: optional sign, 0x/0b/0o or bare-0 octal prefixes, '_' separators."""
    body = text[1:] if text[:1] in ("+", "-") else text
    prefix = body[:2].lower()
    if prefix in ("0x", "0b", "0o"):
        base, digits, prefixed = {"0x": 16, "0b": 2, "0o": 8}[prefix], body[2:], True
    elif len(body) > 1 and body[0] == "0":
        base, digits, prefixed = 8, body[1:], True
    else:
        base, digits, prefixed = 10, body, False
    # '_' may separate the prefix from a digit and successive digits, nothing else.
    if (
        not digits
        or not all(c.isascii() and (c.isalnum() or c == "_") for c in digits)
        or digits.endswith("_")
        or "__" in digits
        or (digits.startswith("_") and not prefixed)
    ):
        raise ValueError(text)
    value = int(digits.replace("_", ""), base)
    return -value if text.startswith("-") else value


def _dec_serial(value: Any, path: str) -> int:
    if isinstance(value, str):
        try:
            return parse_go_bigint(value)
        except ValueError:
            raise DescriptionError(f"error unmarshaling json: serialNumber {value} is not valid") from None
    return dec_int(value, path)


# -- the description -------------------------------------------------------------------------------------


def _skid(public_key: Any, *, sha256: bool = False) -> bytes:
    """RFC 5280 method 1 over the subjectPublicKey BIT STRING contents (SHA-256 truncated if asked)."""
    spki = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    _, start, end = der_read(spki)
    children = der_children(spki, start, end)
    _, bs, be, _ = children[1]
    bits = spki[bs + 1 : be]  # skip the unused-bits byte
    return hashlib.sha256(bits).digest()[:20] if sha256 else hashlib.sha1(bits).digest()


_SAN_OID = ExtensionOID.SUBJECT_ALTERNATIVE_NAME.dotted_string

# The signing CA certificate is the same object for request after request: remember its subject DER and
# SKID instead of re-encoding and re-parsing them each time. Keyed by id() with the certificate kept
# alive in the value, so an id cannot be reused while its entry exists.
_issuer_cache: dict[int, tuple[x509.Certificate, bytes, bytes]] = {}


def _issuer_info(cert: x509.Certificate) -> tuple[bytes, bytes]:
    cached = _issuer_cache.get(id(cert))
    if cached is not None and cached[0] is cert:
        return cached[1], cached[2]
    try:
        skid = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        skid = b""
    if len(_issuer_cache) >= 64:
        _issuer_cache.clear()
    _issuer_cache[id(cert)] = (cert, cert.subject.public_bytes(), skid)
    return _issuer_cache[id(cert)][1], skid


@attrs.frozen
class X509Description:
    """The decoded JSON description of an X.509 certificate (docs/reference/step-templates.md §1.1).

    Empty tuples mean "absent". `subject_key_id`/`authority_key_id` distinguish None (absent) from b""
    because step does (§1.1 corner case).
    """

    version: int = 0
    subject: Name = Name()
    raw_subject: bytes = b""
    issuer: Name = Name()
    serial_number: int | None = None
    dns_names: tuple[str, ...] = ()
    email_addresses: tuple[str, ...] = ()
    ip_addresses: tuple[IPAddress, ...] = ()
    uris: tuple[str, ...] = ()
    sans: tuple[SANEntry, ...] = ()
    not_before: dt.datetime | None = None
    not_after: dt.datetime | None = None
    extensions: tuple[RawExtension, ...] = ()
    key_usage: int = 0
    ext_key_usage: tuple[str, ...] = ()
    unknown_ext_key_usage: tuple[str, ...] = ()
    subject_key_id: bytes | None = None
    authority_key_id: bytes | None = None
    ocsp_server: tuple[str, ...] = ()
    issuing_certificate_url: tuple[str, ...] = ()
    crl_distribution_points: tuple[str, ...] = ()
    policy_identifiers: tuple[str, ...] = ()
    basic_constraints: BasicConstraints | None = None
    name_constraints: NameConstraints | None = None
    signature_algorithm: str = ""
    template: str = attrs.field(default="template", eq=False)

    @classmethod
    def from_json(cls, text: str, *, template: str = "template") -> X509Description:
        """Decode rendered template output (the first JSON value only) with Go's rules."""
        fields = decode_certificate(text, _X509_FIELDS, "x509util.Certificate", template=template)
        return cls(**fields, template=template)

    # -- derived views -----------------------------------------------------------------------------------

    @property
    def key_usage_names(self) -> list[str]:
        return [name for name, bit in KEY_USAGES if self.key_usage & bit]

    @property
    def has_extended_sans(self) -> bool:
        return any(s.type not in STANDARD_SAN_TYPES for s in self.sans)

    def has_extension(self, oid: str) -> bool:
        return any(e.id == oid for e in self.extensions)

    def standard_sans(self) -> list[x509.GeneralName]:
        """SANs for the standard path: explicit lists, then `sans`, grouped DNS, email, IP, URI."""
        dns, emails = list(self.dns_names), list(self.email_addresses)
        ips, uris = list(self.ip_addresses), list(self.uris)
        for san in self.sans:
            typ = san.type.lower()
            if typ in ("", "auto"):
                typ = classify_san(san.value)
            if typ == "dns":
                dns.append(san.value)
            elif typ == "email":
                emails.append(san.value)
            elif typ == "ip":
                ip = parse_go_ip(san.value)
                if ip is not None:  # invalid values are dropped silently on this path
                    ips.append(ip)
            elif typ == "uri":
                url = normalize_go_url(san.value)
                if url is not None:
                    uris.append(url)
        try:
            names: list[x509.GeneralName] = [ia5_name(x509.DNSName, v) for v in dns]
            names += [ia5_name(x509.RFC822Name, v) for v in emails]
            names += [x509.IPAddress(ip) for ip in ips]
            names += [ia5_name(x509.UniformResourceIdentifier, v) for v in uris]
        except ValueError as e:
            raise DescriptionError(str(e)) from None
        return names

    def extended_san_extension(self) -> x509.SubjectAlternativeName:
        """The SAN extension step builds itself when `sans` has non-standard types (§1.3 extended path)."""
        names: list[x509.GeneralName] = []
        entries = [SANEntry("dns", v) for v in self.dns_names]
        entries += [SANEntry("email", v) for v in self.email_addresses]
        entries += [SANEntry("ip", str(v)) for v in self.ip_addresses]
        entries += [SANEntry("uri", v) for v in self.uris]
        for san in [*entries, *self.sans]:
            try:
                names.append(general_name_for(san))
            except (ValueError, TypeError, binascii.Error) as e:
                raise DescriptionError(str(e)) from None
        return x509.SubjectAlternativeName(names)

    # -- building ------------------------------------------------------------------------------------------

    def subject_name(self, public_key: Any, subject_defaults: dict[str, Any] | None = None) -> x509.Name:
        """The subject as it will be encoded: `rawSubject` byte for byte, else `subject` plus defaults."""
        if self.raw_subject:
            try:
                return name_from_der(self.raw_subject, public_key)
            except ValueError as e:
                raise DescriptionError(f"invalid rawSubject: {e}", template=self.template) from None
        try:
            return self.subject.with_defaults(subject_defaults).to_x509()
        except DescriptionError as e:
            raise e.with_template(self.template) from None
        except ValueError as e:
            raise DescriptionError(f"error marshaling subject: {e}", template=self.template) from None

    def apply(
        self,
        builder: x509.CertificateBuilder,
        *,
        public_key: Any,
        issuer_cert: x509.Certificate | None = None,
        subject_defaults: dict[str, Any] | None = None,
        provisioner_extension: x509.Extension[x509.ExtensionType] | None = None,
    ) -> x509.CertificateBuilder:
        """Set subject, issuer, public key and all extensions on a fresh `builder`.

        `issuer_cert` is the signing CA certificate; None means self-signed (the issuer is the subject).
        `subject_defaults` is ca.json `authority.template`. `provisioner_extension`, when given, replaces
        a template copy with the same OID in place, or goes last (§1.10 step 3). Validity, serial number
        and signing stay with the caller.
        """
        try:
            return self._apply(builder, public_key, issuer_cert, subject_defaults, provisioner_extension)
        except DescriptionError as e:
            raise e.with_template(self.template) from None
        except (ValueError, TypeError) as e:
            raise DescriptionError(f"error creating certificate: {e}", template=self.template) from None

    def _apply(
        self,
        builder: x509.CertificateBuilder,
        public_key: Any,
        issuer_cert: x509.Certificate | None,
        subject_defaults: dict[str, Any] | None,
        provisioner_extension: x509.Extension[x509.ExtensionType] | None,
    ) -> x509.CertificateBuilder:
        if self.serial_number is not None and self.serial_number < 0:
            raise DescriptionError("x509: serial number must be positive")
        subject = self.subject_name(public_key, subject_defaults)
        subject_der = subject.public_bytes()
        issuer = issuer_cert.subject if issuer_cert is not None else subject
        builder = builder.subject_name(subject).issuer_name(issuer).public_key(public_key)

        raw_ids = {e.id for e in self.extensions}
        seen: set[str] = set()
        for ext in self.extensions:
            if ext.id in seen:
                raise DescriptionError(f"duplicate extension {ext.id}")
            seen.add(ext.id)

        generated: list[tuple[x509.ExtensionType, bool]] = []

        def add(oid: x509.ObjectIdentifier, value: x509.ExtensionType | None, critical: bool) -> None:
            # A raw extension with the same OID replaces the generated one (Go skips it).
            if value is not None and oid.dotted_string not in raw_ids:
                generated.append((value, critical))

        # Go's buildCertExtensions order.
        if self.key_usage:
            add(ExtensionOID.KEY_USAGE, key_usage_extension(self.key_usage), True)
        if self.ext_key_usage or self.unknown_ext_key_usage:
            ekus = [x509.ObjectIdentifier(o) for o in (*self.ext_key_usage, *self.unknown_ext_key_usage)]
            add(ExtensionOID.EXTENDED_KEY_USAGE, x509.ExtendedKeyUsage(ekus), False)
        if self.basic_constraints is not None:
            add(ExtensionOID.BASIC_CONSTRAINTS, self.basic_constraints.to_x509(), True)
        is_ca = self.basic_constraints is not None and self.basic_constraints.is_ca
        if self.subject_key_id is None:
            skid = _skid(public_key)
        elif self.subject_key_id == b"" and is_ca:
            # step leaves an explicit "" alone; Go 1.25 then generates a truncated SHA-256 SKID for CAs.
            skid = _skid(public_key, sha256=True)
        else:
            skid = self.subject_key_id
        if skid:
            add(ExtensionOID.SUBJECT_KEY_IDENTIFIER, x509.SubjectKeyIdentifier(skid), False)
        akid = self.authority_key_id or b""
        if issuer_cert is not None:
            issuer_der, issuer_skid = _issuer_info(issuer_cert)
            if issuer_der != subject_der and issuer_skid:
                akid = issuer_skid
        if akid:
            add(
                ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
                x509.AuthorityKeyIdentifier(
                    akid, authority_cert_issuer=None, authority_cert_serial_number=None
                ),
                False,
            )
        if self.ocsp_server or self.issuing_certificate_url:
            descriptions = [
                x509.AccessDescription(AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(u))
                for u in self.ocsp_server
            ] + [
                x509.AccessDescription(
                    AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(u)
                )
                for u in self.issuing_certificate_url
            ]
            add(
                ExtensionOID.AUTHORITY_INFORMATION_ACCESS,
                x509.AuthorityInformationAccess(descriptions),
                False,
            )
        extended = self.has_extended_sans and _SAN_OID not in raw_ids
        if not extended:
            names = self.standard_sans()
            if names:
                add(
                    ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
                    x509.SubjectAlternativeName(names),
                    subject_der == b"\x30\x00",  # critical exactly when the subject is empty
                )
        if self.policy_identifiers:
            policies = [
                x509.PolicyInformation(x509.ObjectIdentifier(o), None) for o in self.policy_identifiers
            ]
            add(ExtensionOID.CERTIFICATE_POLICIES, x509.CertificatePolicies(policies), False)
        if self.name_constraints is not None:
            add(
                ExtensionOID.NAME_CONSTRAINTS, self.name_constraints.to_x509(), self.name_constraints.critical
            )
        if self.crl_distribution_points:
            points = [
                x509.DistributionPoint([x509.UniformResourceIdentifier(u)], None, None, None)
                for u in self.crl_distribution_points
            ]
            add(ExtensionOID.CRL_DISTRIBUTION_POINTS, x509.CRLDistributionPoints(points), False)

        for value, critical in generated:
            builder = builder.add_extension(value, critical)
        if extended:
            # step prepends its own SAN to the raw extensions; criticality follows the template's subject
            # (before ca.json defaults are applied), as in x509util.NewCertificate.
            empty = not self.raw_subject and self.subject.is_empty()
            builder = builder.add_extension(self.extended_san_extension(), empty)
        replaced = False
        for ext in self.extensions:
            if provisioner_extension is not None and ext.id == provisioner_extension.oid.dotted_string:
                builder = builder.add_extension(provisioner_extension.value, provisioner_extension.critical)
                replaced = True
                continue
            value = x509.UnrecognizedExtension(x509.ObjectIdentifier(ext.id), ext.value)
            builder = builder.add_extension(value, ext.critical)
        if provisioner_extension is not None and not replaced:
            builder = builder.add_extension(provisioner_extension.value, provisioner_extension.critical)
        return builder


_X509_FIELDS: dict[str, tuple[str, Decoder]] = {
    "version": ("version", dec_int),
    "subject": ("subject", dec_name),
    "rawSubject": ("raw_subject", dec_bytes),
    "issuer": ("issuer", dec_name),
    "serialNumber": ("serial_number", _dec_serial),
    "dnsNames": ("dns_names", dec_san_strings),
    "emailAddresses": ("email_addresses", dec_san_strings),
    "ipAddresses": ("ip_addresses", dec_ip_list),
    "uris": ("uris", dec_uris),
    "sans": ("sans", dec_sans),
    "notBefore": ("not_before", dec_time),
    "notAfter": ("not_after", dec_time),
    "extensions": ("extensions", dec_extensions),
    "keyUsage": ("key_usage", dec_key_usage),
    "extKeyUsage": ("ext_key_usage", dec_ext_key_usage),
    "unknownExtKeyUsage": ("unknown_ext_key_usage", tuple_of(dec_multi_oid)),
    "subjectKeyId": ("subject_key_id", dec_bytes),
    "authorityKeyId": ("authority_key_id", dec_bytes),
    "ocspServer": ("ocsp_server", tuple_multistring),
    "issuingCertificateURL": ("issuing_certificate_url", tuple_multistring),
    "crlDistributionPoints": ("crl_distribution_points", tuple_multistring),
    "policyIdentifiers": ("policy_identifiers", tuple_of(dec_multi_oid)),
    "basicConstraints": ("basic_constraints", dec_basic_constraints),
    "nameConstraints": ("name_constraints", dec_name_constraints),
    "signatureAlgorithm": ("signature_algorithm", dec_signature_algorithm),
}


__all__: Sequence[str] = (
    "DescriptionError",
    "X509Description",
    "parse_go_bigint",
    "signing_params",
)
