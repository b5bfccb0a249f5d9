"""Go ``text/template``'s builtin functions: ``and``/``or``/``call`` (handled by the executor), ``not``,
``len``, ``index``, the comparisons and the printing and escaping functions."""

from __future__ import annotations

import datetime as _dt
import re
import urllib.parse
from collections.abc import Mapping
from typing import Any

from ..errors import GoError
from ..golang.duration import as_duration_ns
from ..golang.fmt import sprint, sprint_value, sprintf, sprintln
from ..golang.reflect import go_kind, go_type_name
from ..golang.types import MISSING, TypedNil, truth
from .registry import FuncSpec, function_table

FUNCS, builtin = function_table()


def _valid(v: Any) -> bool:
    return v is not None and v is not MISSING


FUNCS["and"] = FuncSpec("and", lambda *a: None, ("value",), "value", "and")
FUNCS["or"] = FuncSpec("or", lambda *a: None, ("value",), "value", "or")
FUNCS["call"] = FuncSpec("call", lambda *a: None, ("value",), "value", "call")


@builtin("not", "value")
def _not(v: Any) -> bool:
    return not truth(v)


@builtin("len", "value")
def _len(v: Any) -> int:
    if v is None or v is MISSING:
        raise GoError("reflect: call of reflect.Value.Type on zero Value")
    if isinstance(v, str):
        return len(v.encode("utf-8", "surrogateescape"))
    if isinstance(v, TypedNil):
        if v.kind == "ptr":
            raise GoError("len of nil pointer")
        if v.kind in ("slice", "map"):
            return 0
    if isinstance(v, list | tuple | Mapping | bytes | bytearray):
        return len(v)
    if go_kind(v) in ("slice", "map", "array", "string") and hasattr(v, "__len__"):
        return len(v)
    raise GoError(f"len of type {go_type_name(v)}")


def _index_arg(idx: Any, cap: int) -> int:
    if idx is None or idx is MISSING:
        raise GoError("cannot index slice/array with nil")
    if isinstance(idx, bool) or not isinstance(idx, int):
        raise GoError(f"cannot index slice/array with type {go_type_name(idx)}")
    x = int(idx)
    if x < 0 or x > cap:
        raise GoError(f"index out of range: {x}")
    return x


@builtin("index", "value", variadic="value")
def _index(item: Any, *indexes: Any) -> Any:
    if item is None or item is MISSING:
        raise GoError("index of untyped nil")
    for idx in indexes:
        if isinstance(item, TypedNil) and item.kind == "ptr":
            raise GoError("index of nil pointer")
        if item is None:
            raise GoError("index of nil pointer")
        if isinstance(item, str):
            b = item.encode("utf-8", "surrogateescape")
            x = _index_arg(idx, len(b))
            if x >= len(b):
                raise GoError("reflect: string index out of range")
            item = b[x]
        elif isinstance(item, list | tuple | bytes | bytearray):
            x = _index_arg(idx, len(item))
            if x >= len(item):
                raise GoError("reflect: slice index out of range")
            item = item[x]
        elif isinstance(item, Mapping) or (isinstance(item, TypedNil) and item.kind == "map"):
            if idx is None or idx is MISSING:
                raise GoError("value is nil; should be of type string")
            if not isinstance(idx, str):
                raise GoError(f"value has type {go_type_name(idx)}; should be string")
            item = item.get(idx) if isinstance(item, Mapping) else None
        elif isinstance(item, TypedNil) and item.kind == "slice":
            _index_arg(idx, 0)
            raise GoError("reflect: slice index out of range")
        else:
            raise GoError(f"can't index item of type {go_type_name(item)}")
    return item


# -- comparisons -----------------------------------------------------------------------------------------

_K_INVALID, _K_BOOL, _K_INT, _K_FLOAT, _K_STRING, _K_COMPLEX = range(6)


def _basic_kind(v: Any) -> int:
    t = type(v)
    if t is str:
        return _K_STRING
    if t is int:
        return _K_INT
    if t is float:
        return _K_FLOAT
    if t is bool:
        return _K_BOOL
    if isinstance(v, bool):
        return _K_BOOL
    if isinstance(v, int) and not isinstance(v, TypedNil):
        return _K_INT
    if isinstance(v, float):
        return _K_FLOAT
    if isinstance(v, str):
        return _K_STRING
    if isinstance(v, complex):
        return _K_COMPLEX
    if isinstance(v, _dt.timedelta):
        return _K_INT
    return _K_INVALID


def _is_nil(v: Any) -> bool:
    return v is None or v is MISSING or isinstance(v, TypedNil)


def _incompatible(a: Any, b: Any) -> GoError:
    return GoError(f"incompatible types for comparison: {go_type_name(a)} and {go_type_name(b)}")


