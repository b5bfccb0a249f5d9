"""Go ``encoding/json``: ``Marshal``/``MarshalIndent`` of template values and ``Unmarshal`` into ``any``."""

from __future__ import annotations

import base64
import datetime as _dt
import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import GoError
from .duration import as_duration_ns
from .fmt import sprint_value
from .strconv import format_float, go_quote
from .time import format_time
from .types import MISSING, RawJSON, TypedNil

__all__ = ["from_json", "go_json", "json_float", "json_string"]


def json_float(x: float) -> str:
    """``encoding/json`` float64 text."""
    if math.isnan(x) or math.isinf(x):
        raise GoError(f"json: unsupported value: {format_float(x)}")
    a = abs(x)
    if a != 0 and (a < 1e-6 or a >= 1e21):
        s = format_float(x, "e", -1)
        n = len(s)
        if n >= 4 and s[n - 4] == "e" and s[n - 3] == "-" and s[n - 2] == "0":
            s = s[: n - 2] + s[n - 1]
        return s
    return format_float(x, "f", -1)


_encode_basestring: Callable[[str], str] = json.encoder.encode_basestring  # type: ignore[attr-defined]
_HTML_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_HTML_RE = re.compile("[<>&\u2028\u2029]")
_LS_RE = re.compile("[\u2028\u2029]")
_SURROGATE_RE = re.compile("[\ud800-\udfff]")


def json_string(s: str, escape_html: bool = True) -> str:
    """A Go ``encoding/json`` string literal."""
    out = _encode_basestring(s)
    if out.isascii():
        if escape_html and ("<" in out or ">" in out or "&" in out):
            out = _HTML_RE.sub(_html_escape_match, out)
        return out
    if escape_html:
        out = _HTML_RE.sub(_html_escape_match, out)
    elif "\u2028" in out or "\u2029" in out:
        out = _LS_RE.sub(_html_escape_match, out)
    # invalid UTF-8 (kept by surrogateescape) becomes U+FFFD, as Go does
    return _SURROGATE_RE.sub("\ufffd", out)


def _html_escape_match(m: re.Match[str]) -> str:
    return _HTML_ESCAPES[m.group()]


def rfc3339nano(t: _dt.datetime) -> str:
    return format_time(t, "2006-01-02T15:04:05.999999999Z07:00")


(
    _JK_GOJSON,
    _JK_RAW,
    _JK_NULL,
    _JK_BOOL,
    _JK_INT,
    _JK_FLOAT,
    _JK_STR,
    _JK_BYTES,
    _JK_TIME,
    _JK_TIMEDELTA,
    _JK_MAP,
    _JK_LIST,
    _JK_STRUCT,
) = range(13)
_json_kinds: dict[type, int] = {}


def _json_kind(t: type) -> int:
    """How ``encoding/json`` treats instances of ``t`` (cached per type)."""
    k = _json_kinds.get(t)
    if k is None:
        if callable(getattr(t, "__go_json__", None)):
            k = _JK_GOJSON
        elif issubclass(t, RawJSON):
            k = _JK_RAW
        elif issubclass(t, TypedNil):
            k = _JK_NULL
        elif issubclass(t, bool):
            k = _JK_BOOL
        elif issubclass(t, _dt.timedelta) or issubclass(t, int):
            k = _JK_TIMEDELTA if issubclass(t, _dt.timedelta) else _JK_INT
        elif issubclass(t, float):
            k = _JK_FLOAT
        elif issubclass(t, str):
            k = _JK_STR
        elif issubclass(t, bytes | bytearray):
            k = _JK_BYTES
        elif issubclass(t, _dt.datetime):
            k = _JK_TIME
        elif issubclass(t, Mapping):
            k = _JK_MAP
        elif issubclass(t, list | tuple):
            k = _JK_LIST
        else:
            k = _JK_STRUCT
        _json_kinds[t] = k
    return k


