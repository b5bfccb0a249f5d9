"""Pure-Python Nebula certificate library: parse, verify, and the XEdDSA/ES256/EdDSA token signatures.

Formats follow slackhq/nebula:

* **v1** (``NEBULA CERTIFICATE``): protobuf ``RawNebulaCertificate{Details=1, Signature=2}``.  The CA
  signature covers the protobuf encoding of ``Details`` *as nebula re-marshals it* (nebula decodes and
  re-encodes before checking), and the fingerprint is SHA-256 of the re-marshalled whole certificate.  We
  therefore re-encode canonically too, so unknown fields or non-canonical encodings are treated exactly as
  nebula treats them.
* **v2** (``NEBULA CERTIFICATE V2``, nebula >= 1.10): DER ``SEQUENCE { [0] details, [1] curve OPTIONAL,
  [2] publicKey, [3] signature }``.  The signature covers ``rawDetails || curve-byte || publicKey`` where
  rawDetails is the whole ``[0]`` element (tag and length included), and the fingerprint is SHA-256 of
  ``rawDetails || curve-byte || publicKey || signature`` (not of the DER envelope).

CURVE25519 CAs sign with Ed25519; P256 CAs sign with ECDSA P-256/SHA-256 (ASN.1 DER signatures).
Leaf keys are X25519 (32 bytes) or P-256 uncompressed points (65 bytes).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import os
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Literal

import attrs
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

__all__ = [
    "Curve",
    "IPInterface",
    "NebulaCAPool",
    "NebulaCertificate",
    "NebulaCertificateError",
    "check_ca_constraints",
    "jws_sign",
    "load_private_key_pem",
    "parse_der",
    "parse_pem",
    "parse_v1",
    "parse_v2",
    "sign_certificate",
    "verify_jws_signature",
    "x25519_to_ed25519_public_key",
    "xeddsa_sign",
    "xeddsa_verify",
]

Curve = Literal["CURVE25519", "P256"]
IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface

_CURVES: tuple[Curve, Curve] = ("CURVE25519", "P256")
_CURVE_NUM: dict[Curve, int] = {"CURVE25519": 0, "P256": 1}

CERT_BANNER_V1 = "NEBULA CERTIFICATE"
CERT_BANNER_V2 = "NEBULA CERTIFICATE V2"

# nebula's own limits (cert/cert_v2.go); applied to v2 where nebula applies them.
_MAX_CERT_SIZE = 65536
_MAX_NAME_LEN = 253


class NebulaCertificateError(Exception):
    """A Nebula certificate or key could not be parsed or did not verify; ``str()`` is the reason."""


# --------------------------------------------------------------------------------------------------------
# Time helpers
# --------------------------------------------------------------------------------------------------------

_MIN_DT = datetime.min.replace(tzinfo=UTC)
_MAX_DT = datetime.max.replace(tzinfo=UTC)


def _from_unix(secs: int) -> datetime:
    # Go's time.Unix accepts the whole int64 range; Python datetimes stop at years 1..9999.  Clamping keeps
    # comparisons meaningful for absurd-but-legal values instead of refusing the certificate.
    try:
        return datetime.fromtimestamp(secs, UTC)
    except (OverflowError, OSError, ValueError):
        return _MAX_DT if secs > 0 else _MIN_DT


def _to_unix(dt: datetime) -> int:
    _require_aware(dt, "datetime")
    # Go's Time.Unix() floors to whole seconds; so do we.
    return int(dt.timestamp() // 1)


def _require_aware(dt: datetime, what: str) -> None:
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime")


# --------------------------------------------------------------------------------------------------------
# Minimal protobuf (proto3) wire format
# --------------------------------------------------------------------------------------------------------

_WT_VARINT, _WT_FIXED64, _WT_LEN, _WT_FIXED32 = 0, 1, 2, 5


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= len(buf):
            raise NebulaCertificateError("malformed certificate: truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            break
        shift += 7
        if shift >= 70:
            raise NebulaCertificateError("malformed certificate: varint too long")
    if result >= 1 << 64:
        raise NebulaCertificateError("malformed certificate: varint overflows 64 bits")
    return result, pos


def _encode_varint(n: int) -> bytes:
    if n < 0:
        # proto int64: negative numbers are their 64-bit two's complement (10-byte varint).
        n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _iter_pb_fields(buf: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """Yield ``(field_number, wire_type, value)``; value is an int for varints, bytes otherwise."""
    pos = 0
    while pos < len(buf):
        key, pos = _read_varint(buf, pos)
        num, wt = key >> 3, key & 7
        if num == 0 or num >= 1 << 29:
            raise NebulaCertificateError("malformed certificate: invalid protobuf field number")
        value: int | bytes
        if wt == _WT_VARINT:
            value, pos = _read_varint(buf, pos)
        elif wt == _WT_LEN:
            length, pos = _read_varint(buf, pos)
            if pos + length > len(buf):
                raise NebulaCertificateError("malformed certificate: truncated length-delimited field")
            value = buf[pos : pos + length]
            pos += length
        elif wt in (_WT_FIXED64, _WT_FIXED32):
            size = 8 if wt == _WT_FIXED64 else 4
            if pos + size > len(buf):
                raise NebulaCertificateError("malformed certificate: truncated fixed-size field")
            value = buf[pos : pos + size]
            pos += size
        else:
            # Groups (wire types 3/4) are deprecated and never used by nebula.
            raise NebulaCertificateError(f"malformed certificate: unsupported protobuf wire type {wt}")
        yield num, wt, value


def _pb_key(num: int, wt: int) -> bytes:
    return _encode_varint((num << 3) | wt)


def _pb_len(num: int, data: bytes) -> bytes:
    return _pb_key(num, _WT_LEN) + _encode_varint(len(data)) + data


def _pb_uint32s(wt: int, value: int | bytes, out: list[int]) -> None:
    # Repeated scalars may arrive packed (what Go writes) or one per field (parsers must accept both).
    if wt == _WT_LEN:
        assert isinstance(value, bytes)
        pos = 0
        while pos < len(value):
            v, pos = _read_varint(value, pos)
            out.append(v)
    elif wt == _WT_VARINT:
        assert isinstance(value, int)
        out.append(value)
    else:
        raise NebulaCertificateError("malformed certificate: bad wire type for repeated uint32")
    if any(v >= 1 << 32 for v in out):
        raise NebulaCertificateError("malformed certificate: uint32 value out of range")


def _pb_string(value: int | bytes) -> str:
    assert isinstance(value, bytes)
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        # Go's proto3 decoder rejects invalid UTF-8 in string fields too.
        raise NebulaCertificateError("malformed certificate: string field is not valid UTF-8") from None


# --------------------------------------------------------------------------------------------------------
# Minimal DER
# --------------------------------------------------------------------------------------------------------


def _der_next(buf: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """Read one DER TLV at ``pos``; return ``(tag, content_start, content_end)``."""
    if pos + 2 > end:
        raise NebulaCertificateError("malformed certificate: truncated ASN.1 element")
    tag = buf[pos]
    if tag & 0x1F == 0x1F:
        raise NebulaCertificateError("malformed certificate: unsupported ASN.1 high tag number")
    length = buf[pos + 1]
    pos += 2
    if length & 0x80:
        n = length & 0x7F
        if n == 0 or n > 4 or pos + n > end:
            raise NebulaCertificateError("malformed certificate: bad ASN.1 length")
        length = int.from_bytes(buf[pos : pos + n], "big")
        # DER requires the shortest length form.
        if length < 0x80 or buf[pos] == 0:
            raise NebulaCertificateError("malformed certificate: non-minimal ASN.1 length")
        pos += n
    if pos + length > end:
        raise NebulaCertificateError("malformed certificate: truncated ASN.1 element")
    return tag, pos, pos + length


def _der_tlv(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    lb = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(lb)]) + lb + content


def _der_int_content(n: int) -> bytes:
    # Minimal two's complement, as Go's cryptobyte AddASN1Int64 writes it.
    length = 1
    while not -(1 << (8 * length - 1)) <= n < 1 << (8 * length - 1):
        length += 1
    return n.to_bytes(length, "big", signed=True)


def _der_parse_int64(content: bytes) -> int:
    if not content:
        raise NebulaCertificateError("malformed certificate: empty ASN.1 integer")
    if len(content) > 1 and (
        (content[0] == 0 and content[1] < 0x80) or (content[0] == 0xFF and content[1] >= 0x80)
    ):
        raise NebulaCertificateError("malformed certificate: non-minimal ASN.1 integer")
    if len(content) > 8:
        raise NebulaCertificateError("malformed certificate: ASN.1 integer does not fit in int64")
    return int.from_bytes(content, "big", signed=True)


# v2 tags (cert/cert_v2.go)
_T_SEQUENCE = 0x30
_T_OCTET_STRING = 0x04
_T_UTF8 = 0x0C
_T_CERT_DETAILS = 0xA0
_T_CERT_CURVE = 0x81
_T_CERT_PUBKEY = 0x82
_T_CERT_SIG = 0x83
_T_D_NAME = 0x80
_T_D_NETWORKS = 0xA1
_T_D_UNSAFE = 0xA2
_T_D_GROUPS = 0xA3
_T_D_ISCA = 0x84
_T_D_NOTBEFORE = 0x85
_T_D_NOTAFTER = 0x86
_T_D_ISSUER = 0x87


# --------------------------------------------------------------------------------------------------------
# The certificate
# --------------------------------------------------------------------------------------------------------


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
        return _verify_ca_signature(self.curve, public_key, self.signed_data, self.signature)

    def expired(self, now: datetime) -> bool:
        """nebula's ``Expired``: outside ``[not_before, not_after]`` (both ends inclusive)."""
        _require_aware(now, "now")
        return self.not_before > now or self.not_after < now

    def to_pem(self) -> bytes:
        banner = CERT_BANNER_V1 if self.version == 1 else CERT_BANNER_V2
        return _pem_encode(banner, self.raw)