def _num(v: Any) -> Any:
    if isinstance(v, _dt.timedelta):
        return as_duration_ns(v)
    return v


@builtin("eq", "value", variadic="value")
def _eq(arg1: Any, *arg2: Any) -> bool:
    if not arg2:
        raise GoError("missing argument for comparison")
    k1 = _basic_kind(arg1)
    for arg in arg2:
        k2 = _basic_kind(arg)
        truth = False
        if k1 != k2:
            if _valid(arg1) and _valid(arg):
                raise _incompatible(arg1, arg)
        elif k1 != _K_INVALID:
            truth = _num(arg1) == _num(arg)
        else:
            if _is_nil(arg1) or _is_nil(arg):
                truth = _is_nil(arg1) == _is_nil(arg)
            else:
                if go_kind(arg1) != go_kind(arg):
                    raise GoError(
                        f"non-comparable types {sprint_value(arg1)}: {go_type_name(arg1)}, "
                        f"{go_type_name(arg)}: {sprint_value(arg)}"
                    )
                if isinstance(arg, list | tuple | Mapping | bytes | bytearray):
                    raise GoError(f"non-comparable type {sprint_value(arg)}: {go_type_name(arg)}")
                truth = arg1 is arg or (go_type_name(arg1) == go_type_name(arg) and arg1 == arg)
        if truth:
            return True
    return False


@builtin("ne", "value", "value")
def _ne(a: Any, b: Any) -> bool:
    return not _eq(a, b)


@builtin("lt", "value", "value")
def _lt(a: Any, b: Any) -> bool:
    k1 = _basic_kind(a)
    if k1 == _K_INVALID:
        raise GoError("invalid type for comparison")
    k2 = _basic_kind(b)
    if k2 == _K_INVALID:
        raise GoError("invalid type for comparison")
    if k1 != k2:
        raise _incompatible(a, b)
    if k1 in (_K_BOOL, _K_COMPLEX):
        raise GoError("invalid type for comparison")
    if k1 == _K_STRING:
        return bool(str(a).encode("utf-8", "surrogateescape") < str(b).encode("utf-8", "surrogateescape"))
    return bool(_num(a) < _num(b))


@builtin("le", "value", "value")
def _le(a: Any, b: Any) -> bool:
    return _lt(a, b) or _eq(a, b)


@builtin("gt", "value", "value")
def _gt(a: Any, b: Any) -> bool:
    return not _le(a, b)


@builtin("ge", "value", "value")
def _ge(a: Any, b: Any) -> bool:
    return not _lt(a, b)


# -- printing --------------------------------------------------------------------------------------------


@builtin("print", variadic="any")
def _print(*args: Any) -> str:
    return sprint(list(args))


@builtin("printf", "string", variadic="any")
def _printf(fmt: str, *args: Any) -> str:
    return sprintf(fmt, list(args))


@builtin("println", variadic="any")
def _println(*args: Any) -> str:
    return sprintln(list(args))


def _eval_args(args: tuple[Any, ...]) -> str:
    if len(args) == 1 and isinstance(args[0], str):
        return args[0]
    conv = ["<no value>" if a is None or a is MISSING else a for a in args]
    return sprint(conv)


_HTML_ESC = {"\0": "\ufffd", '"': "&#34;", "'": "&#39;", "&": "&amp;", "<": "&lt;", ">": "&gt;"}
_HTML_RE = re.compile("[\0\"'&<>]")


def html_escape(s: str) -> str:
    return _HTML_RE.sub(lambda m: _HTML_ESC[m.group()], s)


@builtin("html", variadic="any")
def _html(*args: Any) -> str:
    return html_escape(_eval_args(args))


# the escapes text/template's JSEscape writes as such
_JS_ESCAPES = {
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
    "<": "\\u003C",
    ">": "\\u003E",
    "&": "\\u0026",
    "=": "\\u003D",
}


def js_escape(s: str) -> str:
    out = []
    for c in s:
        o = ord(c)
        esc = _JS_ESCAPES.get(c)
        if esc is not None:
            out.append(esc)
        elif o < 0x20:
            out.append(f"\\u00{o:02X}")
        elif o < 0x80 or c.isprintable():
            out.append(c)
        else:
            out.append(f"\\u{o:04X}")
    return "".join(out)


@builtin("js", variadic="any")
def _js(*args: Any) -> str:
    return js_escape(_eval_args(args))


@builtin("urlquery", variadic="any")
def _urlquery(*args: Any) -> str:
    return urllib.parse.quote_plus(_eval_args(args).encode("utf-8", "surrogateescape"), safe="-_.~")
