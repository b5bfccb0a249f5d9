"""Go value stand-ins used inside `.Insecure.CR` and `.AuthorizationCrt` (IPs, URLs, extensions, usages),
and the extension values they are read from in a CSR or certificate."""

from __future__ import annotations

import base64
import ipaddress
import urllib.parse
from collections.abc import Iterable
from typing import Any, ClassVar

import attrs

from plica.asn1 import der_read

from .der import der_children, der_decode_oid
from .goparse import IPAddress, normalize_go_url
from .govalues import GoSlice, exported_fields, struct_str
from .keyusage import EXT_KEY_USAGES, KEY_USAGES, convert_name


@attrs.define(eq=True)
class GoIP:
    """`net.IP`: prints and serialises as its text form."""

    __go_type__: ClassVar[str] = "net.IP"
    ip: IPAddress

    def String(self) -> str:
        return str(self.ip)

    def __go_json__(self) -> str:
        return str(self.ip)

    def __go_str__(self) -> str:
        return str(self.ip)

    def __str__(self) -> str:
        return str(self.ip)


@attrs.define(eq=True)
class GoURL:
    """`*url.URL`: prints as the URL; a single one passed to `toJson` is Go's struct object."""

    __go_type__: ClassVar[str] = "*url.URL"
    Scheme: str = ""
    Opaque: str = ""
    User: Any = None
    Host: str = ""
    Path: str = ""
    RawPath: str = ""
    OmitHost: bool = False
    ForceQuery: bool = False
    RawQuery: str = ""
    Fragment: str = ""
    RawFragment: str = ""
    raw: str = attrs.field(default="", repr=False)

    @classmethod
    def parse(cls, text: str) -> GoURL:
        normalized = normalize_go_url(text) or text
        parts = urllib.parse.urlsplit(normalized, allow_fragments=True)
        scheme, rest = parts.scheme, normalized[len(parts.scheme) + 1 :] if parts.scheme else normalized
        rest = rest.split("#", 1)[0]
        fragment = urllib.parse.unquote(parts.fragment)
        if scheme and not rest.startswith("/"):
            opaque, _, query = rest.partition("?")
            return cls(Scheme=scheme, Opaque=opaque, RawQuery=query, Fragment=fragment, raw=normalized)
        user: Any = None
        host = parts.netloc
        if "@" in host:
            userinfo, host = host.rsplit("@", 1)
            user = GoUserinfo(userinfo)
        return cls(
            Scheme=scheme,
            User=user,
            Host=host,
            Path=urllib.parse.unquote(parts.path),
            ForceQuery=normalized.split("#", 1)[0].endswith("?") and not parts.query,
            RawQuery=parts.query,
            Fragment=fragment,
            raw=normalized,
        )

    def String(self) -> str:
        return self.raw

    def Hostname(self) -> str:
        host = self.Host
        if host.startswith("["):
            return host[1 : host.find("]")]
        return host.rsplit(":", 1)[0] if ":" in host else host

    def __go_json__(self) -> dict[str, Any]:
        return exported_fields(self)

    def __go_str__(self) -> str:
        return self.raw

    def __str__(self) -> str:
        return self.raw


@attrs.define(eq=True)
class GoUserinfo:
    """`*url.Userinfo`: all fields unexported, so it marshals as `{}`."""

    __go_type__: ClassVar[str] = "*url.Userinfo"
    text: str

    def Username(self) -> str:
        return urllib.parse.unquote(self.text.split(":", 1)[0])

    def __go_json__(self) -> dict[str, Any]:
        return {}

    def __go_str__(self) -> str:
        return self.text


class GoURLList(GoSlice):
    """`x509util.MultiURL`: the list marshals as URL strings (its elements alone as URL objects)."""

    def __init__(self, items: Iterable[GoURL] = (), *, nil: bool | None = None) -> None:
        super().__init__(items, go_type="x509util.MultiURL", nil=nil)

    def __go_json__(self) -> Any:
        return None if self.nil and not self else [u.String() for u in self]


@attrs.define(eq=True)
class Extension:
    """`x509util.Extension`: `{"id": OID, "critical": bool, "value": base64}`."""

    __go_type__: ClassVar[str] = "x509util.Extension"
    ID: str
    Critical: bool
    Value: bytes

    def __go_json__(self) -> dict[str, Any]:
        return {"id": self.ID, "critical": self.Critical, "value": base64.b64encode(self.Value).decode()}

    def __go_str__(self) -> str:
        return struct_str(self.ID.replace(".", " ").join("[]"), self.Critical, self.Value)


