"""step's JSON X.509 certificate description (`x509util.Certificate`), decoded with Go `encoding/json` rules.

A rendered template is decoded into an `X509Description` (templates.md §1), which `apply` turns into a
`cryptography` `CertificateBuilder` carrying the subject, issuer, public key and every extension, in the
order and with the criticality Go's `x509.CreateCertificate` gives them. Validity, serial number and the
signature algorithm stay with the caller (§1.10 steps 4 and 7); the description only exposes them.

This module also holds the small Go-JSON and DER helpers shared by `sshdesc` and `data`.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import ipaddress
import json
import re
import warnings
from collections.abc import Callable, Sequence
from typing import Any, TypeAlias

import attrs
import idna
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.x509.name import _NAMEOID_LENGTH_LIMIT, _ASN1Type
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtensionOID, NameOID

from plica.asn1 import der_int, der_read, tlv
from plica.asn1 import der_oid as asn1_der_oid

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network


class DescriptionError(ValueError):
    """A rendered template could not be turned into a certificate (step-ca answers 500).

    `template` names the template, `detail` is the bare reason; `str(err)` carries both.
    """

    def __init__(self, detail: str, *, template: str | None = None) -> None:
        self.detail = detail
        self.template = template
        super().__init__(f'template "{template}": {detail}' if template else detail)

    def with_template(self, template: str) -> DescriptionError:
        return self if self.template else DescriptionError(self.detail, template=template)


# ---------------------------------------------------------------------------------------------------------
# Go encoding/json emulation


class JSONObject(list[tuple[str, Any]]):
    """A decoded JSON object as its (key, value) pairs in document order.

    Kept as pairs rather than a dict because Go matches keys case-insensitively with "last one wins",
    and because arrays and objects must stay distinguishable (`list` alone cannot tell them apart).
    """

    def to_python(self) -> dict[str, Any]:
        return {k: to_python(v) for k, v in self}


def to_python(value: Any) -> Any:
    """Convert a decoded value to plain dicts/lists (last duplicate key wins, as in Go maps)."""
    if isinstance(value, JSONObject):
        return value.to_python()
    if isinstance(value, list):
        return [to_python(v) for v in value]
    return value


def _reject_constant(name: str) -> Any:
    # Python's json accepts NaN/Infinity; Go's does not.
    raise ValueError(f"invalid character '{name[0]}' looking for beginning of value")


_DECODER = json.JSONDecoder(object_pairs_hook=JSONObject, parse_constant=_reject_constant)
_GO_WS = " \t\r\n"


def decode_first_value(text: str) -> Any:
    """Decode the first JSON value of `text`, ignoring whatever follows it (json.Decoder.Decode)."""
    i = 0
    while i < len(text) and text[i] in _GO_WS:
        i += 1
    if i == len(text):
        raise DescriptionError("error unmarshaling certificate: EOF")
    try:
        value, _ = _DECODER.raw_decode(text, i)
    except json.JSONDecodeError as e:
        raise DescriptionError(f"error unmarshaling certificate: {e.msg} at offset {e.pos}") from None
    except (ValueError, RecursionError) as e:
        raise DescriptionError(f"error unmarshaling certificate: {e}") from None
    return value


def json_kind(value: Any) -> str:
    """The JSON type name Go uses in "cannot unmarshal X into ..." messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, JSONObject):
        return "object"
    return "array"


def type_error(value: Any, path: str, go_type: str) -> DescriptionError:
    return DescriptionError(
        f"json: cannot unmarshal {json_kind(value)} into Go value {path} of type {go_type}"
    )


def _fold(key: str) -> str:
    # Go's foldName: case-insensitive, with the two Unicode letters that simple-fold onto ASCII.
    return key.replace("\u017f", "s").replace("\u212a", "k").lower()


Decoder: TypeAlias = Callable[[Any, str], Any]


def decode_struct(
    obj: Any, fields: dict[str, tuple[str, Decoder]], path: str, go_type: str
) -> dict[str, Any]:
    """Decode a JSON object into keyword arguments, Go style.

    `fields` maps the JSON tag to (attribute name, decoder). Keys match exactly or case-insensitively,
    unknown keys are ignored, a later duplicate wins, and `null` leaves the field unset.
    """
    if not isinstance(obj, JSONObject):
        raise type_error(obj, path, go_type)
    folded = {_fold(k): k for k in fields}
    out: dict[str, Any] = {}
    for key, value in obj:
        tag = key if key in fields else folded.get(_fold(key))
        if tag is None or value is None:
            continue
        attr, decoder = fields[tag]
        out[attr] = decoder(value, f"{path}.{tag}")
    return out


