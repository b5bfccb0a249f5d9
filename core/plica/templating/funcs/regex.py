"""sprig's regular expression functions, with Go RE2 syntax translated to Python ``re``."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from ..errors import GoError
from ..golang.types import StringSlice, TypedNil
from .registry import function_table

FUNCS, sprig = function_table()


_POSIX = {
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "ascii": "\\x00-\\x7F",
    "blank": "\\t ",
    "cntrl": "\\x00-\\x1F\\x7F",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": "!-/:-@\\[-`{-~",
    "space": "\\t\\n\\v\\f\\r ",
    "upper": "A-Z",
    "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}


@functools.lru_cache(maxsize=256)
def go_regexp(expr: str) -> re.Pattern[str]:
    """Compile a Go RE2 expression; raises GoError with Go-like text on syntax errors."""
    multiline = bool(re.search(r"\(\?[a-zA-Z]*m", expr))
    out: list[str] = []
    i, n = 0, len(expr)
    in_class = False
    while i < n:
        c = expr[i]
        if c == "\\" and i + 1 < n:
            nxt = expr[i + 1]
            if nxt == "z":
                out.append("\\Z")
            elif nxt in "pP":
                raise GoError(f"error parsing regexp: invalid character class range: `{expr[i : i + 3]}`")
            elif nxt == "Q":
                j = expr.find("\\E", i + 2)
                lit = expr[i + 2 : j if j >= 0 else n]
                out.append(re.escape(lit))
                i = (j + 2) if j >= 0 else n
                continue
            else:
                out.append(expr[i : i + 2])
            i += 2
            continue
        if in_class:
            if c == "[" and expr.startswith("[:", i):
                j = expr.find(":]", i + 2)
                if j > 0:
                    name = expr[i + 2 : j]
                    neg = name.startswith("^")
                    body = _POSIX.get(name.lstrip("^"))
                    if body is None:
                        raise GoError(
                            f"error parsing regexp: invalid character class range: `{expr[i : j + 2]}`"
                        )
                    if neg:
                        raise GoError(
                            "error parsing regexp: negated POSIX classes are not supported by Plica"
                        )
                    out.append(body)
                    i = j + 2
                    continue
            if c == "]":
                in_class = False
            elif c == "[":
                out.append("\\[")
                i += 1
                continue
            out.append(c)
            i += 1
            continue
        if c == "[":
            in_class = True
            out.append(c)
            i += 1
            if i < n and expr[i] == "^":
                out.append("^")
                i += 1
            if i < n and expr[i] == "]":
                out.append("\\]")
                i += 1
            continue
        if c == "$" and not multiline:
            out.append("\\Z")
            i += 1
            continue
        if (
            c == "("
            and expr.startswith("(?<", i)
            and not expr.startswith("(?<=", i)
            and not expr.startswith("(?<!", i)
        ):
            out.append("(?P<")
            i += 3
            continue
        if c == "(" and (expr.startswith("(?=", i) or expr.startswith("(?!", i) or expr.startswith("(?<", i)):
            raise GoError(f"error parsing regexp: invalid or unsupported Perl syntax: `{expr[i : i + 3]}`")
        out.append(c)
        i += 1
    try:
        return re.compile("".join(out), re.ASCII)
    except re.error as e:
        raise GoError(f"error parsing regexp: {e.msg}: `{expr}`") from None


def _go_matches(pat: re.Pattern[str], s: str, n: int) -> list[re.Match[str]]:
    """Go's ``allMatches``: successive matches, skipping an empty match right after the previous one."""
    if n < 0:
        n = len(s) + 1
    out: list[re.Match[str]] = []
    pos = 0
    prev_end = -1
    end = len(s)
    while len(out) < n and pos <= end:
        m = pat.search(s, pos)
        if m is None:
            break
        accept = True
        if m.end() == m.start():
            if m.start() == prev_end:
                accept = False
            pos = m.end() + 1 if m.end() >= pos else pos + 1
        else:
            pos = m.end()
        prev_end = m.end()
        if accept:
            out.append(m)
    return out


