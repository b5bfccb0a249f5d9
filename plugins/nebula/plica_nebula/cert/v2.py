"""v2 certificates (``NEBULA CERTIFICATE V2``, nebula >= 1.10): DER ``SEQUENCE { [0] details,
[1] curve OPTIONAL, [2] publicKey, [3] signature }``, read and written with the kernel's DER helpers.

The signature covers ``rawDetails || curve-byte || publicKey`` where rawDetails is the whole ``[0]``
element (tag and length included), and the fingerprint is SHA-256 of
``rawDetails || curve-byte || publicKey || signature`` (not of the DER envelope).
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable

from plica.api import DERError, der_elements, der_read_strict, int_content, int_value, tlv
from plica_nebula.cert.certificate import (
    CURVES,
    Curve,
    Details,
    IPInterface,
    NebulaCertificate,
    check_public_key,
)
from plica_nebula.cert.errors import NebulaCertificateError

# nebula's own limits (cert/cert_v2.go); applied to v2 where nebula applies them.
_MAX_CERT_SIZE = 65536
_MAX_NAME_LEN = 253

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


# ---- networks ------------------------------------------------------------------------------------------


def _network(content: bytes) -> IPInterface:
    # netip.Prefix binary form: 4 or 16 address bytes followed by one prefix-length byte.
    if len(content) == 5 and content[4] <= 32:
        return ipaddress.IPv4Interface((content[:4], content[4]))
    if len(content) == 17 and content[16] <= 128:
        return ipaddress.IPv6Interface((content[:16], content[16]))
    raise NebulaCertificateError("malformed certificate: bad network encoding")


def _read_networks(buf: bytes, start: int, end: int) -> list[IPInterface]:
    out = []
    for tag, cs, ce in der_elements(buf, start, end):
        if tag != _T_OCTET_STRING:
            raise NebulaCertificateError("malformed certificate: network is not an OCTET STRING")
        out.append(_network(buf[cs:ce]))
    return out


def _networks_tlv(tag: int, networks: Iterable[IPInterface]) -> bytes:
    """The networks as netip.Prefix OCTET STRINGs, in the order nebula sorts them before marshalling
    (its validate() sorts in place); nothing when there are none."""
    ordered = sorted(networks, key=lambda n: (n.version, int(n.ip), n.network.prefixlen))
    if not ordered:
        return b""
    return tlv(
        tag, b"".join(tlv(_T_OCTET_STRING, n.ip.packed + bytes([n.network.prefixlen])) for n in ordered)
    )


def _validate(is_ca: bool, networks: list[IPInterface], unsafe: list[IPInterface], public_key: bytes) -> None:
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


# ---- parsing -------------------------------------------------------------------------------------------


def signed_data(details_raw: bytes, curve_num: int, public_key: bytes) -> bytes:
    """What the CA signs (the fingerprint adds the signature to it)."""
    return details_raw + bytes([curve_num]) + public_key


def parse_v2(raw: bytes) -> NebulaCertificate:
    """Parse a v2 (ASN.1 DER) certificate."""
    raw = bytes(raw)
    if not raw or len(raw) > _MAX_CERT_SIZE:
        raise NebulaCertificateError("malformed certificate: bad size")
    try:
        return _parse(raw)
    except DERError as e:
        raise NebulaCertificateError(f"malformed certificate: {e}") from None


def _parse(raw: bytes) -> NebulaCertificate:
    tag, pos, end = der_read_strict(raw)
    if tag != _T_SEQUENCE or end != len(raw):
        raise NebulaCertificateError("malformed certificate: not a single DER SEQUENCE")

    tag, dcs, dce = der_read_strict(raw, pos, end)
    if tag != _T_CERT_DETAILS or dce == dcs:
        raise NebulaCertificateError("malformed certificate: missing details")
    details_raw = raw[pos:dce]
    pos = dce

    curve_num = 0
    public_key = b""
    if pos < end and raw[pos] == _T_CERT_CURVE:
        _, cs, ce = der_read_strict(raw, pos, end)
        if ce - cs != 1:
            raise NebulaCertificateError("malformed certificate: bad curve")
        curve_num = raw[cs]
        pos = ce
    if curve_num not in (0, 1):
        raise NebulaCertificateError(f"unsupported certificate curve {curve_num}")
    if pos < end and raw[pos] == _T_CERT_PUBKEY:
        _, cs, ce = der_read_strict(raw, pos, end)
        public_key = raw[cs:ce]
        pos = ce
    if not public_key:
        # An absent key is nebula's handshake-only form; it cannot be verified on its own.
        raise NebulaCertificateError("malformed certificate: missing public key")
    tag, cs, ce = der_read_strict(raw, pos, end)
    if tag != _T_CERT_SIG or ce == cs:
        raise NebulaCertificateError("malformed certificate: missing signature")
    signature = raw[cs:ce]
    if ce != end:
        # nebula ignores this, but it is neither signed nor fingerprinted, so there is no honest use for it.
        raise NebulaCertificateError("malformed certificate: trailing data after signature")

    details = _parse_details(raw, dcs, dce, CURVES[curve_num], public_key)
    signed = signed_data(details_raw, curve_num, public_key)
    return details.certificate(
        2,
        signature=signature,
        raw=raw,
        details_raw=details_raw,
        signed_data=signed,
        fingerprint=hashlib.sha256(signed + signature).hexdigest(),
    )


def _parse_details(raw: bytes, pos: int, end: int, curve: Curve, public_key: bytes) -> Details:
    """The ``[0]`` details element's content, ``raw[pos:end]``; the curve and key sit outside it."""
    tag, cs, ce = der_read_strict(raw, pos, end)
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
            _, s, e = der_read_strict(raw, pos, end)
            pos = e
            return s, e
        return None

    networks: list[IPInterface] = []
    unsafe: list[IPInterface] = []
    groups: list[str] = []
    if (span := optional(_T_D_NETWORKS)) is not None:
        networks = _read_networks(raw, *span)
    if (span := optional(_T_D_UNSAFE)) is not None:
        unsafe = _read_networks(raw, *span)
    if (span := optional(_T_D_GROUPS)) is not None:
        for tag, cs, ce in der_elements(raw, *span):
            if tag != _T_UTF8 or ce == cs:
                raise NebulaCertificateError("malformed certificate: bad group")
            try:
                groups.append(raw[cs:ce].decode("utf-8"))
            except UnicodeDecodeError:
                raise NebulaCertificateError("malformed certificate: group is not valid UTF-8") from None
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
        times.append(_int64(raw[span[0] : span[1]]))
    issuer = b""
    if (span := optional(_T_D_ISSUER)) is not None:
        issuer = raw[span[0] : span[1]]
    # Anything after issuer is a future extension ("..." in cert_v2.asn1); it is covered by the signature,
    # and nebula skips it, so we do too.

    _validate(is_ca, networks, unsafe, public_key)
    check_public_key(curve, public_key)
    not_before, not_after = times
    # v2's networks and unsafe networks are v1's IPs and subnets; the arguments are in Details' field order.
    ips, subnets = tuple(networks), tuple(unsafe)
    return Details(name, ips, subnets, tuple(groups), not_before, not_after, public_key, is_ca, issuer, curve)


