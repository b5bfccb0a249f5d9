"""Minimal DER writing and reading on top of `plica.asn1`: only what SANs, names and CSR parsing need."""

from __future__ import annotations

from plica.asn1 import der_oid as asn1_der_oid
from plica.asn1 import der_read, tlv

from .goparse import parse_oid


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


__all__ = [
    "der_children",
    "der_decode_oid",
    "der_oid",
    "der_sequence",
]