def _expand(template: str, m: re.Match[str]) -> str:
    out: list[str] = []
    i, n = 0, len(template)
    groups = m.re.groupindex
    while i < n:
        j = template.find("$", i)
        if j < 0:
            out.append(template[i:])
            break
        out.append(template[i:j])
        i = j + 1
        if i < n and template[i] == "$":
            out.append("$")
            i += 1
            continue
        name = ""
        if i < n and template[i] == "{":
            k = template.find("}", i)
            if k < 0:
                out.append("$")
                continue
            name = template[i + 1 : k]
            if not name or not all(c.isalnum() or c == "_" for c in name):
                out.append("$")
                continue
            i = k + 1
        else:
            k = i
            while k < n and (template[k].isalnum() or template[k] == "_"):
                k += 1
            name = template[i:k]
            if not name:
                out.append("$")
                continue
            i = k
        if name.isdigit():
            idx = int(name)
            if idx <= m.re.groups:
                out.append(m.group(idx) or "")
        elif name in groups:
            out.append(m.group(name) or "")
    return "".join(out)


def _replace_all(pat: re.Pattern[str], s: str, repl: Callable[[re.Match[str]], str]) -> str:
    out: list[str] = []
    last_end = 0
    pos = 0
    end = len(s)
    while pos <= end:
        m = pat.search(s, pos)
        if m is None:
            break
        a, b = m.span()
        out.append(s[last_end:a])
        if b > last_end or a == 0:
            out.append(repl(m))
        last_end = b
        if pos + 1 > b:
            pos += 1
        else:
            pos = b
    out.append(s[last_end:])
    return "".join(out)


def _regex_split(pat: re.Pattern[str], s: str, n: int) -> list[str]:
    if n == 0:
        return StringSlice()
    if pat.pattern and s == "":
        return StringSlice([""])
    matches = _go_matches(pat, s, n)
    parts = StringSlice()
    beg = 0
    end = 0
    for m in matches:
        if n > 0 and len(parts) == n - 1:
            break
        end = m.start()
        if m.end() != 0:
            parts.append(s[beg:end])
        beg = m.end()
    if end != len(s):
        parts.append(s[beg:])
    return parts


@sprig("regexMatch", "string", "string")
def _regex_match(regex: str, s: str) -> bool:
    try:
        return go_regexp(regex).search(s) is not None
    except GoError:
        return False


sprig("mustRegexMatch", "string", "string")(lambda r, s: go_regexp(r).search(s) is not None)


@sprig("regexFindAll mustRegexFindAll", "string", "string", "int")
def _regex_find_all(regex: str, s: str, n: int) -> Any:
    if n == 0:
        return TypedNil("[]string")
    ms = _go_matches(go_regexp(regex), s, n)
    return StringSlice(m.group() for m in ms) if ms else TypedNil("[]string")


@sprig("regexFind mustRegexFind", "string", "string")
def _regex_find(regex: str, s: str) -> str:
    m = go_regexp(regex).search(s)
    return m.group() if m else ""


@sprig("regexReplaceAll mustRegexReplaceAll", "string", "string", "string")
def _regex_replace_all(regex: str, s: str, repl: str) -> str:
    return _replace_all(go_regexp(regex), s, lambda m: _expand(repl, m))


@sprig("regexReplaceAllLiteral mustRegexReplaceAllLiteral", "string", "string", "string")
def _regex_replace_all_literal(regex: str, s: str, repl: str) -> str:
    return _replace_all(go_regexp(regex), s, lambda m: repl)


@sprig("regexSplit mustRegexSplit", "string", "string", "int")
def _regex_split_fn(regex: str, s: str, n: int) -> list[str]:
    return _regex_split(go_regexp(regex), s, n)


@sprig("regexQuoteMeta", "string")
def _regex_quote_meta(s: str) -> str:
    return "".join("\\" + c if c in "\\.+*?()|[]{}^$" else c for c in s)
