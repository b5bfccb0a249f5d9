"""v1 certificates (``NEBULA CERTIFICATE``): protobuf ``RawNebulaCertificate{Details=1, Signature=2}``.

The CA signature covers the protobuf encoding of ``Details`` *as nebula re-marshals it* (nebula decodes and
re-encodes before checking), and the fingerprint is SHA-256 of the re-marshalled whole certificate.  We
therefore re-encode canonically too, so unknown fields or non-canonical encodings are treated exactly as
nebula treats them.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable

from plica_nebula.cert.certificate import (
    CURVE_NUM,
    CURVES,
    Details,
    IPInterface,
    NebulaCertificate,
    check_public_key,
)
from plica_nebula.cert.errors import NebulaCertificateError
from plica_nebula.cert.protobuf import (
    WT_LEN,
    WT_VARINT,
    encode_varint,
    field_key,
    iter_fields,
    len_field,
    read_string,
    read_uint32s,
)

# Details fields that may occur once, with the wire type each must have; 2, 3 (IPs, Subnets) and 4 (Groups)
# repeat.
_SINGULAR = {1: WT_LEN, 5: WT_VARINT, 6: WT_VARINT, 7: WT_LEN, 8: WT_VARINT, 9: WT_LEN, 100: WT_VARINT}


def _pairs_to_ifaces(raw: list[int], what: str) -> tuple[ipaddress.IPv4Interface, ...]:
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


def _ifaces_to_pairs(ifaces: Iterable[IPInterface]) -> list[int]:
    out: list[int] = []
    for iface in ifaces:
        if iface.version != 4:
            raise ValueError(f"v1 certificates only carry IPv4 networks, got {iface}")
        out += [int(iface.ip), int(iface.netmask)]
    return out


def encode_details(d: Details) -> bytes:
    """Canonical proto3 encoding as Go's proto.Marshal writes it: field order, defaults omitted, packed."""
    out = bytearray()
    if d.name:
        out += len_field(1, d.name.encode())
    for num, ifaces in ((2, d.ips), (3, d.subnets)):
        pairs = _ifaces_to_pairs(ifaces)
        if pairs:
            out += len_field(num, b"".join(encode_varint(v) for v in pairs))
    for g in d.groups:
        out += len_field(4, g.encode())
    if d.not_before:
        out += field_key(5, WT_VARINT) + encode_varint(d.not_before)
    if d.not_after:
        out += field_key(6, WT_VARINT) + encode_varint(d.not_after)
    if d.public_key:
        out += len_field(7, d.public_key)
    if d.is_ca:
        out += field_key(8, WT_VARINT) + b"\x01"
    if d.issuer:
        out += len_field(9, d.issuer)
    if CURVE_NUM[d.curve]:
        out += field_key(100, WT_VARINT) + encode_varint(CURVE_NUM[d.curve])
    return bytes(out)


def encode_certificate(details: bytes, signature: bytes) -> bytes:
    # Details is a non-nil message in nebula, so it is always written, even when empty.
    return len_field(1, details) + (len_field(2, signature) if signature else b"")


def _split_certificate(raw: bytes) -> tuple[bytes, bytes]:
    """The encoded Details and the signature of a RawNebulaCertificate."""
    details: bytes | None = None
    signature = b""
    seen: set[int] = set()
    for num, wt, value in iter_fields(raw):
        if num in (1, 2):
            if wt != WT_LEN or num in seen:
                # Duplicates are legal protobuf (merge/last-wins) but nebula never writes them; refusing
                # them keeps "what we parsed" and "what was signed" trivially the same thing.
                raise NebulaCertificateError("malformed certificate: bad or repeated top-level field")
            seen.add(num)
            assert isinstance(value, bytes)
            if num == 1:
                details = value
            else:
                signature = value
    if details is None:
        raise NebulaCertificateError("malformed certificate: encoded Details was nil")
    return details, signature


def _decode_details(encoded: bytes) -> Details:
    name = ""
    ips_raw: list[int] = []
    subnets_raw: list[int] = []
    groups: list[str] = []
    not_before = not_after = 0
    public_key = b""
    is_ca = False
    issuer = b""
    curve_num = 0
    seen: set[int] = set()
    for num, wt, value in iter_fields(encoded):
        if num == 2:
            read_uint32s(wt, value, ips_raw)
        elif num == 3:
            read_uint32s(wt, value, subnets_raw)
        elif num == 4:
            if wt != WT_LEN:
                raise NebulaCertificateError("malformed certificate: bad wire type for Groups")
            groups.append(read_string(value))
        elif num in _SINGULAR:
            if wt != _SINGULAR[num] or num in seen:
                raise NebulaCertificateError(f"malformed certificate: bad or repeated Details field {num}")
            seen.add(num)
            if num == 1:
                name = read_string(value)
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
    curve = CURVES[curve_num]
    check_public_key(curve, public_key)
    ips, subnets = _pairs_to_ifaces(ips_raw, "IPs"), _pairs_to_ifaces(subnets_raw, "Subnets")
    # In Details' field order (the locals bear the field names).
    return Details(name, ips, subnets, tuple(groups), not_before, not_after, public_key, is_ca, issuer, curve)


def parse_v1(raw: bytes) -> NebulaCertificate:
    """Parse a v1 (protobuf) certificate."""
    raw = bytes(raw)
    if not raw:
        raise NebulaCertificateError("malformed certificate: empty input")
    encoded, signature = _split_certificate(raw)
    details = _decode_details(encoded)
    details_raw = encode_details(details)
    canonical = encode_certificate(details_raw, signature)
    return details.certificate(
        1,
        signature=signature,
        raw=raw,
        details_raw=details_raw,
        signed_data=details_raw,
        fingerprint=hashlib.sha256(canonical).hexdigest(),
    )
