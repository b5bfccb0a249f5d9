"""Server side of the Nebula provisioner (docs/reference/wire.md §5, Nebula row): one-time tokens signed with the key of a
Nebula host certificate that the provisioner's Nebula CAs issued; the certificate travels in the `nebula`
JWS header and decides which names the client may have.

No x509-revoke and no ssh-revoke: step-ca answers them with an explicit 401, and so does the kernel for a
capability a type does not implement.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from typing import Any

from attrs import define, frozen
from cryptography import x509

from plica.api import (
    AuthorityView,
    ConfigError,
    Forbidden,
    Provisioner,
    ProvisionerConfig,
    ProvisionerType,
    SignRequest,
    SSHAuthorization,
    SSHOptions,
    SSHSignRequest,
    Token,
    Unauthorized,
    X509Authorization,
    check_token_claims,
    csr_common_name,
    csr_sans,
    hookimpl,
    j,
    provides,
    split_sans,
)
from plica_nebula.cert import (
    NebulaCAPool,
    NebulaCertificate,
    NebulaCertificateError,
    parse_der,
    parse_pem,
    verify_jws_signature,
)
from plica_nebula.identity import NebulaIdentity, template_view

HEADER = "nebula"


@define(kw_only=True)
class NebulaConfig(ProvisionerConfig):
    roots: Any = j("roots", default=None)


TYPE = ProvisionerType(
    name="Nebula",
    type_id=11,
    config_class=NebulaConfig,
    identifier_types={"ip-address": True, "hardware-id": False, "service-account": False},
    description="one-time tokens signed with the key of a Nebula host certificate issued by the provisioner's "
    "Nebula CA",
)
provisioner_types = provides(TYPE)


@frozen
class NebulaState:
    pool: NebulaCAPool
    fragment: str


@frozen
class Verified:
    cert: NebulaCertificate
    identity: NebulaIdentity


def load_pool(value: Any) -> NebulaCAPool:
    """`roots` as ca.json holds it (Go []byte): standard base64 of PEM Nebula CA certificates."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError("roots", "is required: standard base64 of the PEM of the Nebula CA certificate(s)")
    if value.lstrip().startswith("-----BEGIN"):
        raise ConfigError("roots", "must be the standard base64 of the PEM text, not the PEM text itself")
    try:
        pem = base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError("roots", "is not valid standard base64 (it must be base64 of PEM text)") from None
    try:
        return NebulaCAPool(parse_pem(pem))
    except NebulaCertificateError as e:
        raise ConfigError("roots", f"cannot be used as Nebula CA certificates: {e}") from None


@hookimpl
def provisioner_load(provisioner: Provisioner, authority: AuthorityView) -> None:
    cfg: NebulaConfig = provisioner.config
    if not cfg.name:
        raise ConfigError("name", "is required")
    provisioner.state = NebulaState(pool=load_pool(cfg.roots), fragment=f"nebula/{provisioner.name}")


@hookimpl
def provisioner_token_keys(provisioner: Provisioner) -> list[str]:
    return [provisioner.state.fragment]


def header_certificate(token: Token) -> NebulaCertificate:
    value = token.header.get(HEADER)
    if value is None:
        raise Unauthorized("token is not valid: the 'nebula' header is missing")
    if not isinstance(value, str):
        raise Unauthorized("token is not valid: the 'nebula' header must be a base64 string")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise Unauthorized("token is not valid: the 'nebula' header is not standard base64") from None
    try:
        return parse_der(raw)
    except NebulaCertificateError as e:
        raise Unauthorized(
            f"token is not valid: the 'nebula' header holds no Nebula certificate ({e})"
        ) from None


def _verify(provisioner: Provisioner, token: Token, audiences: frozenset[str]) -> Verified:
    state: NebulaState = provisioner.state
    cert = header_certificate(token)
    try:
        state.pool.verify(cert, dt.datetime.now(dt.UTC))
    except NebulaCertificateError as e:
        raise Unauthorized(
            f"token is not valid: the Nebula certificate does not verify against the provisioner's CA: {e}"
        ) from None
    alg = token.header.get("alg", "")
    # The certificate's own key signs the token: that proves possession, not just a copy of the certificate.
    if not verify_jws_signature(cert, str(alg), token.signing_input, token.signature):
        raise Unauthorized(
            f"token signature does not verify with the key of the Nebula certificate of {cert.name!r} "
            f"(forged or altered token, or 'alg' {alg!r} does not fit its {cert.curve} key)"
        )
    check_token_claims(provisioner, token, audiences, fragment=state.fragment)
    return Verified(cert=cert, identity=NebulaIdentity.of(cert))


def _token_sans(claims: dict[str, Any], identity: NebulaIdentity) -> list[str]:
    raw = claims.get("sans")
    if isinstance(raw, list) and raw:
        if not all(isinstance(s, str) and s for s in raw):
            raise Unauthorized("token claim 'sans' must be a list of non-empty strings")
        return list(raw)
    return identity.default_names()


@hookimpl
def authorize_sign(
    provisioner: Provisioner, token: Token, request: SignRequest, authority: AuthorityView
) -> X509Authorization:
    v = _verify(provisioner, token, authority.audiences.sign)
    sub = token.subject
    sans = _token_sans(token.claims, v.identity)
    # The token is signed by the host itself, so what it claims is checked against its Nebula certificate
    # like the CSR is (step-ca validates only the CSR, which would let a token name any SANs).
    v.identity.check_subject(sub, "token subject")
    v.identity.check_names(split_sans(sans), "token SANs")

    def check(csr: x509.CertificateSigningRequest) -> None:
        cn = csr_common_name(csr)
        if cn and cn != sub:
            raise Forbidden(f"certificate request has common name {cn!r}, but the token's subject is {sub!r}")
        v.identity.check_names(csr_sans(csr), "certificate request names")

    return X509Authorization(
        subject=sub,
        sans=sans,
        check_csr=check,
        token_id=token.id,
        credential_id="",
        token_claims=token.claims,
        not_before=v.cert.not_before,
        not_after=v.cert.not_after,
        authorization_crt=template_view(v.cert),
    )


@hookimpl
def authorize_ssh_host_sign(
    provisioner: Provisioner, token: Token, request: SSHSignRequest, authority: AuthorityView
) -> SSHAuthorization:
    v = _verify(provisioner, token, authority.audiences.ssh_sign)
    # Without step.ssh (or its principals) the principals are the certificate's name and addresses.
    opts = SSHOptions.from_token(token, optional=True, default_principals=v.identity.default_names())
    if opts.cert_type not in ("", "host"):
        raise Forbidden(f"ssh certificate type does not match - got {opts.cert_type!r}, want 'host'")
    v.identity.check_principals(opts.principals)
    # The token names no template data (step-ca's Nebula provisioner takes none from it).
    return opts.authorize(
        "host", token, template_data={}, authorization_crt=template_view(v.cert), not_after=v.cert.not_after
    )
