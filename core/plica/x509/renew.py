"""Renewing (and rekeying) an X.509 certificate this CA issued: /renew, /re-sign and /rekey.

The new certificate keeps the old one's subject, extensions and lifetime, starts now (backdated), and is
signed by the current intermediate. The provisioner named in its provisioner extension must still exist and
allow it (claims, then its type's `authorize_renew`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cryptography import x509

from plica.asn1 import ProvisionerExtension
from plica.csr import check_public_key
from plica.errors import Unauthorized
from plica.observe import note_provisioner
from plica.storage.names import x509_column, x509_names
from plica.types import Provisioner, RenewAuthorization
from plica.x509.issue import issued_cert, store_x509

if TYPE_CHECKING:
    from plica.authority import Authority


async def renew(
    a: Authority, cert: x509.Certificate, *, token_id: str | None = None, new_key: Any = None
) -> list[x509.Certificate]:
    """The renewed certificate (with `new_key` instead of the old key: rekey) and the intermediates."""
    serial = str(cert.serial_number)
    if await a.storage.is_x509_revoked(serial):
        raise Unauthorized(f"certificate with serial number {serial} has been revoked")
    ext = ProvisionerExtension.from_certificate(cert)
    prov: Provisioner | None = None
    if ext is not None:
        prov = a.snapshot.provisioners.by_name.get(ext.name)
        if prov is None or prov.type.type_id != ext.type:
            raise Unauthorized(f"provisioner {ext.name!r} that issued this certificate no longer exists")
        note_provisioner(prov.name)
    now = a.now()
    if prov is not None:
        if prov.claims.disable_renewal:
            raise Unauthorized(f"renew is disabled for provisioner {prov.name!r}")
        if now < cert.not_valid_before_utc:
            raise Unauthorized(
                f"certificate is not yet valid (notBefore {cert.not_valid_before_utc.isoformat()})"
            )
        if now > cert.not_valid_after_utc and not prov.claims.allow_renewal_after_expiry:
            raise Unauthorized(f"certificate expired on {cert.not_valid_after_utc.isoformat()}")
        ra: RenewAuthorization | None = a.hook(prov, "x509-renew")(
            provisioner=prov, certificate=cert, authority=a
        )
        if ra is not None and ra.token_id:
            token_id = token_id or ra.token_id
    elif now > cert.not_valid_after_utc:
        raise Unauthorized(f"certificate expired on {cert.not_valid_after_utc.isoformat()}")
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    nb = now - a.snapshot.backdate
    material = a.material
    new = await material.renew_leaf(cert, not_before=nb, not_after=nb + lifetime, new_key=new_key)
    # The renewal carries the old certificate's subject and SANs as they were encoded, and the old
    # certificate's extensions are decoded already (above): its names are the new one's, without
    # decoding every extension of the new certificate again.
    names = x509_column(*x509_names(cert))
    if prov is not None:
        await store_x509(a.storage, new, prov, token_id, names=names)
    else:
        await a.storage.store_x509(issued_cert(new, None, names), token_id=token_id)
    return [new, *material.chain]


async def rekey(
    a: Authority, cert: x509.Certificate, csr: x509.CertificateSigningRequest
) -> list[x509.Certificate]:
    """/rekey: renew `cert` (presented over mTLS) with the key of `csr`."""
    check_public_key(csr.public_key())
    return await renew(a, cert, new_key=csr.public_key())
