"""Building OCSP responses (RFC 6960) with `cryptography.x509.ocsp`, and the responder's own certificate.

Every failure to read a request is the RFC's `malformedRequest`; a request about another CA's certificate
is `unauthorized` (RFC 5019 §2.2.3); nothing a client sends reaches a 500.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp

from plica.api import AuthorityView, read_tlv

log = logging.getLogger("plica.ocsp")

RESPONDER_LIFETIME = dt.timedelta(hours=24)
# How long an answer may be relied on (nextUpdate); a revocation is in every answer made after it.
RESPONSE_VALIDITY = dt.timedelta(hours=1)
MAX_NONCE = 32  # octets (RFC 8954 §2.1)

# RFC 5280 reasonCode → the reason an OCSP answer carries; 0 (unspecified) and 7 (unused) carry none.
_REASONS = {
    1: x509.ReasonFlags.key_compromise,
    2: x509.ReasonFlags.ca_compromise,
    3: x509.ReasonFlags.affiliation_changed,
    4: x509.ReasonFlags.superseded,
    5: x509.ReasonFlags.cessation_of_operation,
    6: x509.ReasonFlags.certificate_hold,
    8: x509.ReasonFlags.remove_from_crl,
    9: x509.ReasonFlags.privilege_withdrawn,
    10: x509.ReasonFlags.aa_compromise,
}
_HASHES: tuple[hashes.HashAlgorithm, ...] = (hashes.SHA1(), hashes.SHA256(), hashes.SHA384(), hashes.SHA512())

MALFORMED = ocsp.OCSPResponseBuilder.build_unsuccessful(
    ocsp.OCSPResponseStatus.MALFORMED_REQUEST
).public_bytes(serialization.Encoding.DER)
UNAUTHORIZED = ocsp.OCSPResponseBuilder.build_unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED).public_bytes(
    serialization.Encoding.DER
)


def _digest(alg: hashes.HashAlgorithm, data: bytes) -> bytes:
    h = hashes.Hash(alg)
    h.update(data)
    return h.finalize()


def issuer_hashes(issuer: x509.Certificate) -> set[tuple[str, bytes, bytes]]:
    """(hash name, issuerNameHash, issuerKeyHash) of `issuer` for every hash a request may use (RFC 6960
    §4.1.1: the key hash is over the subjectPublicKey BIT STRING's value, without tag, length and the
    unused-bits octet)."""
    spki = issuer.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    _, body, _ = read_tlv(spki)
    _, _, rest = read_tlv(body)  # the AlgorithmIdentifier
    _, bits, _ = read_tlv(rest)
    name = issuer.subject.public_bytes()
    return {(a.name, _digest(a, name), _digest(a, bits[1:])) for a in _HASHES}


class Responder:
    """One worker's responder: its key (in memory only), its certificate and the issuer it answers for."""

    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    def __init__(self, authority: AuthorityView) -> None:
        self.authority = authority
        self.issuer = authority.intermediates[0]
        self.hashes = issuer_hashes(self.issuer)

    async def renew(self) -> None:
        """A new key and certificate (at start, then before the certificate expires)."""
        key = ec.generate_private_key(ec.SECP256R1())
        cert = await self.authority.issue_ocsp_responder(key.public_key(), lifetime=RESPONDER_LIFETIME)
        self.key, self.cert = key, cert  # swapped together: a response never pairs one with the other's

    async def renew_forever(self) -> None:
        while True:
            renew_at = self.cert.not_valid_after_utc - RESPONDER_LIFETIME / 3
            await asyncio.sleep(max(1.0, (renew_at - dt.datetime.now(dt.UTC)).total_seconds()))
            try:
                await self.renew()
                log.info("renewed the OCSP responder certificate (serial %x)", self.cert.serial_number)
            except Exception:
                log.exception("could not renew the OCSP responder certificate; retrying in a minute")
                await asyncio.sleep(60)

    async def respond(self, der: bytes) -> tuple[bytes, bool]:
        """The DER OCSPResponse for the DER OCSPRequest `der`, and whether it may be cached (no nonce)."""
        try:
            req = ocsp.load_der_ocsp_request(der)
            alg = req.hash_algorithm
            name_hash, key_hash, serial = req.issuer_name_hash, req.issuer_key_hash, req.serial_number
            nonce: bytes | None = None
            try:
                nonce = req.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
            except x509.ExtensionNotFound:
                pass
        except (ValueError, UnsupportedAlgorithm, TypeError):
            return MALFORMED, False
        if nonce is not None and not 1 <= len(nonce) <= MAX_NONCE:
            return MALFORMED, False
        if (alg.name, name_hash, key_hash) not in self.hashes:
            return UNAUTHORIZED, False
        status = await self.authority.certificate_status(serial)
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        cert_status = {
            "good": ocsp.OCSPCertStatus.GOOD,
            "revoked": ocsp.OCSPCertStatus.REVOKED,
            "unknown": ocsp.OCSPCertStatus.UNKNOWN,
        }[status.status]
        revoked = status.status == "revoked"
        key, cert = self.key, self.cert
        builder = (
            ocsp.OCSPResponseBuilder()
            .add_response_by_hash(
                issuer_name_hash=name_hash,
                issuer_key_hash=key_hash,
                serial_number=serial,
                algorithm=alg,
                cert_status=cert_status,
                this_update=now,
                next_update=now + RESPONSE_VALIDITY,
                revocation_time=status.revoked_at if revoked else None,
                revocation_reason=_REASONS.get(status.reason_code or 0) if revoked else None,
            )
            .responder_id(ocsp.OCSPResponderEncoding.HASH, cert)
            .certificates([cert])
        )
        if nonce is not None:
            builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
        return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER), nonce is None
