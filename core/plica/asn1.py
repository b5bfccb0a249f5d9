"""The DER the kernel writes and reads itself: TLVs, INTEGERs and OIDs for the hand-assembled leaf
(leafder), the certificate descriptions (certdesc) and step's provisioner extension (docs/reference/wire.md §3a); and a
strict reader (DER's distinguished rules enforced) for plugins that parse DER formats of their own."""

from __future__ import annotations

import functools
from collections.abc import Iterator

from attrs import frozen
from cryptography import x509

PROVISIONER_OID = x509.ObjectIdentifier("1.3.6.1.4.1.37476.9000.64.1")


class DERError(ValueError):
    """DER that `int_value` or the strict reader refuses: cut short, or breaking DER's rules."""


def der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def tlv(tag: int, value: bytes) -> bytes:
    n = len(value)
    if n < 0x80:  # most TLVs of a leaf: no call for the length (a leaf has ~20 TLVs)
        return bytes((tag, n)) + value
    return bytes([tag]) + der_length(n) + value


def int_content(n: int) -> bytes:
    """The content octets of an INTEGER: the fewest two's-complement octets (so -128 is 0x80, 128 is
    0x0080), as X.690 §8.3.2 demands."""
    length = max(1, (n + (n < 0)).bit_length() // 8 + 1)
    return n.to_bytes(length, "big", signed=True)


def der_int(n: int) -> bytes:
    """An INTEGER in the fewest two's-complement octets (so -128 is 0x80, 128 is 0x0080)."""
    return tlv(0x02, int_content(n))


def int_value(content: bytes) -> int:
    """The value of an INTEGER's content octets, which must be present and minimal (X.690 §8.3.2)."""
    if not content:
        raise DERError("empty ASN.1 integer")
    if len(content) > 1 and (
        (content[0] == 0 and content[1] < 0x80) or (content[0] == 0xFF and content[1] >= 0x80)
    ):
        raise DERError("non-minimal ASN.1 integer")
    return int.from_bytes(content, "big", signed=True)


def oid_content(arcs: list[int]) -> bytes:
    """The content octets of an OBJECT IDENTIFIER (base-128 arcs, the first two folded into one)."""
    out = bytearray()
    for arc in [arcs[0] * 40 + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return bytes(out)


@functools.lru_cache(maxsize=256)
def der_oid(dotted: str) -> bytes:
    """An OBJECT IDENTIFIER; cached, as the few a CA writes recur in every certificate (~6 µs each)."""
    return tlv(0x06, oid_content([int(a) for a in dotted.split(".")]))


def der_read(data: bytes, pos: int = 0) -> tuple[int, int, int]:
    """Read one TLV at `pos`: (first tag byte, content start, content end). Definite lengths only."""
    if pos >= len(data):
        raise ValueError("truncated DER")
    tag = data[pos]
    pos += 1
    if tag & 0x1F == 0x1F:  # high tag number: skip its base-128 bytes
        while pos < len(data) and data[pos] & 0x80:
            pos += 1
        pos += 1
    if pos >= len(data):
        raise ValueError("truncated DER")
    first = data[pos]
    pos += 1
    if first < 0x80:
        length = first
    else:
        n = first & 0x7F
        if n == 0 or n > 4 or pos + n > len(data):
            raise ValueError("unsupported DER length")
        length = int.from_bytes(data[pos : pos + n], "big")
        pos += n
    if pos + length > len(data):
        raise ValueError("truncated DER")
    return tag, pos, pos + length


def read_tlv(data: bytes) -> tuple[int, bytes, bytes]:
    """The first TLV of `data`: (tag, content, what follows it)."""
    tag, start, end = der_read(data)
    return tag, data[start:end], data[end:]


def der_read_strict(data: bytes, pos: int = 0, end: int | None = None) -> tuple[int, int, int]:
    """Read one TLV at `pos`, within `data[:end]`, as DER demands it: (tag, content start, content end).

    Stricter than `der_read`, for formats whose signatures cover their exact bytes: it refuses the
    indefinite form and lengths not in their fewest octets (X.690 §10.1), lengths of more than four
    octets, high tag numbers (which it does not read) and a TLV that runs past `end`. Raises `DERError`.
    """
    end = len(data) if end is None else end
    if pos + 2 > end:
        raise DERError("truncated ASN.1 element")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise DERError("unsupported ASN.1 high tag number")
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        n = length & 0x7F
        if n == 0 or n > 4 or pos + n > end:
            raise DERError("bad ASN.1 length")
        length = int.from_bytes(data[pos : pos + n], "big")
        if length < 0x80 or data[pos] == 0:
            raise DERError("non-minimal ASN.1 length")
        pos += n
    if pos + length > end:
        raise DERError("truncated ASN.1 element")
    return tag, pos, pos + length


def der_elements(data: bytes, start: int, end: int) -> Iterator[tuple[int, int, int]]:
    """Each TLV in `data[start:end]` (a constructed element's content, e.g. a SEQUENCE OF), read with
    `der_read_strict`: (tag, content start, content end)."""
    pos = start
    while pos < end:
        tag, content_start, pos = der_read_strict(data, pos, end)
        yield tag, content_start, pos


@frozen
class ProvisionerExtension:
    type: int
    name: str
    credential_id: str
    key_value_pairs: tuple[str, ...] = ()

    def to_der(self) -> bytes:
        body = der_int(self.type) + tlv(0x04, self.name.encode()) + tlv(0x04, self.credential_id.encode())
        if self.key_value_pairs:
            body += tlv(0x30, b"".join(tlv(0x0C, kv.encode()) for kv in self.key_value_pairs))
        return tlv(0x30, body)

    def extension(self) -> x509.UnrecognizedExtension:
        return x509.UnrecognizedExtension(PROVISIONER_OID, self.to_der())

    @classmethod
    def from_der(cls, data: bytes) -> ProvisionerExtension:
        tag, body, rest = read_tlv(data)
        if tag != 0x30 or rest:
            raise ValueError("provisioner extension is not a SEQUENCE")
        t, v, body = read_tlv(body)
        if t != 0x02:
            raise ValueError("provisioner extension: type is not an INTEGER")
        ptype = int.from_bytes(v, "big", signed=True)
        t, name, body = read_tlv(body)
        t2, cred, body = read_tlv(body)
        if t != 0x04 or t2 != 0x04:
            raise ValueError("provisioner extension: name/credentialID are not OCTET STRINGs")
        kvs: list[str] = []
        if body:
            t, seq, _ = read_tlv(body)
            while seq:
                _, item, seq = read_tlv(seq)
                kvs.append(item.decode())
        return cls(ptype, name.decode(), cred.decode(), tuple(kvs))

    @classmethod
    def from_certificate(cls, cert: x509.Certificate) -> ProvisionerExtension | None:
        try:
            ext = cert.extensions.get_extension_for_oid(PROVISIONER_OID)
        except x509.ExtensionNotFound:
            return None
        value = ext.value
        if not isinstance(value, x509.UnrecognizedExtension):
            return None
        try:
            return cls.from_der(value.value)
        except (ValueError, IndexError, UnicodeDecodeError):
            return None
