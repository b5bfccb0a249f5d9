"""OIDs, IPs and URLs the way Go parses them (`asn1.ObjectIdentifier`, `net.ParseIP`, `url.Parse`)."""

from __future__ import annotations

import ipaddress
from typing import Any, TypeAlias

from cryptography import x509

from .errors import DescriptionError
from .gojson import dec_multistring, dec_string

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network


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


__all__ = [
    "IPAddress",
    "IPNetwork",
    "classify_san",
    "dec_multi_oid",
    "dec_oid",
    "go_url_scheme",
    "ia5_name",
    "normalize_go_url",
    "parse_go_ip",
    "parse_oid",
]
