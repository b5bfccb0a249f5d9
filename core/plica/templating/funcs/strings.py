"""sprig's string functions (trimming, case, abbreviation, wrapping, quoting, splitting, hashing, ``seq``,
the numeric conversions) and the string-list functions ``join`` and ``sortAlpha``."""

from __future__ import annotations

import hashlib
import random
import re
import secrets
import zlib
from collections.abc import Iterator
from typing import Any

from ..errors import GoError
from ..golang.fmt import sprint_value
from ..golang.reflect import is_slice
from ..golang.strconv import go_quote
from ..golang.types import Int64, StringSlice
from .cast import (
    IntSlice,
    StringMap,
    atoi_or_zero,
    go_bytes,
    go_string,
    strslice,
    strval,
    to_float64,
    to_int64,
)
from .registry import function_table

FUNCS, sprig = function_table()


def _abbreviate_full(s: str, offset: int, max_width: int) -> str:
    if s == "":
        return ""
    if max_width < 4:
        return ""
    n = len(s)
    if n <= max_width:
        return s
    offset = min(offset, n)
    if n - offset < max_width - 3:
        offset = n - (max_width - 3)
    if offset <= 4:
        return s[: max_width - 3] + "..."
    if max_width < 7:
        return ""
    if offset + max_width - 3 < n:
        return "..." + _abbreviate_full(s[offset:], 0, max_width - 3)
    return "..." + s[n - (max_width - 3) :]


@sprig("abbrev", "int", "string")
def _abbrev(width: int, s: str) -> str:
    if width < 4:
        return s
    return _abbreviate_full(s, 0, width)


@sprig("abbrevboth", "int", "int", "string")
def _abbrevboth(left: int, right: int, s: str) -> str:
    if right < 4 or (left > 0 and right < 7):
        return s
    return _abbreviate_full(s, left, right)


@sprig("trunc", "int", "string")
def _trunc(c: int, s: str) -> str:
    b = go_bytes(s)
    if c < 0 and len(b) + c > 0:
        return go_string(b[len(b) + c :])
    if c >= 0 and len(b) > c:
        return go_string(b[:c])
    return s


@sprig("trim", "string")
def _trim(s: str) -> str:
    return s.strip(_GO_SPACE)


_GO_SPACE = " \t\n\v\f\r\x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"


sprig("upper", "string")(lambda s: s.upper())
sprig("lower", "string")(lambda s: s.lower())


def _is_separator(c: str) -> bool:
    if c.isascii():
        return not (c.isalnum() or c == "_")
    if c.isalpha() or c.isdigit():
        return False
    return c.isspace()


@sprig("title", "string")
def _title(s: str) -> str:
    out = []
    prev = " "
    for c in s:
        out.append(c.title() if _is_separator(prev) else c)
        prev = c
    return "".join(out)


def _word_starts(s: str) -> Iterator[tuple[str, bool]]:
    """Each character of `s`, and whether it starts a word (words are what whitespace separates)."""
    gap = True
    for c in s:
        space = c.isspace()
        yield c, gap and not space
        gap = space


@sprig("untitle", "string")
def _untitle(s: str) -> str:
    return "".join(c.lower() if start else c for c, start in _word_starts(s))


def _slice_bounds(lo: int, hi: int, n: int) -> None:
    if hi < 0 or hi > n:
        raise GoError(f"runtime error: slice bounds out of range [:{hi}] with length {n}")
    if lo < 0 or lo > hi:
        raise GoError(f"runtime error: slice bounds out of range [{lo}:{hi}]")


@sprig("substr", "int", "int", "string")
def _substr(start: int, end: int, s: str) -> str:
    b = go_bytes(s)
    if start < 0:
        _slice_bounds(0, end, len(b))
        return go_string(b[:end])
    if end < 0 or end > len(b):
        _slice_bounds(start, len(b), len(b))
        return go_string(b[start:])
    _slice_bounds(start, end, len(b))
    return go_string(b[start:end])


@sprig("repeat", "int", "string")
def _repeat(count: int, s: str) -> str:
    if count < 0:
        raise GoError("strings: negative Repeat count")
    return s * count


@sprig("trimall trimAll", "string", "string")
def _trim_all(cutset: str, s: str) -> str:
    return s.strip(cutset) if cutset else s