class KeyUsage(int):
    """`x509util.KeyUsage`, Go's bit set (an int, so 0 is false); marshals as step's lowercased names,
    an empty set as null."""

    __go_type__ = "x509util.KeyUsage"
    __go_kind__ = "int"

    def __go_json__(self) -> list[str] | None:
        names = [convert_name(n) for n, bit in KEY_USAGES if self & bit]
        return names or None

    def __go_str__(self) -> str:
        return str(int(self))


_EKU_NAMES = {oid: convert_name(name) for name, oid in EXT_KEY_USAGES}
# Go's x509.ExtKeyUsage constants, in the order of §1.6 (Any = 0, ServerAuth = 1, ...).
_EKU_NUMBERS = {oid: i for i, (_, oid) in enumerate(EXT_KEY_USAGES)}


class ExtKeyUsage(GoSlice):
    """`x509util.ExtKeyUsage`: Go enum values that marshal as step's names; a nil list still gives `[]`."""

    def __init__(self, oids: Iterable[str] = ()) -> None:
        self.oids = list(oids)
        super().__init__([_EKU_NUMBERS[o] for o in self.oids], go_type="x509util.ExtKeyUsage", nil=False)

    def __go_json__(self) -> list[str]:
        return [_EKU_NAMES[o] for o in self.oids]


@attrs.define(eq=True)
class BasicConstraintsData:
    """`*x509util.BasicConstraints` as read from a CSR."""

    __go_type__: ClassVar[str] = "*x509util.BasicConstraints"
    IsCA: bool = False
    MaxPathLen: int = -1

    def __go_json__(self) -> dict[str, Any]:
        return {"isCA": self.IsCA, "maxPathLen": self.MaxPathLen}

    def __go_str__(self) -> str:
        return struct_str(self.IsCA, self.MaxPathLen, pointer=True)


class SignatureAlgorithm(int):
    """`x509util.SignatureAlgorithm`; the CSR's is always 0, which marshals as `""`."""

    __go_type__ = "x509util.SignatureAlgorithm"
    __go_kind__ = "int"

    def __go_json__(self) -> str:
        return ""

    def __go_str__(self) -> str:
        return str(int(self))


# -- extension values read from a CSR or certificate (DER) -----------------------------------------------

OID_SAN, OID_KU, OID_EKU, OID_BC = "2.5.29.17", "2.5.29.15", "2.5.29.37", "2.5.29.19"


def parse_sans(value: bytes) -> tuple[list[str], list[str], list[GoIP], list[GoURL]]:
    dns, emails, ips, uris = [], [], [], []
    _, start, end = der_read(value)
    for tag, s, e, _ in der_children(value, start, end):
        content = value[s:e]
        if tag == 0x81:
            emails.append(content.decode("ascii"))
        elif tag == 0x82:
            dns.append(content.decode("ascii"))
        elif tag == 0x86:
            uris.append(GoURL.parse(content.decode("ascii")))
        elif tag == 0x87 and len(content) in (4, 16):
            ip = ipaddress.ip_address(content)
            if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
                ip = ip.ipv4_mapped
            ips.append(GoIP(ip))
    return dns, emails, ips, uris


def parse_key_usage(value: bytes) -> int:
    _, s, e = der_read(value)
    data = value[s + 1 : e]
    bits = 0
    for i in range(9):
        if i // 8 < len(data) and data[i // 8] & (0x80 >> (i % 8)):
            bits |= 1 << i
    return bits


def parse_ext_key_usage(value: bytes) -> tuple[list[str], list[str]]:
    known, unknown = [], []
    _, s, e = der_read(value)
    for _, os_, oe, _ in der_children(value, s, e):
        oid = der_decode_oid(value[os_:oe])
        (known if oid in _EKU_NUMBERS else unknown).append(oid)
    return known, unknown


def parse_basic_constraints(value: bytes) -> BasicConstraintsData:
    _, s, e = der_read(value)
    is_ca, path_len = False, -1
    for tag, cs, ce, _ in der_children(value, s, e):
        if tag == 0x01:
            is_ca = value[cs:ce] != b"\x00"
        elif tag == 0x02:
            path_len = int.from_bytes(value[cs:ce], "big", signed=True)
    return BasicConstraintsData(is_ca, path_len)


__all__ = [
    "OID_BC",
    "OID_EKU",
    "OID_KU",
    "OID_SAN",
    "BasicConstraintsData",
    "ExtKeyUsage",
    "Extension",
    "GoIP",
    "GoURL",
    "GoURLList",
    "GoUserinfo",
    "KeyUsage",
    "SignatureAlgorithm",
    "parse_basic_constraints",
    "parse_ext_key_usage",
    "parse_key_usage",
    "parse_sans",
]
