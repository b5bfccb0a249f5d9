"""step's asn1 functions (§5.2), checked against the spec's computed vectors and Go encoding/asn1 rules."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import pytest

from plica.templating import TemplateError, render


def r(text: str, data: Any = None) -> str:
    return render(text, data or {})


def der(text: str, data: Any = None) -> bytes:
    return base64.b64decode(r(text, data))


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ('{{ asn1Enc "int:3848281" }}', "AgM6uFk="),
        ('{{ asn1Enc "YubiKey" }}', "EwdZdWJpS2V5"),
        ('{{ asn1Enc "int:123456" }}', "AgMB4kA="),
        ('{{ asn1Seq (asn1Enc "YubiKey") (asn1Enc "int:123456") }}', "MA4TB1l1YmlLZXkCAwHiQA=="),
        ('{{ asn1Enc "oid:1.2.3.4" }}', "BgMqAwQ="),
        (
            '{{ asn1Seq (asn1Seq (asn1Enc "oid:1.3.6.1.4.1.99999.1.1.1") (asn1Seq (asn1Seq (asn1Enc "oid:1.3.6.1.5.5.7.2.1") (asn1Enc "ia5:http://example.com/cps")))) }}',
            "MDUwMwYLKwYBBAGGjR8BAQEwJDAiBggrBgEFBQcCARYWaHR0cDovL2V4YW1wbGUuY29tL2Nwcw==",
        ),
        ('{{ asn1Enc "int:3848281" | toJson }}', '"AgM6uFk="'),
    ],
)
def test_spec_vectors(text: str, want: str) -> None:
    assert r(text) == want


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ('{{ asn1Enc "int:123" }}', b"\x02\x01\x7b"),
        ('{{ asn1Enc "int:-1" }}', b"\x02\x01\xff"),
        ('{{ asn1Enc "int:128" }}', b"\x02\x02\x00\x80"),
        ('{{ asn1Enc "foo" }}', b"\x13\x03foo"),
        ('{{ asn1Enc "printable:a*b" }}', b"\x13\x03a*b"),
        ('{{ asn1Enc "utf8:héllo" }}', b"\x0c\x06h\xc3\xa9llo"),
        ('{{ asn1Enc "ia5:jane@example.com" }}', b"\x16\x10jane@example.com"),
        ('{{ asn1Enc "numeric:123 45" }}', b"\x12\x06123 45"),
        ('{{ asn1Enc "bool:true" }}|{{ asn1Enc "boolean:F" }}', None),
        ('{{ asn1Enc "utc:2020-01-02T03:04:05Z" }}', b"\x17\x0d200102030405Z"),
        ('{{ asn1Enc "generalized:2020-01-02T03:04:05Z" }}', b"\x18\x0f20200102030405Z"),
        ('{{ asn1Enc "utc:2020-01-02 03:04:05.5 +0200 EET" }}', b"\x17\x11200102030405+0200"),
        ('{{ asn1Enc "raw:AgM6uFk=" }}', b"\x02\x03\x3a\xb8\x59"),
        ('{{ asn1Enc "int,explicit:5" }}', b"\xa0\x03\x02\x01\x05"),
        ('{{ asn1Enc "https://x" }}', b"\x13\x03//x"),
        ('{{ asn1Enc "x:a*b" }}', b"\x0c\x03a*b"),
        ('{{ asn1Marshal "foo" }}', b"\x13\x03foo"),
        ('{{ asn1Marshal "foo" "utf8" }}', b"\x0c\x03foo"),
        ('{{ asn1Marshal "a@b" }}', b"\x0c\x03a@b"),
        ("{{ asn1Marshal 5 }}", b"\x02\x01\x05"),
        ("{{ asn1Marshal true }}", b"\x01\x01\xff"),
        ("{{ asn1Marshal (list 1 2) }}", b"\x30\x06\x02\x01\x01\x02\x01\x02"),
        ('{{ asn1Marshal (list 1 2) "set" }}', b"\x31\x06\x02\x01\x01\x02\x01\x02"),
        ('{{ asn1Marshal "x" "explicit" "tag:2" }}', b"\xa2\x03\x13\x01x"),
        ('{{ asn1Marshal "x" "tag:2" }}', b"\x82\x01x"),
        ('{{ asn1Set (asn1Enc "int:2") (asn1Enc "int:1") }}', b"\x31\x06\x02\x01\x02\x02\x01\x01"),
    ],
)
def test_encodings(text: str, want: bytes | None) -> None:
    if want is None:
        a, b = r(text).split("|")
        assert base64.b64decode(a) == b"\x01\x01\xff"
        assert base64.b64decode(b) == b"\x01\x01\x00"
        return
    assert der(text) == want


def test_asn1_marshal_time() -> None:
    data = {
        "t": dt.datetime(2030, 6, 1, 12, 0, 0, tzinfo=dt.UTC),
        "old": dt.datetime(2060, 1, 1, tzinfo=dt.UTC),
    }
    assert der("{{ asn1Marshal .t }}", data) == b"\x17\x0d300601120000Z"
    assert der('{{ asn1Marshal .t "generalized" }}', data) == b"\x18\x0f20300601120000Z"
    assert der('{{ asn1Marshal .t "utc" }}', data) == b"\x17\x0d300601120000Z"
    assert der("{{ asn1Marshal .old }}", data) == b"\x18\x0f20600101000000Z"


@pytest.mark.parametrize(
    ("text", "msg"),
    [
        ('{{ asn1Enc "int:x" }}', 'invalid int value: strconv.Atoi: parsing "x": invalid syntax'),
        ('{{ asn1Enc "oid:1.x" }}', "invalid oid value"),
        ('{{ asn1Enc "oid:5.1" }}', "invalid object identifier"),
        ('{{ asn1Enc "printable:a&b" }}', "PrintableString contains invalid character"),
        ('{{ asn1Enc "a_b" }}', "invalid printable value"),
        ('{{ asn1Enc "ia5:é" }}', "invalid ia5 value"),
        ('{{ asn1Enc "numeric:12a" }}', "invalid numeric value"),
        ('{{ asn1Enc "bool:yes" }}', "invalid bool value"),
        ('{{ asn1Enc "utc:yesterday" }}', "invalid utc value"),
        ('{{ asn1Enc "raw:!!" }}', "illegal base64 data at input byte 0"),
        ("{{ asn1Marshal .f }}", "unknown Go type: float64"),
        ("{{ asn1Marshal .Missing }}", "cannot marshal nil value"),
        ('{{ asn1Seq "!!" }}', "illegal base64 data"),
    ],
)
def test_errors(text: str, msg: str) -> None:
    with pytest.raises(TemplateError) as ei:
        r(text, {"f": 1.0})
    assert msg in str(ei.value)
    assert "error calling asn1" in str(ei.value)