def _verify_ca_signature(curve: Curve, public_key: bytes, data: bytes, signature: bytes) -> bool:
    try:
        if curve == "CURVE25519":
            ed25519.Ed25519PublicKey.from_public_bytes(public_key).verify(signature, data)
        else:
            key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), public_key)
            key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True


def _check_public_key(curve: Curve, public_key: bytes) -> None:
    # nebula only insists on >= 32 bytes; every real key is exactly 32 (X25519/Ed25519) or a 65-byte
    # uncompressed P-256 point, and the rest of Plica relies on that, so insist on it here.
    if curve == "CURVE25519" and len(public_key) != 32:
        raise NebulaCertificateError(f"invalid CURVE25519 public key length {len(public_key)}, want 32")
    if curve == "P256" and (len(public_key) != 65 or public_key[0] != 0x04):
        raise NebulaCertificateError("invalid P256 public key: want a 65-byte uncompressed point")


# ---- v1 ------------------------------------------------------------------------------------------------


def _v1_pairs_to_ifaces(raw: list[int], what: str) -> tuple[ipaddress.IPv4Interface, ...]:
    if len(raw) % 2:
        raise NebulaCertificateError(f"malformed certificate: encoded {what} should be in pairs")
    out = []
    for ip, mask in zip(raw[0::2], raw[1::2], strict=True):
        bits = bin(mask).count("1")
        # Only contiguous netmasks describe a prefix; newer nebula normalises anything else to /0, which
        # would then fail the signature anyway, so reject up front with a clearer message.
        if mask != ((1 << 32) - 1) ^ ((1 << (32 - bits)) - 1):
            raise NebulaCertificateError(f"malformed certificate: non-contiguous netmask in {what}")
        out.append(ipaddress.IPv4Interface((ip, bits)))
    return tuple(out)


