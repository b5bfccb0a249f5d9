"""Go `encoding/json` emulation: how step decodes a rendered template into its description structs.

Go matches object keys case-insensitively with "last one wins", ignores unknown keys, leaves a field
unset for `null`, and is strict about each field's JSON type; the decoders here follow those rules and
raise `DescriptionError` with Go's messages.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
from collections.abc import Callable
from typing import Any, TypeAlias

from .errors import DescriptionError


class JSONObject(list[tuple[str, Any]]):
    """A decoded JSON object as its (key, value) pairs in document order.

    Kept as pairs rather than a dict because Go matches keys case-insensitively with "last one wins",
    and because arrays and objects must stay distinguishable (`list` alone cannot tell them apart).
    """

    def to_python(self) -> dict[str, Any]:
        return {k: to_python(v) for k, v in self}


def to_python(value: Any) -> Any:
    """Convert a decoded value to plain dicts/lists (last duplicate key wins, as in Go maps)."""
    if isinstance(value, JSONObject):
        return value.to_python()
    if isinstance(value, list):
        return [to_python(v) for v in value]
    return value


def _reject_constant(name: str) -> Any:
    # Python's json accepts NaN/Infinity; Go's does not.
    raise ValueError(f"invalid character '{name[0]}' looking for beginning of value")


_DECODER = json.JSONDecoder(object_pairs_hook=JSONObject, parse_constant=_reject_constant)
_GO_WS = " \t\r\n"


def decode_first_value(text: str) -> Any:
    """Decode the first JSON value of `text`, ignoring whatever follows it (json.Decoder.Decode)."""
    i = 0
    while i < len(text) and text[i] in _GO_WS:
        i += 1
    if i == len(text):
        raise DescriptionError("error unmarshaling certificate: EOF")
    try:
        value, _ = _DECODER.raw_decode(text, i)
    except json.JSONDecodeError as e:
        raise DescriptionError(f"error unmarshaling certificate: {e.msg} at offset {e.pos}") from None
    except (ValueError, RecursionError) as e:
        raise DescriptionError(f"error unmarshaling certificate: {e}") from None
    return value


def json_kind(value: Any) -> str:
    """The JSON type name Go uses in "cannot unmarshal X into ..." messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, JSONObject):
        return "object"
    return "array"


def type_error(value: Any, path: str, go_type: str) -> DescriptionError:
    return DescriptionError(
        f"json: cannot unmarshal {json_kind(value)} into Go value {path} of type {go_type}"
    )


def _fold(key: str) -> str:
    # Go's foldName: case-insensitive, with the two Unicode letters that simple-fold onto ASCII.
    return key.replace("\u017f", "s").replace("\u212a", "k").lower()


Decoder: TypeAlias = Callable[[Any, str], Any]


def decode_struct(
    obj: Any, fields: dict[str, tuple[str, Decoder]], path: str, go_type: str
) -> dict[str, Any]:
    """Decode a JSON object into keyword arguments, Go style.

    `fields` maps the JSON tag to (attribute name, decoder). Keys match exactly or case-insensitively,
    unknown keys are ignored, a later duplicate wins, and `null` leaves the field unset.
    """
    if not isinstance(obj, JSONObject):
        raise type_error(obj, path, go_type)
    folded = {_fold(k): k for k in fields}
    out: dict[str, Any] = {}
    for key, value in obj:
        tag = key if key in fields else folded.get(_fold(key))
        if tag is None or value is None:
            continue
        attr, decoder = fields[tag]
        out[attr] = decoder(value, f"{path}.{tag}")
    return out


def decode_struct_list(
    value: Any, fields: dict[str, tuple[str, Decoder]], path: str, go_type: str
) -> list[dict[str, Any] | None]:
    """A JSON array of objects (`[]go_type`), each decoded by `decode_struct`; a null element gives None."""
    if not isinstance(value, list) or isinstance(value, JSONObject):
        raise type_error(value, path, f"[]{go_type}")
    return [
        None if item is None else decode_struct(item, fields, f"{path}[{i}]", go_type)
        for i, item in enumerate(value)
    ]


def decode_certificate(
    text: str, fields: dict[str, tuple[str, Decoder]], go_type: str, *, template: str
) -> dict[str, Any]:
    """Decode rendered template output (the first JSON value only) into the fields of the `Certificate`
    struct `go_type`; `null` leaves every field unset, as in Go. Errors name `template`."""
    try:
        value = decode_first_value(text)
        return {} if value is None else decode_struct(value, fields, "Certificate", go_type)
    except DescriptionError as e:
        raise e.with_template(template) from None


