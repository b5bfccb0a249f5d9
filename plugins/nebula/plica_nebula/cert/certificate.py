"""The parsed Nebula certificate (either version), what its CA signs, and the checks both versions share."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from typing import Literal

import attrs
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from plica_nebula.cert.errors import NebulaCertificateError
from plica_nebula.cert.pem import CERT_BANNER_V1, CERT_BANNER_V2, pem_encode

Curve = Literal["CURVE25519", "P256"]
IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface

# A curve's number on the wire (v1's Details.curve, v2's [1] curve byte) is its index here.
CURVES: tuple[Curve, Curve] = ("CURVE25519", "P256")
CURVE_NUM: dict[Curve, int] = {"CURVE25519": 0, "P256": 1}


# ---- time ----------------------------------------------------------------------------------------------

_MIN_DT = datetime.min.replace(tzinfo=UTC)
_MAX_DT = datetime.max.replace(tzinfo=UTC)


def from_unix(secs: int) -> datetime:
    # Go's time.Unix accepts the whole int64 range; Python datetimes stop at years 1..9999.  Clamping keeps
    # comparisons meaningful for absurd-but-legal values instead of refusing the certificate.
    try:
        return datetime.fromtimestamp(secs, UTC)
    except (OverflowError, OSError, ValueError):
        return _MAX_DT if secs > 0 else _MIN_DT


def to_unix(dt: datetime) -> int:
    require_aware(dt, "datetime")
    # Go's Time.Unix() floors to whole seconds; so do we.
    return int(dt.timestamp() // 1)


def require_aware(dt: datetime, what: str) -> None:
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime")


# ---- the certificate -----------------------------------------------------------------------------------


@attrs.frozen
class NebulaCertificate:
    """A parsed Nebula certificate (v1 or v2).  Collections are tuples so the object stays immutable.

    ``ips``/``subnets`` are nebula v1 names; v2 calls them networks/unsafe networks (aliases below).
    ``issuer`` is the hex fingerprint of the signing CA, ``""`` when self-signed.
    ``details_raw`` is the Details encoding nebula signs/fingerprints (v1: canonical re-marshal; v2: the
    DER ``[0]`` element as received); ``signed_data`` is exactly the byte string the CA signature covers.
    """

    version: int
    name: str
    ips: tuple[IPInterface, ...]
    subnets: tuple[IPInterface, ...]
    groups: tuple[str, ...]
    not_before: datetime
    not_after: datetime
    public_key: bytes
    is_ca: bool
    issuer: str
    curve: Curve
    fingerprint: str
    signature: bytes = attrs.field(repr=False)
    raw: bytes = attrs.field(repr=False)
    details_raw: bytes = attrs.field(repr=False)
    signed_data: bytes = attrs.field(repr=False)

    @property
    def networks(self) -> tuple[IPInterface, ...]:
        return self.ips

    @property
    def unsafe_networks(self) -> tuple[IPInterface, ...]:
        return self.subnets

    def check_signature(self, public_key: bytes) -> bool:
        """True if ``signature`` over ``signed_data`` verifies with the signer's ``public_key``."""
        return verify_ca_signature(self.curve, public_key, self.signed_data, self.signature)

    def expired(self, now: datetime) -> bool:
        """nebula's ``Expired``: outside ``[not_before, not_after]`` (both ends inclusive)."""
        require_aware(now, "now")
        return self.not_before > now or self.not_after < now

    def to_pem(self) -> bytes:
        banner = CERT_BANNER_V1 if self.version == 1 else CERT_BANNER_V2
        return pem_encode(banner, self.raw)


@attrs.frozen
class Details:
    """The fields a CA signs, in wire terms: times as Unix seconds (nebula's int64), the issuer as the raw
    fingerprint bytes (empty when self-signed).  Each version's codec encodes it its own way; parsing
    builds one and turns it into a :class:`NebulaCertificate` with :meth:`certificate`."""

    name: str
    ips: tuple[IPInterface, ...]
    subnets: tuple[IPInterface, ...]
    groups: tuple[str, ...]
    not_before: int
    not_after: int
    public_key: bytes
    is_ca: bool
    issuer: bytes
    curve: Curve

    def certificate(
        self,
        version: int,
        *,
        signature: bytes,
        raw: bytes,
        details_raw: bytes,
        signed_data: bytes,
        fingerprint: str,
    ) -> NebulaCertificate:
        return NebulaCertificate(
            version=version,
            name=self.name,
            ips=self.ips,
            subnets=self.subnets,
            groups=self.groups,
            not_before=from_unix(self.not_before),
            not_after=from_unix(self.not_after),
            public_key=self.public_key,
            is_ca=self.is_ca,
            issuer=self.issuer.hex(),
            curve=self.curve,
            fingerprint=fingerprint,
            signature=signature,
            raw=raw,
            details_raw=details_raw,
            signed_data=signed_data,
        )


def verify_ca_signature(curve: Curve, public_key: bytes, data: bytes, signature: bytes) -> bool:
    try:
        if curve == "CURVE25519":
            ed25519.Ed25519PublicKey.from_public_bytes(public_key).verify(signature, data)
        else:
            key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), public_key)
            key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True


def check_public_key(curve: Curve, public_key: bytes) -> None:
    # nebula only insists on >= 32 bytes; every real key is exactly 32 (X25519/Ed25519) or a 65-byte
    # uncompressed P-256 point, and the rest of Plica relies on that, so insist on it here.
    if curve == "CURVE25519" and len(public_key) != 32:
        raise NebulaCertificateError(f"invalid CURVE25519 public key length {len(public_key)}, want 32")
    if curve == "P256" and (len(public_key) != 65 or public_key[0] != 0x04):
        raise NebulaCertificateError("invalid P256 public key: want a 65-byte uncompressed point")
