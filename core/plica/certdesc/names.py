"""The §1.2 name object (subject, issuer, `dn` SAN): decoding, ca.json defaults and Go's RDN encoding."""

from __future__ import annotations

import warnings
from typing import Any

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.name import _NAMEOID_LENGTH_LIMIT, _ASN1Type
from cryptography.x509.oid import NameOID

from plica.asn1 import der_int, der_read, tlv

from .der import der_oid, der_sequence
from .errors import DescriptionError
from .gojson import (
    Decoder,
    dec_string,
    decode_struct,
    decode_struct_list,
    json_kind,
    to_python,
    tuple_multistring,
)
from .goparse import dec_oid

# Go pkix.Name.ToRDNSequence order, with the JSON tag and attribute of each standard attribute.
_NAME_ATTRS: tuple[tuple[str, x509.ObjectIdentifier], ...] = (
    ("country", NameOID.COUNTRY_NAME),
    ("province", NameOID.STATE_OR_PROVINCE_NAME),
    ("locality", NameOID.LOCALITY_NAME),
    ("street_address", NameOID.STREET_ADDRESS),
    ("postal_code", NameOID.POSTAL_CODE),
    ("organization", NameOID.ORGANIZATION_NAME),
    ("organizational_unit", NameOID.ORGANIZATIONAL_UNIT_NAME),
    ("common_name", NameOID.COMMON_NAME),
    ("serial_number", NameOID.SERIAL_NUMBER),
)
# OIDs that are Name fields rather than extraNames when a CSR subject is read (x509util/name.go).
STANDARD_NAME_OIDS = frozenset(oid.dotted_string for _, oid in _NAME_ATTRS)
_EMAIL_ADDRESS_OID = "1.2.840.113549.1.9.1"
PRINTABLE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 '()+,-./:=?")


def go_string_type(value: str) -> _ASN1Type:
    """Go asn1 default for a string: PrintableString when possible (no '*' or '&'), else UTF8String."""
    return _ASN1Type.PrintableString if set(value) <= PRINTABLE else _ASN1Type.UTF8String


def _name_attribute(oid: x509.ObjectIdentifier, value: str, typ: _ASN1Type) -> x509.NameAttribute:
    limits = _NAMEOID_LENGTH_LIMIT.get(oid)
    if limits is not None and not limits[0] <= len(value.encode("utf-8")) <= limits[1]:
        # Go checks no lengths (a 2-letter country, a CN of 1-64 bytes); cryptography refuses them, or
        # with _validate=False still warns.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return x509.NameAttribute(oid, value, typ, _validate=False)
    return x509.NameAttribute(oid, value, typ)


@attrs.frozen
class ExtraName:
    """One `extraNames` entry: an attribute of any type, encoded as its own RDN."""

    type: str
    value: Any


