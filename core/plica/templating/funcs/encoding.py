"""sprig's base64 and base32 functions, with Go's decoding errors."""

from __future__ import annotations

import base64
import binascii

from ..errors import GoError
from .cast import go_bytes, go_string
from .registry import function_table

FUNCS, sprig = function_table()


sprig("b64enc", "string")(lambda s: base64.b64encode(go_bytes(s)).decode())
sprig("b32enc", "string")(lambda s: base64.b32encode(go_bytes(s)).decode())


def _go_b64decode(s: str, alphabet: str, quantum: int) -> bytes:
    data = s.replace("\r", "").replace("\n", "")
    for i, c in enumerate(s):
        if c in "\r\n":
            continue
        if c not in alphabet and c != "=":
            raise GoError(
                f"illegal base64 data at input byte {i}"
                if quantum == 4
                else f"illegal base32 data at input byte {i}"
            )
    try:
        if quantum == 4:
            return base64.b64decode(data, validate=True)
        return base64.b32decode(data)
    except (binascii.Error, ValueError):
        n = len(data)
        pos = n - n % quantum if n % quantum else max(n - 1, 0)
        eq = data.find("=")
        if eq >= 0 and (n % quantum == 0):
            pos = eq
        kind = "base64" if quantum == 4 else "base32"
        raise GoError(f"illegal {kind} data at input byte {pos}") from None


_B64_ALPHA = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B32_ALPHA = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def b64decode(s: str) -> bytes:
    """Go ``base64.StdEncoding.DecodeString`` (newlines ignored); raises GoError with Go's message."""
    return _go_b64decode(s, _B64_ALPHA, 4)


@sprig("b64dec", "string")
def _b64dec(s: str) -> str:
    try:
        return go_string(b64decode(s))
    except GoError as e:
        return str(e)


@sprig("b32dec", "string")
def _b32dec(s: str) -> str:
    try:
        return go_string(_go_b64decode(s, _B32_ALPHA, 8))
    except GoError as e:
        return str(e)
