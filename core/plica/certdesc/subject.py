"""`x509util.Subject` and `x509util.SubjectAlternativeName` as templates see them (§3.1)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

import attrs
from cryptography import x509

from .goparse import classify_san, normalize_go_url, parse_go_ip
from .govalues import GoSlice, list_or, struct_str
from .names import STANDARD_NAME_OIDS


@attrs.define(eq=True)
class DistinguishedName:
    """`x509util.DistinguishedName`: an extra subject attribute (`{"type": OID, "value": ...}`)."""

    __go_type__: ClassVar[str] = "x509util.DistinguishedName"
    Type: str
    Value: Any

    def __go_json__(self) -> dict[str, Any]:
        return {"type": self.Type, "value": self.Value}

    def __go_str__(self) -> str:
        return struct_str(self.Type, self.Value)


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


# x509util.Subject's fields in Go's order: `%v` prints them so, and the JSON keys are these names, lower-camel.
SUBJECT_GO_FIELDS = (
    "Country",
    "Organization",
    "OrganizationalUnit",
    "Locality",
    "Province",
    "StreetAddress",
    "PostalCode",
    "SerialNumber",
    "CommonName",
    "ExtraNames",
)
# The same in the constructor's order (CommonName first), which repr follows.
_SUBJECT_FIELDS = tuple(sorted(SUBJECT_GO_FIELDS, key=lambda field: field != "CommonName"))


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
        for field in SUBJECT_GO_FIELDS:
            value = getattr(self, field)
            if value:
                out[field[0].lower() + field[1:]] = list(value) if isinstance(value, GoSlice) else value
        return out

    def __go_str__(self) -> str:
        return struct_str(*(getattr(self, field) for field in SUBJECT_GO_FIELDS))


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
        return struct_str(self.Type, self.Value, self.ASN1Value if self.ASN1Value is not None else [])


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


__all__ = [
    "SUBJECT_GO_FIELDS",
    "DistinguishedName",
    "Subject",
    "SubjectAlternativeName",
    "create_sans",
]