def dec_string(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise type_error(value, path, "string")
    return value


def dec_bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise type_error(value, path, "bool")
    return value


def dec_int(value: Any, path: str) -> int:
    # Go decodes a number into an int only from an integer literal that fits in 64 bits.
    if isinstance(value, bool) or not isinstance(value, int) or not -(2**63) <= value < 2**63:
        raise type_error(value, path, "int")
    return value


def dec_uint64(value: Any, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**64:
        raise type_error(value, path, "uint64")
    return value


def dec_string_list(value: Any, path: str) -> list[str]:
    """A JSON array of strings (`[]string`); a null element decodes to ""."""
    if not isinstance(value, list) or isinstance(value, JSONObject):
        raise type_error(value, path, "[]string")
    out = []
    for i, v in enumerate(value):
        if v is None:
            out.append("")
        elif isinstance(v, str):
            out.append(v)
        else:
            raise type_error(v, f"{path}[{i}]", "string")
    return out


def dec_multistring(value: Any, path: str) -> list[str]:
    """step's MultiString: a string or an array of strings."""
    if isinstance(value, str):
        return [value]
    return dec_string_list(value, path)


def dec_string_map(value: Any, path: str) -> dict[str, str]:
    """`map[string]string`; a null value decodes to ""."""
    if not isinstance(value, JSONObject):
        raise type_error(value, path, "map[string]string")
    out: dict[str, str] = {}
    for k, v in value:
        if v is None:
            out[k] = ""
        elif isinstance(v, str):
            out[k] = v
        else:
            raise type_error(v, f"{path}.{k}", "string")
    return out


def dec_bytes(value: Any, path: str) -> bytes:
    """`[]byte`: standard base64 with padding (Go skips CR and LF inside it)."""
    if not isinstance(value, str):
        raise type_error(value, path, "[]uint8")
    try:
        return base64.b64decode(value.replace("\r", "").replace("\n", ""), validate=True)
    except (binascii.Error, ValueError):
        raise DescriptionError(f"json: {path}: illegal base64 data in {value!r}") from None


def tuple_of(decoder: Decoder) -> Decoder:
    """`decoder` with its list result as a tuple (the descriptions are frozen)."""
    return lambda value, path: tuple(decoder(value, path))


tuple_multistring = tuple_of(dec_multistring)


_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|([+-])(\d{2}):(\d{2}))", re.ASCII
)


def parse_rfc3339(text: str) -> dt.datetime | None:
    """Parse an RFC 3339 time as Go's `time.Time.UnmarshalJSON`; the zero time gives None (unset)."""
    m = _RFC3339.fullmatch(text)
    if not m:
        raise ValueError(f'parsing time "{text}" as RFC 3339: cannot parse')
    year, month, day, hour, minute, second = (int(m.group(i)) for i in range(1, 7))
    frac = m.group(7) or ""
    if m.group(8) == "Z":
        tz = dt.UTC
    else:
        oh, om = int(m.group(10)), int(m.group(11))
        if oh > 23 or om > 59:
            raise ValueError(f'parsing time "{text}": time zone offset out of range')
        sign = -1 if m.group(9) == "-" else 1
        tz = dt.timezone(sign * dt.timedelta(hours=oh, minutes=om))
    if (year, month, day, hour, minute, second, frac.strip("0")) == (1, 1, 1, 0, 0, 0, "") and (
        tz is dt.UTC or tz.utcoffset(None) == dt.timedelta(0)
    ):
        return None
    try:
        # Python keeps microseconds; Go's nanoseconds beyond that are dropped.
        return dt.datetime(year, month, day, hour, minute, second, int((frac + "000000")[:6]), tzinfo=tz)
    except ValueError as e:
        raise ValueError(f'parsing time "{text}": {e}') from None


def dec_time(value: Any, path: str) -> dt.datetime | None:
    if not isinstance(value, str):
        raise type_error(value, path, "time.Time")
    try:
        return parse_rfc3339(value)
    except ValueError as e:
        raise DescriptionError(f"json: {path}: {e}") from None


__all__ = [
    "Decoder",
    "JSONObject",
    "dec_bool",
    "dec_bytes",
    "dec_int",
    "dec_multistring",
    "dec_string",
    "dec_string_list",
    "dec_string_map",
    "dec_time",
    "dec_uint64",
    "decode_certificate",
    "decode_first_value",
    "decode_struct",
    "decode_struct_list",
    "json_kind",
    "parse_rfc3339",
    "to_python",
    "tuple_multistring",
    "tuple_of",
    "type_error",
]