@attrs.frozen
class Name:
    """The §1.2 name object (subject, issuer, `dn` SAN)."""

    country: tuple[str, ...] = ()
    organization: tuple[str, ...] = ()
    organizational_unit: tuple[str, ...] = ()
    locality: tuple[str, ...] = ()
    province: tuple[str, ...] = ()
    street_address: tuple[str, ...] = ()
    postal_code: tuple[str, ...] = ()
    serial_number: str = ""
    common_name: str = ""
    extra_names: tuple[ExtraName, ...] = ()

    def is_empty(self) -> bool:
        return not any(
            [
                self.country,
                self.organization,
                self.organizational_unit,
                self.locality,
                self.province,
                self.street_address,
                self.postal_code,
                self.serial_number,
                self.common_name,
                self.extra_names,
            ]
        )

    def with_defaults(self, defaults: dict[str, Any] | None) -> Name:
        """Fill empty attributes from ca.json `authority.template` (§1.10 step 2)."""
        if not defaults:
            return self
        changes: dict[str, Any] = {}
        for key, attr in (
            ("country", "country"),
            ("organization", "organization"),
            ("organizationalUnit", "organizational_unit"),
            ("locality", "locality"),
            ("province", "province"),
            ("streetAddress", "street_address"),
        ):
            value = defaults.get(key)
            if value and not getattr(self, attr):
                changes[attr] = (value,) if isinstance(value, str) else tuple(value)
        for key, attr in (("serialNumber", "serial_number"), ("commonName", "common_name")):
            value = defaults.get(key)
            if value and not getattr(self, attr):
                changes[attr] = str(value)
        return attrs.evolve(self, **changes) if changes else self

    def to_x509(self) -> x509.Name:
        """Encode as Go's `pkix.Name.ToRDNSequence`: fixed RDN order, one multi-valued RDN per attribute."""
        extra_oids = {e.type for e in self.extra_names}
        rdns: list[x509.RelativeDistinguishedName] = []
        for attr, oid in _NAME_ATTRS:
            value = getattr(self, attr)
            values = [value] if isinstance(value, str) else list(value)
            if attr in ("common_name", "serial_number") and not value:
                continue
            if not values or oid.dotted_string in extra_oids:
                continue
            # A SET cannot hold the same value twice (cryptography refuses it); Go would repeat it.
            unique = list(dict.fromkeys(values))
            rdns.append(
                x509.RelativeDistinguishedName([_name_attribute(oid, v, go_string_type(v)) for v in unique])
            )
        for extra in self.extra_names:
            if not extra.type:
                raise DescriptionError("error marshaling subject: extraNames entry without a type")
            if not isinstance(extra.value, str):
                raise DescriptionError(
                    f"error marshaling subject: extraNames {extra.type} has a {json_kind(extra.value)} "
                    "value; only strings are supported"
                )
            if extra.type == _EMAIL_ADDRESS_OID:
                typ = _ASN1Type.IA5String
                if not extra.value.isascii():
                    raise DescriptionError(f"error marshaling subject: {extra.value!r} is not an IA5String")
            else:
                typ = go_string_type(extra.value)
            rdns.append(
                x509.RelativeDistinguishedName(
                    [_name_attribute(x509.ObjectIdentifier(extra.type), extra.value, typ)]
                )
            )
        return x509.Name(rdns)


_EXTRA_NAME_FIELDS: dict[str, tuple[str, Decoder]] = {
    "type": ("type", dec_oid),
    "value": ("value", lambda v, p: to_python(v)),
}


def _dec_extra_names(value: Any, path: str) -> tuple[ExtraName, ...]:
    items = decode_struct_list(value, _EXTRA_NAME_FIELDS, path, "x509util.DistinguishedName")
    # A null entry stays, typeless, and is refused when the name is encoded.
    return tuple(
        ExtraName("", None) if f is None else ExtraName(f.get("type", ""), f.get("value")) for f in items
    )


_NAME_FIELDS: dict[str, tuple[str, Decoder]] = {
    "country": ("country", tuple_multistring),
    "organization": ("organization", tuple_multistring),
    "organizationalUnit": ("organizational_unit", tuple_multistring),
    "locality": ("locality", tuple_multistring),
    "province": ("province", tuple_multistring),
    "streetAddress": ("street_address", tuple_multistring),
    "postalCode": ("postal_code", tuple_multistring),
    "serialNumber": ("serial_number", dec_string),
    "commonName": ("common_name", dec_string),
    "extraNames": ("extra_names", _dec_extra_names),
}


def dec_name(value: Any, path: str) -> Name:
    """A Name object, or a bare string meaning just the common name."""
    if isinstance(value, str):
        return Name(common_name=value)
    return Name(**decode_struct(value, _NAME_FIELDS, path, "x509util.Name"))


def name_from_der(der: bytes, public_key: Any) -> x509.Name:
    """Turn a DER `Name` into an `x509.Name` (for `rawSubject`).

    cryptography has no public DER-to-Name loader, so the name is wrapped in a throwaway CSR shell around
    the real public key and read back; cryptography keeps each value's string type, so re-encoding gives
    the same bytes for any DER input.
    """
    tag, _, end = der_read(der)
    if tag != 0x30 or end != len(der):
        raise ValueError("rawSubject is not a DER Name SEQUENCE")
    spki = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    info = der_sequence(der_int(0), der, spki, tlv(0xA0, b""))
    shell = der_sequence(info, der_sequence(der_oid("1.2.840.10045.4.3.2")), tlv(0x03, b"\x00"))
    return x509.load_der_x509_csr(shell).subject


__all__ = [
    "PRINTABLE",
    "STANDARD_NAME_OIDS",
    "ExtraName",
    "Name",
    "dec_name",
    "go_string_type",
    "name_from_der",
]
