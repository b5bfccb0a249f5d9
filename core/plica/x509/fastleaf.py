"""The default leaf certificate assembled as DER directly: the hot path of /sign.

cryptography's CertificateBuilder costs ~200 µs per leaf, of which the signature is ~35 µs; the rest is
building and encoding objects that are the same for every leaf of a CA. Here everything constant
(issuer, signature algorithm, key usages, AKI) is encoded once, and each leaf costs a few small
concatenations plus the signature. The bytes are exactly what the builder writes for the same inputs
(tests/test_leafder.py compares the TBS byte for byte).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from plica.asn1 import der_int, der_oid, read_tlv, tlv
from plica.x509.kmssign import throwaway_key

_OID_KU = bytes.fromhex("0603551d0f")
_OID_EKU = bytes.fromhex("0603551d25")
_OID_SKI = bytes.fromhex("0603551d0e")
_OID_AKI = bytes.fromhex("0603551d23")
_OID_SAN = bytes.fromhex("0603551d11")
_TRUE = bytes.fromhex("0101ff")
_VERSION_3 = bytes.fromhex("a003020102")


def extension(oid_der: bytes, critical: bool, value_der: bytes) -> bytes:
    return tlv(0x30, oid_der + (_TRUE if critical else b"") + tlv(0x04, value_der))


def der_time(t: dt.datetime) -> bytes:
    """UTCTime before 2050, GeneralizedTime from then on (RFC 5280 §4.1.2.5), whole seconds."""
    t = t.astimezone(dt.UTC)
    hms = f"{t.month:02d}{t.day:02d}{t.hour:02d}{t.minute:02d}{t.second:02d}Z"
    if 1950 <= t.year < 2050:
        return tlv(0x17, f"{t.year % 100:02d}{hms}".encode())
    return tlv(0x18, f"{t.year:04d}{hms}".encode())


def _raw_tlv(data: bytes) -> tuple[bytes, bytes]:
    """(the first TLV of `data` as it is encoded, what follows it)."""
    _, _, rest = read_tlv(data)
    return data[: len(data) - len(rest)], rest


def _key_id(spki: bytes) -> bytes:
    """RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits (without the unused-bits octet)."""
    _, body, _ = read_tlv(spki)
    _, _, after_alg = read_tlv(body)
    _, bits, _ = read_tlv(after_alg)
    return hashlib.sha1(bits[1:]).digest()


class LeafEncoder:
    """Encodes and signs default leaves for one issuing CA."""

    def __init__(
        self, issuer: x509.Certificate, public_key: Any, hash_alg: hashes.HashAlgorithm | None, akid: Any
    ) -> None:
        self.hash_alg = hash_alg
        self.issuer_der = issuer.subject.public_bytes()
        self.aki_ext = extension(_OID_AKI, False, akid.public_bytes())
        # The signature AlgorithmIdentifier as cryptography writes it for a key of this kind: read it once
        # from a certificate signed by a throwaway key of that kind rather than keeping a table of encodings.
        probe = (
            x509.CertificateBuilder()
            .subject_name(issuer.subject)
            .issuer_name(issuer.subject)
            .public_key(public_key)
            .serial_number(1)
            .not_valid_before(dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
            .not_valid_after(dt.datetime(2020, 1, 2, tzinfo=dt.UTC))
            .sign(throwaway_key(public_key), hash_alg)
        )
        _, body, _ = read_tlv(probe.public_bytes(serialization.Encoding.DER))
        _, _, rest = read_tlv(body)  # skip the TBS
        tag, alg, _ = read_tlv(rest)
        self.sig_alg_der = tlv(tag, alg)
        self._ext_cache: dict[tuple[int, bool], bytes] = {}

    def constant_extension(self, value: x509.ExtensionType, critical: bool) -> bytes:
        """KU/EKU values are a handful of module constants: encode each once."""
        key = (id(value), critical)
        der = self._ext_cache.get(key)
        if der is None:
            oid = _OID_KU if isinstance(value, x509.KeyUsage) else _OID_EKU
            der = extension(oid, critical, value.public_bytes())
            self._ext_cache[key] = der
        return der

    def tbs(
        self,
        *,
        serial: int,
        subject: x509.Name,
        public_key: Any,
        not_before: dt.datetime,
        not_after: dt.datetime,
        key_usage: x509.KeyUsage,
        ext_key_usage: x509.ExtendedKeyUsage | None,
        san: x509.SubjectAlternativeName | None,
        san_critical: bool,
        extra: Sequence[tuple[str, bytes]] = (),
    ) -> bytes:
        """The DER of a leaf's to-be-signed part. `extra` holds (dotted OID, DER value) of non-critical
        extensions."""
        spki = public_key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        exts = [self.constant_extension(key_usage, True)]
        if ext_key_usage is not None:
            exts.append(self.constant_extension(ext_key_usage, False))
        exts.append(extension(_OID_SKI, False, tlv(0x04, _key_id(spki))))
        exts.append(self.aki_ext)
        if san is not None:
            exts.append(extension(_OID_SAN, san_critical, san.public_bytes()))
        for oid, value in extra:
            exts.append(extension(der_oid(oid), False, value))
        return self._tbs(serial, not_before, not_after, subject.public_bytes(), spki, exts)

    def renewed_tbs(
        self,
        old: x509.Certificate,
        *,
        serial: int,
        not_before: dt.datetime,
        not_after: dt.datetime,
        public_key: Any = None,
    ) -> bytes:
        """The to-be-signed part of `old`'s renewal (`plica.x509.renew`): a new serial, this CA as issuer, the
        new validity, and `old`'s subject, key and extensions as they are encoded — except its AKI, which
        becomes this CA's and goes last, and, for a rekey (`public_key`), the key and its SKI. What
        CertificateBuilder makes of the same certificate (tests/test_leafder.py compares them), without
        decoding and encoding every extension and signing twice (~150 µs of a renewal)."""
        _, body, _ = read_tlv(old.tbs_certificate_bytes)
        tag, _, after_version = read_tlv(body)
        rest = after_version if tag == 0xA0 else body  # v1 has no version field
        for _ in range(3):  # serial, signature algorithm, issuer
            _, _, rest = read_tlv(rest)
        _, _, rest = read_tlv(rest)  # validity
        subject, rest = _raw_tlv(rest)
        spki, rest = _raw_tlv(rest)
        if public_key is not None:
            spki = public_key.public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        exts: list[bytes] = []
        while rest:
            tag, content, rest = read_tlv(rest)
            if tag != 0xA3:  # issuer/subject unique IDs: not carried over (nor by the builder)
                continue
            _, seq, _ = read_tlv(content)
            while seq:
                ext, seq = _raw_tlv(seq)
                _, ext_body, _ = read_tlv(ext)
                _, oid, after_oid = read_tlv(ext_body)
                if oid == _OID_AKI[2:]:
                    continue
                if oid == _OID_SKI[2:] and public_key is not None:
                    critical = after_oid.startswith(_TRUE)
                    ext = extension(_OID_SKI, critical, tlv(0x04, _key_id(spki)))
                exts.append(ext)
        exts.append(self.aki_ext)
        return self._tbs(serial, not_before, not_after, subject, spki, exts)

    def _tbs(
        self,
        serial: int,
        not_before: dt.datetime,
        not_after: dt.datetime,
        subject: bytes,
        spki: bytes,
        exts: list[bytes],
    ) -> bytes:
        """A v3 TBSCertificate issued by this CA: `subject` and `spki` as DER, `exts` as encoded extensions."""
        return tlv(
            0x30,
            _VERSION_3
            + der_int(serial)
            + self.sig_alg_der
            + self.issuer_der
            + tlv(0x30, der_time(not_before) + der_time(not_after))
            + subject
            + spki
            + tlv(0xA3, tlv(0x30, b"".join(exts))),
        )

    def signed(self, tbs: bytes, signature: bytes) -> bytes:
        """The certificate: `tbs` with the CA key's `signature` of it (X.509 form)."""
        return tlv(0x30, tbs + self.sig_alg_der + tlv(0x03, b"\x00" + signature))
