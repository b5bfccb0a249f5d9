"""The DNS wire format (RFC 1035 §4) for the validator's own queries: a question out, the answer records of
types A, AAAA, CNAME and TXT back.

The validator asks a few questions per validation and hundreds of validations a second can run; building
and parsing messages with dnspython's general machinery (every record type, rdata objects, name objects)
was most of a lookup's CPU. This module does the little the validator needs and checks what a resolver's
answer must satisfy: the query id and question echoed, name compression pointing strictly backwards (so a
hostile answer cannot loop), lengths inside the message. Anything else is `WireError`, and the datagram
is treated as not an answer.
"""

from __future__ import annotations

import ipaddress
import struct

from attrs import frozen

A, CNAME, TXT, AAAA = 1, 5, 16, 28
IN = 1
NOERROR, NXDOMAIN = 0, 3
_HEADER = struct.Struct("!HHHHHH")
_RR = struct.Struct("!HHIH")
_FLAG_QR = 0x8000
_FLAG_TC = 0x0200
_FLAG_RD = 0x0100

Name = tuple[bytes, ...]  # lower-cased labels, root excluded


class WireError(ValueError):
    pass


@frozen
class Address:
    """An A or AAAA record (`address` as dnspython's rdata names it)."""

    address: str


@frozen
class Text:
    """A TXT record: its character-strings (`strings` as dnspython's rdata names it)."""

    strings: tuple[bytes, ...]


@frozen
class Answer:
    id: int
    rcode: int
    truncated: bool
    # (owner, type, value) of the answer section's IN records: value is an Address, a Text or (CNAME) a Name
    records: list[tuple[Name, int, Address | Text | Name]]


def name_from_text(text: str) -> Name:
    """A host name as labels; raises WireError for what cannot be a DNS name."""
    t = text[:-1] if text.endswith(".") else text
    try:
        raw = t.encode("ascii")
    except UnicodeEncodeError:
        raise WireError(f"{text!r} is not an ASCII DNS name (an IDN must come as its A-label)") from None
    labels = tuple(raw.lower().split(b"."))
    if not t or any(not 0 < len(label) < 64 for label in labels) or len(raw) > 253:
        raise WireError(f"{text!r} is not a valid DNS name")
    return labels


def name_to_text(name: Name) -> str:
    return b".".join(name).decode("ascii", "backslashreplace")


def encode_query(qid: int, name: Name, rdtype: int) -> bytes:
    out = bytearray(_HEADER.pack(qid, _FLAG_RD, 1, 0, 0, 0))
    for label in name:
        out.append(len(label))
        out += label
    out += b"\x00" + struct.pack("!HH", rdtype, IN)
    return bytes(out)


def _name(msg: bytes, pos: int) -> tuple[Name, int]:
    """The name at `pos` and the offset after it (after the first pointer, if it was compressed)."""
    labels: list[bytes] = []
    end = -1
    floor = pos  # a pointer must point before every place this name has been read from
    total = 0
    while True:
        if pos >= len(msg):
            raise WireError("a name runs past the end of the message")
        n = msg[pos]
        if n == 0:
            pos += 1
            break
        if n & 0xC0 == 0xC0:
            if pos + 1 >= len(msg):
                raise WireError("a compression pointer runs past the end of the message")
            target = ((n & 0x3F) << 8) | msg[pos + 1]
            if end < 0:
                end = pos + 2
            if target >= floor:
                raise WireError("a compression pointer does not point backwards")
            pos = floor = target
            continue
        if n & 0xC0:
            raise WireError("unknown label type")
        label = msg[pos + 1 : pos + 1 + n]
        if len(label) != n:
            raise WireError("a label runs past the end of the message")
        total += n + 1
        if total > 255:
            raise WireError("a name longer than 255 octets")
        labels.append(label.lower())
        pos += 1 + n
    return tuple(labels), (end if end >= 0 else pos)


def decode_answer(msg: bytes, qid: int, name: Name, rdtype: int) -> Answer:
    """The answer to query `qid` for (`name`, `rdtype`); WireError when `msg` is not that answer."""
    msg = bytes(msg)
    if len(msg) < _HEADER.size:
        raise WireError("shorter than a DNS header")
    rid, flags, qd, an, _, _ = _HEADER.unpack_from(msg)
    if rid != qid or not flags & _FLAG_QR:
        raise WireError("not the answer to this query")
    pos = _HEADER.size
    if qd != 1:
        raise WireError("the answer does not repeat the question")
    qname, pos = _name(msg, pos)
    if pos + 4 > len(msg):
        raise WireError("the question runs past the end of the message")
    qtype, qclass = struct.unpack_from("!HH", msg, pos)
    pos += 4
    if qname != name or qtype != rdtype or qclass != IN:
        raise WireError("the answer is to another question")
    records: list[tuple[Name, int, Address | Text | Name]] = []
    truncated = bool(flags & _FLAG_TC)
    for _ in range(an):
        try:
            owner, pos = _name(msg, pos)
        except WireError:
            if truncated:
                break  # a truncated answer may end anywhere; the caller asks again over TCP
            raise
        if pos + _RR.size > len(msg):
            if truncated:
                break
            raise WireError("a record runs past the end of the message")
        rtype, rclass, _, rdlen = _RR.unpack_from(msg, pos)
        pos += _RR.size
        start, pos = pos, pos + rdlen
        if pos > len(msg):
            if truncated:
                break
            raise WireError("a record's data runs past the end of the message")
        if rclass != IN:
            continue
        if rtype == A:
            if rdlen != 4:
                raise WireError("an A record that is not 4 octets")
            records.append((owner, A, Address(str(ipaddress.IPv4Address(msg[start:pos])))))
        elif rtype == AAAA:
            if rdlen != 16:
                raise WireError("an AAAA record that is not 16 octets")
            records.append((owner, AAAA, Address(str(ipaddress.IPv6Address(msg[start:pos])))))
        elif rtype == CNAME:
            target, after = _name(msg, start)
            if after != pos:
                raise WireError("a CNAME record's data is not one name")
            records.append((owner, CNAME, target))
        elif rtype == TXT:
            strings: list[bytes] = []
            i = start
            while i < pos:
                n = msg[i]
                if i + 1 + n > pos:
                    raise WireError("a TXT string runs past its record")
                strings.append(msg[i + 1 : i + 1 + n])
                i += 1 + n
            records.append((owner, TXT, Text(tuple(strings))))
    return Answer(id=rid, rcode=flags & 0x000F, truncated=truncated, records=records)
