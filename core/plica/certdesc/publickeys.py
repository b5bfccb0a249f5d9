"""Go public key values in template data (`.Insecure.CR.PublicKey`, `.PublicKeyAlgorithm`)."""

from __future__ import annotations

import base64
from typing import Any, ClassVar

import attrs
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa

from .govalues import exported_fields, go_str, struct_str

_PUBLIC_KEY_ALGORITHMS = {"RSA": 1, "DSA": 2, "ECDSA": 3, "Ed25519": 4}


class PublicKeyAlgorithm(int):
    """`x509.PublicKeyAlgorithm`, an int that prints as RSA, ECDSA or Ed25519."""

    __go_type__ = "x509.PublicKeyAlgorithm"
    __go_kind__ = "int"

    def __new__(cls, name: str) -> PublicKeyAlgorithm:
        value = super().__new__(cls, _PUBLIC_KEY_ALGORITHMS.get(name, 0))
        value.name = name
        return value

    name: str

    def String(self) -> str:
        return self.name

    def __go_json__(self) -> int:
        return int(self)

    def __go_str__(self) -> str:
        return self.name


# -- public keys -------------------------------------------------------------------------------------------


@attrs.define(eq=True)
class CurveParams:
    """`*elliptic.CurveParams`."""

    __go_type__: ClassVar[str] = "*elliptic.CurveParams"
    Name: str
    BitSize: int
    P: int = 0
    N: int = 0
    B: int = 0
    Gx: int = 0
    Gy: int = 0

    def __go_json__(self) -> dict[str, Any]:
        return {"P": self.P, "N": self.N, "B": self.B, "Gx": self.Gx, "Gy": self.Gy, "BitSize": self.BitSize,
                "Name": self.Name}  # fmt: skip

    def __go_str__(self) -> str:
        return struct_str(self.P, self.N, self.B, self.Gx, self.Gy, self.BitSize, self.Name, pointer=True)


_CURVES: dict[str, tuple[str, int, int, int, int, int, int]] = {
    # name: (Go name, bits, P, N, B, Gx, Gy)
    "secp256r1": (
        "P-256",
        256,
        0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF,
        0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
        0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B,
        0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
        0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5,
    ),
    "secp384r1": (
        "P-384",
        384,
        2**384 - 2**128 - 2**96 + 2**32 - 1,
        0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973,
        0xB3312FA7E23EE7E4988E056BE3F82D19181D9C6EFE8141120314088F5013875AC656398D8A2ED19D2A85C8EDD3EC2AEF,
        0xAA87CA22BE8B05378EB1C71EF320AD746E1D3B628BA79B9859F741E082542A385502F25DBF55296C3A545E3872760AB7,
        0x3617DE4A96262C6F5D9E98BF9292DC29F8F41DBD289A147CE9DA3113B5F0B8C00A60B1CE1D7E819D7A431D7C90EA0E5F,
    ),
    "secp521r1": ("P-521", 521, 2**521 - 1, 0, 0, 0, 0),
}


@attrs.define(eq=True)
class Curve:
    """`elliptic.Curve`: `.Params` returns the curve parameters; the value itself marshals as `{}`."""

    __go_type__: ClassVar[str] = "*elliptic.nistCurve"
    params: CurveParams

    def Params(self) -> CurveParams:
        return self.params

    def __go_json__(self) -> dict[str, Any]:
        return {}

    def __go_str__(self) -> str:
        return struct_str(pointer=True)


@attrs.define(eq=True)
class RSAPublicKeyData:
    """`*rsa.PublicKey`: fields N and E, method Size (modulus length in bytes)."""

    __go_type__: ClassVar[str] = "*rsa.PublicKey"
    N: int
    E: int
    key: Any = attrs.field(default=None, eq=False, repr=False)

    def Size(self) -> int:
        return (self.N.bit_length() + 7) // 8

    def __go_json__(self) -> dict[str, Any]:
        return exported_fields(self)

    def __go_str__(self) -> str:
        return struct_str(*exported_fields(self).values(), pointer=True)


