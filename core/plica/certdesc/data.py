"""Template data: the values X.509 and SSH templates see (templates.md §3, §6.2, §6.3).

Templates reach Go struct fields by their Go names (`.Subject.CommonName`, `.Insecure.CR.PublicKey.Size`)
and `typeIs`/`toJson` see Go types and JSON shapes. The objects here stand for those Go values under
the `plica.templating` value model: attribute `Foo` is field `.Foo` (zero-argument methods are called),
`__go_type__` is what `typeOf` prints, `__go_json__()` is what `toJson` prints (step's names and
omissions; for structs the dict is in field order) and `__go_str__()` is the `%v` text.
"""

from __future__ import annotations

import base64
import functools
import ipaddress
import json
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa

from plica.asn1 import der_read

from .der import der_children, der_decode_oid
from .errors import DescriptionError
from .goparse import IPAddress, classify_san, normalize_go_url, parse_go_ip
from .keyusage import EXT_KEY_USAGES, KEY_USAGES, convert_name
from .names import STANDARD_NAME_OIDS

# ---------------------------------------------------------------------------------------------------------
# Go value helpers


def go_json(value: Any) -> Any:
    """The JSON-able form of a template value: `__go_json__` resolved all the way down."""
    hook = getattr(value, "__go_json__", None)
    if hook is not None and not isinstance(value, type):
        return go_json(hook())
    if isinstance(value, Mapping):
        return {str(k): go_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [go_json(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")  # Go marshals []byte as base64
    return value


def go_str(value: Any) -> str:
    """Go `%v` text of a value (used for the `__go_str__` of the structs below)."""
    hook = getattr(value, "__go_str__", None)
    if hook is not None and not isinstance(value, type):
        return str(hook())
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (bytes, bytearray)):
        return "[" + " ".join(str(b) for b in value) + "]"
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(go_str(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "map[" + " ".join(f"{go_str(k)}:{go_str(value[k])}" for k in sorted(value)) + "]"
    return str(value)


def json_to_go(value: Any) -> Any:
    """JSON-decoded data as Go's `map[string]interface{}` holds it: every number becomes a float64."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, Mapping):
        return {str(k): json_to_go(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_to_go(v) for v in value]
    return value


class GoSlice(list[Any]):
    """A Go slice: `%v` prints `[a b]`, and a nil slice marshals as `null` where an empty one gives `[]`."""

    def __init__(
        self, items: Iterable[Any] = (), *, go_type: str = "[]string", nil: bool | None = None
    ) -> None:
        super().__init__(items)
        self.__go_type__ = go_type
        self.nil = (len(self) == 0) if nil is None else nil

    def __go_json__(self) -> Any:
        return None if self.nil and not self else list(self)

    def __go_str__(self) -> str:
        return go_str(list(self))


def list_or(value: Any) -> Any:
    """A slice as a plain list (for comparisons), anything else unchanged."""
    return list(value) if isinstance(value, list) else value


def _struct_str(*fields: Any, pointer: bool = False) -> str:
    return ("&" if pointer else "") + "{" + " ".join(go_str(f) for f in fields) + "}"


# ---------------------------------------------------------------------------------------------------------
# x509util.Subject and x509util.SubjectAlternativeName (§3.1)


@attrs.define(eq=True)
class DistinguishedName:
    """`x509util.DistinguishedName`: an extra subject attribute (`{"type": OID, "value": ...}`)."""

    __go_type__: ClassVar[str] = "x509util.DistinguishedName"
    Type: str
    Value: Any

    def __go_json__(self) -> dict[str, Any]:
        return {"type": self.Type, "value": self.Value}

    def __go_str__(self) -> str:
        return _struct_str(self.Type, self.Value)


class _NilSlice(GoSlice):
    """A shared, read-only nil slice (cheap to hand out: data is built for every request)."""

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("nil slice is read-only")

    append = extend = insert = remove = pop = clear = sort = reverse = _refuse
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse


_NIL_MULTISTRING = _NilSlice(go_type="x509util.MultiString", nil=True)
_NIL_EXTRA_NAMES = _NilSlice(go_type="[]x509util.DistinguishedName", nil=True)


def _strings(value: Iterable[str] | str | None) -> GoSlice:
    if value is None or isinstance(value, _NilSlice):
        return _NIL_MULTISTRING
    if isinstance(value, str):
        value = [value]
    return GoSlice(value, go_type="x509util.MultiString")


_SUBJECT_FIELDS = (
    "CommonName",
    "Country",
    "Organization",
    "OrganizationalUnit",
    "Locality",
    "Province",
    "StreetAddress",
    "PostalCode",
    "SerialNumber",
    "ExtraNames",
)


class Subject:
    """`x509util.Subject`. `toJson` writes the §1.2 object, empty fields omitted (`{"commonName":"foo"}`).

    A plain class rather than attrs: one or two are built per request, and converters made it slow.
    """

    __go_type__ = "x509util.Subject"
    __slots__ = _SUBJECT_FIELDS

    def __init__(  # the parameters carry the Go field names
        self,
        CommonName: str = "",
        Country: Iterable[str] | str | None = None,
        Organization: Iterable[str] | str | None = None,
        OrganizationalUnit: Iterable[str] | str | None = None,
        Locality: Iterable[str] | str | None = None,
        Province: Iterable[str] | str | None = None,
        StreetAddress: Iterable[str] | str | None = None,
        PostalCode: Iterable[str] | str | None = None,
        SerialNumber: str = "",
        ExtraNames: Iterable[DistinguishedName] | None = None,
    ) -> None:
        self.CommonName = CommonName
        self.Country = _strings(Country)
        self.Organization = _strings(Organization)
        self.OrganizationalUnit = _strings(OrganizationalUnit)
        self.Locality = _strings(Locality)
        self.Province = _strings(Province)
        self.StreetAddress = _strings(StreetAddress)
        self.PostalCode = _strings(PostalCode)
        self.SerialNumber = SerialNumber
        if ExtraNames is None or isinstance(ExtraNames, _NilSlice):
            self.ExtraNames: GoSlice = _NIL_EXTRA_NAMES
        elif isinstance(ExtraNames, GoSlice):
            self.ExtraNames = ExtraNames
        else:
            self.ExtraNames = GoSlice(ExtraNames, go_type="[]x509util.DistinguishedName")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Subject):
            return NotImplemented
        return all(list_or(getattr(self, f)) == list_or(getattr(other, f)) for f in _SUBJECT_FIELDS)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        fields = ", ".join(f"{f}={getattr(self, f)!r}" for f in _SUBJECT_FIELDS if getattr(self, f))
        return f"Subject({fields})"

    @classmethod
    def from_x509_name(cls, name: x509.Name, *, extra_names: bool = True) -> Subject:
        """Read a parsed name the way Go fills `pkix.Name`; extraNames keep only the non-standard attributes."""
        lists: dict[str, list[str]] = {k: [] for k in _SUBJECT_LISTS.values()}
        common_name = serial = ""
        extras: list[DistinguishedName] = []
        for attribute in name:
            oid = attribute.oid.dotted_string
            value = attribute.value
            if oid not in STANDARD_NAME_OIDS:
                if extra_names:
                    extras.append(DistinguishedName(oid, value))
                continue
            if not isinstance(value, str):
                continue
            if oid == "2.5.4.3":
                common_name = value
            elif oid == "2.5.4.5":
                serial = value
            else:
                lists[_SUBJECT_LISTS[oid]].append(value)
        return cls(
            CommonName=common_name,
            SerialNumber=serial,
            ExtraNames=GoSlice(extras, go_type="[]x509util.DistinguishedName") if extras else None,
            **{k: (v or None) for k, v in lists.items()},
        )

    def __go_json__(self) -> dict[str, Any]:
        # Field order and omitempty of x509util.Name's JSON tags.
        out: dict[str, Any] = {}
        for key, value in (
            ("country", self.Country),
            ("organization", self.Organization),
            ("organizationalUnit", self.OrganizationalUnit),
            ("locality", self.Locality),
            ("province", self.Province),
            ("streetAddress", self.StreetAddress),
            ("postalCode", self.PostalCode),
            ("serialNumber", self.SerialNumber),
            ("commonName", self.CommonName),
            ("extraNames", self.ExtraNames),
        ):
            if value:
                out[key] = list(value) if isinstance(value, GoSlice) else value
        return out

    def __go_str__(self) -> str:
        return _struct_str(
            self.Country,
            self.Organization,
            self.OrganizationalUnit,
            self.Locality,
            self.Province,
            self.StreetAddress,
            self.PostalCode,
            self.SerialNumber,
            self.CommonName,
            self.ExtraNames,
        )


_SUBJECT_LISTS = {
    "2.5.4.6": "Country",
    "2.5.4.10": "Organization",
    "2.5.4.11": "OrganizationalUnit",
    "2.5.4.7": "Locality",
    "2.5.4.8": "Province",
    "2.5.4.9": "StreetAddress",
    "2.5.4.17": "PostalCode",
}


@attrs.define(eq=True)
class SubjectAlternativeName:
    """`x509util.SubjectAlternativeName`: `toJson` gives `{"type":"dns","value":"a.example.com"}`."""

    __go_type__: ClassVar[str] = "x509util.SubjectAlternativeName"
    Type: str
    Value: str
    ASN1Value: Any = None

    def __go_json__(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.Type, "value": self.Value}
        if self.ASN1Value is not None:
            out["asn1Value"] = self.ASN1Value
        return out

    def __go_str__(self) -> str:
        return _struct_str(self.Type, self.Value, self.ASN1Value if self.ASN1Value is not None else [])


def create_sans(sans: Iterable[str]) -> GoSlice:
    """step's `CreateSANs`: type each value as §1.3 `auto` and group them: dns, then ip, email, uri."""
    groups: dict[str, list[str]] = {"dns": [], "ip": [], "email": [], "uri": []}
    for value in sans:
        kind = classify_san(value)
        if kind == "ip":
            value = str(parse_go_ip(value))
        elif kind == "uri":
            value = normalize_go_url(value) or value
        groups[kind].append(value)
    items = [SubjectAlternativeName(kind, v) for kind in ("dns", "ip", "email", "uri") for v in groups[kind]]
    return GoSlice(items, go_type="[]x509util.SubjectAlternativeName", nil=False)


# ---------------------------------------------------------------------------------------------------------
# Go value stand-ins used inside .Insecure.CR and .AuthorizationCrt


@attrs.define(eq=True)
class GoIP:
    """`net.IP`: prints and serialises as its text form."""

    __go_type__: ClassVar[str] = "net.IP"
    ip: IPAddress

    def String(self) -> str:
        return str(self.ip)

    def __go_json__(self) -> str:
        return str(self.ip)

    def __go_str__(self) -> str:
        return str(self.ip)

    def __str__(self) -> str:
        return str(self.ip)


@attrs.define(eq=True)
class GoURL:
    """`*url.URL`: prints as the URL; a single one passed to `toJson` is Go's struct object."""

    __go_type__: ClassVar[str] = "*url.URL"
    Scheme: str = ""
    Opaque: str = ""
    User: Any = None
    Host: str = ""
    Path: str = ""
    RawPath: str = ""
    OmitHost: bool = False
    ForceQuery: bool = False
    RawQuery: str = ""
    Fragment: str = ""
    RawFragment: str = ""
    raw: str = attrs.field(default="", repr=False)

    @classmethod
    def parse(cls, text: str) -> GoURL:
        normalized = normalize_go_url(text) or text
        parts = urllib.parse.urlsplit(normalized, allow_fragments=True)
        scheme, rest = parts.scheme, normalized[len(parts.scheme) + 1 :] if parts.scheme else normalized
        rest = rest.split("#", 1)[0]
        fragment = urllib.parse.unquote(parts.fragment)
        if scheme and not rest.startswith("/"):
            opaque, _, query = rest.partition("?")
            return cls(Scheme=scheme, Opaque=opaque, RawQuery=query, Fragment=fragment, raw=normalized)
        user: Any = None
        host = parts.netloc
        if "@" in host:
            userinfo, host = host.rsplit("@", 1)
            user = GoUserinfo(userinfo)
        return cls(
            Scheme=scheme,
            User=user,
            Host=host,
            Path=urllib.parse.unquote(parts.path),
            ForceQuery=normalized.split("#", 1)[0].endswith("?") and not parts.query,
            RawQuery=parts.query,
            Fragment=fragment,
            raw=normalized,
        )

    def String(self) -> str:
        return self.raw

    def Hostname(self) -> str:
        host = self.Host
        if host.startswith("["):
            return host[1 : host.find("]")]
        return host.rsplit(":", 1)[0] if ":" in host else host

    def __go_json__(self) -> dict[str, Any]:
        return {
            "Scheme": self.Scheme,
            "Opaque": self.Opaque,
            "User": self.User,
            "Host": self.Host,
            "Path": self.Path,
            "RawPath": self.RawPath,
            "OmitHost": self.OmitHost,
            "ForceQuery": self.ForceQuery,
            "RawQuery": self.RawQuery,
            "Fragment": self.Fragment,
            "RawFragment": self.RawFragment,
        }

    def __go_str__(self) -> str:
        return self.raw

    def __str__(self) -> str:
        return self.raw


@attrs.define(eq=True)
class GoUserinfo:
    """`*url.Userinfo`: all fields unexported, so it marshals as `{}`."""

    __go_type__: ClassVar[str] = "*url.Userinfo"
    text: str

    def Username(self) -> str:
        return urllib.parse.unquote(self.text.split(":", 1)[0])

    def __go_json__(self) -> dict[str, Any]:
        return {}

    def __go_str__(self) -> str:
        return self.text


class GoURLList(GoSlice):
    """`x509util.MultiURL`: the list marshals as URL strings (its elements alone as URL objects)."""

    def __init__(self, items: Iterable[GoURL] = (), *, nil: bool | None = None) -> None:
        super().__init__(items, go_type="x509util.MultiURL", nil=nil)

    def __go_json__(self) -> Any:
        return None if self.nil and not self else [u.String() for u in self]


@attrs.define(eq=True)
class Extension:
    """`x509util.Extension`: `{"id": OID, "critical": bool, "value": base64}`."""

    __go_type__: ClassVar[str] = "x509util.Extension"
    ID: str
    Critical: bool
    Value: bytes

    def __go_json__(self) -> dict[str, Any]:
        return {"id": self.ID, "critical": self.Critical, "value": base64.b64encode(self.Value).decode()}

    def __go_str__(self) -> str:
        return _struct_str(self.ID.replace(".", " ").join("[]"), self.Critical, self.Value)


class KeyUsage(int):
    """`x509util.KeyUsage`, Go's bit set (an int, so 0 is false); marshals as step's lowercased names,
    an empty set as null."""

    __go_type__ = "x509util.KeyUsage"
    __go_kind__ = "int"

    def __go_json__(self) -> list[str] | None:
        names = [convert_name(n) for n, bit in KEY_USAGES if self & bit]
        return names or None

    def __go_str__(self) -> str:
        return str(int(self))


_EKU_NAMES = {oid: convert_name(name) for name, oid in EXT_KEY_USAGES}
# Go's x509.ExtKeyUsage constants, in the order of §1.6 (Any = 0, ServerAuth = 1, ...).
_EKU_NUMBERS = {oid: i for i, (_, oid) in enumerate(EXT_KEY_USAGES)}


class ExtKeyUsage(GoSlice):
    """`x509util.ExtKeyUsage`: Go enum values that marshal as step's names; a nil list still gives `[]`."""

    def __init__(self, oids: Iterable[str] = ()) -> None:
        self.oids = list(oids)
        super().__init__([_EKU_NUMBERS[o] for o in self.oids], go_type="x509util.ExtKeyUsage", nil=False)

    def __go_json__(self) -> list[str]:
        return [_EKU_NAMES[o] for o in self.oids]


@attrs.define(eq=True)
class BasicConstraintsData:
    """`*x509util.BasicConstraints` as read from a CSR."""

    __go_type__: ClassVar[str] = "*x509util.BasicConstraints"
    IsCA: bool = False
    MaxPathLen: int = -1

    def __go_json__(self) -> dict[str, Any]:
        return {"isCA": self.IsCA, "maxPathLen": self.MaxPathLen}

    def __go_str__(self) -> str:
        return _struct_str(self.IsCA, self.MaxPathLen, pointer=True)


class SignatureAlgorithm(int):
    """`x509util.SignatureAlgorithm`; the CSR's is always 0, which marshals as `""`."""

    __go_type__ = "x509util.SignatureAlgorithm"
    __go_kind__ = "int"

    def __go_json__(self) -> str:
        return ""

    def __go_str__(self) -> str:
        return str(int(self))


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
        return _struct_str(self.P, self.N, self.B, self.Gx, self.Gy, self.BitSize, self.Name, pointer=True)


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
        return _struct_str(pointer=True)


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
        return {"N": self.N, "E": self.E}

    def __go_str__(self) -> str:
        return _struct_str(self.N, self.E, pointer=True)


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
        return _struct_str(self.Curve, self.X, self.Y, pointer=True)


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


def _public_key_algorithm(key: Any) -> PublicKeyAlgorithm:
    if isinstance(key, rsa.RSAPublicKey):
        return PublicKeyAlgorithm("RSA")
    if isinstance(key, ec.EllipticCurvePublicKey):
        return PublicKeyAlgorithm("ECDSA")
    if isinstance(key, ed25519.Ed25519PublicKey):
        return PublicKeyAlgorithm("Ed25519")
    if isinstance(key, dsa.DSAPublicKey):
        return PublicKeyAlgorithm("DSA")
    return PublicKeyAlgorithm("0")


# ---------------------------------------------------------------------------------------------------------
# .Insecure.CR for X.509 (§3.2)

_OID_EXTENSION_REQUEST = "1.2.840.113549.1.9.14"
_OID_SAN, _OID_KU, _OID_EKU, _OID_BC = "2.5.29.17", "2.5.29.15", "2.5.29.37", "2.5.29.19"


def _csr_parts(der: bytes) -> tuple[int, bytes, list[tuple[str, bool, bytes]]]:
    """(version, raw subject DER, requested extensions) read straight from the CSR bytes.

    Reading the DER ourselves keeps the subject and extension values byte-exact, which the
    passthrough template (§7.6) relies on.
    """
    _, start, end = der_read(der)
    _, istart, iend, _ = der_children(der, start, end)[0]
    info = der_children(der, istart, iend)
    version = int.from_bytes(der[info[0][1] : info[0][2]], "big", signed=True)
    _, _, subject_end, subject_start = info[1]
    raw_subject = der[subject_start:subject_end]
    extensions: list[tuple[str, bool, bytes]] = []
    for tag, astart, aend, _ in info[3:]:
        if tag != 0xA0:
            continue
        for _, s, e, _ in der_children(der, astart, aend):  # each Attribute SEQUENCE
            attribute = der_children(der, s, e)
            if (
                len(attribute) < 2
                or der_decode_oid(der[attribute[0][1] : attribute[0][2]]) != _OID_EXTENSION_REQUEST
            ):
                continue
            for _, vs, ve, _ in der_children(der, attribute[1][1], attribute[1][2]):  # SET of Extensions
                for _, xs, xe, _ in der_children(der, vs, ve):  # each Extension
                    parts = der_children(der, xs, xe)
                    oid = der_decode_oid(der[parts[0][1] : parts[0][2]])
                    critical = False
                    if len(parts) == 3:
                        critical = der[parts[1][1] : parts[1][2]] != b"\x00"
                    value_tlv = parts[-1]
                    extensions.append((oid, critical, der[value_tlv[1] : value_tlv[2]]))
    return version, raw_subject, extensions


def _parse_sans(value: bytes) -> tuple[list[str], list[str], list[GoIP], list[GoURL]]:
    dns, emails, ips, uris = [], [], [], []
    _, start, end = der_read(value)
    for tag, s, e, _ in der_children(value, start, end):
        content = value[s:e]
        if tag == 0x81:
            emails.append(content.decode("ascii"))
        elif tag == 0x82:
            dns.append(content.decode("ascii"))
        elif tag == 0x86:
            uris.append(GoURL.parse(content.decode("ascii")))
        elif tag == 0x87 and len(content) in (4, 16):
            ip = ipaddress.ip_address(content)
            if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
                ip = ip.ipv4_mapped
            ips.append(GoIP(ip))
    return dns, emails, ips, uris


def _parse_key_usage(value: bytes) -> int:
    _, s, e = der_read(value)
    data = value[s + 1 : e]
    bits = 0
    for i in range(9):
        if i // 8 < len(data) and data[i // 8] & (0x80 >> (i % 8)):
            bits |= 1 << i
    return bits


def _parse_ext_key_usage(value: bytes) -> tuple[list[str], list[str]]:
    known, unknown = [], []
    _, s, e = der_read(value)
    for _, os_, oe, _ in der_children(value, s, e):
        oid = der_decode_oid(value[os_:oe])
        (known if oid in _EKU_NUMBERS else unknown).append(oid)
    return known, unknown


def _parse_basic_constraints(value: bytes) -> BasicConstraintsData:
    _, s, e = der_read(value)
    is_ca, path_len = False, -1
    for tag, cs, ce, _ in der_children(value, s, e):
        if tag == 0x01:
            is_ca = value[cs:ce] != b"\x00"
        elif tag == 0x02:
            path_len = int.from_bytes(value[cs:ce], "big", signed=True)
    return BasicConstraintsData(is_ca, path_len)


class CertificateRequest:
    """`*x509util.CertificateRequest`, the CSR as sent (`.Insecure.CR`, table 3.2).

    The extension-derived fields are read from the DER at once (byte-exact); Subject and PublicKey are
    built on first use, since many templates never look at them and they are the costly part.
    """

    __go_type__ = "*x509util.CertificateRequest"
    SANs: Any = None
    ChallengePassword = ""
    Signer: Any = None

    def __init__(self, csr: x509.CertificateSigningRequest) -> None:
        self.csr = csr
        version, raw_subject, requested = _csr_parts(csr.public_bytes(serialization.Encoding.DER))
        subject_empty = raw_subject == b"\x30\x00"
        dns: list[str] = []
        emails: list[str] = []
        ips: list[GoIP] = []
        uris: list[GoURL] = []
        extensions: list[Extension] = []
        key_usage = 0
        ekus: list[str] = []
        unknown: list[str] = []
        basic: BasicConstraintsData | None = None
        for oid, critical, value in requested:
            if oid == _OID_SAN:
                critical = critical or subject_empty  # step marks it critical when the subject is empty
                d, m, i, u = _parse_sans(value)
                dns += d
                emails += m
                ips += i
                uris += u
            # Malformed key usage or basic constraints requests are ignored, as in step.
            try:
                if oid == _OID_KU:
                    key_usage = _parse_key_usage(value)
                elif oid == _OID_EKU:
                    ekus, unknown = _parse_ext_key_usage(value)
                elif oid == _OID_BC:
                    basic = _parse_basic_constraints(value)
            except (ValueError, IndexError):
                pass
            extensions.append(Extension(oid, critical, value))
        self.Version = version
        self.RawSubject = raw_subject
        self.DNSNames = GoSlice(dns, go_type="[]string", nil=not dns)
        self.EmailAddresses = GoSlice(emails, go_type="[]string", nil=not emails)
        self.IPAddresses = GoSlice(ips, go_type="[]net.IP", nil=not ips)
        self.URIs = GoURLList(uris, nil=not uris)
        self.Extensions = GoSlice(extensions, go_type="[]x509util.Extension", nil=not extensions)
        self.KeyUsage = KeyUsage(key_usage)
        self.ExtKeyUsage = ExtKeyUsage(ekus)
        self.UnknownExtKeyUsage = GoSlice(unknown, go_type="x509util.UnknownExtKeyUsage", nil=not unknown)
        self.BasicConstraints = basic
        self.Signature = csr.signature
        self.SignatureAlgorithm = SignatureAlgorithm()

    @classmethod
    def from_csr(cls, csr: x509.CertificateSigningRequest) -> CertificateRequest:
        return cls(csr)

    @functools.cached_property
    def Subject(self) -> Subject:
        return Subject.from_x509_name(self.csr.subject)

    @functools.cached_property
    def _key(self) -> Any:
        return self.csr.public_key()

    @functools.cached_property
    def PublicKey(self) -> Any:
        return wrap_public_key(self._key)

    @functools.cached_property
    def PublicKeyAlgorithm(self) -> PublicKeyAlgorithm:
        return _public_key_algorithm(self._key)

    def __go_json__(self) -> dict[str, Any]:
        return {
            "version": self.Version,
            "subject": self.Subject,
            "rawSubject": base64.b64encode(self.RawSubject).decode(),
            "dnsNames": self.DNSNames,
            "emailAddresses": self.EmailAddresses,
            "ipAddresses": self.IPAddresses,
            "uris": self.URIs,
            "sans": self.SANs,
            "extensions": self.Extensions,
            "keyUsage": self.KeyUsage,
            "extKeyUsage": self.ExtKeyUsage,
            "unknownExtKeyUsage": self.UnknownExtKeyUsage,
            "basicConstraints": self.BasicConstraints,
            "signatureAlgorithm": "",
        }

    def __go_str__(self) -> str:
        return _struct_str(
            self.Version,
            self.Subject,
            self.RawSubject,
            self.DNSNames,
            self.EmailAddresses,
            self.IPAddresses,
            self.URIs,
            self.SANs if self.SANs is not None else [],
            self.Extensions,
            self.KeyUsage,
            self.ExtKeyUsage,
            self.UnknownExtKeyUsage,
            self.BasicConstraints,
            self.SignatureAlgorithm,
            self.PublicKey,
            self.PublicKeyAlgorithm,
            self.Signature,
            pointer=True,
        )


# ---------------------------------------------------------------------------------------------------------
# .AuthorizationCrt for X5C (a Go *x509.Certificate)


@attrs.define(eq=False)
class PkixName:
    """`pkix.Name` (Go field names, no JSON tags)."""

    __go_type__: ClassVar[str] = "pkix.Name"
    Country: GoSlice
    Organization: GoSlice
    OrganizationalUnit: GoSlice
    Locality: GoSlice
    Province: GoSlice
    StreetAddress: GoSlice
    PostalCode: GoSlice
    SerialNumber: str
    CommonName: str
    Names: GoSlice
    ExtraNames: GoSlice
    name: x509.Name | None = attrs.field(default=None, repr=False)

    @classmethod
    def from_x509(cls, name: x509.Name) -> PkixName:
        subject = Subject.from_x509_name(name, extra_names=False)
        names = [
            {"Type": a.oid.dotted_string, "Value": a.value if isinstance(a.value, str) else bytes(a.value)}
            for a in name
        ]
        return cls(
            Country=subject.Country,
            Organization=subject.Organization,
            OrganizationalUnit=subject.OrganizationalUnit,
            Locality=subject.Locality,
            Province=subject.Province,
            StreetAddress=subject.StreetAddress,
            PostalCode=subject.PostalCode,
            SerialNumber=subject.SerialNumber,
            CommonName=subject.CommonName,
            Names=GoSlice(names, go_type="[]pkix.AttributeTypeAndValue"),
            ExtraNames=GoSlice(go_type="[]pkix.AttributeTypeAndValue", nil=True),
        )

    def String(self) -> str:
        return self._rfc2253()

    def _rfc2253(self) -> str:
        return self.name.rfc4514_string() if hasattr(self, "name") else ""

    def __go_json__(self) -> dict[str, Any]:
        return {
            "Country": self.Country,
            "Organization": self.Organization,
            "OrganizationalUnit": self.OrganizationalUnit,
            "Locality": self.Locality,
            "Province": self.Province,
            "StreetAddress": self.StreetAddress,
            "PostalCode": self.PostalCode,
            "SerialNumber": self.SerialNumber,
            "CommonName": self.CommonName,
            "Names": self.Names,
            "ExtraNames": self.ExtraNames,
        }

    def __go_str__(self) -> str:
        return self._rfc2253()


@attrs.define(eq=True)
class PkixExtension:
    """`pkix.Extension` (Go field names, no JSON tags)."""

    __go_type__: ClassVar[str] = "pkix.Extension"
    Id: str
    Critical: bool
    Value: bytes

    def __go_json__(self) -> dict[str, Any]:
        return {"Id": self.Id, "Critical": self.Critical, "Value": self.Value}

    def __go_str__(self) -> str:
        return _struct_str(self.Id, self.Critical, self.Value)


@attrs.define(eq=False)
class X509CertificateData:
    """The commonly used fields of a Go `*x509.Certificate` (X5C `.AuthorizationCrt`)."""

    __go_type__: ClassVar[str] = "*x509.Certificate"
    Raw: bytes
    Version: int
    SerialNumber: int
    Issuer: PkixName
    Subject: PkixName
    NotBefore: Any
    NotAfter: Any
    KeyUsage: int
    Extensions: GoSlice
    DNSNames: GoSlice
    EmailAddresses: GoSlice
    IPAddresses: GoSlice
    URIs: GoSlice
    PublicKey: Any
    PublicKeyAlgorithm: PublicKeyAlgorithm
    Signature: bytes
    IsCA: bool
    SubjectKeyId: bytes
    AuthorityKeyId: bytes
    certificate: x509.Certificate = attrs.field(repr=False)

    @classmethod
    def from_x509(cls, cert: x509.Certificate) -> X509CertificateData:
        der = cert.public_bytes(serialization.Encoding.DER)
        dns: list[str] = []
        emails: list[str] = []
        ips: list[GoIP] = []
        uris: list[GoURL] = []
        extensions = []
        key_usage = 0
        is_ca = False
        skid = akid = b""
        for ext in cert.extensions:
            raw = ext.value.public_bytes() if hasattr(ext.value, "public_bytes") else b""
            extensions.append(PkixExtension(ext.oid.dotted_string, ext.critical, raw))
            try:
                if ext.oid.dotted_string == _OID_SAN:
                    dns, emails, ips, uris = _parse_sans(raw)
                elif ext.oid.dotted_string == _OID_KU:
                    key_usage = _parse_key_usage(raw)
                elif ext.oid.dotted_string == _OID_BC:
                    is_ca = _parse_basic_constraints(raw).IsCA
                elif isinstance(ext.value, x509.SubjectKeyIdentifier):
                    skid = ext.value.digest
                elif isinstance(ext.value, x509.AuthorityKeyIdentifier):
                    akid = ext.value.key_identifier or b""
            except (ValueError, IndexError):
                pass
        subject, issuer = PkixName.from_x509(cert.subject), PkixName.from_x509(cert.issuer)
        key = cert.public_key()
        return cls(
            Raw=der,
            Version=cert.version.value + 1,
            SerialNumber=cert.serial_number,
            Issuer=issuer,
            Subject=subject,
            NotBefore=cert.not_valid_before_utc,
            NotAfter=cert.not_valid_after_utc,
            KeyUsage=key_usage,
            Extensions=GoSlice(extensions, go_type="[]pkix.Extension"),
            DNSNames=GoSlice(dns, go_type="[]string"),
            EmailAddresses=GoSlice(emails, go_type="[]string"),
            IPAddresses=GoSlice(ips, go_type="[]net.IP"),
            URIs=GoSlice(uris, go_type="[]*url.URL"),
            PublicKey=wrap_public_key(key),
            PublicKeyAlgorithm=_public_key_algorithm(key),
            Signature=cert.signature,
            IsCA=is_ca,
            SubjectKeyId=skid,
            AuthorityKeyId=akid,
            certificate=cert,
        )

    def __go_json__(self) -> dict[str, Any]:
        return {
            "Raw": self.Raw,
            "Version": self.Version,
            "SerialNumber": self.SerialNumber,
            "Issuer": self.Issuer,
            "Subject": self.Subject,
            "NotBefore": self.NotBefore,
            "NotAfter": self.NotAfter,
            "KeyUsage": self.KeyUsage,
            "Extensions": self.Extensions,
            "DNSNames": self.DNSNames,
            "EmailAddresses": self.EmailAddresses,
            "IPAddresses": self.IPAddresses,
            "URIs": self.URIs,
            "IsCA": self.IsCA,
            "SubjectKeyId": self.SubjectKeyId,
            "AuthorityKeyId": self.AuthorityKeyId,
        }

    def __go_str__(self) -> str:
        return _struct_str(self.Subject, self.Issuer, self.SerialNumber, pointer=True)


# ---------------------------------------------------------------------------------------------------------
# SSH (§3.3)

DEFAULT_SSH_USER_EXTENSIONS: dict[str, str] = {
    "permit-X11-forwarding": "",
    "permit-agent-forwarding": "",
    "permit-port-forwarding": "",
    "permit-pty": "",
    "permit-user-rc": "",
}


def default_ssh_extensions(cert_type: str) -> dict[str, Any] | None:
    """`sshutil.DefaultExtensions`: the permit-* set for user certificates, nil (None) for hosts."""
    return dict(DEFAULT_SSH_USER_EXTENSIONS) if cert_type.lower() == "user" else None


_SSH_KEY_GO_TYPES = {
    "ssh-rsa": "*ssh.rsaPublicKey",
    "ssh-ed25519": "ssh.ed25519PublicKey",
    "ecdsa-sha2-nistp256": "*ssh.ecdsaPublicKey",
    "ecdsa-sha2-nistp384": "*ssh.ecdsaPublicKey",
    "ecdsa-sha2-nistp521": "*ssh.ecdsaPublicKey",
}


def _ssh_key_type(key: Any) -> str:
    if isinstance(key, rsa.RSAPublicKey):
        return "ssh-rsa"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "ssh-ed25519"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return {"secp256r1": "ecdsa-sha2-nistp256", "secp384r1": "ecdsa-sha2-nistp384"}.get(
            key.curve.name, "ecdsa-sha2-nistp521"
        )
    return type(key).__name__


@attrs.define(eq=False)
class SSHPublicKey:
    """`ssh.PublicKey`: methods `Type` (e.g. `ssh-ed25519`) and `Marshal` (wire bytes)."""

    key: Any

    @property
    def __go_type__(self) -> str:  # type: ignore[override]
        return _SSH_KEY_GO_TYPES.get(self.Type(), "ssh.PublicKey")

    def Type(self) -> str:
        return _ssh_key_type(self.key)

    def Marshal(self) -> bytes:
        line = self.key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        return base64.b64decode(line.split()[1])

    def __go_json__(self) -> Any:
        inner = wrap_public_key(self.key)
        return inner

    def __go_str__(self) -> str:
        return go_str(wrap_public_key(self.key))


@attrs.define(eq=False)
class SSHCertificateRequest:
    """`sshutil.CertificateRequest` (no JSON tags: `toJson` gives `{"Key","Type","KeyID","Principals"}`)."""

    __go_type__: ClassVar[str] = "sshutil.CertificateRequest"
    Key: Any
    Type: str = ""
    KeyID: str = ""
    Principals: GoSlice = attrs.field(factory=lambda: GoSlice(nil=True))

    def __go_json__(self) -> dict[str, Any]:
        return {
            "Key": self.Key,
            "Type": self.Type,
            "KeyID": self.KeyID,
            "Principals": self.Principals,
        }

    def __go_str__(self) -> str:
        return _struct_str(self.Key, self.Type, self.KeyID, self.Principals)


# ---------------------------------------------------------------------------------------------------------
# Data maps


class TemplateDataError(DescriptionError):
    """Provisioner `templateData` is not a JSON object ("error unmarshaling template data", 500)."""


def _decode_json_option(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("utf-8")
    if isinstance(value, str):
        return json.loads(value)
    return value


def merge_template_data(data: dict[str, Any], template_data: Any) -> dict[str, Any]:
    """Merge a provisioner's `templateData` into `data` (§6.2): shallow, overriding, numbers as float64.

    `template_data` may be a mapping or raw JSON text; None or JSON `null` is skipped. Returns `data`.
    """
    if template_data is None:
        return data
    try:
        decoded = _decode_json_option(template_data)
    except (ValueError, UnicodeDecodeError) as e:
        raise TemplateDataError(f"error unmarshaling template data: {e}") from None
    if decoded is None:
        return data
    if not isinstance(decoded, Mapping):
        raise TemplateDataError(
            f"error unmarshaling template data: expected a JSON object, got {decoded!r:.40}"
        )
    for key, value in decoded.items():
        data[str(key)] = json_to_go(value)
    return data


def user_data(value: Any) -> dict[str, Any] | None:
    """Request `templateData` as `.Insecure.User` (§6.3): an object as-is, anything else non-empty as {}."""
    if value is None or value == "" or value == b"":
        return None
    if isinstance(value, Mapping):
        return json_to_go(dict(value))  # type: ignore[no-any-return]
    try:
        decoded = _decode_json_option(value)
    except (ValueError, UnicodeDecodeError):
        return {}
    return json_to_go(decoded) if isinstance(decoded, Mapping) else {}  # type: ignore[no-any-return]


def _finish(
    data: dict[str, Any],
    *,
    provisioner_data: Any,
    user: Any,
    custom_template: bool,
    webhooks: Mapping[str, Any] | None,
    cr: Any,
) -> dict[str, Any]:
    merge_template_data(data, provisioner_data)
    # Sign-time setters, in step's order: User, then webhooks, then CR. Insecure from templateData is
    # replaced (it is not step's TemplateData type); Webhooks from templateData is extended.
    insecure: dict[str, Any] = {}
    if custom_template:
        user_value = user_data(user)
        if user_value is not None:
            insecure["User"] = user_value
    if webhooks:
        existing = data.get("Webhooks")
        merged = existing if isinstance(existing, dict) else {}
        for name, value in webhooks.items():
            merged[name] = json_to_go(value)
        data["Webhooks"] = merged
    insecure["CR"] = cr
    data["Insecure"] = insecure
    return data


def _authorization_crt(value: Any) -> Any:
    return X509CertificateData.from_x509(value) if isinstance(value, x509.Certificate) else value


def x509_data(
    subject: Subject | str,
    sans: Iterable[str] | Iterable[SubjectAlternativeName] | None,
    token: Mapping[str, Any] | None,
    csr: x509.CertificateSigningRequest | CertificateRequest,
    *,
    provisioner_data: Any = None,
    user: Any = None,
    custom_template: bool = True,
    authorization_crt: Any = None,
    webhooks: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The X.509 template data map (§3.1).

    `subject` is the trusted subject (a string is its common name); `sans` the trusted SANs as strings
    (grouped by `create_sans`) or ready entries, None to leave `.SANs` absent; `token` the decoded JWT
    payload or None (ACME, SCEP). `provisioner_data` is the provisioner's `templateData`, merged at the
    top level. `user` is the request's `templateData`; it becomes `.Insecure.User` only when
    `custom_template` is true. `extra` adds provisioner-specific keys (e.g. ACME Wire `Dpop`, `Oidc`)
    before the merge; `webhooks` maps enriching webhook names to their `data`.
    """
    data: dict[str, Any] = {
        "Subject": subject if isinstance(subject, Subject) else Subject(CommonName=subject)
    }
    if sans is not None:
        items = list(sans)
        if all(isinstance(s, str) for s in items):
            data["SANs"] = create_sans(items)  # type: ignore[arg-type]
        else:
            data["SANs"] = GoSlice(items, go_type="[]x509util.SubjectAlternativeName", nil=False)
    if token is not None:
        data["Token"] = json_to_go(dict(token))
    if authorization_crt is not None:
        data["AuthorizationCrt"] = _authorization_crt(authorization_crt)
    if extra:
        data.update(extra)
    cr = csr if isinstance(csr, CertificateRequest) else CertificateRequest.from_csr(csr)
    return _finish(
        data,
        provisioner_data=provisioner_data,
        user=user,
        custom_template=custom_template,
        webhooks=webhooks,
        cr=cr,
    )


def ssh_data(
    cert_type: str,
    key_id: str,
    principals: Iterable[str] | None,
    extensions: Mapping[str, Any] | None = None,
    critical_options: Mapping[str, Any] | None = None,
    token: Mapping[str, Any] | None = None,
    public_key: Any = None,
    request_type: str = "",
    request_key_id: str = "",
    request_principals: Iterable[str] | None = None,
    *,
    provisioner_data: Any = None,
    user: Any = None,
    custom_template: bool = True,
    authorization_crt: Any = None,
    webhooks: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The SSH template data map (§3.3).

    `cert_type`, `key_id`, `principals` are the trusted values the provisioner sets; `extensions` None
    means step's defaults for the type (permit-* for user, nil for host); `critical_options` None leaves
    `.CriticalOptions` absent. `public_key` is the request's `cryptography` SSH public key and the
    `request_*` values are what the client asked for (`.Insecure.CR`). The keyword arguments work as
    for `x509_data`.
    """
    data: dict[str, Any] = {
        "Type": cert_type,
        "KeyID": key_id,
        "Principals": GoSlice(principals or (), nil=principals is None),
        "Extensions": dict(extensions) if extensions is not None else default_ssh_extensions(cert_type),
    }
    if critical_options is not None:
        data["CriticalOptions"] = dict(critical_options)
    if token is not None:
        data["Token"] = json_to_go(dict(token))
    if authorization_crt is not None:
        data["AuthorizationCrt"] = _authorization_crt(authorization_crt)
    if extra:
        data.update(extra)
    request_list = list(request_principals) if request_principals is not None else None
    cr = SSHCertificateRequest(
        Key=SSHPublicKey(public_key) if public_key is not None else None,
        Type=request_type,
        KeyID=request_key_id,
        Principals=GoSlice(request_list or (), nil=not request_list),
    )
    return _finish(
        data,
        provisioner_data=provisioner_data,
        user=user,
        custom_template=custom_template,
        webhooks=webhooks,
        cr=cr,
    )


__all__ = [
    "DEFAULT_SSH_USER_EXTENSIONS",
    "CertificateRequest",
    "DistinguishedName",
    "GoSlice",
    "SSHCertificateRequest",
    "SSHPublicKey",
    "Subject",
    "SubjectAlternativeName",
    "TemplateDataError",
    "X509CertificateData",
    "create_sans",
    "default_ssh_extensions",
    "go_json",
    "go_str",
    "json_to_go",
    "merge_template_data",
    "ssh_data",
    "user_data",
    "wrap_public_key",
    "x509_data",
]