def _int64(content: bytes) -> int:
    value = int_value(content)
    if len(content) > 8:
        raise NebulaCertificateError("malformed certificate: ASN.1 integer does not fit in int64")
    return value


# ---- encoding ------------------------------------------------------------------------------------------


def encode_details(d: Details) -> bytes:
    """The ``[0]`` details element (tag and length included) for ``d``; its curve and key go outside it."""
    body = tlv(_T_D_NAME, d.name.encode())
    body += _networks_tlv(_T_D_NETWORKS, d.ips)
    body += _networks_tlv(_T_D_UNSAFE, d.subnets)
    if d.groups:
        body += tlv(_T_D_GROUPS, b"".join(tlv(_T_UTF8, g.encode()) for g in d.groups))
    if d.is_ca:
        body += tlv(_T_D_ISCA, b"\xff")
    body += tlv(_T_D_NOTBEFORE, int_content(d.not_before))
    body += tlv(_T_D_NOTAFTER, int_content(d.not_after))
    if d.issuer:
        body += tlv(_T_D_ISSUER, d.issuer)
    return tlv(_T_CERT_DETAILS, body)


def encode_certificate(details_raw: bytes, curve_num: int, public_key: bytes, signature: bytes) -> bytes:
    body = details_raw
    if curve_num:
        body += tlv(_T_CERT_CURVE, bytes([curve_num]))
    body += tlv(_T_CERT_PUBKEY, public_key) + tlv(_T_CERT_SIG, signature)
    return tlv(_T_SEQUENCE, body)
