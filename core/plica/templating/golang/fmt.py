"""Go ``fmt``: ``%v`` text of values, ``Sprint``, ``Sprintln`` and ``Sprintf``."""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Mapping
from typing import Any

from .duration import as_duration_ns, duration_string
from .reflect import go_type_name
from .strconv import format_float, go_quote, is_print
from .time import time_string
from .types import MISSING, Duration, TypedNil

__all__ = ["sort_key", "sprint", "sprint_value", "sprintf", "sprintln"]


def sprint_value(v: Any, top: bool = True) -> str:
    """Go ``fmt`` ``%v`` text of a value."""
    t = type(v)
    if t is str:
        return v  # type: ignore[no-any-return]
    if t is bool:
        return "true" if v else "false"
    if t is int:
        return str(v)
    if t is float:
        return format_float(v, "g", -1)
    if v is None or v is MISSING:
        return "<nil>"
    if t is list or t is tuple or isinstance(v, list | tuple):
        return "[" + " ".join(sprint_value(e, False) for e in v) + "]"
    if isinstance(v, Mapping):
        items = sorted(v.items(), key=lambda kv: sort_key(kv[0]))
        return "map[" + " ".join(f"{sprint_value(k, False)}:{sprint_value(x, False)}" for k, x in items) + "]"
    if isinstance(v, bytes | bytearray):
        return "[" + " ".join(str(b) for b in v) + "]"
    if isinstance(v, Duration):
        return duration_string(int(v))
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        s = getattr(v, "__go_str__", None)
        return s() if callable(s) else str(int(v))
    if isinstance(v, float):
        return format_float(float(v), "g", -1)
    if isinstance(v, str):
        return str.__str__(v)
    if isinstance(v, _dt.datetime):
        return time_string(v)
    if isinstance(v, _dt.timedelta):
        return duration_string(as_duration_ns(v))
    if isinstance(v, TypedNil):
        k = v.kind
        return "[]" if k == "slice" else "map[]" if k == "map" else "<nil>"
    s = getattr(v, "__go_str__", None)
    if callable(s):
        return str(s())
    m = getattr(v, "String", None)
    if callable(m):
        try:
            return str(m())
        except TypeError:
            pass
    if isinstance(v, BaseException):
        return str(v)
    return str(v)


def sort_key(k: Any) -> tuple[int, Any]:
    if isinstance(k, bool):
        return (0, int(k))
    if isinstance(k, int | float):
        return (1, k)
    return (2, str(k))


def sprint(args: list[Any]) -> str:
    """Go ``fmt.Sprint``: spaces between operands when neither side is a string."""
    out: list[str] = []
    prev_string = False
    for i, a in enumerate(args):
        is_string = isinstance(a, str)
        if i > 0 and not is_string and not prev_string:
            out.append(" ")
        out.append(sprint_value(a))
        prev_string = is_string
    return "".join(out)


def sprintln(args: list[Any]) -> str:
    return " ".join(sprint_value(a) for a in args) + "\n"


_VERB_RE = re.compile(r"%([-+# 0]*)(\*|\d+)?(?:\.(\*|\d*))?(.)", re.S)


def _bad_verb(verb: str, a: Any) -> str:
    if a is None or a is MISSING:
        return f"%!{verb}(<nil>)"
    return f"%!{verb}({go_type_name(a)}={sprint_value(a)})"


def _pad(s: str, flags: str, width: int | None, zero_ok: bool = True) -> str:
    if width is None or len(s) >= width:
        return s
    if "-" in flags:
        return s + " " * (width - len(s))
    if "0" in flags and zero_ok:
        sign = ""
        if s[:1] in "+-":
            sign, s = s[0], s[1:]
        return sign + "0" * (width - len(sign) - len(s)) + s
    return " " * (width - len(s)) + s


def _fmt_int(v: int, verb: str, flags: str, prec: int | None) -> str:
    neg = v < 0
    a = -v if neg else v
    if verb == "d" or verb == "v":
        s = str(a)
    elif verb == "x":
        s = format(a, "x")
        if "#" in flags:
            s = "0x" + s
    elif verb == "X":
        s = format(a, "X")
        if "#" in flags:
            s = "0X" + s
    elif verb == "o":
        s = format(a, "o")
        if "#" in flags:
            s = "0" + s
    elif verb == "O":
        s = "0o" + format(a, "o")
    elif verb == "b":
        s = format(a, "b")
    elif verb == "c":
        return chr(v) if 0 <= v <= 0x10FFFF else "\ufffd"
    elif verb == "q":
        return "'" + (chr(v) if 0 <= v <= 0x10FFFF else "\ufffd") + "'"
    elif verb == "U":
        return f"U+{v:04X}"
    else:
        raise KeyError
    if prec is not None and len(s) < prec:
        s = "0" * (prec - len(s)) + s
    if neg:
        s = "-" + s
    elif "+" in flags:
        s = "+" + s
    elif " " in flags:
        s = " " + s
    return s


