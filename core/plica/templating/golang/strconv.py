"""Go ``strconv``: ``FormatFloat``, ``Quote``/``Unquote`` and the integer and float parsers."""

from __future__ import annotations

import math

from ..errors import GoError

__all__ = [
    "UnquoteError",
    "atoi",
    "format_float",
    "go_quote",
    "go_unquote",
    "is_print",
    "parse_float",
    "parse_int",
]


def _shortest_digits(x: float) -> tuple[str, int]:
    """Shortest round-trip decimal digits of abs(x) and the decimal point position (0.DIGITS x 10^dp)."""
    r = repr(abs(x))
    if "e" in r:
        mant, exp_s = r.split("e")
        exp = int(exp_s)
    else:
        mant, exp = r, 0
    ip, _, fp = mant.partition(".")
    digits = ip + fp
    dp = len(ip) + exp
    stripped = digits.lstrip("0")
    dp -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    if not digits:
        return "", 0
    return digits, dp


def _fmt_e(neg: bool, digits: str, dp: int, prec: int, e: str = "e") -> str:
    # digits already rounded to prec+1 significant digits (or fewer for shortest)
    first = digits[0] if digits else "0"
    rest = digits[1:]
    if prec > len(rest):
        rest = rest + "0" * (prec - len(rest))
    exp = dp - 1 if digits else 0
    s = first
    if prec > 0:
        s += "." + rest[:prec]
    sign = "+" if exp >= 0 else "-"
    ae = abs(exp)
    s += e + sign + (f"{ae:02d}")
    return ("-" if neg else "") + s


def _fmt_f(neg: bool, digits: str, dp: int) -> str:
    # shortest form: exactly the significant digits, no padding
    if not digits:
        s = "0"
    elif dp <= 0:
        s = "0." + "0" * (-dp) + digits
    elif dp >= len(digits):
        s = digits + "0" * (dp - len(digits))
    else:
        s = digits[:dp] + "." + digits[dp:]
    return ("-" if neg else "") + s


def format_float(x: float, fmt: str = "g", prec: int = -1) -> str:
    """``strconv.FormatFloat(x, fmt, prec, 64)`` for fmt in e, E, f, g, G."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    neg = math.copysign(1.0, x) < 0
    if prec >= 0:
        # Python's correctly rounded formatting uses the same digits and exponent thresholds as Go.
        if fmt in "fF":
            return f"{x:.{prec}f}"
        if fmt in "eE":
            return f"{x:.{prec}{fmt}}"
        out = f"{x:.{prec}g}"
        return out.upper() if fmt == "G" else out
    digits, dp = _shortest_digits(x)
    if fmt in "eE":
        return _fmt_e(neg, digits, dp, max(len(digits) - 1, 0), fmt)
    if fmt in "fF":
        return _fmt_f(neg, digits, dp)
    # 'g' shortest: exponent threshold is 6 for the shortest form
    exp = dp - 1 if digits else 0
    if digits and (exp < -4 or exp >= 6):
        return _fmt_e(neg, digits, dp, max(len(digits) - 1, 0), "e" if fmt == "g" else "E")
    return _fmt_f(neg, digits, dp)


def is_print(c: str) -> bool:
    return c.isprintable() or c == " "


# the escapes strconv.Quote writes by name
_QUOTE_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


def go_quote(s: str, ascii_only: bool = False) -> str:
    """Go ``strconv.Quote`` (``%q``; ``QuoteToASCII`` with ``ascii_only``)."""
    out = ['"']
    for c in s:
        o = ord(c)
        esc = _QUOTE_ESCAPES.get(c)
        if esc is not None:
            out.append(esc)
        elif 0xDC80 <= o <= 0xDCFF:
            out.append(f"\\x{o - 0xDC00:02x}")  # invalid UTF-8 byte kept by surrogateescape
        elif is_print(c) and (o < 0x80 or not ascii_only):
            out.append(c)
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        elif o < 0x10000:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    out.append('"')
    return "".join(out)


class UnquoteError(Exception):
    """Go's ``strconv.ErrSyntax`` from ``Unquote``."""