def dec_string(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise type_error(value, path, "string")
    return value


def dec_bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise type_error(value, path, "bool")
    return value


def dec_int(value: Any, path: str) -> int:
    # Go decodes a number into an int only from an integer literal that fits in 64 bits.
    if isinstance(value, bool) or not isinstance(value, int) or not -(2**63) <= value < 2**63:
        raise type_error(value, path, "int")
    return value


def dec_uint64(value: Any, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**64:
        raise type_error(value, path, "uint64")
    return value


def dec_string_list(value: Any, path: str) -> list[str]:
    """A JSON array of strings (`[]string`); a null element decodes to ""."""
    if not isinstance(value, list) or isinstance(value, JSONObject):
        raise type_error(value, path, "[]string")
    out = []
    for i, v in enumerate(value):
        if v is None:
            out.append("")
        elif isinstance(v, str):
            out.append(v)
        else:
            raise type_error(v, f"{path}[{i}]", "string")
    return out


def dec_multistring(value: Any, path: str) -> list[str]:
    """step's MultiString: a string or an array of strings."""
    if isinstance(value, str):
        return [value]
    return dec_string_list(value, path)


def dec_string_map(value: Any, path: str) -> dict[str, str]:
    """`map[string]string`; a null value decodes to ""."""
    if not isinstance(value, JSONObject):
        raise type_error(value, path, "map[string]string")
    out: dict[str, str] = {}
    for k, v in value:
        if v is None:
            out[k] = ""
        elif isinstance(v, str):
            out[k] = v
        else:
            raise type_error(v, f"{path}.{k}", "string")
    return out


def dec_bytes(value: Any, path: str) -> bytes:
    """`[]byte`: standard base64 with padding (Go skips CR and LF inside it)."""
    if not isinstance(value, str):
        raise type_error(value, path, "[]uint8")
    try:
        return base64.b64decode(value.replace("\r", "").replace("\n", ""), validate=True)
    except (binascii.Error, ValueError):
        raise DescriptionError(f"json: {path}: illegal base64 data in {value!r}") from None


_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|([+-])(\d{2}):(\d{2}))", re.ASCII
)


def parse_rfc3339(text: str) -> dt.datetime | None:
    """Parse an RFC 3339 time as Go's `time.Time.UnmarshalJSON`; the zero time gives None (unset)."""
    m = _RFC3339.fullmatch(text)
    if not m:
        raise ValueError(f'parsing time "{text}" as RFC 3339: cannot parse')
    year, month, day, hour, minute, second = (int(m.group(i)) for i in range(1, 7))
    frac = m.group(7) or ""
    if m.group(8) == "Z":
        tz = dt.UTC
    else:
        oh, om = int(m.group(10)), int(m.group(11))
        if oh > 23 or om > 59:
            raise ValueError(f'parsing time "{text}": time zone offset out of range')
        sign = -1 if m.group(9) == "-" else 1
        tz = dt.timezone(sign * dt.timedelta(hours=oh, minutes=om))
    if (year, month, day, hour, minute, second, frac.strip("0")) == (1, 1, 1, 0, 0, 0, "") and (
        tz is dt.UTC or tz.utcoffset(None) == dt.timedelta(0)
    ):
        return None
    try:
        # Python keeps microseconds; Go's nanoseconds beyond that are dropped.
        return dt.datetime(year, month, day, hour, minute, second, int((frac + "000000")[:6]), tzinfo=tz)
    except ValueError as e:
        raise ValueError(f'parsing time "{text}": {e}') from None


def dec_time(value: Any, path: str) -> dt.datetime | None:
    if not isinstance(value, str):
        raise type_error(value, path, "time.Time")
    try:
        return parse_rfc3339(value)
    except ValueError as e:
        raise DescriptionError(f"json: {path}: {e}") from None


# ---------------------------------------------------------------------------------------------------------
# OIDs, IPs and URLs the way Go parses them


def parse_oid(text: str) -> x509.ObjectIdentifier:
    """Dotted OID; Go accepts any decimal arcs, the ASN.1 rules (2+ arcs, first <= 2, ...) still apply."""
    parts = text.split(".")
    if len(parts) < 2 or not all(p.isascii() and p.isdigit() for p in parts):
        raise ValueError(f"{text} is not an ASN1 object identifier")
    try:
        return x509.ObjectIdentifier(".".join(str(int(p)) for p in parts))
    except ValueError:
        raise ValueError(f"{text} is not a valid ASN1 object identifier") from None


def dec_oid(value: Any, path: str) -> str:
    """An OID string; "" is allowed here (it means "no OID"), the caller decides what that does."""
    text = dec_string(value, path)
    if text == "":
        return ""
    try:
        return parse_oid(text).dotted_string
    except ValueError as e:
        raise DescriptionError(f"error unmarshaling json: {e}") from None


def dec_multi_oid(value: Any, path: str) -> list[str]:
    out = []
    for text in dec_multistring(value, path):
        try:
            out.append(parse_oid(text).dotted_string)
        except ValueError as e:
            raise DescriptionError(f"error unmarshaling json: {path}: {e}") from None
    return out


def parse_go_ip(text: str) -> IPAddress | None:
    """Go `net.ParseIP`: dotted IPv4 or IPv6 without a zone; IPv4-mapped IPv6 becomes IPv4 (`To4`)."""
    if "%" in text or not text.isascii():
        return None
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


_HEX = frozenset("0123456789abcdefABCDEF")


def _valid_escapes(text: str) -> bool:
    """Every '%' must start a two-hex-digit escape (Go: "invalid URL escape")."""
    i = text.find("%")
    while i >= 0:
        if not (len(text) >= i + 3 and set(text[i + 1 : i + 3]) <= _HEX):
            return False
        i = text.find("%", i + 3)
    return True


def go_url_scheme(text: str) -> str | None:
    """The scheme Go's `url.Parse` finds in `text`, "" when it has none, None when the URL is invalid.

    Mirrors `getScheme` (letters, then letters/digits/+-.; any other character before ':' means "no
    scheme") plus the parse errors that matter in practice: control characters, bad %-escapes and a
    non-numeric port.
    """
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        return None
    rest = text.split("#", 1)[0]
    scheme = ""
    for i, c in enumerate(rest):
        if c.isascii() and c.isalpha():
            continue
        if c.isascii() and (c.isdigit() or c in "+-."):
            if i == 0:
                break
            continue
        if c == ":":
            if i == 0:
                return None  # "missing protocol scheme"
            scheme = rest[:i]
        break
    if not _valid_escapes(text):
        return None
    if scheme:
        after = rest[len(scheme) + 1 :]
        if after.startswith("//"):
            authority = after[2:].split("/", 1)[0].split("?", 1)[0]
            host = authority.rsplit("@", 1)[-1]
            if host.startswith("["):
                end = host.find("]")
                if end < 0:
                    return None
                port = host[end + 1 :]
                if port and (not port.startswith(":") or (port != ":" and not port[1:].isdigit())):
                    return None
            elif ":" in host:
                port = host.rsplit(":", 1)[1]
                if port and not (port.isascii() and port.isdigit()):
                    return None
    return scheme


