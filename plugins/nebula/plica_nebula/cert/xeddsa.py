"""XEdDSA (https://signal.org/docs/specifications/xeddsa/): Ed25519-style signatures made and checked with
X25519 keys, which is how Nebula hosts sign step-ca tokens; with the Edwards25519 arithmetic signing needs.

Only signing needs a scalar multiplication with an arbitrary scalar, which `cryptography` does not
expose; verification converts the key and hands off to the library's Ed25519.  This arithmetic is NOT
constant time: fine for verifying and for test/client signing, not for a long-lived signing service.
"""

from __future__ import annotations

import hashlib
import os

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519

_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)

_Point = tuple[int, int, int, int]  # extended twisted Edwards coordinates (X, Y, Z, T), x=X/Z, y=Y/Z, xy=T/Z


def _recover_x(y: int, sign: int) -> int:
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    if x2 == 0:
        return 0
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P:
        raise ValueError("not a curve point")
    return _P - x if x & 1 != sign else x


_BY = 4 * pow(5, _P - 2, _P) % _P
_BX = _recover_x(_BY, 0)
_BASE: _Point = (_BX, _BY, 1, _BX * _BY % _P)
_IDENTITY: _Point = (0, 1, 1, 0)


def _pt_add(p: _Point, q: _Point) -> _Point:
    # Unified addition for a = -1 (Hisil-Wong-Carter-Dawson 2008), valid for doubling as well.
    a = (p[1] - p[0]) * (q[1] - q[0]) % _P
    b = (p[1] + p[0]) * (q[1] + q[0]) % _P
    c = 2 * _D * p[3] * q[3] % _P
    d = 2 * p[2] * q[2] % _P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _scalar_mult_base(k: int) -> _Point:
    result, addend = _IDENTITY, _BASE
    while k:
        if k & 1:
            result = _pt_add(result, addend)
        addend = _pt_add(addend, addend)
        k >>= 1
    return result


def _pt_encode(p: _Point) -> bytes:
    zi = pow(p[2], _P - 2, _P)
    x, y = p[0] * zi % _P, p[1] * zi % _P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def x25519_to_ed25519_public_key(u_bytes: bytes) -> bytes:
    """Montgomery u -> Edwards y = (u-1)/(u+1) mod p with sign bit 0 (XEdDSA ``convert_mont``)."""
    if len(u_bytes) != 32:
        raise ValueError("X25519 public key must be 32 bytes")
    u = int.from_bytes(u_bytes, "little") & ((1 << 255) - 1)
    # u = p-1 makes u+1 = 0; pow(0, p-2) = 0 yields y = 0, the same as a field inversion that maps 0 to 0.
    y = (u - 1) * pow(u + 1, _P - 2, _P) % _P
    return y.to_bytes(32, "little")


def xeddsa_verify(x25519_public_key: bytes, message: bytes, signature: bytes) -> bool:
    """XEdDSA verification: convert the X25519 key to Edwards form (sign bit 0) and verify as Ed25519."""
    if len(x25519_public_key) != 32 or len(signature) != 64:
        return False
    # Spec preconditions: u < p and s < 2^253 (the top three bits of the last byte clear).
    if int.from_bytes(x25519_public_key, "little") >= _P or signature[63] & 0xE0:
        return False
    a = x25519_to_ed25519_public_key(x25519_public_key)
    try:
        ed25519.Ed25519PublicKey.from_public_bytes(a).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


# hash1 from the spec: SHA-512 over a 32-byte prefix of 0xFE followed by 31 0xFF bytes.
_HASH1_PREFIX = b"\xfe" + b"\xff" * 31


def xeddsa_sign(x25519_private_key: bytes, message: bytes, random: bytes | None = None) -> bytes:
    """XEdDSA signing (Signal spec): returns ``R || s`` (64 bytes), verifiable with the X25519 public key.

    ``random`` is the 64-byte Z; leave it ``None`` for fresh randomness (pass it only for test vectors).
    """
    if len(x25519_private_key) != 32:
        raise ValueError("X25519 private key must be 32 bytes")
    z = os.urandom(64) if random is None else random
    if len(z) != 64:
        raise ValueError("XEdDSA random input must be 64 bytes")
    # calculate_key_pair: clamp like X25519, E = kB; force A's sign bit to 0 by negating k when needed.
    k = bytearray(x25519_private_key)
    k[0] &= 248
    k[31] &= 127
    k[31] |= 64
    k_int = int.from_bytes(k, "little")
    e = _pt_encode(_scalar_mult_base(k_int))
    if e[31] & 0x80:
        a = -k_int % _L
        a_pub = e[:31] + bytes([e[31] & 0x7F])
    else:
        a = k_int % _L
        a_pub = e
    r = int.from_bytes(
        hashlib.sha512(_HASH1_PREFIX + a.to_bytes(32, "little") + message + z).digest(), "little"
    )
    r %= _L
    big_r = _pt_encode(_scalar_mult_base(r))
    h = int.from_bytes(hashlib.sha512(big_r + a_pub + message).digest(), "little") % _L
    s = (r + h * a) % _L
    return big_r + s.to_bytes(32, "little")