def _v1_ifaces_to_pairs(ifaces: Iterable[IPInterface]) -> list[int]:
    out: list[int] = []
    for iface in ifaces:
        if iface.version != 4:
            raise ValueError(f"v1 certificates only carry IPv4 networks, got {iface}")
        out += [int(iface.ip), int(iface.netmask)]
    return out


def _encode_v1_details(
    *,
    name: str,
    ips: Iterable[IPInterface],
    subnets: Iterable[IPInterface],
    groups: Iterable[str],
    not_before: int,
    not_after: int,
    public_key: bytes,
    is_ca: bool,
    issuer: bytes,
    curve: int,
) -> bytes:
    """Canonical proto3 encoding as Go's proto.Marshal writes it: field order, defaults omitted, packed."""
    out = bytearray()
    if name:
        out += _pb_len(1, name.encode())
    for num, ifaces in ((2, ips), (3, subnets)):
        pairs = _v1_ifaces_to_pairs(ifaces)
        if pairs:
            out += _pb_len(num, b"".join(_encode_varint(v) for v in pairs))
    for g in groups:
        out += _pb_len(4, g.encode())
    if not_before:
        out += _pb_key(5, _WT_VARINT) + _encode_varint(not_before)
    if not_after:
        out += _pb_key(6, _WT_VARINT) + _encode_varint(not_after)
    if public_key:
        out += _pb_len(7, public_key)
    if is_ca:
        out += _pb_key(8, _WT_VARINT) + b"\x01"
    if issuer:
        out += _pb_len(9, issuer)
    if curve:
        out += _pb_key(100, _WT_VARINT) + _encode_varint(curve)
    return bytes(out)


