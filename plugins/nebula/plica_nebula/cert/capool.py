"""A set of trusted Nebula CAs and the checks nebula makes of a certificate against them (its CAPool and
CheckCAConstraints)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from plica_nebula.cert.certificate import IPInterface, NebulaCertificate, require_aware
from plica_nebula.cert.errors import NebulaCertificateError
from plica_nebula.cert.parse import parse_pem


class NebulaCAPool:
    """A set of trusted Nebula CA certificates, keyed by fingerprint (nebula's CAPool)."""

    def __init__(self, certs: Iterable[NebulaCertificate], blocklist: Iterable[str] = ()) -> None:
        self.cas: dict[str, NebulaCertificate] = {}
        for ca in certs:
            # Same admission rules as nebula's AddCA: must be a CA and must verify under its own key.
            # Expired CAs are kept (nebula keeps them too) and rejected at verify time.
            if not ca.is_ca:
                raise NebulaCertificateError(f"{ca.name}: certificate is not a CA")
            if not ca.check_signature(ca.public_key):
                raise NebulaCertificateError(f"{ca.name}: CA certificate is not self-signed")
            self.cas[ca.fingerprint] = ca
        self.blocklist = frozenset(blocklist)

    @classmethod
    def from_pem(cls, data: bytes | str) -> NebulaCAPool:
        return cls(parse_pem(data))

    def ca_for(self, cert: NebulaCertificate) -> NebulaCertificate:
        if not cert.issuer:
            raise NebulaCertificateError(
                "certificate has no issuer (self-signed certificates are not trusted)"
            )
        ca = self.cas.get(cert.issuer)
        if ca is None:
            raise NebulaCertificateError(
                f"unknown issuer: certificate was not signed by a trusted CA (issuer {cert.issuer})"
            )
        return ca

    def verify(self, cert: NebulaCertificate, now: datetime) -> None:
        """Raise :class:`NebulaCertificateError` unless ``cert`` is valid at ``now`` under this pool.

        Checks, in nebula's order: blocklist, issuer lookup, CA validity, certificate validity, signature,
        then the CA's constraints (validity window, groups, networks, unsafe networks).
        """
        require_aware(now, "now")
        if cert.fingerprint in self.blocklist:
            raise NebulaCertificateError("certificate is blocklisted")
        ca = self.ca_for(cert)
        if not ca.is_ca:
            raise NebulaCertificateError("signing certificate is not a CA")
        if ca.not_after < now:
            raise NebulaCertificateError(f"signing CA certificate {ca.name!r} is expired")
        if ca.not_before > now:
            raise NebulaCertificateError(f"signing CA certificate {ca.name!r} is not yet valid")
        if cert.not_after < now:
            raise NebulaCertificateError(f"certificate is expired (not after {cert.not_after.isoformat()})")
        if cert.not_before > now:
            raise NebulaCertificateError(
                f"certificate is not yet valid (not before {cert.not_before.isoformat()})"
            )
        if cert.curve != ca.curve:
            raise NebulaCertificateError(f"certificate curve {cert.curve} does not match CA curve {ca.curve}")
        if not cert.check_signature(ca.public_key):
            raise NebulaCertificateError("certificate signature did not match the signing CA")
        check_ca_constraints(ca, cert)


def _within(cert_net: IPInterface, ca_nets: tuple[IPInterface, ...]) -> bool:
    # nebula: signingNetwork.Contains(cert.Addr()) && signingNetwork.Bits() <= cert.Bits()
    return any(
        cert_net.version == ca_net.version
        and cert_net.ip in ca_net.network
        and ca_net.network.prefixlen <= cert_net.network.prefixlen
        for ca_net in ca_nets
    )


def check_ca_constraints(ca: NebulaCertificate, cert: NebulaCertificate) -> None:
    """Raise if ``cert`` asks for more than ``ca`` may grant (nebula's CheckCAConstraints)."""
    if cert.not_after > ca.not_after:
        raise NebulaCertificateError("certificate expires after signing certificate")
    if cert.not_before < ca.not_before:
        raise NebulaCertificateError("certificate is valid before the signing certificate")
    if ca.groups:
        for g in cert.groups:
            if g not in ca.groups:
                raise NebulaCertificateError(
                    f"certificate contained a group not present on the signing ca: {g}"
                )
    if ca.ips:
        for n in cert.ips:
            if not _within(n, ca.ips):
                raise NebulaCertificateError(
                    f"certificate contained an ip assignment outside the limitations of the signing ca: {n}"
                )
    if ca.subnets:
        for n in cert.subnets:
            if not _within(n, ca.subnets):
                raise NebulaCertificateError(
                    "certificate contained a subnet assignment outside the limitations of the signing ca: "
                    f"{n}"
                )
