"""Server side of the JWK provisioner."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
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
    SSHRevokeAuthorization,
    SSHRevokeRequest,
    SSHSignRequest,
    X509Authorization,
)
from plica.config import ProvisionerConfig, j
from plica.durations import resolve_time_duration
from plica.errors import ConfigError, Forbidden, Unauthorized
from plica.hookspecs import hookimpl
from plica.jose import JOSEError, PublicKey, key_from_jwk, thumbprint
from plica.names import check_csr_names
from plica.tokens import Token, token_sans


@define(kw_only=True)
class JWKConfig(ProvisionerConfig):
    key: dict[str, Any] = j("key")
    encrypted_key: str | None = j("encryptedKey", default=None)


TYPE = ProvisionerType(
    name="JWK",
    type_id=1,
    config_class=JWKConfig,
    identifier_types={"ip-address": True, "hardware-id": True, "service-account": True},
    description="one-time tokens signed with the provisioner's key (step ca token)",
)


@frozen
class JWKState:
    key: PublicKey
    kid: str


@hookimpl
def provisioner_types() -> list[ProvisionerType]:
    return [TYPE]


@hookimpl
def provisioner_load(provisioner: Provisioner, authority: AuthorityView) -> None:
    cfg: JWKConfig = provisioner.config
    try:
        key = key_from_jwk(cfg.key)
    except JOSEError as e:
        raise ConfigError("key", str(e)) from None
    if hasattr(key, "private_bytes"):
        raise ConfigError("key", "must be a public key (the private key goes in encryptedKey, encrypted)")
    kid = cfg.key.get("kid") or thumbprint(cfg.key)
    provisioner.state = JWKState(key=key, kid=kid)  # type: ignore[arg-type]


@hookimpl
def provisioner_token_keys(provisioner: Provisioner) -> list[str]:
    return [f"{provisioner.name}:{provisioner.state.kid}"]


@hookimpl
def provisioner_encrypted_key(provisioner: Provisioner) -> str | None:
    return provisioner.config.encrypted_key


def _verify(provisioner: Provisioner, token: Token, audiences: frozenset[str]) -> dict[str, Any]:
    state: JWKState = provisioner.state
    token.verify(state.key)
    token.check_times()
    if token.issuer != provisioner.name:
        raise Unauthorized(f"token issuer {token.issuer!r} does not match provisioner {provisioner.name!r}")
    token.check_audience(audiences)
    token.require_subject()
    return token.claims


def _token_id(token: Token) -> str:
    jti = token.claims.get("jti")
    return jti if isinstance(jti, str) and jti else token.hash_id()


@hookimpl
def authorize_sign(
    provisioner: Provisioner, token: Token, request: SignRequest, authority: AuthorityView
) -> X509Authorization:
    claims = _verify(provisioner, token, authority.audiences.sign)
    sub = token.subject
    sans = token_sans(claims, sub)
    cnf = claims.get("cnf")
    if isinstance(cnf, dict) and "x5rt#S256" in cnf:
        want = cnf["x5rt#S256"]
        got = base64.urlsafe_b64encode(hashlib.sha256(request.csr_der).digest()).rstrip(b"=").decode()
        if want != got:
            raise Forbidden("certificate request does not match the token's cnf fingerprint (x5rt#S256)")

    def check(csr: x509.CertificateSigningRequest) -> None:
        check_csr_names(csr, sub, sans)

    return X509Authorization(
        subject=sub,
        sans=sans,
        check_csr=check,
        token_id=_token_id(token),
        credential_id=provisioner.state.kid,
        token_claims=claims,
    )


@hookimpl
def authorize_renew(
    provisioner: Provisioner, certificate: x509.Certificate, authority: AuthorityView
) -> RenewAuthorization | None:
    # Renewal needs nothing beyond the kernel's checks (not revoked, renewal enabled, not expired).
    return None


@hookimpl
def authorize_revoke(
    provisioner: Provisioner, token: Token, request: RevokeRequest, authority: AuthorityView
) -> RevokeAuthorization:
    _verify(provisioner, token, authority.audiences.revoke)
    return RevokeAuthorization(token_id=_token_id(token))


def _ssh(
    provisioner: Provisioner, token: Token, request: SSHSignRequest, authority: AuthorityView, cert_type: str
) -> SSHAuthorization:
    claims = _verify(provisioner, token, authority.audiences.ssh_sign)
    step = claims.get("step")
    opts = step.get("ssh") if isinstance(step, dict) else None
    if not isinstance(opts, dict):
        raise Unauthorized("token is not an SSH provisioning token (it has no step.ssh claim)")
    tct = opts.get("certType") or ""
    if tct and tct != cert_type:
        raise Forbidden(f"token is for a {tct} certificate, the request is for a {cert_type} certificate")
    sub = token.subject
    key_id = opts.get("keyID") or sub
    principals = opts.get("principals") or [sub]
    if not isinstance(principals, list) or not all(isinstance(p, str) for p in principals):
        raise Unauthorized("token step.ssh.principals must be a list of strings")
    try:
        now = dt.datetime.now(dt.UTC)
        va = resolve_time_duration(opts.get("validAfter") or None, now=now)
        vb = resolve_time_duration(opts.get("validBefore") or None, now=now, base=va or now)
    except (ValueError, TypeError):
        raise Unauthorized("token step.ssh validAfter/validBefore are not valid times") from None
    return SSHAuthorization(
        cert_type=cert_type,  # type: ignore[arg-type]
        key_id=str(key_id),
        principals=list(principals),
        token_id=_token_id(token),
        valid_after=va,
        valid_before=vb,
        token_claims=claims,
        template_data=opts.get("templateData") if isinstance(opts.get("templateData"), dict) else {},
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


@hookimpl
def authorize_ssh_revoke(
    provisioner: Provisioner, token: Token, request: SSHRevokeRequest, authority: AuthorityView
) -> SSHRevokeAuthorization:
    _verify(provisioner, token, authority.audiences.ssh_revoke)
    return SSHRevokeAuthorization(token_id=_token_id(token))