def _encode_v1_certificate(details: bytes, signature: bytes) -> bytes:
    # Details is a non-nil message in nebula, so it is always written, even when empty.
    return _pb_len(1, details) + (_pb_len(2, signature) if signature else b"")


def parse_v1(raw: bytes) -> NebulaCertificate:
    """Parse a v1 (protobuf) certificate."""
    raw = bytes(raw)
    if not raw:
        raise NebulaCertificateError("malformed certificate: empty input")
    details_b: bytes | None = None
    signature = b""
    seen: set[int] = set()
    for num, wt, value in _iter_pb_fields(raw):
        if num in (1, 2):
            if wt != _WT_LEN or num in seen:
                # Duplicates are legal protobuf (merge/last-wins) but nebula never writes them; refusing
                # them keeps "what we parsed" and "what was signed" trivially the same thing.
                raise NebulaCertificateError("malformed certificate: bad or repeated top-level field")
            seen.add(num)
            assert isinstance(value, bytes)
            if num == 1:
                details_b = value
            else:
                signature = value
    if details_b is None:
        raise NebulaCertificateError("malformed certificate: encoded Details was nil")

    name = ""
    ips_raw: list[int] = []
    subnets_raw: list[int] = []
    groups: list[str] = []
    not_before = not_after = 0
    public_key = b""
    is_ca = False
    issuer = b""
    curve_num = 0
    singular = {
        1: _WT_LEN,
        5: _WT_VARINT,
        6: _WT_VARINT,
        7: _WT_LEN,
        8: _WT_VARINT,
        9: _WT_LEN,
        100: _WT_VARINT,
    }
    seen = set()
    for num, wt, value in _iter_pb_fields(details_b):
        if num == 2:
            _pb_uint32s(wt, value, ips_raw)
        elif num == 3:
            _pb_uint32s(wt, value, subnets_raw)
        elif num == 4:
            if wt != _WT_LEN:
                raise NebulaCertificateError("malformed certificate: bad wire type for Groups")
            groups.append(_pb_string(value))
        elif num in singular:
            if wt != singular[num] or num in seen:
                raise NebulaCertificateError(f"malformed certificate: bad or repeated Details field {num}")
            seen.add(num)
            if num == 1:
                name = _pb_string(value)
            elif num in (5, 6):
                assert isinstance(value, int)
                signed = value - (1 << 64) if value >= 1 << 63 else value
                if num == 5:
                    not_before = signed
                else:
                    not_after = signed
            elif num == 7:
                assert isinstance(value, bytes)
                public_key = value
            elif num == 8:
                is_ca = value != 0
            elif num == 9:
                assert isinstance(value, bytes)
                issuer = value
            else:
                assert isinstance(value, int)
                curve_num = value
        # Unknown fields are skipped; nebula drops them too when it re-marshals for the signature check.
    if curve_num not in (0, 1):
        raise NebulaCertificateError(f"unsupported certificate curve {curve_num}")
    curve = _CURVES[curve_num]
    _check_public_key(curve, public_key)

    ips = _v1_pairs_to_ifaces(ips_raw, "IPs")
    subnets = _v1_pairs_to_ifaces(subnets_raw, "Subnets")
    details_raw = _encode_v1_details(
        name=name,
        ips=ips,
        subnets=subnets,
        groups=groups,
        not_before=not_before,
        not_after=not_after,
        public_key=public_key,
        is_ca=is_ca,
        issuer=issuer,
        curve=curve_num,
    )
    canonical = _encode_v1_certificate(details_raw, signature)
    return NebulaCertificate(
        version=1,
        name=name,
        ips=ips,
        subnets=subnets,
        groups=tuple(groups),
        not_before=_from_unix(not_before),
        not_after=_from_unix(not_after),
        public_key=public_key,
        is_ca=is_ca,
        issuer=issuer.hex(),
        curve=curve,
        fingerprint=hashlib.sha256(canonical).hexdigest(),
        signature=signature,
        raw=raw,
        details_raw=details_raw,
        signed_data=details_raw,
    )


# ---- v2 ------------------------------------------------------------------------------------------------


def _v2_network(content: bytes) -> IPInterface:
    # netip.Prefix binary form: 4 or 16 address bytes followed by one prefix-length byte.
    if len(content) == 5 and content[4] <= 32:
        return ipaddress.IPv4Interface((content[:4], content[4]))
    if len(content) == 17 and content[16] <= 128:
        return ipaddress.IPv6Interface((content[:16], content[16]))
    raise NebulaCertificateError("malformed certificate: bad network encoding")


