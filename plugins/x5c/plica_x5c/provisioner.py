"""Server side of the X5C provisioner (api.md §5, X5C row): tokens signed with the key of an X.509
certificate whose chain, carried in the `x5c` header, verifies to the provisioner's roots."""

from __future__ import annotations

import datetime as dt
from typing import Any

from attrs import define, frozen
from cryptography import x509

from plica.api import (
    AuthorityView,
    Provisioner,
    ProvisionerType,
    RenewAuthorization,
    RevokeAuthorization,
    RevokeRequest,
    SignRequest,
    SSHAuthorization,
    SSHSignRequest,
    X509Authorization,
)
from plica.config import ProvisionerConfig, j
from plica.durations import resolve_time_duration
from plica.errors import ConfigError, Forbidden, Unauthorized
from plica.hookspecs import hookimpl
from plica.jose import verify_signature
from plica.names import check_csr_names, csr_common_name
from plica.tokens import Token, token_sans
from plica_x5c.chain import RootsError, TrustAnchors, load_roots, parse_header, verify_chain


@define(kw_only=True)
class X5CConfig(ProvisionerConfig):
    roots: Any = j("roots", default=None)


TYPE = ProvisionerType(
    name="X5C",
    type_id=7,
    config_class=X5CConfig,
    identifier_types={"ip-address": True, "hardware-id": True, "service-account": True},
    description="one-time tokens signed with the key of an X.509 certificate that chains to the provisioner's roots",
)


@frozen
class X5CState:
    anchors: TrustAnchors
    fragment: str


@frozen
class Verified:
    """A token whose chain, signature and claims passed: the claims and the authorizing leaf."""

    claims: dict[str, Any]
    leaf: x509.Certificate
    token_id: str


@hookimpl
def provisioner_types() -> list[ProvisionerType]:
    return [TYPE]


@hookimpl
def provisioner_load(provisioner: Provisioner, authority: AuthorityView) -> None:
    cfg: X5CConfig = provisioner.config
    if not cfg.name:
        raise ConfigError("name", "is required")
    try:
        anchors = load_roots(cfg.roots)
    except RootsError as e:
        raise ConfigError("roots", str(e)) from None
    provisioner.state = X5CState(anchors=anchors, fragment=f"x5c/{provisioner.name}")


@hookimpl
def provisioner_token_keys(provisioner: Provisioner) -> list[str]:
    return [provisioner.state.fragment]


def _verify(provisioner: Provisioner, token: Token, audiences: frozenset[str]) -> Verified:
    state: X5CState = provisioner.state
    chain = verify_chain(
        parse_header(token.header.get("x5c")),
        state.anchors,
        provisioner.name,
        dt.datetime.now(dt.UTC),
    )
    leaf = chain[0]
    alg = token.header.get("alg", "")
    # The leaf's key signs the token: that proves possession of the certificate, not just a copy of it.
    if alg == "none" or not verify_signature(alg, leaf.public_key(), token.signing_input, token.signature):  # type: ignore[arg-type]
        raise Unauthorized(
            f"x5c token signature does not verify with the public key of the x5c leaf certificate "
            f"(forged or altered token, or 'alg' {alg!r} does not fit the key)"
        )
    token.check_times()
    if token.issuer != provisioner.name:
        raise Unauthorized(f"token issuer {token.issuer!r} does not match provisioner {provisioner.name!r}")
    token.check_audience(audiences, fragment=state.fragment)
    token.require_subject()
    jti = token.claims.get("jti")
    token_id = jti if isinstance(jti, str) and jti else token.hash_id()
    return Verified(claims=token.claims, leaf=leaf, token_id=token_id)


