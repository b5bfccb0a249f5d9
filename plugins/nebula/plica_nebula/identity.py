"""What a Nebula host certificate vouches for: its name, and addresses in its overlay networks.

docs/reference/provisioners.md: "the Nebula provisioner will authorize certificate subjects or SANs that include the name,
plus IPs in any of the CIDR blocks in ips on the Nebula certificate". X.509 names follow that sentence (an IP
is allowed when it lies inside one of the certificate's networks); SSH principals follow docs/reference/wire.md ("principals
⊆ name + IPs": the name or one of the certificate's own addresses), as step-ca does.
"""

from __future__ import annotations

import base64
import ipaddress
from collections.abc import Iterable
from typing import Any

from attrs import frozen

from plica.api import Forbidden, SANs, split_sans
from plica_nebula.cert import IPInterface, NebulaCertificate

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@frozen
class NebulaIdentity:
    name: str
    networks: tuple[IPInterface, ...]

    @classmethod
    def of(cls, cert: NebulaCertificate) -> NebulaIdentity:
        return cls(name=cert.name, networks=cert.networks)

    @property
    def addresses(self) -> list[str]:
        """The certificate's own overlay addresses (the host part of each network)."""
        return [str(n.ip) for n in self.networks]

    def default_names(self) -> list[str]:
        """step's default SANs and SSH principals: `[name, address…]`."""
        return [self.name, *self.addresses]

    def _describe(self) -> str:
        nets = ", ".join(str(n) for n in self.networks) or "none"
        return f"the Nebula certificate of {self.name!r} (name {self.name!r}, networks {nets})"

    def _ip_allowed(self, ip: IPAddress, name_ips: Iterable[IPAddress]) -> bool:
        if ip in name_ips:
            return True
        return any(ip.version == n.version and ip in n.network for n in self.networks)

    def check_names(self, names: SANs, what: str) -> None:
        """Forbidden unless every DNS name, email and URI is the certificate's name and every IP lies inside
        one of its networks (or is the name itself, when the name is an IP)."""
        allowed = split_sans([self.name])
        bad: list[str] = []
        dns = {d.lower() for d in allowed.dns}
        bad += [d for d in names.dns if d.lower() not in dns]
        bad += [e for e in names.emails if e not in allowed.emails]
        bad += [u for u in names.uris if u not in allowed.uris]
        bad += [str(ip) for ip in names.ips if not self._ip_allowed(ip, allowed.ips)]
        if bad:
            raise Forbidden(f"{what} {bad!r} are not allowed by {self._describe()}")

    def check_subject(self, subject: str, what: str) -> None:
        self.check_names(split_sans([subject]), what)

    def check_principals(self, principals: Iterable[str]) -> None:
        """Forbidden unless every principal is the name or one of the certificate's own addresses."""
        own = set()
        for a in self.addresses:
            own.add(ipaddress.ip_address(a))
        bad = []
        for p in principals:
            if p == self.name:
                continue
            try:
                if ipaddress.ip_address(p) in own:
                    continue
            except ValueError:
                pass
            bad.append(p)
        if bad:
            allowed = [self.name, *self.addresses]
            raise Forbidden(
                f"ssh certificate principals {bad!r} are not allowed by the Nebula certificate of "
                f"{self.name!r} (allowed: {allowed!r})"
            )


def template_view(cert: NebulaCertificate) -> dict[str, Any]:
    """The Nebula certificate as step's templates see it in `.AuthorizationCrt` (Go's NebulaCertificate:
    `{{ .AuthorizationCrt.Details.Groups }}`); byte fields as standard base64, times as RFC 3339, like
    `toJson` renders them."""
    return {
        "Details": {
            "Name": cert.name,
            "Ips": [str(n) for n in cert.networks],
            "Subnets": [str(n) for n in cert.unsafe_networks],
            "Groups": list(cert.groups),
            "NotBefore": cert.not_before.isoformat().replace("+00:00", "Z"),
            "NotAfter": cert.not_after.isoformat().replace("+00:00", "Z"),
            "PublicKey": base64.b64encode(cert.public_key).decode(),
            "IsCA": cert.is_ca,
            "Issuer": cert.issuer,
        },
        "Signature": base64.b64encode(cert.signature).decode(),
    }
