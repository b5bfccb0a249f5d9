"""Key usages and extended key usages (§1.5, §1.6): step's names, Go's bits and OIDs."""

from __future__ import annotations

from typing import Any

from cryptography import x509
from cryptography.x509.oid import ExtensionOID

from plica.asn1 import tlv

from .errors import DescriptionError
from .gojson import dec_multistring


def convert_name(name: str) -> str:
    """step's normalisation of usage names: lowercase, underscores removed (hyphens kept)."""
    return name.lower().replace("_", "")


# (canonical name, Go x509.KeyUsage bit), in Go's bit order, which is also the marshal order.
KEY_USAGES: tuple[tuple[str, int], ...] = (
    ("digitalSignature", 1 << 0),
    ("contentCommitment", 1 << 1),
    ("keyEncipherment", 1 << 2),
    ("dataEncipherment", 1 << 3),
    ("keyAgreement", 1 << 4),
    ("certSign", 1 << 5),
    ("crlSign", 1 << 6),
    ("encipherOnly", 1 << 7),
    ("decipherOnly", 1 << 8),
)
_KEY_USAGE_BY_NAME = {convert_name(n): bit for n, bit in KEY_USAGES} | {"nonrepudiation": 1 << 1}

# (canonical name, OID) for Go's named extended key usages.
EXT_KEY_USAGES: tuple[tuple[str, str], ...] = (
    ("any", "2.5.29.37.0"),
    ("serverAuth", "1.3.6.1.5.5.7.3.1"),
    ("clientAuth", "1.3.6.1.5.5.7.3.2"),
    ("codeSigning", "1.3.6.1.5.5.7.3.3"),
    ("emailProtection", "1.3.6.1.5.5.7.3.4"),
    ("ipsecEndSystem", "1.3.6.1.5.5.7.3.5"),
    ("ipsecTunnel", "1.3.6.1.5.5.7.3.6"),
    ("ipsecUser", "1.3.6.1.5.5.7.3.7"),
    ("timeStamping", "1.3.6.1.5.5.7.3.8"),
    ("ocspSigning", "1.3.6.1.5.5.7.3.9"),
    ("microsoftServerGatedCrypto", "1.3.6.1.4.1.311.10.3.3"),
    ("netscapeServerGatedCrypto", "2.16.840.1.113730.4.1"),
    ("microsoftCommercialCodeSigning", "1.3.6.1.4.1.311.2.1.22"),
    ("microsoftKernelCodeSigning", "1.3.6.1.4.1.311.61.1.1"),
)
_EKU_BY_NAME = {convert_name(n): oid for n, oid in EXT_KEY_USAGES}


def dec_key_usage(value: Any, path: str) -> int:
    bits = 0
    for name in dec_multistring(value, path):
        bit = _KEY_USAGE_BY_NAME.get(convert_name(name))
        if bit is None:
            raise DescriptionError(f"unsupported keyUsage {name}")
        bits |= bit
    return bits


def dec_ext_key_usage(value: Any, path: str) -> tuple[str, ...]:
    out = []
    for name in dec_multistring(value, path):
        oid = _EKU_BY_NAME.get(convert_name(name))
        if oid is None:
            raise DescriptionError(f"unsupported extKeyUsage {name}")
        out.append(oid)
    return tuple(out)


def key_usage_extension(bits: int) -> x509.ExtensionType:
    """The keyUsage value for Go's bit set (encipher/decipherOnly without keyAgreement is raw-encoded,
    since cryptography refuses that combination and Go does not)."""
    flags = {name: bool(bits & bit) for name, bit in KEY_USAGES}
    if (flags["encipherOnly"] or flags["decipherOnly"]) and not flags["keyAgreement"]:
        data = bytes([int(f"{bits & 0xFF:08b}"[::-1], 2), int(f"{(bits >> 8) & 0xFF:08b}"[::-1], 2)])
        data = data.rstrip(b"\x00") or b"\x00"
        last = data[-1]
        unused = (last & -last).bit_length() - 1 if last else 0
        return x509.UnrecognizedExtension(ExtensionOID.KEY_USAGE, tlv(0x03, bytes([unused]) + data))
    return x509.KeyUsage(
        digital_signature=flags["digitalSignature"],
        content_commitment=flags["contentCommitment"],
        key_encipherment=flags["keyEncipherment"],
        data_encipherment=flags["dataEncipherment"],
        key_agreement=flags["keyAgreement"],
        key_cert_sign=flags["certSign"],
        crl_sign=flags["crlSign"],
        encipher_only=flags["encipherOnly"],
        decipher_only=flags["decipherOnly"],
    )


__all__ = [
    "EXT_KEY_USAGES",
    "KEY_USAGES",
    "convert_name",
    "dec_ext_key_usage",
    "dec_key_usage",
    "key_usage_extension",
]
