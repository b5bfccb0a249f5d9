"""The kernel's DER writing and reading (plica.asn1), against known encodings (X.690 §8.3, §8.19)."""

from __future__ import annotations

import pytest

from plica.asn1 import (
    DERError,
    der_elements,
    der_int,
    der_oid,
    der_read,
    der_read_strict,
    int_content,
    int_value,
    read_tlv,
    tlv,
)


@pytest.mark.parametrize(
    ("n", "der"),
    [(0, "020100"), (127, "02017f"), (128, "02020080"), (255, "020200ff"), (256, "02020100"),
     (-1, "0201ff"), (-128, "020180"), (-129, "0202ff7f"), (2**127, "021100" + "80" + "00" * 15)],
)  # fmt: skip
def test_integers_take_the_fewest_octets(n: int, der: str) -> None:
    assert der_int(n).hex() == der


def test_oids_lengths_and_reading_back() -> None:
    assert der_oid("1.2.840.10045.4.3.2").hex() == "06082a8648ce3d040302"
    assert der_oid("2.999.3").hex() == "0603883703"
    long = tlv(0x04, b"x" * 300)
    assert long[:4].hex() == "0482012c"
    tag, start, end = der_read(long)
    assert (tag, end - start) == (0x04, 300)
    assert read_tlv(long + b"\x05\x00") == (0x04, b"x" * 300, b"\x05\x00")
    for broken in (b"", b"\x04", b"\x04\x05abc", b"\x04\x80", b"\x04\x85\x01\x01\x01\x01\x01"):
        with pytest.raises(ValueError):
            der_read(broken)


@pytest.mark.parametrize("n", [0, 1, 127, 128, 255, 256, -1, -128, -129, 2**63 - 1, -(2**63), 2**127])
def test_integer_content_round_trips(n: int) -> None:
    assert int_value(int_content(n)) == n
    assert der_int(n) == tlv(0x02, int_content(n))


@pytest.mark.parametrize(
    ("content", "why"),
    [("", "empty"), ("0000", "non-minimal"), ("007f", "non-minimal"), ("ff80", "non-minimal"),
     ("ffff", "non-minimal")],
)  # fmt: skip
def test_integer_values_must_be_minimal(content: str, why: str) -> None:
    with pytest.raises(DERError, match=why):
        int_value(bytes.fromhex(content))


def test_strict_reader_reads_what_der_read_reads() -> None:
    data = tlv(0x30, tlv(0x80, b"name") + tlv(0xA1, tlv(0x04, b"x" * 200))) + b"\xff"
    assert der_read_strict(data) == der_read(data)
    _, start, end = der_read_strict(data)
    children = list(der_elements(data, start, end))
    assert [(tag, data[s:e][:4]) for tag, s, e in children] == [(0x80, b"name"), (0xA1, b"\x04\x81\xc8x")]
    _, s, e = children[1]
    assert [(tag, e2 - s2) for tag, s2, e2 in der_elements(data, s, e)] == [(0x04, 200)]
    assert list(der_elements(data, start, start)) == []


@pytest.mark.parametrize(
    ("der", "end", "why"),
    [("04", None, "truncated"), ("0403abcd", None, "truncated"), ("0402abcd", 3, "truncated"),
     ("1f0100", None, "high tag"), ("0480", None, "bad ASN.1 length"), ("0485010101010100", None, "bad ASN.1 length"),
     ("048201", None, "bad ASN.1 length"), ("048105" + "00" * 5, None, "non-minimal"),
     ("04820081" + "00" * 0x81, None, "non-minimal")],
)  # fmt: skip
def test_strict_reader_refuses_what_der_forbids(der: str, end: int | None, why: str) -> None:
    with pytest.raises(DERError, match=why):
        der_read_strict(bytes.fromhex(der), 0, end)


def test_walking_a_sequence_stops_at_a_bad_child() -> None:
    content = tlv(0x04, b"ok") + b"\x04\x05ab"
    walk = der_elements(content, 0, len(content))
    assert next(walk) == (0x04, 2, 4)
    with pytest.raises(DERError, match="truncated"):
        next(walk)
