"""Go value stand-ins for the template data of docs/reference/step-templates.md §3 (what the CA passes in),
the data the spec's templates are rendered with, and render_json.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from plica.templating import StringSlice, TypedNil, render

# ---------------------------------------------------------------------------------------------------------
# Go value stand-ins for the template data of §3 (what the CA passes in)


def _omit_empty(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    return {k: v for k, v in pairs if v not in (None, "", [], {})}


class Subject:
    __go_type__ = "x509util.Subject"

    def __init__(self, cn: str = "", **kw: Any) -> None:
        self.CommonName = cn
        self.Country = kw.get("Country", [])
        self.Organization = kw.get("Organization", [])
        self.OrganizationalUnit = kw.get("OrganizationalUnit", [])
        self.Locality: list[str] = []
        self.Province: list[str] = []
        self.StreetAddress: list[str] = []
        self.PostalCode: list[str] = []
        self.SerialNumber = ""
        self.ExtraNames: list[Any] = []

    def __go_json__(self) -> dict[str, Any]:
        return _omit_empty(
            [
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
            ]
        )


class SAN:
    __go_type__ = "x509util.SubjectAlternativeName"

    def __init__(self, typ: str, value: str) -> None:
        self.Type = typ
        self.Value = value
        self.ASN1Value = ""

    def __go_json__(self) -> dict[str, Any]:
        return _omit_empty([("type", self.Type), ("value", self.Value), ("asn1Value", self.ASN1Value)])


class CurveParams:
    def __init__(self, name: str, bits: int) -> None:
        self.Name = name
        self.BitSize = bits


class Curve:
    __go_type__ = "elliptic.p256Curve"

    def Params(self) -> CurveParams:
        return CurveParams("P-256", 256)


class ECPublicKey:
    __go_type__ = "*ecdsa.PublicKey"

    def __init__(self) -> None:
        self.Curve = Curve()


class RSAPublicKey:
    __go_type__ = "*rsa.PublicKey"

    def __init__(self, bits: int) -> None:
        self.E = 65537
        self._bits = bits

    def Size(self) -> int:
        return self._bits // 8


class Extension:
    __go_type__ = "x509util.Extension"

    def __init__(self, oid: str, critical: bool, value: bytes) -> None:
        self.ID = oid
        self.Critical = critical
        self.Value = value

    def __go_json__(self) -> dict[str, Any]:
        return {"id": self.ID, "critical": self.Critical, "value": self.Value}


class PublicKeyAlgorithm(int):
    __go_type__ = "x509.PublicKeyAlgorithm"

    def __go_str__(self) -> str:
        return {1: "RSA", 3: "ECDSA", 4: "Ed25519"}[int(self)]


class CertificateRequest:
    """``*x509util.CertificateRequest`` (§3.2)."""

    __go_type__ = "*x509util.CertificateRequest"

    def __init__(
        self, subject: Subject, key: Any, dns: list[str] | None = None, emails: list[str] | None = None
    ) -> None:
        self.Version = 0
        self.Subject = subject
        self.RawSubject = b"0\x151\x130\x11\x06\x03U\x04\x03\x0c\nexample.io"
        self.DNSNames = StringSlice(dns) if dns is not None else TypedNil("[]string")
        self.EmailAddresses = StringSlice(emails) if emails is not None else TypedNil("[]string")
        self.IPAddresses = TypedNil("[]net.IP")
        self.URIs = TypedNil("[]*url.URL")
        self.SANs = TypedNil("[]x509util.SubjectAlternativeName")
        self.Extensions = [Extension("2.5.29.17", False, b"0\x0c\x82\nexample.io")]
        self.KeyUsage = TypedNil("x509util.KeyUsage")
        self.ExtKeyUsage = TypedNil("x509util.ExtKeyUsage")
        self.UnknownExtKeyUsage = TypedNil("x509util.UnknownExtKeyUsage")
        self.BasicConstraints = TypedNil("*x509util.BasicConstraints")
        self.SignatureAlgorithm = ""
        self.PublicKey = key
        self.PublicKeyAlgorithm = PublicKeyAlgorithm(1 if isinstance(key, RSAPublicKey) else 3)
        self.Signature = b"\x30\x00"

    def __go_json__(self) -> dict[str, Any]:
        return {
            "version": self.Version,
            "subject": self.Subject,
            "rawSubject": self.RawSubject,
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
            "signatureAlgorithm": self.SignatureAlgorithm,
        }


class PkixName:
    __go_type__ = "pkix.Name"

    def __init__(self, cn: str) -> None:
        self.CommonName = cn


class X509Certificate:
    __go_type__ = "*x509.Certificate"

    def __init__(self, cn: str, not_after: dt.datetime, dns: list[str] | None = None) -> None:
        self.Subject = PkixName(cn)
        self.NotAfter = not_after
        self.DNSNames = StringSlice(dns or [])


class SSHKey:
    __go_type__ = "*ssh.ed25519PublicKey"

    def Type(self) -> str:
        return "ssh-ed25519"


class SSHCertificateRequest:
    __go_type__ = "sshutil.CertificateRequest"

    def __init__(self, typ: str, key_id: str, principals: list[str] | None) -> None:
        self.Key = SSHKey()
        self.Type = typ
        self.KeyID = key_id
        self.Principals = StringSlice(principals) if principals is not None else TypedNil("[]string")

    def __go_json__(self) -> dict[str, Any]:
        return {
            "Key": {"type": "ssh-ed25519"},
            "Type": self.Type,
            "KeyID": self.KeyID,
            "Principals": self.Principals,
        }


DEFAULT_USER_EXTENSIONS = {
    "permit-X11-forwarding": "",
    "permit-agent-forwarding": "",
    "permit-port-forwarding": "",
    "permit-pty": "",
    "permit-user-rc": "",
}

NOT_AFTER = dt.datetime(2030, 6, 1, 12, 0, 0, tzinfo=dt.UTC)


def jwk_token(sub: str = "jane@smallstep.com") -> dict[str, Any]:
    return {
        "aud": "https://ca.example.com/1.0/sign",
        "exp": 1606870196.0,
        "iat": 1606869896.0,
        "iss": "jane-jwk",
        "jti": "3f8bd4a5b1ac6a6c",
        "nbf": 1606869896.0,
        "sans": [sub],
        "sha": "1d9b2f0e5c3a",
        "sub": sub,
    }


def x509_data(
    key: Any = None,
    cn: str = "jane@smallstep.com",
    sans: list[SAN] | None = None,
    dns: list[str] | None = None,
    emails: list[str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "Subject": Subject(cn),
        "SANs": sans if sans is not None else [SAN("email", cn)],
        "Token": jwk_token(cn),
        "Insecure": {"CR": CertificateRequest(Subject(cn), key or ECPublicKey(), dns, emails)},
    }
    data.update(extra)
    return data


def ssh_data(typ: str = "user", **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "Type": typ,
        "KeyID": "carl@smallstep.com",
        "Principals": StringSlice(["carl", "carl@smallstep.com"]),
        "Extensions": dict(DEFAULT_USER_EXTENSIONS) if typ == "user" else TypedNil("map[string]interface {}"),
        "Token": {
            "aud": "https://ca.example.com/1.0/ssh/sign",
            "exp": 1606870196.0,
            "iss": "carl@smallstep.com",
            "nbf": 1606869896.0,
            "step": {"ssh": {"certType": "user", "keyID": "carl"}},
            "sub": "carl",
        },
        "Insecure": {"CR": SSHCertificateRequest(typ, "requested-id", ["req1", "req2"])},
    }
    data.update(extra)
    return data


def render_json(text: str, data: dict[str, Any], funcs: str = "x509") -> Any:
    out = render(text, data, funcs=funcs)
    return json.loads(out)