def _fmt_one(verb: str, flags: str, width: int | None, prec: int | None, a: Any) -> str:
    if verb == "T":
        return _pad("<nil>" if a is None or a is MISSING else go_type_name(a), flags, width, False)
    if verb == "v" and a is not None and a is not MISSING and not isinstance(a, bool | int | float):
        return _pad(sprint_value(a), flags, width, False)
    if isinstance(a, bool):
        if verb in "tv":
            return _pad("true" if a else "false", flags, width, False)
        return _bad_verb(verb, a)
    if isinstance(a, int) and not isinstance(a, Duration):
        try:
            return _pad(_fmt_int(int(a), verb, flags, prec), flags, width, prec is None)
        except KeyError:
            return _bad_verb(verb, a)
    if isinstance(a, float):
        if verb in "vgG":
            s = format_float(a, "g" if verb != "G" else "G", -1 if prec is None else prec)
        elif verb in "eE":
            s = format_float(a, verb, 6 if prec is None else prec)
        elif verb in "fF":
            s = format_float(a, "f", 6 if prec is None else prec)
        else:
            return _bad_verb(verb, a)
        if not s.startswith("-") and "+" in flags:
            s = "+" + s
        elif not s.startswith("-") and " " in flags:
            s = " " + s
        return _pad(s, flags, width)
    if isinstance(a, str):
        if verb in "sv":
            s = a if prec is None else a[:prec]
            return _pad(s, flags, width, False)
        if verb == "q":
            if "#" in flags and "`" not in a and all(is_print(c) for c in a):
                return _pad("`" + a + "`", flags, width, False)
            return _pad(go_quote(a if prec is None else a[:prec], "+" in flags), flags, width, False)
        if verb in "xX":
            data = a.encode("utf-8", "surrogateescape")
            h = data.hex() if verb == "x" else data.hex().upper()
            if " " in flags:
                h = " ".join(h[i : i + 2] for i in range(0, len(h), 2))
            return _pad(h, flags, width, False)
        return _bad_verb(verb, a)
    if isinstance(a, bytes | bytearray):
        if verb == "s":
            return _pad(bytes(a).decode("utf-8", "surrogateescape"), flags, width, False)
        if verb in "xX":
            return _pad(bytes(a).hex() if verb == "x" else bytes(a).hex().upper(), flags, width, False)
        if verb == "q":
            return go_quote(bytes(a).decode("utf-8", "surrogateescape"))
    if isinstance(a, list | tuple) and verb not in "vT":
        return "[" + " ".join(_fmt_one(verb, flags, width, prec, e) for e in a) + "]"
    if isinstance(a, Mapping) and verb not in "vT":
        items = sorted(a.items(), key=lambda kv: sort_key(kv[0]))
        return (
            "map["
            + " ".join(
                f"{_fmt_one(verb, flags, width, prec, k)}:{_fmt_one(verb, flags, width, prec, x)}"
                for k, x in items
            )
            + "]"
        )
    if a is None or a is MISSING:
        if verb == "v":
            return _pad("<nil>", flags, width, False)
        return _bad_verb(verb, a)
    if verb in "sv" or (verb == "q" and callable(getattr(a, "__go_str__", None))):
        s = sprint_value(a)
        if verb == "q":
            s = go_quote(s)
        return _pad(s, flags, width, False)
    if verb == "d" and isinstance(a, _dt.timedelta):
        return _pad(str(as_duration_ns(a)), flags, width)
    return _bad_verb(verb, a)


def sprintf(fmt: str, args: list[Any]) -> str:
    """Go ``fmt.Sprintf`` for the verbs templates use."""
    out: list[str] = []
    argi = 0
    pos = 0
    n = len(fmt)
    while pos < n:
        j = fmt.find("%", pos)
        if j < 0:
            out.append(fmt[pos:])
            break
        out.append(fmt[pos:j])
        m = _VERB_RE.match(fmt, j)
        if m is None:
            out.append("%!(NOVERB)")
            break
        flags, w, p, verb = m.group(1), m.group(2), m.group(3), m.group(4)
        pos = m.end()
        if verb == "%":
            out.append("%")
            continue
        width: int | None = None
        prec: int | None = None
        if w == "*":
            if argi < len(args) and isinstance(args[argi], int):
                width = int(args[argi])
                if width < 0:
                    flags += "-"
                    width = -width
            else:
                out.append("%!(BADWIDTH)")
            argi += 1
        elif w:
            width = int(w)
        if p is not None:
            if p == "*":
                if argi < len(args) and isinstance(args[argi], int):
                    prec = int(args[argi])
                else:
                    out.append("%!(BADPREC)")
                argi += 1
            else:
                prec = int(p) if p else 0
        if argi >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        a = args[argi]
        argi += 1
        out.append(_fmt_one(verb, flags, width, prec, a))
    if argi < len(args):
        extra = ", ".join(
            "<nil>" if a is None or a is MISSING else f"{go_type_name(a)}={sprint_value(a)}"
            for a in args[argi:]
        )
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)