def _v2_network_bytes(iface: IPInterface) -> bytes:
    return iface.ip.packed + bytes([iface.network.prefixlen])


def _v2_read_networks(buf: bytes, start: int, end: int) -> list[IPInterface]:
    out = []
    pos = start
    while pos < end:
        tag, cs, ce = _der_next(buf, pos, end)
        if tag != _T_OCTET_STRING:
            raise NebulaCertificateError("malformed certificate: network is not an OCTET STRING")
        out.append(_v2_network(buf[cs:ce]))
        pos = ce
    return out


def _v2_validate(
    is_ca: bool, networks: list[IPInterface], unsafe: list[IPInterface], public_key: bytes
) -> None:
    """The structural checks nebula's certificateV2.validate applies on unmarshal."""
    if not public_key:
        raise NebulaCertificateError("invalid certificate: missing public key")
    if not is_ca and not networks:
        raise NebulaCertificateError(
            "invalid certificate: non-CA certificate must contain at least 1 network"
        )
    for n in networks:
        if n.ip.is_unspecified:
            raise NebulaCertificateError(f"invalid certificate: network uses the zero address: {n}")
        if isinstance(n, ipaddress.IPv6Interface) and n.ip.ipv4_mapped is not None:
            raise NebulaCertificateError(f"invalid certificate: 4in6 networks are not allowed: {n}")
    if len({(n.ip, n.network.prefixlen) for n in networks}) != len(networks):
        raise NebulaCertificateError("invalid certificate: duplicate network")
    has_v4 = any(n.version == 4 for n in networks)
    has_v6 = any(n.version == 6 for n in networks)
    for u in unsafe:
        if not is_ca and ((u.version == 4 and not has_v4) or (u.version == 6 and not has_v6)):
            raise NebulaCertificateError(
                f"invalid certificate: IPv{u.version} unsafe networks require an IPv{u.version} "
                f"address assignment: {u}"
            )
    if len({(n.ip, n.network.prefixlen) for n in unsafe}) != len(unsafe):
        raise NebulaCertificateError("invalid certificate: duplicate unsafe network")


