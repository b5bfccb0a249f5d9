"""Names on certificates: sorting SAN strings by type, and step's CSR name rules (docs/reference/wire.md §5, JWK row)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from attrs import define, field
from cryptography import x509
from cryptography.x509.oid import NameOID

from plica.errors import BadRequest, Forbidden


@define
class SANs:
    dns: list[str] = field(factory=list)
    ips: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = field(factory=list)
    emails: list[str] = field(factory=list)
    uris: list[str] = field(factory=list)

    def general_names(self) -> list[x509.GeneralName]:
        # Go's x509 writes SANs in this order whatever the template says: DNS, email, IP, URI.
        out: list[x509.GeneralName] = [x509.DNSName(d) for d in self.dns]
        out += [x509.RFC822Name(e) for e in self.emails]
        out += [x509.IPAddress(i) for i in self.ips]
        out += [x509.UniformResourceIdentifier(u) for u in self.uris]
        return out

    def values(self) -> list[str]:
        """Each name as text, in `general_names` order (as they read back from the certificate)."""
        return [*self.dns, *self.emails, *map(str, self.ips), *self.uris]

    def __bool__(self) -> bool:
        return bool(self.dns or self.ips or self.emails or self.uris)


def split_sans(values: Iterable[str]) -> SANs:
    """Sort SAN strings by type as step's x509util.SplitSANs does: IP, then URI (has a scheme), then email
    (has '@'), else DNS."""
    out = SANs()
    for v in values:
        if not v:
            continue
        bare = v.strip("[]")
        # Only an IPv6 address has a colon and only an IPv4 one is all digits and dots: anything else
        # skips the costly ValueError of ip_address (a DNS name is the common case).
        if ":" in bare or bare.replace(".", "").isdigit():
            try:
                out.ips.append(ipaddress.ip_address(bare))
                continue
            except ValueError:
                pass
        if ":" in v and _has_scheme(v):
            out.uris.append(v)
        elif "@" in v:
            out.emails.append(v)
        else:
            out.dns.append(v)
    return out


def _has_scheme(v: str) -> bool:
    try:
        return bool(urlsplit(v).scheme)
    except ValueError:  # "http://[::1" does not parse as a URL (nor does it in Go): not a URI SAN
        return False


def csr_sans(csr: x509.CertificateSigningRequest) -> SANs:
    try:
        return sans_of(csr.extensions)
    except ValueError as e:
        raise BadRequest(f"invalid csr: malformed extensions ({e})") from None


def sans_of(extensions: x509.Extensions) -> SANs:
    """The SANs of a CSR's or a certificate's extensions."""
    try:
        ext = extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return SANs()
    # One pass over the names (get_values_for_type makes one per type); other kinds are not SANs here.
    out = SANs()
    lists: dict[type, list[Any]] = {x509.DNSName: out.dns, x509.IPAddress: out.ips,
                                    x509.RFC822Name: out.emails, x509.UniformResourceIdentifier: out.uris}  # fmt: skip
    for name in ext:
        values = lists.get(type(name))
        if values is not None:
            values.append(name.value)
    return out


def csr_common_name(csr: x509.CertificateSigningRequest) -> str:
    try:
        attrs = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    except ValueError:
        return ""
    v = attrs[0].value if attrs else ""
    return v if isinstance(v, str) else v.decode()


def check_csr_names(csr: x509.CertificateSigningRequest, subject: str, sans: list[str]) -> None:
    """step's default validators for token-authorized requests: the CSR's CN must be empty or one of
    {subject} ∪ sans, and for each SAN type the CSR carries, its set must equal the token's set of that type."""
    cn = csr_common_name(csr)
    if cn and cn != subject and cn not in sans:
        raise Forbidden(
            f"certificate request has common name {cn!r}, but the token allows only {[subject, *sans]!r}"
        )
    want = split_sans(sans)
    got = csr_sans(csr)
    for label, g, w in (
        ("DNS names", got.dns, want.dns),
        ("IP addresses", got.ips, want.ips),
        ("email addresses", got.emails, want.emails),
        ("URIs", got.uris, want.uris),
    ):
        if g and set(map(str, g)) != set(map(str, w)):
            raise Forbidden(
                f"certificate request {label} {sorted(map(str, g))!r} do not match the token's {sorted(map(str, w))!r}"
            )