@hookimpl
def authorize_sign(
    provisioner: Provisioner, token: Token, request: SignRequest, authority: AuthorityView
) -> X509Authorization:
    v = _verify(provisioner, token, authority.audiences.sign)
    sub = token.subject
    sans = token_sans(v.claims, sub)

    def check(csr: x509.CertificateSigningRequest) -> None:
        # step's commonNameValidator is stricter than JWK's: the CN must be the subject itself.
        cn = csr_common_name(csr)
        if cn and cn != sub:
            raise Forbidden(f"certificate request has common name {cn!r}, but the token's subject is {sub!r}")
        check_csr_names(csr, sub, sans)

    return X509Authorization(
        subject=sub,
        sans=sans,
        check_csr=check,
        token_id=v.token_id,
        credential_id="",
        token_claims=v.claims,
        not_before=v.leaf.not_valid_before_utc,
        not_after=v.leaf.not_valid_after_utc,
        authorization_crt=v.leaf,
    )


@hookimpl
def authorize_renew(
    provisioner: Provisioner, certificate: x509.Certificate, authority: AuthorityView
) -> RenewAuthorization | None:
    # The kernel has checked revocation, disableRenewal and expiry; X5C adds nothing (step: ctl.AuthorizeRenew).
    return None


@hookimpl
def authorize_revoke(
    provisioner: Provisioner, token: Token, request: RevokeRequest, authority: AuthorityView
) -> RevokeAuthorization:
    v = _verify(provisioner, token, authority.audiences.revoke)
    return RevokeAuthorization(token_id=v.token_id)


def _ssh(
    provisioner: Provisioner, token: Token, request: SSHSignRequest, authority: AuthorityView, cert_type: str
) -> SSHAuthorization:
    v = _verify(provisioner, token, authority.audiences.ssh_sign)
    step = v.claims.get("step")
    opts = step.get("ssh") if isinstance(step, dict) else None
    if not isinstance(opts, dict):
        raise Unauthorized("x5c token is not an SSH provisioning token (it has no step.ssh claim)")
    sub = token.subject
    tct = opts.get("certType") or ""
    if tct not in ("", "user", "host"):
        raise Unauthorized(f"token step.ssh.certType {tct!r} is not 'user' or 'host'")
    if tct and tct != cert_type:
        raise Forbidden(f"token is for a {tct} certificate, the request is for a {cert_type} certificate")
    # step validates the request's keyID against the token subject as well as the token's own keyID.
    if request.key_id and request.key_id != sub:
        raise Forbidden(f"requested keyID {request.key_id!r} does not match the token subject {sub!r}")
    key_id = opts.get("keyID") or sub
    principals = opts.get("principals") or [sub]
    if not isinstance(key_id, str):
        raise Unauthorized("token step.ssh.keyID must be a string")
    if not isinstance(principals, list) or not all(isinstance(p, str) for p in principals):
        raise Unauthorized("token step.ssh.principals must be a list of strings")
    try:
        now = dt.datetime.now(dt.UTC)
        va = resolve_time_duration(opts.get("validAfter") or None, now=now)
        vb = resolve_time_duration(opts.get("validBefore") or None, now=now, base=va or now)
    except (ValueError, TypeError):
        raise Unauthorized("token step.ssh validAfter/validBefore are not valid times") from None
    tdata = opts.get("templateData")
    return SSHAuthorization(
        cert_type=cert_type,  # type: ignore[arg-type]
        key_id=key_id,
        principals=list(principals),
        token_id=v.token_id,
        valid_after=va,
        valid_before=vb,
        token_claims=v.claims,
        template_data=tdata if isinstance(tdata, dict) else {},
        authorization_crt=v.leaf,
        not_after=v.leaf.not_valid_after_utc,
    )


@hookimpl
def authorize_ssh_user_sign(
    provisioner: Provisioner, token: Token, request: SSHSignRequest, authority: AuthorityView
) -> SSHAuthorization:
    return _ssh(provisioner, token, request, authority, "user")


@hookimpl
def authorize_ssh_host_sign(
    provisioner: Provisioner, token: Token, request: SSHSignRequest, authority: AuthorityView
) -> SSHAuthorization:
    return _ssh(provisioner, token, request, authority, "host")