def parse_v2(raw: bytes) -> NebulaCertificate:
    """Parse a v2 (ASN.1 DER) certificate."""
    raw = bytes(raw)
    if not raw or len(raw) > _MAX_CERT_SIZE:
        raise NebulaCertificateError("malformed certificate: bad size")
    tag, pos, end = _der_next(raw, 0, len(raw))
    if tag != _T_SEQUENCE or end != len(raw):
        raise NebulaCertificateError("malformed certificate: not a single DER SEQUENCE")

    tag, dcs, dce = _der_next(raw, pos, end)
    if tag != _T_CERT_DETAILS or dce == dcs:
        raise NebulaCertificateError("malformed certificate: missing details")
    details_raw = raw[pos:dce]
    pos = dce

    curve_num = 0
    public_key = b""
    if pos < end and raw[pos] == _T_CERT_CURVE:
        _, cs, ce = _der_next(raw, pos, end)
        if ce - cs != 1:
            raise NebulaCertificateError("malformed certificate: bad curve")
        curve_num = raw[cs]
        pos = ce
    if curve_num not in (0, 1):
        raise NebulaCertificateError(f"unsupported certificate curve {curve_num}")
    if pos < end and raw[pos] == _T_CERT_PUBKEY:
        _, cs, ce = _der_next(raw, pos, end)
        public_key = raw[cs:ce]
        pos = ce
    if not public_key:
        # An absent key is nebula's handshake-only form; it cannot be verified on its own.
        raise NebulaCertificateError("malformed certificate: missing public key")
    tag, cs, ce = _der_next(raw, pos, end)
    if tag != _T_CERT_SIG or ce == cs:
        raise NebulaCertificateError("malformed certificate: missing signature")
    signature = raw[cs:ce]
    if ce != end:
        # nebula ignores this, but it is neither signed nor fingerprinted, so there is no honest use for it.
        raise NebulaCertificateError("malformed certificate: trailing data after signature")

    # ---- details
    pos, end = dcs, dce
    tag, cs, ce = _der_next(raw, pos, end)
    if tag != _T_D_NAME or ce == cs or ce - cs > _MAX_NAME_LEN:
        raise NebulaCertificateError("malformed certificate: bad name")
    try:
        name = raw[cs:ce].decode("utf-8")
    except UnicodeDecodeError:
        raise NebulaCertificateError("malformed certificate: name is not valid UTF-8") from None
    pos = ce

    def optional(tag_wanted: int) -> tuple[int, int] | None:
        nonlocal pos
        if pos < end and raw[pos] == tag_wanted:
            _, s, e = _der_next(raw, pos, end)
            pos = e
            return s, e
        return None

    networks: list[IPInterface] = []
    unsafe: list[IPInterface] = []
    groups: list[str] = []
    if (span := optional(_T_D_NETWORKS)) is not None:
        networks = _v2_read_networks(raw, *span)
    if (span := optional(_T_D_UNSAFE)) is not None:
        unsafe = _v2_read_networks(raw, *span)
    if (span := optional(_T_D_GROUPS)) is not None:
        gpos, gend = span
        while gpos < gend:
            tag, cs, ce = _der_next(raw, gpos, gend)
            if tag != _T_UTF8 or ce == cs:
                raise NebulaCertificateError("malformed certificate: bad group")
            try:
                groups.append(raw[cs:ce].decode("utf-8"))
            except UnicodeDecodeError:
                raise NebulaCertificateError("malformed certificate: group is not valid UTF-8") from None
            gpos = ce
    is_ca = False
    if (span := optional(_T_D_ISCA)) is not None:
        if span[1] - span[0] != 1:
            raise NebulaCertificateError("malformed certificate: bad isCA")
        is_ca = raw[span[0]] > 0
    times = []
    for t in (_T_D_NOTBEFORE, _T_D_NOTAFTER):
        span = optional(t)
        if span is None:
            raise NebulaCertificateError("malformed certificate: missing validity time")
        times.append(_der_parse_int64(raw[span[0] : span[1]]))
    issuer = b""
    if (span := optional(_T_D_ISSUER)) is not None:
        issuer = raw[span[0] : span[1]]
    # Anything after issuer is a future extension ("..." in cert_v2.asn1); it is covered by the signature,
    # and nebula skips it, so we do too.

    curve = _CURVES[curve_num]
    _v2_validate(is_ca, networks, unsafe, public_key)
    _check_public_key(curve, public_key)
    signed = details_raw + bytes([curve_num]) + public_key
    return NebulaCertificate(
        version=2,
        name=name,
        ips=tuple(networks),
        subnets=tuple(unsafe),
        groups=tuple(groups),
        not_before=_from_unix(times[0]),
        not_after=_from_unix(times[1]),
        public_key=public_key,
        is_ca=is_ca,
        issuer=issuer.hex(),
        curve=curve,
        fingerprint=hashlib.sha256(signed + signature).hexdigest(),
        signature=signature,
        raw=raw,
        details_raw=details_raw,
        signed_data=signed,
    )


def _encode_v2_details(
    *,
    name: str,
    networks: Iterable[IPInterface],
    unsafe_networks: Iterable[IPInterface],
    groups: Iterable[str],
    is_ca: bool,
    not_before: int,
    not_after: int,
    issuer: bytes,
) -> bytes:
    # nebula sorts networks before marshalling (validate() sorts in place); mirror that ordering.
    def ordered(ifaces: Iterable[IPInterface]) -> list[IPInterface]:
        return sorted(ifaces, key=lambda n: (n.version, int(n.ip), n.network.prefixlen))

    body = _der_tlv(_T_D_NAME, name.encode())
    nets = ordered(networks)
    if nets:
        body += _der_tlv(
            _T_D_NETWORKS, b"".join(_der_tlv(_T_OCTET_STRING, _v2_network_bytes(n)) for n in nets)
        )
    uns = ordered(unsafe_networks)
    if uns:
        body += _der_tlv(_T_D_UNSAFE, b"".join(_der_tlv(_T_OCTET_STRING, _v2_network_bytes(n)) for n in uns))
    groups = list(groups)
    if groups:
        body += _der_tlv(_T_D_GROUPS, b"".join(_der_tlv(_T_UTF8, g.encode()) for g in groups))
    if is_ca:
        body += _der_tlv(_T_D_ISCA, b"\xff")
    body += _der_tlv(_T_D_NOTBEFORE, _der_int_content(not_before))
    body += _der_tlv(_T_D_NOTAFTER, _der_int_content(not_after))
    if issuer:
        body += _der_tlv(_T_D_ISSUER, issuer)
    return _der_tlv(_T_CERT_DETAILS, body)