def normalize_go_url(text: str) -> str | None:
    """`url.Parse(text).String()` for the common cases (Go lowercases the scheme); None if invalid."""
    scheme = go_url_scheme(text)
    if scheme is None:
        return None
    return scheme.lower() + text[len(scheme) :] if scheme else text


def classify_san(value: str) -> str:
    """The §1.3 `auto` rule: IP, then URL with a scheme, then anything with '@', else a DNS name."""
    if parse_go_ip(value) is not None:
        return "ip"
    if go_url_scheme(value):
        return "uri"
    if "@" in value:
        return "email"
    return "dns"


def ia5_name(cls: Any, value: str) -> Any:
    """A DNSName, RFC822Name or URI general name holding any ASCII text, as Go allows.

    cryptography's constructors add checks Go does not make (RFC822Name parses the address, and
    costs ~20 µs doing so); its unvalidated constructor is used when present.
    """
    if not value.isascii():
        raise ValueError(f"x509: {value!r} cannot be encoded as an IA5String")
    init = getattr(cls, "_init_without_validation", None)
    return init(value) if init is not None else cls(value)


# ---------------------------------------------------------------------------------------------------------
# Minimal DER writing and reading (only what SANs and CSR parsing need)


def der_oid(oid: str) -> bytes:
    """An OID given by name or dotted string (parse_oid's forms)."""
    return asn1_der_oid(parse_oid(oid).dotted_string)


def der_sequence(*items: bytes) -> bytes:
    return tlv(0x30, b"".join(items))


