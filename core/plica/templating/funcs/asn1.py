"""step's asn1 template functions (X.509 templates only): asn1Enc, asn1Marshal, asn1Seq, asn1Set.

Each returns standard base64 (with padding) of DER, ready for ``"value": {{ … | toJson }}``. Encoding follows
Go's ``encoding/asn1`` marshalling rules and step's ``marshalValue``/``parseFieldParameters``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
from typing import Any

from plica.asn1 import der_length, int_content, oid_content

from ..errors import GoError
from ..golang.reflect import go_type_name
from ..golang.strconv import atoi, go_quote
from ..golang.time import TimeParseError, as_aware, parse_time
from ..golang.types import TypedNil
from .registry import function_table

__all__ = ["FUNCS", "asn1_enc", "asn1_marshal", "asn1_seq", "asn1_set"]

FUNCS, register = function_table()

TAG_BOOLEAN = 1
TAG_INTEGER = 2
TAG_OCTET_STRING = 4
TAG_OID = 6
TAG_UTF8 = 12
TAG_SEQUENCE = 16
TAG_SET = 17
TAG_NUMERIC = 18
TAG_PRINTABLE = 19
TAG_IA5 = 22
TAG_UTCTIME = 23
TAG_GENERALIZED = 24

CLASS_UNIVERSAL = 0
CLASS_APPLICATION = 1
CLASS_CONTEXT = 2
CLASS_PRIVATE = 3


def _tag_bytes(cls: int, constructed: bool, tag: int) -> bytes:
    first = (cls << 6) | (0x20 if constructed else 0)
    if tag < 31:
        return bytes([first | tag])
    out = [tag & 0x7F]
    tag >>= 7
    while tag:
        out.append(0x80 | (tag & 0x7F))
        tag >>= 7
    return bytes([first | 0x1F]) + bytes(reversed(out))


def tlv(cls: int, constructed: bool, tag: int, content: bytes) -> bytes:
    return _tag_bytes(cls, constructed, tag) + der_length(len(content)) + content


class _Params:
    __slots__ = ("cls", "explicit", "set", "string_type", "tag", "time_type")

    def __init__(self) -> None:
        self.explicit = False
        self.cls = CLASS_CONTEXT
        self.tag: int | None = None
        self.string_type = 0
        self.time_type = 0
        self.set = False


_CLASS_WORDS = {"application": CLASS_APPLICATION, "private": CLASS_PRIVATE}
_TIME_WORDS = {"generalized": TAG_GENERALIZED, "utc": TAG_UTCTIME}
_STRING_WORDS = {"ia5": TAG_IA5, "printable": TAG_PRINTABLE, "numeric": TAG_NUMERIC, "utf8": TAG_UTF8}


def _parse_go_params(s: str) -> _Params:
    """Go ``encoding/asn1`` field parameters (unknown words are ignored, as in Go)."""
    p = _Params()
    for part in s.split(","):
        if part == "explicit" or part in _CLASS_WORDS:
            # explicit, application and private each imply tag 0 until a tag: word says otherwise
            if part == "explicit":
                p.explicit = True
            else:
                p.cls = _CLASS_WORDS[part]
            if p.tag is None:
                p.tag = 0
        elif part.startswith("tag:"):
            try:
                p.tag = int(part[4:])
            except ValueError:
                pass
        elif part == "set":
            p.set = True
        elif part in _TIME_WORDS:
            p.time_type = _TIME_WORDS[part]
        elif part in _STRING_WORDS:
            p.string_type = _STRING_WORDS[part]
    return p


def _is_printable(c: str, asterisk: bool, ampersand: bool) -> bool:
    return (
        "a" <= c <= "z"
        or "A" <= c <= "Z"
        or "0" <= c <= "9"
        or "'" <= c <= ")"
        or "+" <= c <= "/"
        or c in " :=?"
        or (asterisk and c == "*")
        or (ampersand and c == "&")
    )


def _oid_content(arcs: list[int]) -> bytes:
    if len(arcs) < 2 or arcs[0] > 2 or (arcs[0] < 2 and arcs[1] >= 40) or any(a < 0 for a in arcs):
        raise GoError("asn1: structure error: invalid object identifier")
    return oid_content(arcs)


def _two(n: int) -> str:
    return f"{n:02d}"


def _time_common(t: _dt.datetime) -> str:
    t = as_aware(t)
    s = _two(t.month) + _two(t.day) + _two(t.hour) + _two(t.minute) + _two(t.second)
    off = t.utcoffset()
    secs = int(off.total_seconds()) if off is not None else 0
    if secs // 60 == 0:
        return s + "Z"
    sign = "+" if secs > 0 else "-"
    m = abs(secs) // 60
    return s + sign + _two(m // 60) + _two(m % 60)


class ObjectIdentifier(tuple):  # type: ignore[type-arg]
    """A Go ``asn1.ObjectIdentifier``."""

    __go_type__ = "asn1.ObjectIdentifier"


def _universal(v: Any, p: _Params) -> tuple[int, bool, bytes]:
    """(tag, constructed, content) of ``v`` with its universal type."""
    if v is None or isinstance(v, TypedNil):
        raise GoError("asn1: cannot marshal nil value")
    if isinstance(v, bool):
        return TAG_BOOLEAN, False, b"\xff" if v else b"\x00"
    if isinstance(v, ObjectIdentifier):
        return TAG_OID, False, _oid_content(list(v))
    if isinstance(v, int):
        return TAG_INTEGER, False, int_content(int(v))
    if isinstance(v, float):
        raise GoError(f"asn1: structure error: unknown Go type: {go_type_name(v)}")
    if isinstance(v, str):
        st = p.string_type
        if st == TAG_IA5:
            if any(ord(c) >= 0x80 for c in v):
                raise GoError("asn1: structure error: IA5String contains invalid character")
            return TAG_IA5, False, v.encode()
        if st == TAG_PRINTABLE:
            if not all(_is_printable(c, True, False) for c in v):
                raise GoError("asn1: structure error: PrintableString contains invalid character")
            return TAG_PRINTABLE, False, v.encode()
        if st == TAG_NUMERIC:
            if not all(c == " " or "0" <= c <= "9" for c in v):
                raise GoError("asn1: structure error: NumericString contains invalid character")
            return TAG_NUMERIC, False, v.encode()
        data = v.encode("utf-8", "surrogateescape")
        if st == TAG_UTF8 or not all(_is_printable(c, False, False) for c in v):
            try:
                data.decode("utf-8")
            except UnicodeDecodeError:
                raise GoError("asn1: string not valid UTF-8") from None
            return TAG_UTF8, False, data
        return TAG_PRINTABLE, False, data
    if isinstance(v, _dt.datetime):
        t = as_aware(v)
        outside = not (1950 <= t.year < 2050)
        if p.time_type == TAG_GENERALIZED or outside:
            if not (0 <= t.year <= 9999):
                raise GoError("asn1: structure error: cannot represent time as GeneralizedTime")
            return TAG_GENERALIZED, False, (f"{t.year:04d}" + _time_common(t)).encode()
        return TAG_UTCTIME, False, (_two(t.year % 100) + _time_common(t)).encode()
    if isinstance(v, bytes | bytearray):
        return TAG_OCTET_STRING, False, bytes(v)
    if isinstance(v, list | tuple):
        content = b"".join(_field(e, _Params()) for e in v)
        return (TAG_SET if p.set else TAG_SEQUENCE), True, content
    der = getattr(v, "__asn1_der__", None)
    if callable(der):
        raw = bytes(der())
        # re-tagging is applied by the caller from the first byte
        return -1, False, raw
    raise GoError(f"asn1: structure error: unknown Go type: {go_type_name(v)}")


def _field(v: Any, p: _Params) -> bytes:
    tag, constructed, content = _universal(v, p)
    if tag == -1:
        return content
    if p.tag is None:
        return tlv(CLASS_UNIVERSAL, constructed, tag, content)
    if p.explicit:
        inner = tlv(CLASS_UNIVERSAL, constructed, tag, content)
        return tlv(p.cls, True, p.tag, inner)
    return tlv(p.cls, constructed, p.tag, content)


def marshal_with_params(v: Any, params: str) -> bytes:
    """Go ``asn1.MarshalWithParams``."""
    return _field(v, _parse_go_params(params))


# --------------------------------------------------------------------------------------------------------
# step marshalValue


def _step_params(s: str) -> tuple[str, str]:
    typ = ""
    params: list[str] = []
    for part in s.split(","):
        if part in ("utf8", "ia5", "numeric", "printable"):
            typ = part
            params.append(part)
        elif part in ("int", "oid", "raw"):
            typ = part
        elif part in ("bool", "boolean"):
            typ = "bool"
        elif part in ("utc", "generalized"):
            typ = part
            params.append(part)
        elif part == "":
            continue
        else:
            params.append(part)
    return typ, ",".join(params)


def _parse_oid(s: str) -> ObjectIdentifier:
    if s == "":
        return ObjectIdentifier(())
    arcs = []
    for part in s.split("."):
        try:
            arcs.append(atoi(part))
        except GoError:
            raise GoError(f"invalid oid value: invalid object identifier {s}") from None
    return ObjectIdentifier(arcs)


_BOOL_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_BOOL_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


def marshal_value(value: str, params: str) -> bytes:
    typ, go_params = _step_params(params)
    if typ == "int":
        try:
            i = atoi(value)
        except GoError as e:
            raise GoError(f"invalid int value: {e}") from None
        return marshal_with_params(i, go_params)
    if typ == "oid":
        return marshal_with_params(_parse_oid(value), go_params)
    if typ == "bool":
        if value in _BOOL_TRUE:
            return marshal_with_params(True, go_params)
        if value in _BOOL_FALSE:
            return marshal_with_params(False, go_params)
        raise GoError(f"invalid bool value: strconv.ParseBool: parsing {go_quote(value)}: invalid syntax")
    if typ == "raw":
        return _b64decode(value)
    if typ == "utf8":
        return marshal_with_params(value, go_params)
    if typ == "ia5":
        if any(ord(c) > 0x7F for c in value):
            raise GoError("invalid ia5 value")
        return marshal_with_params(value, go_params)
    if typ == "numeric":
        if not all(c == " " or "0" <= c <= "9" for c in value):
            raise GoError("invalid numeric value")
        return marshal_with_params(value, go_params)
    if typ in ("utc", "generalized"):
        try:
            t = parse_time("2006-01-02 15:04:05.999999999 -0700 MST", value)
        except TimeParseError as e:
            try:
                t = parse_time("2006-01-02T15:04:05Z07:00", value)
            except TimeParseError:
                raise GoError(f"invalid {typ} value: {e}") from None
        return marshal_with_params(t, go_params)
    # printable (also the default for unknown words)
    if not all(_is_printable(c, True, True) for c in value):
        raise GoError("invalid printable value")
    return marshal_with_params(value, go_params)


def _b64decode(s: str) -> bytes:
    try:
        return base64.b64decode(s.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        pos = 0
        for i, c in enumerate(s):
            if not (c.isascii() and (c.isalnum() or c in "+/=")):
                pos = i
                break
        else:
            pos = len(s) - len(s) % 4 if len(s) % 4 else len(s)
        raise GoError(f"illegal base64 data at input byte {pos}") from None


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


@register("asn1Enc", "string")
def asn1_enc(s: str) -> str:
    value, params = s, "printable"
    if ":" in value:
        params, value = value.split(":", 1)
    return _b64(marshal_value(value, params))


@register("asn1Marshal", "any", variadic="string")
def asn1_marshal(v: Any, *params: str) -> str:
    return _b64(marshal_with_params(v, ",".join(params)))


@register("asn1Seq", variadic="string")
def asn1_seq(*b64: str) -> str:
    return _b64(tlv(CLASS_UNIVERSAL, True, TAG_SEQUENCE, b"".join(_b64decode(x) for x in b64)))


@register("asn1Set", variadic="string")
def asn1_set(*b64: str) -> str:
    return _b64(tlv(CLASS_UNIVERSAL, True, TAG_SET, b"".join(_b64decode(x) for x in b64)))