def _encode_v2_certificate(details_raw: bytes, curve_num: int, public_key: bytes, signature: bytes) -> bytes:
    body = details_raw
    if curve_num:
        body += _der_tlv(_T_CERT_CURVE, bytes([curve_num]))
    body += _der_tlv(_T_CERT_PUBKEY, public_key) + _der_tlv(_T_CERT_SIG, signature)
    return _der_tlv(_T_SEQUENCE, body)


# ---- entry points --------------------------------------------------------------------------------------


def parse_der(raw: bytes) -> NebulaCertificate:
    """Parse raw certificate bytes (e.g. the base64-decoded ``nebula`` JWS header): v1 first, then v2."""
    try:
        return parse_v1(raw)
    except NebulaCertificateError as v1_err:
        try:
            return parse_v2(raw)
        except NebulaCertificateError as v2_err:
            raise NebulaCertificateError(
                f"not a Nebula certificate (as v1: {v1_err}; as v2: {v2_err})"
            ) from None


_PEM_RE = re.compile(
    rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----",
    re.DOTALL,
)


def _pem_blocks(data: bytes | str) -> Iterator[tuple[str, bytes]]:
    if isinstance(data, str):
        data = data.encode()
    for m in _PEM_RE.finditer(data):
        body = m.group(2)
        if b":" in body:
            raise NebulaCertificateError("PEM headers are not supported")
        try:
            decoded = base64.b64decode(b"".join(body.split()), validate=True)
        except binascii.Error:
            raise NebulaCertificateError(f"invalid base64 in {m.group(1).decode()} PEM block") from None
        yield m.group(1).decode(), decoded


def _pem_encode(banner: str, der: bytes) -> bytes:
    b64 = base64.b64encode(der).decode()
    lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
    return (f"-----BEGIN {banner}-----\n" + "\n".join(lines) + f"\n-----END {banner}-----\n").encode()


def parse_pem(data: bytes | str) -> list[NebulaCertificate]:
    """Parse every certificate in a PEM bundle.  Non-certificate PEM blocks are an error (as in nebula);
    text between blocks (comments) is ignored."""
    certs = []
    for banner, der in _pem_blocks(data):
        if banner == CERT_BANNER_V1:
            certs.append(parse_v1(der))
        elif banner == CERT_BANNER_V2:
            certs.append(parse_v2(der))
        else:
            raise NebulaCertificateError(f"unexpected PEM block {banner!r}, want a Nebula certificate")
    if not certs:
        raise NebulaCertificateError("no Nebula certificate PEM block found")
    return certs


_KEY_BANNERS: dict[str, tuple[Curve, int]] = {
    "NEBULA X25519 PRIVATE KEY": ("CURVE25519", 32),
    "NEBULA ED25519 PRIVATE KEY": ("CURVE25519", 64),
    "NEBULA P256 PRIVATE KEY": ("P256", 32),
    "NEBULA ECDSA P256 PRIVATE KEY": ("P256", 32),
}


def load_private_key_pem(pem: bytes | str) -> tuple[Curve, bytes]:
    """Load the first PEM private key nebula-cert wrote.

    Returns ``(curve, raw)``: X25519 host keys are 32 bytes, Ed25519 CA keys 64 bytes (Go's seed||public
    layout), P-256 keys (host or CA) the 32-byte big-endian scalar.  The length tells X25519 from Ed25519.
    """
    for banner, raw in _pem_blocks(pem):
        if "ENCRYPTED" in banner:
            raise NebulaCertificateError(f"encrypted private keys are not supported ({banner})")
        if banner not in _KEY_BANNERS:
            raise NebulaCertificateError(f"unexpected PEM block {banner!r}, want a Nebula private key")
        curve, size = _KEY_BANNERS[banner]
        if len(raw) != size:
            raise NebulaCertificateError(f"{banner}: key is {len(raw)} bytes, want {size}")
        return curve, raw
    raise NebulaCertificateError("no Nebula private key PEM block found")


# --------------------------------------------------------------------------------------------------------
# CA pool
# --------------------------------------------------------------------------------------------------------


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
        _require_aware(now, "now")
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


# --------------------------------------------------------------------------------------------------------
# Issuing (tests and tooling: nebula-cert 1.6.1 can make neither P-256 nor v2 certificates)
# --------------------------------------------------------------------------------------------------------