class _JSONEncoder:
    __slots__ = ("depth", "escape_html", "indent")

    def __init__(self, escape_html: bool, indent: str | None) -> None:
        self.escape_html = escape_html
        self.indent = indent
        self.depth = 0

    def encode(self, v: Any, out: list[str], level: int = 0) -> None:
        t = type(v)
        if t is str:
            out.append(json_string(v, self.escape_html))
        elif v is None or v is MISSING:
            out.append("null")
        elif t is bool:
            out.append("true" if v else "false")
        elif t is int:
            out.append(str(v))
        elif t is float:
            out.append(json_float(v))
        elif t is dict:
            self._object(sorted(v.items(), key=_json_key), out, level, True)
        elif t is list or t is tuple:
            self._array(v, out, level)
        else:
            self._other(v, out, level)

    def _other(self, v: Any, out: list[str], level: int) -> None:
        self.depth += 1
        if self.depth > 1000:
            raise GoError("json: unsupported value: encountered a cycle")
        try:
            kind = _json_kind(type(v))
            if kind == _JK_GOJSON:
                r = v.__go_json__()
                if type(r) is dict:
                    self._object(list(r.items()), out, level, False)
                else:
                    self.encode(r, out, level)
            elif kind == _JK_RAW:
                text = v.text
                if self.escape_html:
                    text = _HTML_RE.sub(_html_escape_match, text)
                out.append(text)
            elif kind == _JK_NULL:
                out.append("null")
            elif kind == _JK_BOOL:
                out.append("true" if v else "false")
            elif kind == _JK_INT:
                out.append(str(int(v)))
            elif kind == _JK_FLOAT:
                out.append(json_float(float(v)))
            elif kind == _JK_STR:
                out.append(json_string(str.__str__(v), self.escape_html))
            elif kind == _JK_BYTES:
                out.append('"' + base64.b64encode(bytes(v)).decode() + '"')
            elif kind == _JK_TIME:
                if not (0 <= v.year <= 9999):
                    raise GoError(
                        "json: error calling MarshalJSON for type time.Time: year outside of range [0,9999]"
                    )
                out.append('"' + rfc3339nano(v) + '"')
            elif kind == _JK_TIMEDELTA:
                out.append(str(as_duration_ns(v)))
            elif kind == _JK_MAP:
                self._object(sorted(v.items(), key=_json_key), out, level, True)
            elif kind == _JK_LIST:
                self._array(v, out, level)
            else:
                fields = (
                    [(k, x) for k, x in vars(v).items() if k[:1].isupper()] if hasattr(v, "__dict__") else []
                )
                self._object(fields, out, level, False)
        finally:
            self.depth -= 1

    def _object(self, items: list[tuple[Any, Any]], out: list[str], level: int, is_map: bool) -> None:
        if not items:
            out.append("{}")
            return
        ind = self.indent
        out.append("{")
        first = True
        esc = self.escape_html
        sep = ": " if ind is not None else ":"
        for k, x in items:
            if not first:
                out.append(",")
            first = False
            if ind is not None:
                out.append("\n" + ind * (level + 1))
            key = k if type(k) is str else sprint_value(k)
            out.append(json_string(key, esc))
            out.append(sep)
            tx = type(x)
            if tx is str:
                out.append(json_string(x, esc))
            elif x is None:
                out.append("null")
            else:
                self.encode(x, out, level + 1)
        if ind is not None:
            out.append("\n" + ind * level)
        out.append("}")

    def _array(self, v: Any, out: list[str], level: int) -> None:
        if not v:
            out.append("[]")
            return
        ind = self.indent
        out.append("[")
        first = True
        for x in v:
            if not first:
                out.append(",")
            first = False
            if ind is not None:
                out.append("\n" + ind * (level + 1))
            self.encode(x, out, level + 1)
        if ind is not None:
            out.append("\n" + ind * level)
        out.append("]")


def _json_key(kv: tuple[Any, Any]) -> str:
    k = kv[0]
    return k if isinstance(k, str) else sprint_value(k)


def go_json(v: Any, *, escape_html: bool = True, indent: str | None = None) -> str:
    """Go ``json.Marshal`` (or ``MarshalIndent`` with prefix "" and the given indent)."""
    out: list[str] = []
    enc = _JSONEncoder(escape_html, indent)
    try:
        enc.encode(v, out)
    except RecursionError:
        raise GoError("json: unsupported value: encountered a cycle") from None
    return "".join(out)


def from_json(s: str) -> Any:
    """Go ``json.Unmarshal`` into ``interface{}``: all numbers become float64."""
    try:
        return json.loads(s, parse_int=float, parse_constant=_reject_constant)
    except json.JSONDecodeError as e:
        if e.pos >= len(s) or not s.strip():
            raise GoError("unexpected end of JSON input") from None
        ch = s[e.pos]
        if "Extra data" in e.msg:
            raise GoError(f"invalid character {_char_q(ch)} after top-level value") from None
        raise GoError(f"invalid character {_char_q(ch)} looking for beginning of value") from None
    except ValueError as e:
        raise GoError(str(e)) from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid character {_char_q(name[0])} looking for beginning of value")


def _char_q(c: str) -> str:
    if c == "'":
        return "'\\''"
    if c == '"':
        return "'\"'"
    return "'" + go_quote(c)[1:-1] + "'"
