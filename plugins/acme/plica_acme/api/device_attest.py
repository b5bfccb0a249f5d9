"""Finalizing a device-attest-01 order (as step-ca): the CSR must be for the key the device attested and
name nothing but the device; the certificate is step's DefaultAttestedLeafTemplate (unless the provisioner
has a template) with the permanentIdentifier SAN (RFC 4043), and templates read the attestation as
`.AttestationData`."""

from __future__ import annotations

import hmac
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from plica.api import X509Authorization, tlv

from ..attestation.common import spki_sha256
from ..problems import Problem
from ..store import AcmeStore

OID_PERMANENT_IDENTIFIER = x509.ObjectIdentifier("1.3.6.1.5.5.7.8.3")


async def check_csr(
    store: AcmeStore, order_id: str, device: str, csr: x509.CertificateSigningRequest
) -> dict[str, Any]:
    """The order's attestation, once the CSR is found to fit it (else badCSR / unauthorized)."""
    attested = await store.order_attestation(order_id)
    if attested is None:
        raise Problem("unauthorized", "the order's device-attest-01 authorization holds no attestation")
    if not hmac.compare_digest(spki_sha256(csr.public_key()), str(attested.get("spkiSHA256", ""))):
        raise Problem(
            "unauthorized",
            f"the CSR's public key is not the key the device attested ({attested.get('format')} attestation)",
        )
    cns = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    for cn in cns:
        v = cn.value if isinstance(cn.value, str) else cn.value.decode()
        if v != device:
            raise Problem(
                "badCSR", f"the CSR's common name {v!r} is not the order's permanent identifier {device!r}"
            )
    try:
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return attested
    except ValueError as e:
        raise Problem("badCSR", f"the CSR cannot be parsed: {e}") from None
    own = tlv(0x30, tlv(0x0C, device.encode("utf-8")))
    for g in san:
        if not (isinstance(g, x509.OtherName) and g.type_id == OID_PERMANENT_IDENTIFIER and g.value == own):
            raise Problem(
                "badCSR",
                f"the CSR asks for a {type(g).__name__} besides the permanent identifier {device!r}: "
                "a device-attest-01 certificate names only the device",
            )
    return attested


def authorization(
    csr: x509.CertificateSigningRequest, device: str, attested: dict[str, Any]
) -> X509Authorization:
    cns = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    cn = ""
    if cns:
        v = cns[0].value
        cn = v if isinstance(v, str) else v.decode()
    data = {"permanentIdentifier": device, "format": attested.get("format", ""), **attested.get("data", {})}
    return X509Authorization(
        subject=cn,
        sans=[],
        check_csr=None,  # check_csr above matched the CSR to the attestation and the identifier
        token_id=None,
        default_template="DefaultAttestedLeafTemplate",
        san_entries=[{"type": "permanentIdentifier", "value": device}],
        template_data={"AttestationData": data},
    )