def der_children(data: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """The TLVs inside [start, end): (tag, content start, content end, element start)."""
    out = []
    pos = start
    while pos < end:
        tag, cs, ce = der_read(data, pos)
        out.append((tag, cs, ce, pos))
        pos = ce
    if pos != end:
        raise ValueError("trailing DER data")
    return out


def der_decode_oid(content: bytes) -> str:
    arcs: list[int] = []
    value = 0
    for b in content:
        value = (value << 7) | (b & 0x7F)
        if not b & 0x80:
            arcs.append(value)
            value = 0
    if not arcs:
        raise ValueError("empty OID")
    first = min(arcs[0] // 40, 2)
    return ".".join(str(a) for a in [first, arcs[0] - 40 * first, *arcs[1:]])


# ---------------------------------------------------------------------------------------------------------
# Names (§1.2)

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
_PRINTABLE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 '()+,-./:=?")


def go_string_type(value: str) -> _ASN1Type:
    """Go asn1 default for a string: PrintableString when possible (no '*' or '&'), else UTF8String."""
    return _ASN1Type.PrintableString if set(value) <= _PRINTABLE else _ASN1Type.UTF8String


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


def _dec_extra_names(value: Any, path: str) -> tuple[ExtraName, ...]:
    if not isinstance(value, list) or isinstance(value, JSONObject):
        raise type_error(value, path, "[]x509util.DistinguishedName")
    out = []
    for i, item in enumerate(value):
        if item is None:
            out.append(ExtraName("", None))
            continue
        fields = decode_struct(
            item,
            {"type": ("type", dec_oid), "value": ("value", lambda v, p: to_python(v))},
            f"{path}[{i}]",
            "x509util.DistinguishedName",
        )
        out.append(ExtraName(fields.get("type", ""), fields.get("value")))
    return tuple(out)


def _tuple_multistring(value: Any, path: str) -> tuple[str, ...]:
    return tuple(dec_multistring(value, path))


_NAME_FIELDS: dict[str, tuple[str, Decoder]] = {
    "country": ("country", _tuple_multistring),
    "organization": ("organization", _tuple_multistring),
    "organizationalUnit": ("organizational_unit", _tuple_multistring),
    "locality": ("locality", _tuple_multistring),
    "province": ("province", _tuple_multistring),
    "streetAddress": ("street_address", _tuple_multistring),
    "postalCode": ("postal_code", _tuple_multistring),
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


# ---------------------------------------------------------------------------------------------------------
# SANs (§1.3)

STANDARD_SAN_TYPES = frozenset({"dns", "email", "ip", "uri", "auto", ""})
_OID_PERMANENT_IDENTIFIER = "1.3.6.1.5.5.7.8.3"
_OID_HARDWARE_MODULE_NAME = "1.3.6.1.5.5.7.8.4"
_OID_USER_PRINCIPAL_NAME = "1.3.6.1.4.1.311.20.2.3"


@attrs.frozen
class SANEntry:
    """One `sans` entry; `asn1_value` is the decoded JSON of `asn1Value` (None when absent)."""

    type: str = ""
    value: str = ""
    asn1_value: Any = None


def _dec_sans(value: Any, path: str) -> tuple[SANEntry, ...]:
    if not isinstance(value, list) or isinstance(value, JSONObject):
        raise type_error(value, path, "[]x509util.SubjectAlternativeName")
    out = []
    for i, item in enumerate(value):
        if item is None:
            continue
        fields = decode_struct(
            item,
            {
                "type": ("type", dec_string),
                "value": ("value", dec_string),
                "asn1Value": ("asn1_value", lambda v, p: v),
            },
            f"{path}[{i}]",
            "x509util.SubjectAlternativeName",
        )
        entry = SANEntry(**fields)
        # An entry with neither a value nor an asn1Value says nothing: skip it (§1.3).
        if entry.value == "" and entry.asn1_value is None:
            continue
        out.append(entry)
    return tuple(out)


_IDNA_ASCII_OK = re.compile(r"[a-z0-9-]+(\.[a-z0-9-]+)*\.?", re.ASCII)


def sanitize_dns_name(name: str) -> str:
    """step's `SanitizeName` (IDNA `Lookup.ToASCII`): lowercase, Punycode, STD3 characters only."""
    if name == "":
        raise ValueError("empty server name")
    if name.isascii():
        lower = name.lower()
        if _IDNA_ASCII_OK.fullmatch(lower) and not any(
            label.startswith("-") or label.endswith("-") for label in lower.split(".")
        ):
            return lower
        raise ValueError(f"error converting {name!r} to ia5: server name contains invalid character")
    try:
        return idna.encode(name, uts46=True, std3_rules=True, transitional=False).decode("ascii")
    except (idna.IDNAError, UnicodeError) as e:
        raise ValueError(
            f"error converting {name!r} to ia5: server name contains invalid character ({e})"
        ) from None


_STRING_TAGS = {"utf8": 0x0C, "ia5": 0x16, "numeric": 0x12, "printable": 0x13}
_GO_TIME_STRING = re.compile(
    r"(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))? ([+-])(\d{2})(\d{2}) \S+", re.ASCII
)


def _parse_asn1_time(text: str) -> dt.datetime:
    m = _GO_TIME_STRING.fullmatch(text)
    if m:
        sign = -1 if m.group(8) == "-" else 1
        tz = dt.timezone(sign * dt.timedelta(hours=int(m.group(9)), minutes=int(m.group(10))))
        frac = ((m.group(7) or "") + "000000")[:6]
        return dt.datetime(*(int(m.group(i)) for i in range(1, 7)), int(frac), tzinfo=tz)
    parsed = parse_rfc3339(text)
    return parsed if parsed is not None else dt.datetime(1, 1, 1, tzinfo=dt.UTC)


def _der_time(t: dt.datetime, kind: str) -> bytes:
    # Go's asn1 writes the time in its own zone: "Z" for UTC, else a +hhmm offset, whole seconds.
    offset = t.utcoffset() or dt.timedelta(0)
    if offset:
        minutes = int(offset.total_seconds()) // 60
        zone = f"{'+' if minutes >= 0 else '-'}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"
    else:
        zone = "Z"
    if kind == "utc":
        if not 1950 <= t.year < 2050:
            raise ValueError("cannot represent time as UTCTime")
        return tlv(0x17, (t.strftime("%y%m%d%H%M%S") + zone).encode())
    return tlv(0x18, (f"{t.year:04d}" + t.strftime("%m%d%H%M%S") + zone).encode())


def encode_typed_value(text: str, kind: str) -> bytes:
    """DER for "[type:]text" SAN values (§1.3 last row; the asn1Enc type words of §5.2)."""
    if kind in ("", "printable"):
        # Go's PrintableString marshaller accepts '*' but refuses '&'.
        if not set(text) <= _PRINTABLE | {"*"}:
            raise ValueError("invalid printable value")
        return tlv(0x13, text.encode())
    if kind == "utf8":
        return tlv(0x0C, text.encode("utf-8"))
    if kind == "ia5":
        if not text.isascii():
            raise ValueError("invalid ia5 value")
        return tlv(0x16, text.encode())
    if kind == "numeric":
        if not set(text) <= set("0123456789 "):
            raise ValueError("invalid numeric value")
        return tlv(0x12, text.encode())
    if kind == "int":
        if not re.fullmatch(r"[+-]?\d+", text, re.ASCII) or not -(2**63) <= int(text) < 2**63:
            raise ValueError("invalid int value")
        return der_int(int(text))
    if kind == "oid":
        return der_oid(text)
    if kind in ("bool", "boolean"):
        truth = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True}
        falsity = {"0", "f", "F", "FALSE", "false", "False"}
        if text not in truth and text not in falsity:
            raise ValueError("invalid bool value")
        return tlv(0x01, b"\xff" if text in truth else b"\x00")
    if kind in ("utc", "generalized"):
        return _der_time(_parse_asn1_time(text), kind)
    if kind == "raw":
        raw = base64.b64decode(text, validate=True)
        # Go copies the bytes blindly; cryptography only embeds one well-formed TLV, so check it here
        # rather than fail later inside sign().
        try:
            _, _, end = der_read(raw)
        except ValueError:
            end = -1
        if end != len(raw):
            raise ValueError("raw value is not a single DER element")
        return raw
    raise ValueError(f"unsupported type {kind}")


_TYPE_WORDS = frozenset(
    {"utf8", "ia5", "numeric", "printable", "int", "oid", "utc", "generalized", "raw", "bool"}
)


def _split_typed_value(value: str) -> tuple[str, str]:
    """Split "[type:]text": the type is the last recognised word before the first ':' (default printable)."""
    if ":" not in value:
        return "printable", value
    params, text = value.split(":", 1)
    kind = "printable"
    for word in params.split(","):
        if word in _TYPE_WORDS or word == "boolean":
            kind = word
    return kind, text


def _name_json(value: Any, what: str) -> Name:
    if isinstance(value, str):
        try:
            value = decode_first_value(value)
        except DescriptionError as e:
            raise ValueError(f"error unmarshaling {what}: {e.detail}") from None
    try:
        return dec_name(value, what)
    except DescriptionError as e:
        raise ValueError(f"error unmarshaling {what}: {e.detail}") from None


def _struct_json(value: Any, what: str) -> JSONObject:
    if isinstance(value, str):
        try:
            value = decode_first_value(value)
        except DescriptionError as e:
            raise ValueError(f"error unmarshaling {what}: {e.detail}") from None
    if not isinstance(value, JSONObject):
        raise ValueError(f"error unmarshaling {what}: json: cannot unmarshal {json_kind(value)} into object")
    return value


def general_name_for(san: SANEntry) -> x509.GeneralName:
    """The GeneralName of one extended-path SAN (x509util `SubjectAlternativeName.RawValue`)."""
    typ, value = san.type, san.value
    if typ in ("", "auto"):
        typ = classify_san(value)
    if typ == "dns":
        return ia5_name(x509.DNSName, sanitize_dns_name(value))
    if typ in ("email", "uri"):
        if not value.isascii():
            raise ValueError(f"error converting {value!r} to ia5")
        return ia5_name(x509.RFC822Name if typ == "email" else x509.UniformResourceIdentifier, value)
    if typ == "ip":
        ip = parse_go_ip(value)
        if ip is None:
            raise ValueError(f"error converting {value!r} to IP")
        return x509.IPAddress(ip)
    if typ == "registeredID":
        if value == "":
            raise ValueError("error parsing RegisteredID SAN: blank value is not allowed")
        return x509.RegisteredID(parse_oid(value))
    if typ == "dn":
        source = san.asn1_value if san.asn1_value is not None else value
        name = _name_json(source, "DirectoryName SAN")
        if name.is_empty():
            raise ValueError("error parsing DirectoryName SAN: empty or malformed asn1Value")
        return x509.DirectoryName(name.to_x509())
    if typ == "permanentIdentifier":
        identifier, assigner = value, ""
        if san.asn1_value is not None:
            fields = decode_struct(
                _struct_json(san.asn1_value, "PermanentIdentifier SAN"),
                {"identifier": ("identifier", dec_string), "assigner": ("assigner", dec_oid)},
                "PermanentIdentifier",
                "x509util.PermanentIdentifier",
            )
            identifier, assigner = fields.get("identifier", ""), fields.get("assigner", "")
        parts = []
        if identifier:
            parts.append(tlv(0x0C, identifier.encode("utf-8")))
        if assigner:
            parts.append(der_oid(assigner))
        return x509.OtherName(x509.ObjectIdentifier(_OID_PERMANENT_IDENTIFIER), der_sequence(*parts))
    if typ == "hardwareModuleName":
        source = san.asn1_value if san.asn1_value is not None else (value or None)
        if source is None:
            raise ValueError("error parsing HardwareModuleName SAN: empty asn1Value is not allowed")
        fields = decode_struct(
            _struct_json(source, "HardwareModuleName SAN"),
            {"type": ("type", dec_oid), "serialNumber": ("serial", dec_bytes)},
            "HardwareModuleName",
            "x509util.HardwareModuleName",
        )
        if not fields.get("type"):
            raise ValueError("error marshaling HardwareModuleName SAN: missing type")
        body = der_sequence(der_oid(fields["type"]), tlv(0x04, fields.get("serial", b"")))
        return x509.OtherName(x509.ObjectIdentifier(_OID_HARDWARE_MODULE_NAME), body)
    if typ == "userPrincipalName":
        return x509.OtherName(x509.ObjectIdentifier(_OID_USER_PRINCIPAL_NAME), tlv(0x0C, value.encode()))
    if typ in ("x400Address", "ediPartyName"):
        raise ValueError(f"unimplemented SAN type {typ}")
    try:
        oid = parse_oid(typ)
    except ValueError:
        raise ValueError(f"unsupported SAN type {typ}") from None
    kind, text = _split_typed_value(value)
    try:
        inner = encode_typed_value(text, kind)
    except (ValueError, binascii.Error) as e:
        raise ValueError(f"error marshaling ASN1 value {value!r}: {e}") from None
    return x509.OtherName(oid, inner)


# ---------------------------------------------------------------------------------------------------------
# Key usages (§1.5, §1.6)


def convert_name(name: str) -> str:
    """step's normalisation of usage names: lowercase, underscores removed (hyphens kept)."""
    return name.lower().replace("_", "")


# (canonical name, Go x509.KeyUsage bit), in Go's bit order, which is also the marshal order.
KEY_USAGES: tuple[tuple[str, int], ...] = (
    ("digitalSignature", 1 << 0),
    ("contentCommitment", 1 << 1),
    ("keyEncipherment", 1 << 2),
    ("dataEncipherment", 1 << 3),
    ("keyAgreement", 1 << 4),
    ("certSign", 1 << 5),
    ("crlSign", 1 << 6),
    ("encipherOnly", 1 << 7),
    ("decipherOnly", 1 << 8),
)
_KEY_USAGE_BY_NAME = {convert_name(n): bit for n, bit in KEY_USAGES} | {"nonrepudiation": 1 << 1}

# (canonical name, OID) for Go's named extended key usages.
EXT_KEY_USAGES: tuple[tuple[str, str], ...] = (
    ("any", "2.5.29.37.0"),
    ("serverAuth", "1.3.6.1.5.5.7.3.1"),
    ("clientAuth", "1.3.6.1.5.5.7.3.2"),
    ("codeSigning", "1.3.6.1.5.5.7.3.3"),
    ("emailProtection", "1.3.6.1.5.5.7.3.4"),
    ("ipsecEndSystem", "1.3.6.1.5.5.7.3.5"),
    ("ipsecTunnel", "1.3.6.1.5.5.7.3.6"),
    ("ipsecUser", "1.3.6.1.5.5.7.3.7"),
    ("timeStamping", "1.3.6.1.5.5.7.3.8"),
    ("ocspSigning", "1.3.6.1.5.5.7.3.9"),
    ("microsoftServerGatedCrypto", "1.3.6.1.4.1.311.10.3.3"),
    ("netscapeServerGatedCrypto", "2.16.840.1.113730.4.1"),
    ("microsoftCommercialCodeSigning", "1.3.6.1.4.1.311.2.1.22"),
    ("microsoftKernelCodeSigning", "1.3.6.1.4.1.311.61.1.1"),
)
_EKU_BY_NAME = {convert_name(n): oid for n, oid in EXT_KEY_USAGES}


def _dec_key_usage(value: Any, path: str) -> int:
    bits = 0
    for name in dec_multistring(value, path):
        bit = _KEY_USAGE_BY_NAME.get(convert_name(name))
        if bit is None:
            raise DescriptionError(f"unsupported keyUsage {name}")
        bits |= bit
    return bits


def _dec_ext_key_usage(value: Any, path: str) -> tuple[str, ...]:
    out = []
    for name in dec_multistring(value, path):
        oid = _EKU_BY_NAME.get(convert_name(name))
        if oid is None:
            raise DescriptionError(f"unsupported extKeyUsage {name}")
        out.append(oid)
    return tuple(out)


def key_usage_extension(bits: int) -> x509.ExtensionType:
    """The keyUsage value for Go's bit set (encipher/decipherOnly without keyAgreement is raw-encoded,
    since cryptography refuses that combination and Go does not)."""
    flags = {name: bool(bits & bit) for name, bit in KEY_USAGES}
    if (flags["encipherOnly"] or flags["decipherOnly"]) and not flags["keyAgreement"]:
        data = bytes([int(f"{bits & 0xFF:08b}"[::-1], 2), int(f"{(bits >> 8) & 0xFF:08b}"[::-1], 2)])
        data = data.rstrip(b"\x00") or b"\x00"
        last = data[-1]
        unused = (last & -last).bit_length() - 1 if last else 0
        return x509.UnrecognizedExtension(ExtensionOID.KEY_USAGE, tlv(0x03, bytes([unused]) + data))
    return x509.KeyUsage(
        digital_signature=flags["digitalSignature"],
        content_commitment=flags["contentCommitment"],
        key_encipherment=flags["keyEncipherment"],
        data_encipherment=flags["dataEncipherment"],
        key_agreement=flags["keyAgreement"],
        key_cert_sign=flags["certSign"],
        crl_sign=flags["crlSign"],
        encipher_only=flags["encipherOnly"],
        decipher_only=flags["decipherOnly"],
    )


# ---------------------------------------------------------------------------------------------------------
# Other field types


@attrs.frozen
class RawExtension:
    """One `extensions` entry; `value` is the extnValue content, not validated as DER."""

    id: str
    critical: bool = False
    value: bytes = b""


def _dec_extensions(value: Any, path: str) -> tuple[RawExtension, ...]:
    if not isinstance(value, list) or isinstance(value, JSONObject):
        raise type_error(value, path, "[]x509util.Extension")
    out = []
    for i, item in enumerate(value):
        if item is None:
            continue
        fields = decode_struct(
            item,
            {"id": ("id", dec_oid), "critical": ("critical", dec_bool), "value": ("value", dec_bytes)},
            f"{path}[{i}]",
            "x509util.Extension",
        )
        if fields.get("id"):  # an entry with an empty id is skipped (§1.4)
            out.append(RawExtension(**fields))
    return tuple(out)


@attrs.frozen
class BasicConstraints:
    """`{"isCA", "maxPathLen"}`; a missing maxPathLen is 0, negative means unlimited (§1.7)."""

    is_ca: bool = False
    max_path_len: int = 0

    def to_x509(self) -> x509.BasicConstraints:
        if not self.is_ca:
            return x509.BasicConstraints(ca=False, path_length=None)
        return x509.BasicConstraints(
            ca=True, path_length=None if self.max_path_len < 0 else self.max_path_len
        )


def _dec_basic_constraints(value: Any, path: str) -> BasicConstraints:
    fields = decode_struct(
        value,
        {"isCA": ("is_ca", dec_bool), "maxPathLen": ("max_path_len", dec_int)},
        path,
        "x509util.BasicConstraints",
    )
    return BasicConstraints(**fields)


def _dec_ip_list(value: Any, path: str) -> tuple[IPAddress, ...]:
    out = []
    for text in dec_multistring(value, path):
        if text == "":
            continue  # an empty SAN value is skipped (§1.1)
        ip = parse_go_ip(text)
        if ip is None:
            raise DescriptionError(f"error unmarshaling json: ip {text} is not valid")
        out.append(ip)
    return tuple(out)


def _dec_san_strings(value: Any, path: str) -> tuple[str, ...]:
    return tuple(s for s in dec_multistring(value, path) if s != "")


def _dec_uris(value: Any, path: str) -> tuple[str, ...]:
    out = []
    for text in dec_multistring(value, path):
        if text == "":
            continue
        url = normalize_go_url(text)
        if url is None:
            raise DescriptionError(f"error unmarshaling json: {path}: invalid URL {text!r}")
        out.append(url)
    return tuple(out)


def _dec_cidrs(value: Any, path: str) -> tuple[IPNetwork, ...]:
    out = []
    for text in dec_multistring(value, path):
        try:
            if "/" not in text or "%" in text:
                raise ValueError
            addr, bits = text.split("/", 1)
            ip = parse_go_ip(addr)
            if ip is None or not bits.isdigit():
                raise ValueError
            out.append(ipaddress.ip_network(f"{ip}/{int(bits)}", strict=False))
        except ValueError:
            raise DescriptionError(f"error unmarshaling json: invalid CIDR address: {text}") from None
    return tuple(out)


@attrs.frozen
class NameConstraints:
    critical: bool = False
    permitted_dns_domains: tuple[str, ...] = ()
    excluded_dns_domains: tuple[str, ...] = ()
    permitted_ip_ranges: tuple[IPNetwork, ...] = ()
    excluded_ip_ranges: tuple[IPNetwork, ...] = ()
    permitted_email_addresses: tuple[str, ...] = ()
    excluded_email_addresses: tuple[str, ...] = ()
    permitted_uri_domains: tuple[str, ...] = ()
    excluded_uri_domains: tuple[str, ...] = ()

    def _subtrees(self, kind: str) -> list[x509.GeneralName]:
        # Each subtree lists DNS, then IP, then email, then URI entries (Go order).
        names: list[x509.GeneralName] = [
            ia5_name(x509.DNSName, d) for d in getattr(self, f"{kind}_dns_domains")
        ]
        names += [x509.IPAddress(n) for n in getattr(self, f"{kind}_ip_ranges")]
        names += [ia5_name(x509.RFC822Name, e) for e in getattr(self, f"{kind}_email_addresses")]
        names += [ia5_name(x509.UniformResourceIdentifier, u) for u in getattr(self, f"{kind}_uri_domains")]
        return names

    def to_x509(self) -> x509.NameConstraints | None:
        permitted, excluded = self._subtrees("permitted"), self._subtrees("excluded")
        if not permitted and not excluded:
            return None
        return x509.NameConstraints(permitted_subtrees=permitted or None, excluded_subtrees=excluded or None)


def _dec_name_constraints(value: Any, path: str) -> NameConstraints:
    fields = decode_struct(
        value,
        {
            "critical": ("critical", dec_bool),
            "permittedDNSDomains": ("permitted_dns_domains", _tuple_multistring),
            "excludedDNSDomains": ("excluded_dns_domains", _tuple_multistring),
            "permittedIPRanges": ("permitted_ip_ranges", _dec_cidrs),
            "excludedIPRanges": ("excluded_ip_ranges", _dec_cidrs),
            "permittedEmailAddresses": ("permitted_email_addresses", _tuple_multistring),
            "excludedEmailAddresses": ("excluded_email_addresses", _tuple_multistring),
            "permittedURIDomains": ("permitted_uri_domains", _tuple_multistring),
            "excludedURIDomains": ("excluded_uri_domains", _tuple_multistring),
        },
        path,
        "x509util.NameConstraints",
    )
    return NameConstraints(**fields)


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


# §1.9 names, canonical spelling; matching is case-insensitive.
SIGNATURE_ALGORITHMS: tuple[str, ...] = (
    "MD2-RSA",
    "MD5-RSA",
    "SHA1-RSA",
    "SHA256-RSA",
    "SHA384-RSA",
    "SHA512-RSA",
    "DSA-SHA1",
    "DSA-SHA256",
    "ECDSA-SHA1",
    "ECDSA-SHA256",
    "ECDSA-SHA384",
    "ECDSA-SHA512",
    "SHA256-RSAPSS",
    "SHA384-RSAPSS",
    "SHA512-RSAPSS",
    "Ed25519",
)
_SIG_BY_UPPER = {n.upper(): n for n in SIGNATURE_ALGORITHMS}


def _dec_signature_algorithm(value: Any, path: str) -> str:
    name = dec_string(value, path)
    if name == "":
        return ""
    canonical = _SIG_BY_UPPER.get(name.upper())
    if canonical is None:
        raise DescriptionError(f"unsupported signatureAlgorithm {name}")
    return canonical


# ---------------------------------------------------------------------------------------------------------
# The description


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
    """The decoded JSON description of an X.509 certificate (templates.md §1.1).

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
        try:
            value = decode_first_value(text)
            if value is None:  # `null` decodes to an empty description in Go
                return cls(template=template)
            fields = decode_struct(value, _X509_FIELDS, "Certificate", "x509util.Certificate")
        except DescriptionError as e:
            raise e.with_template(template) from None
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


def _tuple_of(decoder: Decoder) -> Decoder:
    return lambda value, path: tuple(decoder(value, path))


_X509_FIELDS: dict[str, tuple[str, Decoder]] = {
    "version": ("version", dec_int),
    "subject": ("subject", dec_name),
    "rawSubject": ("raw_subject", dec_bytes),
    "issuer": ("issuer", dec_name),
    "serialNumber": ("serial_number", _dec_serial),
    "dnsNames": ("dns_names", _dec_san_strings),
    "emailAddresses": ("email_addresses", _dec_san_strings),
    "ipAddresses": ("ip_addresses", _dec_ip_list),
    "uris": ("uris", _dec_uris),
    "sans": ("sans", _dec_sans),
    "notBefore": ("not_before", dec_time),
    "notAfter": ("not_after", dec_time),
    "extensions": ("extensions", _dec_extensions),
    "keyUsage": ("key_usage", _dec_key_usage),
    "extKeyUsage": ("ext_key_usage", _dec_ext_key_usage),
    "unknownExtKeyUsage": ("unknown_ext_key_usage", _tuple_of(dec_multi_oid)),
    "subjectKeyId": ("subject_key_id", dec_bytes),
    "authorityKeyId": ("authority_key_id", dec_bytes),
    "ocspServer": ("ocsp_server", _tuple_multistring),
    "issuingCertificateURL": ("issuing_certificate_url", _tuple_multistring),
    "crlDistributionPoints": ("crl_distribution_points", _tuple_multistring),
    "policyIdentifiers": ("policy_identifiers", _tuple_of(dec_multi_oid)),
    "basicConstraints": ("basic_constraints", _dec_basic_constraints),
    "nameConstraints": ("name_constraints", _dec_name_constraints),
    "signatureAlgorithm": ("signature_algorithm", _dec_signature_algorithm),
}


# ---------------------------------------------------------------------------------------------------------
# Signature algorithms (§1.9, §1.10 step 7)

_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "SHA1": hashes.SHA1,
    "SHA256": hashes.SHA256,
    "SHA384": hashes.SHA384,
    "SHA512": hashes.SHA512,
}


@attrs.frozen
class SigningParams:
    """What `CertificateBuilder.sign` needs: the hash (None for Ed25519) and, for RSA-PSS, the padding."""

    algorithm: hashes.HashAlgorithm | None
    rsa_padding: padding.PSS | padding.PKCS1v15 | None = None


def _key_kind(key: Any) -> str:
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        return "RSA"
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        return "ECDSA"
    if isinstance(key, (ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey)):
        return "Ed25519"
    if isinstance(key, (dsa.DSAPrivateKey, dsa.DSAPublicKey)):
        return "DSA"
    if isinstance(key, (ed448.Ed448PrivateKey, ed448.Ed448PublicKey)):
        return "Ed448"
    return type(key).__name__


def _pss(algorithm: hashes.HashAlgorithm) -> padding.PSS:
    # Go signs RSA-PSS with a salt as long as the hash.
    return padding.PSS(mgf=padding.MGF1(algorithm), salt_length=padding.PSS.DIGEST_LENGTH)


def signing_params(name: str, ca_key: Any, *, ca_cert: x509.Certificate | None = None) -> SigningParams:
    """Map a §1.9 name to signing parameters for `ca_key` (private or public); "" lets the CA choose.

    Raises DescriptionError for unknown names, MD2/MD5/DSA (Go refuses to sign with them) and for a name
    that does not match the CA key type.
    """
    kind = _key_kind(ca_key)
    if name == "":
        if kind == "RSA":
            if ca_cert is not None and isinstance(ca_cert.signature_hash_algorithm, hashes.HashAlgorithm):
                # An RSA CA whose own certificate carries an RSA signature reuses that algorithm.
                params = ca_cert.signature_algorithm_parameters
                if isinstance(params, padding.PSS):
                    return SigningParams(
                        ca_cert.signature_hash_algorithm, _pss(ca_cert.signature_hash_algorithm)
                    )
                if isinstance(params, padding.PKCS1v15):
                    return SigningParams(ca_cert.signature_hash_algorithm, padding.PKCS1v15())
            return SigningParams(hashes.SHA256(), padding.PKCS1v15())
        if kind == "ECDSA":
            size = ca_key.curve.key_size
            return SigningParams(
                hashes.SHA512() if size > 384 else hashes.SHA384() if size > 256 else hashes.SHA256()
            )
        if kind == "Ed25519":
            return SigningParams(None)
        raise DescriptionError(f"x509: cannot sign with a {kind} key")
    canonical = _SIG_BY_UPPER.get(name.upper())
    if canonical is None:
        raise DescriptionError(f"unsupported signatureAlgorithm {name}")
    if canonical in ("MD2-RSA", "MD5-RSA", "DSA-SHA1", "DSA-SHA256"):
        raise DescriptionError(f"x509: signing with {canonical} is not supported")
    if canonical == "Ed25519":
        wanted = "Ed25519"
    elif canonical.startswith("ECDSA-"):
        wanted = "ECDSA"
    else:
        wanted = "RSA"
    if kind != wanted:
        raise DescriptionError(
            f"x509: requested SignatureAlgorithm {canonical} does not match private key type {kind}"
        )
    if wanted == "Ed25519":
        return SigningParams(None)
    hash_name = canonical.split("-")[1] if wanted == "ECDSA" else canonical.split("-")[0]
    algorithm = _HASHES[hash_name]()
    if canonical.endswith("-RSAPSS"):
        return SigningParams(algorithm, _pss(algorithm))
    return SigningParams(algorithm, padding.PKCS1v15() if wanted == "RSA" else None)


def hash_for_signature_algorithm(
    name: str, ca_key: Any, *, ca_cert: x509.Certificate | None = None
) -> hashes.HashAlgorithm | None:
    """The hash for `CertificateBuilder.sign` (None for Ed25519); see `signing_params` for RSA-PSS padding."""
    return signing_params(name, ca_key, ca_cert=ca_cert).algorithm


__all__: Sequence[str] = (
    "EXT_KEY_USAGES",
    "KEY_USAGES",
    "SIGNATURE_ALGORITHMS",
    "BasicConstraints",
    "DescriptionError",
    "ExtraName",
    "Name",
    "NameConstraints",
    "RawExtension",
    "SANEntry",
    "SigningParams",
    "X509Description",
    "hash_for_signature_algorithm",
    "signing_params",
)
