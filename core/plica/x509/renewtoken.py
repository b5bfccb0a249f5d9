"""The renew token (docs/reference/wire.md §5a): `Authorization: Bearer <JWT>` with an `x5cInsecure` header holding the
certificate to renew, signed with that certificate's key. Lets a client renew an expired certificate (when
the provisioner allows it) where mTLS cannot present one."""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from plica.errors import Unauthorized
from plica.tokens import Token

if TYPE_CHECKING:
    from plica.authority import Authority


def verify_issued_by_ca(a: Authority, leaf: x509.Certificate, chain: list[x509.Certificate]) -> None:
    """The leaf must chain to this CA's roots through its intermediates (time is not checked here)."""
    candidates = [*chain, *a.material.chain]
    current = leaf
    for _ in range(4):
        for root in a.material.roots:
            if current.issuer == root.subject:
                try:
                    current.verify_directly_issued_by(root)
                    return
                except (InvalidSignature, ValueError, TypeError):
                    pass
        parent = next((c for c in candidates if c.subject == current.issuer), None)
        if parent is None:
            break
        try:
            current.verify_directly_issued_by(parent)
        except (InvalidSignature, ValueError, TypeError):
            raise Unauthorized("certificate in the renew token was not issued by this CA") from None
        current = parent
    raise Unauthorized("certificate in the renew token does not chain to this CA's roots")


def authorize_renew_token(a: Authority, raw: str) -> tuple[x509.Certificate, str]:
    """The certificate a renew token presents, and the token's id; Unauthorized for anything amiss."""
    token = Token.parse(raw)
    chain_b64 = token.header.get("x5cInsecure")
    if not isinstance(chain_b64, list) or not chain_b64:
        raise Unauthorized("renew token has no x5cInsecure header")
    try:
        chain = [x509.load_der_x509_certificate(base64.b64decode(c)) for c in chain_b64]
    except (binascii.Error, ValueError, TypeError):
        raise Unauthorized("renew token x5cInsecure header holds an invalid certificate") from None
    leaf = chain[0]
    verify_issued_by_ca(a, leaf, chain[1:])
    try:
        ku = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
        if not ku.digital_signature:
            raise Unauthorized("certificate in the renew token lacks the digitalSignature key usage")
    except x509.ExtensionNotFound:
        pass
    token.verify(leaf.public_key(), what="renew token")  # type: ignore[arg-type]
    token.check_times()
    cn = leaf.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    cn_value = cn[0].value if cn else ""
    if token.subject != cn_value:
        raise Unauthorized("renew token subject does not match the certificate's common name")
    token.check_audience(a.audiences.renew)
    # Expiry of the certificate itself is checked by the renew policy (allowRenewalAfterExpiry).
    return leaf, token.id
