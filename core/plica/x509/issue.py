"""Issuing an X.509 leaf: /sign's authorization, then steps 3-4 of the pipeline (docs/design.md "The pipeline")
that protocol plugins (ACME, SCEP) reach through `Authority.issue`: subject defaults, validity within the
claims, the name policy, the provisioner extension, the signature (the default leaf or the provisioner's
template) and the stored record, together with the one-time token."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.x509.oid import NameOID

from plica.asn1 import PROVISIONER_OID, ProvisionerExtension
from plica.certdesc.data import x509_data
from plica.certdesc.defaults import X509_TEMPLATES
from plica.certdesc.render import render_x509
from plica.certdesc.signing import signing_params
from plica.certdesc.subject import SubjectAlternativeName
from plica.csr import check_public_key
from plica.errors import BadRequest, Forbidden, InternalError, Unauthorized
from plica.names import SANs, csr_sans, sans_of, split_sans
from plica.pki import random_serial
from plica.rendering import render_step
from plica.snapshot import Snapshot
from plica.stages import next_step
from plica.storage import Storage, TokenReused
from plica.storage.base import IssuedCert
from plica.storage.names import common_name, x509_column, x509_names
from plica.types import Provisioner, SignRequest, X509Authorization

if TYPE_CHECKING:
    from plica.authority import Authority

# ca.json `authority.template` keys in the order their attributes go into a default leaf's subject.
_DN_OIDS = [
    ("country", NameOID.COUNTRY_NAME),
    ("province", NameOID.STATE_OR_PROVINCE_NAME),
    ("locality", NameOID.LOCALITY_NAME),
    ("streetAddress", NameOID.STREET_ADDRESS),
    ("organization", NameOID.ORGANIZATION_NAME),
    ("organizationalUnit", NameOID.ORGANIZATIONAL_UNIT_NAME),
    ("serialNumber", NameOID.SERIAL_NUMBER),
    ("commonName", NameOID.COMMON_NAME),
]


async def sign(a: Authority, ott: str, request: SignRequest) -> list[x509.Certificate]:
    """/sign: the token's provisioner authorizes the request (its type's hook, only that one), then the
    leaf is issued."""
    try:
        token, prov = a.parse_token(ott)
        auth: X509Authorization = a.hook(prov, "x509-sign")(
            provisioner=prov, token=token, request=request, authority=a
        )
    except Exception:
        if a.meter is not None:  # refused before issuing; `Authority.issue` counts the rest
            a.meter.count("x509", "signed", False)
        raise
    await next_step()  # authorized: the leaves of this turn's requests are built together (plica.stages)
    return await a.issue(prov, auth, request)


async def issue(
    a: Authority, prov: Provisioner, auth: X509Authorization, request: SignRequest
) -> list[x509.Certificate]:
    """Steps 3-4 of the pipeline for an authorized X.509 leaf; returns it and the intermediates."""
    csr = request.csr
    if auth.check_csr is not None:
        auth.check_csr(csr)
    public_key = request.public_key if request.public_key is not None else csr.public_key()
    check_public_key(public_key)
    now = a.now()
    snap = a.snapshot
    cert: x509.Certificate
    names: str | None = None  # the template path reads them from the certificate it built
    template = prov.x509_template
    if template is None and auth.default_template is not None:
        template = X509_TEMPLATES[auth.default_template]
    if template is not None:
        cert = await _issue_from_template(a, prov, auth, request, public_key, now, template)
    else:
        not_before, not_after = validity(snap, prov, auth, request.not_before, request.not_after, now)
        if auth.csr_passthrough:
            subject = csr.subject
            sans = csr_sans(csr)
        else:
            cn = auth.subject
            sans = split_sans(auth.sans if auth.sans is not None else [])
            if auth.force_cn and not cn:
                if not sans.dns:
                    raise BadRequest("forceCN is set but the request has no DNS name to use as common name")
                cn = sans.dns[0]
            try:
                subject = _subject(snap.subject_defaults, cn)
            except ValueError as e:  # e.g. a common name longer than 64 characters
                raise BadRequest(f"the certificate subject is not valid: {e}") from None
        try:
            san = x509.SubjectAlternativeName(sans.general_names()) if sans else None
        except ValueError as e:  # e.g. a DNS name that is not ASCII (an IDN must come as its A-label)
            raise BadRequest(f"a subject alternative name is not valid: {e}") from None
        check_policy(snap, prov, subject, sans)
        extra: list[x509.ExtensionType] = []
        if not prov.claims.disable_smallstep_extensions:
            extra.append(provisioner_extension(prov, auth))
        extra.extend(snap.leaf_urls.extensions)
        # The inventory's names are what went into the leaf: no need to decode them back out of it.
        names = x509_column(common_name(subject), sans.values())
        cert = await a.material.sign_leaf(
            public_key=public_key,
            subject=subject,
            san=san,
            san_critical=len(subject) == 0,
            not_before=not_before,
            not_after=not_after,
            extra_extensions=extra,
        )
    await store_x509(a.storage, cert, prov, auth.token_id, names=names)
    return [cert, *a.material.chain]


def _subject(defaults: dict[str, str], cn: str) -> x509.Name:
    """The default leaf's subject: ca.json's `authority.template` attributes, then the common name (the
    template's own when the authorization names none)."""
    attrs: list[x509.NameAttribute[str]] = []
    if defaults:
        for key, oid in _DN_OIDS:
            if key in defaults and key != "commonName":
                attrs.append(x509.NameAttribute(oid, defaults[key]))
        if not cn:
            cn = defaults.get("commonName", "")
    if cn:
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


def provisioner_extension(prov: Provisioner, auth: X509Authorization) -> x509.UnrecognizedExtension:
    return ProvisionerExtension(
        type=prov.type.type_id,
        name=prov.name,
        credential_id=auth.credential_id,
        key_value_pairs=tuple(auth.key_value_pairs),
    ).extension()


def validity(
    snap: Snapshot,
    prov: Provisioner,
    auth: X509Authorization,
    req_nb: dt.datetime | None,
    req_na: dt.datetime | None,
    now: dt.datetime,
    tmpl_nb: dt.datetime | None = None,
    tmpl_na: dt.datetime | None = None,
) -> tuple[dt.datetime, dt.datetime]:
    """notBefore/notAfter: the request's, else the template's, else now (backdated) and the default
    duration; within the claims and the authorizing credential's own validity."""
    backdate = snap.backdate
    # X5C/Nebula: the default is capped at the credential's expiry.
    nb, na = prov.claims.tls.window(
        req_nb or tmpl_nb, req_na or tmpl_na, now=now, backdate=backdate, cap=auth.not_after
    )
    if auth.not_before is not None and nb < auth.not_before - backdate:
        raise Forbidden("requested notBefore is before the authorizing credential's notBefore")
    if auth.not_after is not None and na > auth.not_after:
        raise Forbidden("requested notAfter is after the authorizing credential's notAfter")
    return nb, na


def check_policy(snap: Snapshot, prov: Provisioner, subject: x509.Name, sans: SANs) -> None:
    """The authority's name policy, then the provisioner's."""
    for pol in (snap.policy, prov.policy):
        if pol is not None:
            pol.check_x509(subject, sans)


async def _issue_from_template(
    a: Authority,
    prov: Provisioner,
    auth: X509Authorization,
    request: SignRequest,
    public_key: Any,
    now: dt.datetime,
    template: str,
) -> x509.Certificate:
    snap = a.snapshot
    material = a.material
    csr = request.csr
    sans: list[str] | list[SubjectAlternativeName] | None = auth.sans
    if auth.san_entries is not None:
        sans = [SubjectAlternativeName(Type=e["type"], Value=e["value"]) for e in auth.san_entries]
    data = x509_data(
        auth.subject,
        sans,
        auth.token_claims,
        csr,
        provisioner_data={**(prov.x509_template_data or {}), **auth.template_data},
        user=request.template_data,
        authorization_crt=auth.authorization_crt,
    )
    desc = render_step(prov, lambda: render_x509(template, data, name=f"{prov.name} x509"))
    urls = snap.leaf_urls
    # ca.json's AIA/CDP URLs where the template says nothing of its own.
    if urls.extensions and not (
        desc.ocsp_server or desc.issuing_certificate_url or desc.crl_distribution_points
    ):
        desc = attrs.evolve(
            desc,
            ocsp_server=urls.ocsp_server,
            issuing_certificate_url=urls.issuing_certificate_url,
            crl_distribution_points=urls.crl_distribution_points,
        )
    nb, na = validity(
        snap, prov, auth, request.not_before, request.not_after, now, desc.not_before, desc.not_after
    )
    ext = None
    if not prov.claims.disable_smallstep_extensions:
        ext = x509.Extension(PROVISIONER_OID, False, provisioner_extension(prov, auth))
    # desc.apply sets subject, issuer, public key and extensions itself (a builder refuses a second
    # set); a template's own copy of the provisioner extension is replaced in place.
    builder = render_step(
        prov,
        lambda: desc.apply(
            x509.CertificateBuilder(),
            issuer_cert=material.intermediate,
            public_key=public_key,
            subject_defaults=snap.subject_defaults,
            provisioner_extension=ext,
        ),
    )
    builder = builder.not_valid_before(nb).not_valid_after(na)
    builder = builder.serial_number(desc.serial_number if desc.serial_number is not None else random_serial())
    params = render_step(
        prov,
        lambda: signing_params(
            desc.signature_algorithm or "",
            material.intermediate_signer.public_key,
            ca_cert=material.intermediate,
        ),
    )
    try:
        cert = await material.sign_builder(
            builder, params.algorithm, pss=isinstance(params.rsa_padding, padding.PSS)
        )
    except ValueError as e:
        raise InternalError(
            f"error applying the x509 template of provisioner {prov.name!r}: {e}", detail=str(e)
        ) from None
    # What the template produced is only known once it is built: check the names on the result (a
    # refused certificate is never stored or returned).
    check_policy(snap, prov, cert.subject, sans_of(cert.extensions))
    return cert


def issued_cert(cert: x509.Certificate, prov: Provisioner | None, names: str | None = None) -> IssuedCert:
    """The stored record of `cert`; a certificate renewed without a provisioner extension has none.
    `names` is the inventory's names column when the caller knows it (else read from `cert`)."""
    return IssuedCert(
        serial=str(cert.serial_number),
        der=cert.public_bytes(serialization.Encoding.DER),
        provisioner_id=prov.id if prov else "",
        provisioner_name=prov.name if prov else "",
        provisioner_type=prov.type.name if prov else "",
        not_after=int(cert.not_valid_after_utc.timestamp()),
        names=x509_column(*x509_names(cert)) if names is None else names,
    )


async def store_x509(
    storage: Storage,
    cert: x509.Certificate,
    prov: Provisioner,
    token_id: str | None,
    *,
    names: str | None = None,
) -> None:
    """Store `cert` and spend its one-time token in one write; a spent token is 401."""
    try:
        await storage.store_x509(issued_cert(cert, prov, names), token_id=token_id)
    except TokenReused:
        raise Unauthorized("token already used") from None