def sign_certificate(
    *,
    name: str,
    public_key: bytes,
    signing_key: bytes,
    not_before: datetime,
    not_after: datetime,
    ips: Iterable[IPInterface] = (),
    subnets: Iterable[IPInterface] = (),
    groups: Iterable[str] = (),
    is_ca: bool = False,
    curve: Curve = "CURVE25519",
    issuer: NebulaCertificate | None = None,
    version: int = 1,
) -> NebulaCertificate:
    """Build and sign a certificate.  ``issuer=None`` makes it self-signed.

    ``signing_key``: for CURVE25519 an Ed25519 key (32-byte seed or nebula's 64-byte seed||public); for
    P256 the 32-byte scalar.  Deliberately performs **no** CA-constraint checks so tests can build
    certificates that a verifier must reject.
    """
    ips, subnets, groups = tuple(ips), tuple(subnets), tuple(groups)
    issuer_b = bytes.fromhex(issuer.fingerprint) if issuer is not None else b""
    nb, na = _to_unix(not_before), _to_unix(not_after)
    if version == 1:
        details = _encode_v1_details(
            name=name,
            ips=ips,
            subnets=subnets,
            groups=groups,
            not_before=nb,
            not_after=na,
            public_key=public_key,
            is_ca=is_ca,
            issuer=issuer_b,
            curve=_CURVE_NUM[curve],
        )
        to_sign = details
    elif version == 2:
        details = _encode_v2_details(
            name=name,
            networks=ips,
            unsafe_networks=subnets,
            groups=groups,
            is_ca=is_ca,
            not_before=nb,
            not_after=na,
            issuer=issuer_b,
        )
        to_sign = details + bytes([_CURVE_NUM[curve]]) + public_key
    else:
        raise ValueError(f"unknown certificate version {version}")

    if curve == "CURVE25519":
        signature = ed25519.Ed25519PrivateKey.from_private_bytes(signing_key[:32]).sign(to_sign)
    else:
        key = ec.derive_private_key(int.from_bytes(signing_key, "big"), ec.SECP256R1())
        signature = key.sign(to_sign, ec.ECDSA(hashes.SHA256()))

    if version == 1:
        return parse_v1(_encode_v1_certificate(details, signature))
    return parse_v2(_encode_v2_certificate(details, _CURVE_NUM[curve], public_key, signature))


# --------------------------------------------------------------------------------------------------------
# Edwards25519 arithmetic for XEdDSA (https://signal.org/docs/specifications/xeddsa/)
#
# Only signing needs a scalar multiplication with an arbitrary scalar, which `cryptography` does not
# expose; verification converts the key and hands off to the library's Ed25519.  This arithmetic is NOT
# constant time: fine for verifying and for test/client signing, not for a long-lived signing service.
# --------------------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------------------
# JWS signatures made with Nebula keys
# --------------------------------------------------------------------------------------------------------


def _expected_alg(cert: NebulaCertificate) -> str:
    if cert.curve == "P256":
        return "ES256"
    # CURVE25519 CA certificates carry an Ed25519 signing key; hosts carry an X25519 key (step-ca nebula.go).
    return "EdDSA" if cert.is_ca else "XEdDSA"


def verify_jws_signature(cert: NebulaCertificate, alg: str, signing_input: bytes, signature: bytes) -> bool:
    """Verify a JWS signature made with the key in ``cert``.  ``alg`` must match the key type:
    XEdDSA (X25519 host keys), ES256 (P-256, raw r||s), EdDSA (CURVE25519 CA keys)."""
    if alg != _expected_alg(cert):
        return False
    if alg == "XEdDSA":
        return xeddsa_verify(cert.public_key, signing_input, signature)
    if alg == "EdDSA":
        try:
            ed25519.Ed25519PublicKey.from_public_bytes(cert.public_key).verify(signature, signing_input)
        except (InvalidSignature, ValueError):
            return False
        return True
    if len(signature) != 64:
        return False
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    try:
        key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), cert.public_key)
        key.verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True


def jws_sign(curve: Curve, private_key: bytes, signing_input: bytes) -> tuple[str, bytes]:
    """Sign a JWS signing input with a key from :func:`load_private_key_pem`; returns ``(alg, signature)``."""
    if curve == "P256":
        key = ec.derive_private_key(int.from_bytes(private_key, "big"), ec.SECP256R1())
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        return "ES256", r.to_bytes(32, "big") + s.to_bytes(32, "big")
    if len(private_key) == 64:
        return "EdDSA", ed25519.Ed25519PrivateKey.from_private_bytes(private_key[:32]).sign(signing_input)
    return "XEdDSA", xeddsa_sign(private_key, signing_input)
