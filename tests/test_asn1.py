"""The kernel's DER writing and reading (plica.asn1), against known encodings (X.690 §8.3, §8.19)."""

from __future__ import annotations

import pytest

from plica.asn1 import der_int, der_oid, der_read, read_tlv, tlv


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
