"""The little of the protobuf (proto3) wire format that v1 Nebula certificates need, read and written as
Go's proto.Marshal does."""

from __future__ import annotations

from collections.abc import Iterator

from plica_nebula.cert.errors import NebulaCertificateError

WT_VARINT, WT_FIXED64, WT_LEN, WT_FIXED32 = 0, 1, 2, 5


def read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= len(buf):
            raise NebulaCertificateError("malformed certificate: truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            break
        shift += 7
        if shift >= 70:
            raise NebulaCertificateError("malformed certificate: varint too long")
    if result >= 1 << 64:
        raise NebulaCertificateError("malformed certificate: varint overflows 64 bits")
    return result, pos


def encode_varint(n: int) -> bytes:
    if n < 0:
        # proto int64: negative numbers are their 64-bit two's complement (10-byte varint).
        n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def iter_fields(buf: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """Yield ``(field_number, wire_type, value)``; value is an int for varints, bytes otherwise."""
    pos = 0
    while pos < len(buf):
        key, pos = read_varint(buf, pos)
        num, wt = key >> 3, key & 7
        if num == 0 or num >= 1 << 29:
            raise NebulaCertificateError("malformed certificate: invalid protobuf field number")
        value: int | bytes
        if wt == WT_VARINT:
            value, pos = read_varint(buf, pos)
        elif wt == WT_LEN:
            length, pos = read_varint(buf, pos)
            if pos + length > len(buf):
                raise NebulaCertificateError("malformed certificate: truncated length-delimited field")
            value = buf[pos : pos + length]
            pos += length
        elif wt in (WT_FIXED64, WT_FIXED32):
            size = 8 if wt == WT_FIXED64 else 4
            if pos + size > len(buf):
                raise NebulaCertificateError("malformed certificate: truncated fixed-size field")
            value = buf[pos : pos + size]
            pos += size
        else:
            # Groups (wire types 3/4) are deprecated and never used by nebula.
            raise NebulaCertificateError(f"malformed certificate: unsupported protobuf wire type {wt}")
        yield num, wt, value


def field_key(num: int, wt: int) -> bytes:
    return encode_varint((num << 3) | wt)


def len_field(num: int, data: bytes) -> bytes:
    """A length-delimited field (bytes, string, embedded message or packed repeated scalars)."""
    return field_key(num, WT_LEN) + encode_varint(len(data)) + data


def read_uint32s(wt: int, value: int | bytes, out: list[int]) -> None:
    """Append one occurrence of a repeated uint32 field to ``out``."""
    # Repeated scalars may arrive packed (what Go writes) or one per field (parsers must accept both).
    if wt == WT_LEN:
        assert isinstance(value, bytes)
        pos = 0
        while pos < len(value):
            v, pos = read_varint(value, pos)
            out.append(v)
    elif wt == WT_VARINT:
        assert isinstance(value, int)
        out.append(value)
    else:
        raise NebulaCertificateError("malformed certificate: bad wire type for repeated uint32")
    if any(v >= 1 << 32 for v in out):
        raise NebulaCertificateError("malformed certificate: uint32 value out of range")


def read_string(value: int | bytes) -> str:
    assert isinstance(value, bytes)
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        # Go's proto3 decoder rejects invalid UTF-8 in string fields too.
        raise NebulaCertificateError("malformed certificate: string field is not valid UTF-8") from None