class ECDSAPublicKeyData:
    """`*ecdsa.PublicKey`: `.Curve.Params.Name`, `.Curve.Params.BitSize`, `.X`, `.Y`.

    X and Y are computed on first use: templates mostly look only at the type or the curve.
    """

    __go_type__ = "*ecdsa.PublicKey"
    __slots__ = ("Curve", "_xy", "key")

    def __init__(self, curve: Curve, key: Any) -> None:
        self.Curve = curve
        self.key = key
        self._xy: tuple[int, int] | None = None

    def _numbers(self) -> tuple[int, int]:
        if self._xy is None:
            numbers = self.key.public_numbers()
            self._xy = (numbers.x, numbers.y)
        return self._xy

    @property
    def X(self) -> int:
        return self._numbers()[0]

    @property
    def Y(self) -> int:
        return self._numbers()[1]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ECDSAPublicKeyData):
            return NotImplemented
        return self.Curve == other.Curve and self._numbers() == other._numbers()

    __hash__ = None  # type: ignore[assignment]

    def __go_json__(self) -> dict[str, Any]:
        return {"Curve": {}, "X": self.X, "Y": self.Y}

    def __go_str__(self) -> str:
        return struct_str(self.Curve, self.X, self.Y, pointer=True)


@attrs.define(eq=True)
class Ed25519PublicKeyData:
    """`ed25519.PublicKey`, a byte slice: base64 in JSON, `len` is 32."""

    __go_type__: ClassVar[str] = "ed25519.PublicKey"
    __go_kind__: ClassVar[str] = "slice"
    raw: bytes
    key: Any = attrs.field(default=None, eq=False, repr=False)

    def __len__(self) -> int:
        return len(self.raw)

    def __bool__(self) -> bool:
        return True

    def __go_json__(self) -> str:
        return base64.b64encode(self.raw).decode()

    def __go_str__(self) -> str:
        return go_str(self.raw)


# One Curve object per curve, shared like Go's elliptic.P256() singletons.
_curve_objects: dict[str, Curve] = {}


def wrap_public_key(key: Any) -> Any:
    """The Go stand-in for a `cryptography` public key (other key types are passed through)."""
    if isinstance(key, rsa.RSAPublicKey):
        numbers = key.public_numbers()
        return RSAPublicKeyData(numbers.n, numbers.e, key)
    if isinstance(key, ec.EllipticCurvePublicKey):
        curve = _curve_objects.get(key.curve.name)
        if curve is None:
            name, bits, p, n, b, gx, gy = _CURVES.get(
                key.curve.name, (key.curve.name, key.curve.key_size, 0, 0, 0, 0, 0)
            )
            curve = _curve_objects[key.curve.name] = Curve(CurveParams(name, bits, p, n, b, gx, gy))
        return ECDSAPublicKeyData(curve, key)
    if isinstance(key, ed25519.Ed25519PublicKey):
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return Ed25519PublicKeyData(raw, key)
    return key


def public_key_algorithm(key: Any) -> PublicKeyAlgorithm:
    if isinstance(key, rsa.RSAPublicKey):
        return PublicKeyAlgorithm("RSA")
    if isinstance(key, ec.EllipticCurvePublicKey):
        return PublicKeyAlgorithm("ECDSA")
    if isinstance(key, ed25519.Ed25519PublicKey):
        return PublicKeyAlgorithm("Ed25519")
    if isinstance(key, dsa.DSAPublicKey):
        return PublicKeyAlgorithm("DSA")
    return PublicKeyAlgorithm("0")


__all__ = [
    "Curve",
    "CurveParams",
    "ECDSAPublicKeyData",
    "Ed25519PublicKeyData",
    "PublicKeyAlgorithm",
    "RSAPublicKeyData",
    "public_key_algorithm",
    "wrap_public_key",
]