def go_unquote(s: str) -> str:
    """Go ``strconv.Unquote``: a double-quoted, back-quoted or single-quoted literal; raises UnquoteError."""
    if len(s) < 2:
        raise UnquoteError
    q = s[0]
    if q != s[-1]:
        raise UnquoteError
    body = s[1:-1]
    if q == "`":
        if "`" in body:
            raise UnquoteError
        return body.replace("\r", "")
    if q not in "\"'":
        raise UnquoteError
    if "\n" in body:
        raise UnquoteError
    if "\\" not in body and q not in body:
        if q == "'" and len(body) != 1:
            raise UnquoteError
        return body
    out = bytearray()
    i = 0
    n = len(body)
    while i < n:
        c = body[i]
        if c == q and q == '"':
            raise UnquoteError
        if c != "\\":
            out += c.encode("utf-8", "surrogateescape")
            i += 1
            continue
        i += 1
        if i >= n:
            raise UnquoteError
        c = body[i]
        i += 1
        simple = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92}
        if c in simple:
            out.append(simple[c])
        elif c in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[c]
            hx = body[i : i + width]
            if len(hx) != width or any(h not in "0123456789abcdefABCDEF" for h in hx):
                raise UnquoteError
            i += width
            v = int(hx, 16)
            if c == "x":
                out.append(v)
            else:
                if v > 0x10FFFF or 0xD800 <= v <= 0xDFFF:
                    raise UnquoteError
                out += chr(v).encode()
        elif c in "01234567":
            oc = body[i - 1 : i + 2]
            if len(oc) != 3 or any(o not in "01234567" for o in oc):
                raise UnquoteError
            v = int(oc, 8)
            if v > 255:
                raise UnquoteError
            i += 2
            out.append(v)
        elif c == q:
            out.append(ord(q))
        else:
            raise UnquoteError
    result = bytes(out).decode("utf-8", "surrogateescape")
    if q == "'" and len(result) != 1:
        raise UnquoteError
    return result


def parse_int(text: str) -> int | None:
    """strconv.ParseInt(text, 0, 64) without the range check."""
    t = text.replace("_", "") if "_" in text else text
    if "_" in text and (text.startswith("_") or text.endswith("_") or "__" in text):
        return None
    sign = 1
    body = t
    if body[:1] in "+-":
        sign = -1 if body[0] == "-" else 1
        body = body[1:]
    if not body:
        return None
    try:
        low = body[:2].lower()
        if low in ("0x", "0o", "0b"):
            return sign * int(body[2:], {"0x": 16, "0o": 8, "0b": 2}[low])
        if len(body) > 1 and body[0] == "0":
            return sign * int(body[1:], 8)
        if not body.isdigit():
            return None
        return sign * int(body, 10)
    except ValueError:
        return None


def parse_float(text: str) -> float | None:
    """``strconv.ParseFloat(text, 64)`` for number literals (hex floats too; no inf/nan); None if invalid."""
    t = text.replace("_", "")
    try:
        if t.lower().lstrip("+-").startswith("0x"):
            return float.fromhex(t)
        if t.lower().lstrip("+-") in ("inf", "infinity", "nan"):
            return None
        return float(t)
    except ValueError:
        return None


def atoi(s: str) -> int:
    """Go ``strconv.Atoi`` (64-bit ``int``): decimal digits with an optional sign."""
    body = s[1:] if s[:1] in "+-" else s
    if not body or not body.isascii() or not body.isdigit():
        raise GoError(f"strconv.Atoi: parsing {go_quote(s)}: invalid syntax")
    v = int(s)
    if not -(1 << 63) <= v < (1 << 63):
        raise GoError(f"strconv.Atoi: parsing {go_quote(s)}: value out of range")
    return v
