"""Raw `extensions` entries, basic constraints (§1.7) and name constraints of a description."""

from __future__ import annotations

import ipaddress
from typing import Any

import attrs
from cryptography import x509

from .errors import DescriptionError
from .gojson import (
    Decoder,
    dec_bool,
    dec_bytes,
    dec_int,
    dec_multistring,
    decode_struct,
    decode_struct_list,
    tuple_multistring,
)
from .goparse import IPNetwork, dec_oid, ia5_name, parse_go_ip


@attrs.frozen
class RawExtension:
    """One `extensions` entry; `value` is the extnValue content, not validated as DER."""

    id: str
    critical: bool = False
    value: bytes = b""


_EXTENSION_FIELDS: dict[str, tuple[str, Decoder]] = {
    "id": ("id", dec_oid),
    "critical": ("critical", dec_bool),
    "value": ("value", dec_bytes),
}


def dec_extensions(value: Any, path: str) -> tuple[RawExtension, ...]:
    items = decode_struct_list(value, _EXTENSION_FIELDS, path, "x509util.Extension")
    # A null entry, or one with an empty id, is skipped (§1.4).
    return tuple(RawExtension(**f) for f in items if f is not None and f.get("id"))


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


def dec_basic_constraints(value: Any, path: str) -> BasicConstraints:
    fields = decode_struct(
        value,
        {"isCA": ("is_ca", dec_bool), "maxPathLen": ("max_path_len", dec_int)},
        path,
        "x509util.BasicConstraints",
    )
    return BasicConstraints(**fields)


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


def dec_name_constraints(value: Any, path: str) -> NameConstraints:
    fields = decode_struct(
        value,
        {
            "critical": ("critical", dec_bool),
            "permittedDNSDomains": ("permitted_dns_domains", tuple_multistring),
            "excludedDNSDomains": ("excluded_dns_domains", tuple_multistring),
            "permittedIPRanges": ("permitted_ip_ranges", _dec_cidrs),
            "excludedIPRanges": ("excluded_ip_ranges", _dec_cidrs),
            "permittedEmailAddresses": ("permitted_email_addresses", tuple_multistring),
            "excludedEmailAddresses": ("excluded_email_addresses", tuple_multistring),
            "permittedURIDomains": ("permitted_uri_domains", tuple_multistring),
            "excludedURIDomains": ("excluded_uri_domains", tuple_multistring),
        },
        path,
        "x509util.NameConstraints",
    )
    return NameConstraints(**fields)


__all__ = [
    "BasicConstraints",
    "NameConstraints",
    "RawExtension",
    "dec_basic_constraints",
    "dec_extensions",
    "dec_name_constraints",
]