@sprig("trimSuffix", "string", "string")
def _trim_suffix(suffix: str, s: str) -> str:
    return s[: -len(suffix)] if suffix and s.endswith(suffix) else s


@sprig("trimPrefix", "string", "string")
def _trim_prefix(prefix: str, s: str) -> str:
    return s[len(prefix) :] if prefix and s.startswith(prefix) else s


@sprig("nospace", "string")
def _nospace(s: str) -> str:
    return "".join(c for c in s if not c.isspace())


@sprig("initials", "string")
def _initials(s: str) -> str:
    return "".join(c for c, start in _word_starts(s) if start)


_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def _rand_chars(n: int, alphabet: str) -> str:
    if n < 0:
        return ""
    return "".join(secrets.choice(alphabet) for _ in range(n))


sprig("randAlphaNum", "int")(lambda n: _rand_chars(n, _ALNUM))
sprig("randAlpha", "int")(lambda n: _rand_chars(n, _ALNUM[:52]))
sprig("randNumeric", "int")(lambda n: _rand_chars(n, "0123456789"))
sprig("randAscii", "int")(lambda n: _rand_chars(n, "".join(chr(c) for c in range(32, 127))))


@sprig("swapcase", "string")
def _swapcase(s: str) -> str:
    return s.swapcase()


@sprig("shuffle", "string")
def _shuffle(s: str) -> str:
    chars = list(s)
    random.SystemRandom().shuffle(chars)
    return "".join(chars)


