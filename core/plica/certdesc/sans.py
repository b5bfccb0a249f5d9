"""SANs (§1.3): the `sans` entries and SAN lists of a description, and the general names they become."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from typing import Any

import attrs
import idna
from cryptography import x509

from plica.asn1 import der_int, der_read, tlv

from .der import der_oid, der_sequence
from .errors import DescriptionError
from .gojson import (
    Decoder,
    JSONObject,
    dec_bytes,
    dec_multistring,
    dec_string,
    decode_first_value,
    decode_struct,
    decode_struct_list,
    json_kind,
    parse_rfc3339,
)
from .goparse import IPAddress, classify_san, dec_oid, ia5_name, normalize_go_url, parse_go_ip, parse_oid
from .names import PRINTABLE, Name, dec_name

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


_SAN_FIELDS: dict[str, tuple[str, Decoder]] = {
    "type": ("type", dec_string),
    "value": ("value", dec_string),
    "asn1Value": ("asn1_value", lambda v, p: v),
}


def dec_sans(value: Any, path: str) -> tuple[SANEntry, ...]:
    items = decode_struct_list(value, _SAN_FIELDS, path, "x509util.SubjectAlternativeName")
    entries = [SANEntry(**f) for f in items if f is not None]
    # An entry with neither a value nor an asn1Value says nothing: skip it (§1.3).
    return tuple(e for e in entries if e.value != "" or e.asn1_value is not None)


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
        if not set(text) <= PRINTABLE | {"*"}:
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


def _asn1_json(value: Any, what: str) -> Any:
    """A SAN value given as JSON text, decoded (its first value only); any other value as it is."""
    if not isinstance(value, str):
        return value
    try:
        return decode_first_value(value)
    except DescriptionError as e:
        raise ValueError(f"error unmarshaling {what}: {e.detail}") from None


def _name_json(value: Any, what: str) -> Name:
    value = _asn1_json(value, what)
    try:
        return dec_name(value, what)
    except DescriptionError as e:
        raise ValueError(f"error unmarshaling {what}: {e.detail}") from None


def _struct_json(value: Any, what: str) -> JSONObject:
    value = _asn1_json(value, what)
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


# -- the SAN lists (dnsNames, emailAddresses, ipAddresses, uris) ----------------------------------------


def dec_ip_list(value: Any, path: str) -> tuple[IPAddress, ...]:
    out = []
    for text in dec_multistring(value, path):
        if text == "":
            continue  # an empty SAN value is skipped (§1.1)
        ip = parse_go_ip(text)
        if ip is None:
            raise DescriptionError(f"error unmarshaling json: ip {text} is not valid")
        out.append(ip)
    return tuple(out)


def dec_san_strings(value: Any, path: str) -> tuple[str, ...]:
    return tuple(s for s in dec_multistring(value, path) if s != "")


def dec_uris(value: Any, path: str) -> tuple[str, ...]:
    out = []
    for text in dec_multistring(value, path):
        if text == "":
            continue
        url = normalize_go_url(text)
        if url is None:
            raise DescriptionError(f"error unmarshaling json: {path}: invalid URL {text!r}")
        out.append(url)
    return tuple(out)


__all__ = [
    "STANDARD_SAN_TYPES",
    "SANEntry",
    "dec_ip_list",
    "dec_san_strings",
    "dec_sans",
    "dec_uris",
    "encode_typed_value",
    "general_name_for",
    "sanitize_dns_name",
]
