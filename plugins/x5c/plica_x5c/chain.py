"""The `x5c` header: parsing the certificate chain a token carries and verifying it to the provisioner's roots.

step-ca verifies with Go's `x509.Verify` (EKU clientAuth) and then requires KU digitalSignature on the leaf.
We build and check the path with `cryptography.x509.verification` (signatures, validity at the time, CA-ness,
path length, name chaining) but with permissive extension policies, because its default web-PKI profile
demands SANs and AKIs that Go never asks for; the usage rules Go applies are checked here instead.
Each failure says which check failed, so a client can tell an expired certificate from a foreign chain.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Sequence
from typing import Any

from attrs import frozen
from cryptography import x509
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID

from plica.api import Unauthorized

# A token carries a leaf and its intermediates; a longer list is noise (or an attempt to make us work).
MAX_CHAIN_CERTS = 10

_CA_POLICY = verification.ExtensionPolicy.permit_all().require_present(
    x509.BasicConstraints, verification.Criticality.AGNOSTIC, None
)
_EE_POLICY = verification.ExtensionPolicy.permit_all()
_CLIENT_AUTH = ExtendedKeyUsageOID.CLIENT_AUTH
_ANY_EKU = ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE


class RootsError(ValueError):
    """The provisioner's `roots` cannot be used; the message names what is wrong."""


@frozen
class TrustAnchors:
    """The provisioner's roots, parsed once at load time."""

    roots: tuple[x509.Certificate, ...]
    store: verification.Store


def load_roots(value: Any) -> TrustAnchors:
    """`roots` as ca.json holds it: standard base64 of a PEM bundle with at least one certificate."""
    if not isinstance(value, str) or not value.strip():
        raise RootsError("is required: standard base64 of a PEM bundle of root certificates")
    try:
        pem = base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):
        raise RootsError("is not valid standard base64 (it must be base64 of PEM text)") from None
    if b"-----BEGIN CERTIFICATE-----" not in pem:
        raise RootsError("holds no PEM certificate (expected base64 of '-----BEGIN CERTIFICATE-----' blocks)")
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError as e:
        raise RootsError(f"holds a certificate that cannot be parsed: {e}") from None
    return TrustAnchors(roots=tuple(certs), store=verification.Store(certs))


def describe(cert: x509.Certificate) -> str:
    try:
        return repr(cert.subject.rfc4514_string() or "(empty subject)")
    except ValueError:
        return "(unreadable subject)"


def parse_header(value: Any) -> list[x509.Certificate]:
    """The `x5c` header: a list of standard-base64 DER certificates, leaf first (RFC 7515 §4.1.6)."""
    if value is None:
        raise Unauthorized("token has no 'x5c' header: an X5C token carries its certificate chain there")
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise Unauthorized("token 'x5c' header must be a non-empty list of base64 DER certificates")
    if len(value) > MAX_CHAIN_CERTS:
        raise Unauthorized(f"token 'x5c' header has {len(value)} certificates (at most {MAX_CHAIN_CERTS})")
    out = []
    for i, v in enumerate(value):
        try:
            out.append(x509.load_der_x509_certificate(base64.b64decode(v, validate=True)))
        except (binascii.Error, ValueError):
            raise Unauthorized(
                f"token 'x5c' header entry {i} is not a standard-base64 DER X.509 certificate"
            ) from None
    return out


def verify_chain(
    certs: Sequence[x509.Certificate], anchors: TrustAnchors, provisioner: str, now: dt.datetime
) -> list[x509.Certificate]:
    """Verify `certs` (leaf first) to `anchors` at `now`; return the verified path, leaf to root.

    Raises Unauthorized with a message that names the failed check (validity, chain, usages)."""
    leaf, untrusted = certs[0], list(certs[1:])
    builder = (
        verification.PolicyBuilder()
        .store(anchors.store)
        .time(now)
        .extension_policies(ca_policy=_CA_POLICY, ee_policy=_EE_POLICY)
    )
    try:
        path = builder.build_client_verifier().verify(leaf, untrusted).chain
    except verification.VerificationError as e:
        raise Unauthorized(_explain(leaf, untrusted, anchors, provisioner, now, e)) from None
    for cert in path:
        _check_eku(cert, cert is leaf)
    _check_leaf_key_usage(leaf)
    return list(path)


def _validity_problem(cert: x509.Certificate, role: str, now: dt.datetime) -> str | None:
    if now < cert.not_valid_before_utc:
        return (
            f"x5c {role} certificate {describe(cert)} is not valid yet "
            f"(notBefore {cert.not_valid_before_utc.isoformat()})"
        )
    if now > cert.not_valid_after_utc:
        return f"x5c {role} certificate {describe(cert)} expired on {cert.not_valid_after_utc.isoformat()}"
    return None


def _explain(
    leaf: x509.Certificate,
    untrusted: list[x509.Certificate],
    anchors: TrustAnchors,
    provisioner: str,
    now: dt.datetime,
    err: Exception,
) -> str:
    """Why a chain failed, checked in the order a person would: the leaf's dates, then the dates of the
    certificates above it (following issuer names), then everything else the path builder found."""
    problem = _validity_problem(leaf, "leaf", now)
    if problem:
        return problem
    seen = {id(leaf)}
    cert = leaf
    while True:
        issuer = next(
            (c for c in untrusted if id(c) not in seen and c.subject == cert.issuer),
            None,
        )
        if issuer is None:
            break
        seen.add(id(issuer))
        problem = _validity_problem(issuer, "intermediate", now)
        if problem:
            return problem
        cert = issuer
    for root in anchors.roots:
        if root.subject == cert.issuer:
            problem = _validity_problem(root, f"root (of provisioner {provisioner!r})", now)
            if problem:
                return problem
    top = cert.issuer.rfc4514_string()
    if not any(root.subject == cert.issuer for root in anchors.roots):
        reason = f"the chain ends at issuer {top!r}, which is not one of the provisioner's roots"
    else:
        reason = str(err).removeprefix("validation failed: ").removeprefix("candidates exhausted: ")
        reason = reason.split(" (encountered processing", 1)[0]
    return (
        f"x5c certificate chain of leaf {describe(leaf)} does not verify to the roots of provisioner "
        f"{provisioner!r}: {reason}"
    )


def _check_eku(cert: x509.Certificate, is_leaf: bool) -> None:
    # Go's rule: a certificate without the extension allows any usage; one with it must allow clientAuth
    # (or anyExtendedKeyUsage), and that holds for every certificate of the path, not only the leaf.
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return
    except ValueError as e:
        raise Unauthorized(f"x5c certificate {describe(cert)} has a malformed extension: {e}") from None
    if _CLIENT_AUTH not in eku and _ANY_EKU not in eku:
        role = "leaf" if is_leaf else "CA"
        raise Unauthorized(
            f"x5c {role} certificate {describe(cert)} does not allow client authentication "
            "(its extended key usage lacks clientAuth)"
        )


def _check_leaf_key_usage(leaf: x509.Certificate) -> None:
    try:
        ku = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        ku = None
    except ValueError as e:
        raise Unauthorized(f"x5c leaf certificate has a malformed extension: {e}") from None
    if ku is None or not ku.digital_signature:
        raise Unauthorized(
            f"x5c leaf certificate {describe(leaf)} cannot be used for digital signatures "
            "(its key usage lacks digitalSignature)"
        )