def _words(s: str) -> list[str]:
    # split like xstrings: on non-alphanumerics and at lower→upper / acronym boundaries
    parts = re.split(r"[^0-9A-Za-z\u00c0-\uffff]+", s)
    words: list[str] = []
    for p in parts:
        if not p:
            continue
        words.extend(re.findall(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z\u00c0-\uffff]+|[A-Z]+|[0-9]+", p) or [p])
    return words


@sprig("snakecase", "string")
def _snakecase(s: str) -> str:
    return "_".join(w.lower() for w in _words(s))


@sprig("kebabcase", "string")
def _kebabcase(s: str) -> str:
    return "-".join(w.lower() for w in _words(s))


@sprig("camelcase", "string")
def _camelcase(s: str) -> str:
    out = []
    for part in s.split("_"):
        if part:
            out.append(part[0].upper() + part[1:])
    return "".join(out)


def _wrap_custom(s: str, width: int, newline: str, wrap_long: bool) -> str:
    if s == "":
        return ""
    if newline == "":
        newline = "\n"
    width = max(width, 1)
    n = len(s)
    offset = 0
    out: list[str] = []
    while n - offset > width:
        if s[offset] == " ":
            offset += 1
            continue
        end = width + offset + 1
        space = s.rfind(" ", offset, end)
        if space >= offset:
            out.append(s[offset:space])
            out.append(newline)
            offset = space + 1
        elif wrap_long:
            out.append(s[offset : offset + width])
            out.append(newline)
            offset += width
        else:
            idx = s.find(" ", offset + width)
            if idx < 0:
                out.append(s[offset:])
                offset = n
            else:
                out.append(s[offset:idx])
                out.append(newline)
                offset = idx + 1
    out.append(s[offset:])
    return "".join(out)


sprig("wrap", "int", "string")(lambda n, s: _wrap_custom(s, n, "\n", False))
sprig("wrapWith", "int", "string", "string")(lambda n, sep, s: _wrap_custom(s, n, sep, True))
sprig("contains", "string", "string")(lambda sub, s: sub in s)
sprig("hasPrefix", "string", "string")(lambda p, s: s.startswith(p))
sprig("hasSuffix", "string", "string")(lambda p, s: s.endswith(p))


@sprig("quote", variadic="any")
def _quote(*args: Any) -> str:
    return " ".join(go_quote(strval(a)) for a in args if a is not None)


@sprig("squote", variadic="any")
def _squote(*args: Any) -> str:
    return " ".join(f"'{sprint_value(a)}'" for a in args if a is not None)


@sprig("cat", variadic="any")
def _cat(*args: Any) -> str:
    return " ".join(sprint_value(a) for a in args if a is not None)


@sprig("indent", "int", "string")
def _indent(n: int, s: str) -> str:
    pad = " " * max(n, 0)
    return pad + s.replace("\n", "\n" + pad)


@sprig("nindent", "int", "string")
def _nindent(n: int, s: str) -> str:
    return "\n" + _indent(n, s)


@sprig("replace", "string", "string", "string")
def _replace(old: str, new: str, s: str) -> str:
    if old == "":
        # Go inserts ``new`` around every rune when old is empty
        return new + new.join(s) + new if s else new
    return s.replace(old, new)


@sprig("plural", "string", "string", "int")
def _plural(one: str, many: str, count: int) -> str:
    return one if count == 1 else many


sprig("sha1sum", "string")(lambda s: hashlib.sha1(go_bytes(s)).hexdigest())
sprig("sha256sum", "string")(lambda s: hashlib.sha256(go_bytes(s)).hexdigest())
sprig("sha512sum", "string")(lambda s: hashlib.sha512(go_bytes(s)).hexdigest())
sprig("adler32sum", "string")(lambda s: str(zlib.adler32(go_bytes(s))))
sprig("toString", "any")(strval)


@sprig("atoi", "string")
def _atoi(s: str) -> int:
    return atoi_or_zero(s)


sprig("int64", "any")(lambda v: Int64(to_int64(v)))
sprig("int", "any")(to_int64)
sprig("float64", "any")(to_float64)


def _until_step(start: int, stop: int, step_: int) -> list[int]:
    v = IntSlice()
    if stop < start:
        if step_ >= 0:
            return v
        i = start
        while i > stop:
            v.append(i)
            i += step_
        return v
    if step_ <= 0:
        return v
    return IntSlice(range(start, stop, step_))


@sprig("seq", variadic="int")
def _seq(*params: int) -> str:
    n = len(params)
    if n == 0:
        return ""
    if n == 1:
        start, end = 1, params[0]
        inc = -1 if end < start else 1
        r = _until_step(start, end + inc, inc)
    elif n == 2:
        start, end = params
        st = -1 if end < start else 1
        r = _until_step(start, end + st, st)
    elif n == 3:
        start, step_, end = params
        inc = 1
        if end < start:
            inc = -1
            if step_ > 0:
                return ""
        r = _until_step(start, end + inc, step_)
    else:
        return ""
    return " ".join(str(x) for x in r)


@sprig("toDecimal", "any")
def _to_decimal(v: Any) -> Int64:
    s = sprint_value(v)
    body = s[1:] if s[:1] in "+-" else s
    if not body or any(c not in "01234567" for c in body):
        return Int64(0)
    r = int(s, 8)
    return Int64(r if -(1 << 63) <= r < (1 << 63) else 0)


def _go_split(s: str, sep: str, n: int = -1) -> list[str]:
    if n == 0:
        return []
    if sep == "":
        chars = list(s)
        if n > 0 and len(chars) > n:
            return [*chars[: n - 1], "".join(chars[n - 1 :])]
        return chars
    if n < 0:
        return s.split(sep)
    return s.split(sep, n - 1)


@sprig("split", "string", "string")
def _split(sep: str, s: str) -> StringMap:
    return StringMap((f"_{i}", p) for i, p in enumerate(_go_split(s, sep)))


@sprig("splitn", "string", "int", "string")
def _splitn(sep: str, n: int, s: str) -> StringMap:
    return StringMap((f"_{i}", p) for i, p in enumerate(_go_split(s, sep, n)))


@sprig("splitList", "string", "string")
def _split_list(sep: str, s: str) -> list[str]:
    return StringSlice(_go_split(s, sep))


sprig("toStrings", "any")(strslice)


@sprig("until", "int")
def _until(count: int) -> list[int]:
    return _until_step(0, count, -1 if count < 0 else 1)


sprig("untilStep", "int", "int", "int")(_until_step)


@sprig("join", "string", "any")
def _join(sep: str, v: Any) -> str:
    return sep.join(strslice(v))


@sprig("sortAlpha", "any")
def _sort_alpha(v: Any) -> list[str]:
    if is_slice(v):
        return StringSlice(sorted(strslice(v), key=go_bytes))
    return StringSlice([strval(v)])
