"""The validator's DNS wire format against messages built by dnslib (an independent implementation), and
against hostile or broken answers, which must be refused as not-an-answer rather than crash or loop."""

from __future__ import annotations

import struct

import pytest
from dnslib import AAAA, CNAME, QTYPE, RR, TXT, A, DNSRecord

from plica_acme.challenges import dnswire
from plica_acme.challenges.dnswire import Address, Text, WireError

NAME = dnswire.name_from_text("Web.Plica.Test.")


def query(rdtype: int, qid: int = 4242) -> DNSRecord:
    q = DNSRecord.parse(dnswire.encode_query(qid, NAME, rdtype))
    assert q.header.id == qid and q.header.rd == 1 and q.header.qr == 0
    assert str(q.q.qname) == "web.plica.test." and q.q.qtype == rdtype
    return q


def test_query_and_answers_built_by_dnslib() -> None:
    q = query(dnswire.A)
    r = q.reply()
    r.add_answer(RR("web.plica.test.", QTYPE.CNAME, rdata=CNAME("alias.plica.test."), ttl=60))
    r.add_answer(RR("alias.plica.test.", QTYPE.A, rdata=A("192.0.2.7"), ttl=60))
    r.add_answer(RR("alias.plica.test.", QTYPE.A, rdata=A("192.0.2.8"), ttl=60))
    ans = dnswire.decode_answer(r.pack(), 4242, NAME, dnswire.A)  # dnslib compresses the names
    alias = dnswire.name_from_text("alias.plica.test")
    assert ans.rcode == 0 and not ans.truncated
    assert ans.records == [
        (NAME, dnswire.CNAME, alias),
        (alias, dnswire.A, Address("192.0.2.7")),
        (alias, dnswire.A, Address("192.0.2.8")),
    ]
    r = query(dnswire.AAAA).reply()
    r.add_answer(RR("web.plica.test.", QTYPE.AAAA, rdata=AAAA("2001:db8::1"), ttl=60))
    assert dnswire.decode_answer(r.pack(), 4242, NAME, dnswire.AAAA).records == [
        (NAME, dnswire.AAAA, Address("2001:db8::1"))
    ]
    r = query(dnswire.TXT).reply()
    r.add_answer(RR("web.plica.test.", QTYPE.TXT, rdata=TXT([b"part one ", b"two"]), ttl=60))
    r.add_answer(RR("web.plica.test.", QTYPE.TXT, rdata=TXT(b""), ttl=60))
    assert dnswire.decode_answer(r.pack(), 4242, NAME, dnswire.TXT).records == [
        (NAME, dnswire.TXT, Text((b"part one ", b"two"))),
        (NAME, dnswire.TXT, Text((b"",))),
    ]
    r = query(dnswire.A).reply()
    r.header.rcode = 3
    assert dnswire.decode_answer(r.pack(), 4242, NAME, dnswire.A).rcode == dnswire.NXDOMAIN


def test_not_the_answer() -> None:
    r = query(dnswire.A).reply()
    packed = r.pack()
    with pytest.raises(WireError, match="not the answer"):
        dnswire.decode_answer(packed, 4243, NAME, dnswire.A)  # another id
    with pytest.raises(WireError, match="another question"):
        dnswire.decode_answer(packed, 4242, dnswire.name_from_text("other.plica.test"), dnswire.A)
    with pytest.raises(WireError, match="another question"):
        dnswire.decode_answer(packed, 4242, NAME, dnswire.TXT)
    with pytest.raises(WireError, match="not the answer"):  # a query is not an answer
        dnswire.decode_answer(dnswire.encode_query(4242, NAME, dnswire.A), 4242, NAME, dnswire.A)
    with pytest.raises(WireError, match="shorter"):
        dnswire.decode_answer(b"\x10\x92", 4242, NAME, dnswire.A)


def answer_with(rr: bytes, an: int = 1, flags: int = 0x8180) -> bytes:
    header = struct.pack("!HHHHHH", 4242, flags, 1, an, 0, 0)
    question = dnswire.encode_query(0, NAME, dnswire.A)[12:]
    return header + question + rr


@pytest.mark.parametrize(
    ("rr", "why"),
    [
        (b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 3) + b"\x01\x02\x03", "not 4 octets"),
        (b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 40) + b"\x01\x02\x03\x04", "runs past"),
        (b"\xc0\x30" + struct.pack("!HHIH", 1, 1, 60, 4) + b"\x01\x02\x03\x04", "backwards"),  # forward
        (b"\xc0", "runs past"),
        (b"\x3f" + b"a" * 10, "runs past"),
        (b"\x80abc", "label type"),
        (b"\xc0\x0c" + struct.pack("!HHIH", 16, 1, 60, 3) + b"\x05ab", "TXT string"),
        (b"\xc0\x0c" + struct.pack("!HHIH", 5, 1, 60, 4) + b"\x01a\x00\x00", "not one name"),
    ],
)
def test_broken_records_are_refused(rr: bytes, why: str) -> None:
    with pytest.raises(WireError, match=why):
        dnswire.decode_answer(answer_with(rr), 4242, NAME, dnswire.A)


def test_compression_loops_are_refused() -> None:
    # A record whose owner is a pointer to itself, and a CNAME whose target points into its own data.
    at = 12 + len(dnswire.encode_query(0, NAME, dnswire.A)) - 12
    with pytest.raises(WireError, match="backwards"):
        dnswire.decode_answer(answer_with(struct.pack("!H", 0xC000 | at)), 4242, NAME, dnswire.A)
    rdata_at = at + 2 + 10
    target = struct.pack("!H", 0xC000 | rdata_at)
    rr = b"\xc0\x0c" + struct.pack("!HHIH", 5, 1, 60, len(target)) + target
    with pytest.raises(WireError, match="backwards"):
        dnswire.decode_answer(answer_with(rr), 4242, NAME, dnswire.A)


def test_a_truncated_answer_keeps_what_it_has() -> None:
    r = query(dnswire.TXT).reply()
    r.header.tc = 1
    r.add_answer(RR("web.plica.test.", QTYPE.TXT, rdata=TXT(b"x" * 100), ttl=60))
    packed = r.pack()[:-30]  # cut inside the record
    ans = dnswire.decode_answer(packed, 4242, NAME, dnswire.TXT)
    assert ans.truncated and ans.records == []


def test_names() -> None:
    assert dnswire.name_from_text("A.b.") == (b"a", b"b")
    assert dnswire.name_to_text((b"a", b"b")) == "a.b"
    for bad in ("", "a..b", "x" * 64 + ".test", ".".join(["abcdefgh"] * 30), "bücher.test"):
        with pytest.raises(WireError):
            dnswire.name_from_text(bad)
