"""Server side of the JWK provisioner."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from attrs import define, frozen

from plica.api import (
    AuthorityView,
    CertType,
    ConfigError,
    Forbidden,
    JOSEError,
    Provisioner,
    ProvisionerConfig,
    ProvisionerType,
    PublicKey,
    RevokeAuthorization,
    RevokeRequest,
    SignRequest,
    SSHAuthorization,
    SSHOptions,
    SSHRevokeAuthorization,
    SSHRevokeRequest,
    SSHSignRequest,
    Token,
    X509Authorization,
    check_token_claims,
    hookimpl,
    j,
    key_from_jwk,
    provides,
    ssh_sign_hooks,
    thumbprint,
    x509_authorization,
)


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
provisioner_types = provides(TYPE)


@frozen
class JWKState:
    key: PublicKey
    kid: str


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


def _verify(provisioner: Provisioner, token: Token, audiences: frozenset[str]) -> None:
    state: JWKState = provisioner.state
    token.verify(state.key)
    check_token_claims(provisioner, token, audiences)


@hookimpl
def authorize_sign(
    provisioner: Provisioner, token: Token, request: SignRequest, authority: AuthorityView
) -> X509Authorization:
    _verify(provisioner, token, authority.audiences.sign)
    cnf = token.claims.get("cnf")
    if isinstance(cnf, dict) and "x5rt#S256" in cnf:
        want = cnf["x5rt#S256"]
        got = base64.urlsafe_b64encode(hashlib.sha256(request.csr_der).digest()).rstrip(b"=").decode()
        if want != got:
            raise Forbidden("certificate request does not match the token's cnf fingerprint (x5rt#S256)")
    return x509_authorization(token, credential_id=provisioner.state.kid)


@hookimpl
def authorize_revoke(
    provisioner: Provisioner, token: Token, request: RevokeRequest, authority: AuthorityView
) -> RevokeAuthorization:
    _verify(provisioner, token, authority.audiences.revoke)
    return RevokeAuthorization(token_id=token.id)


def _ssh(
    provisioner: Provisioner,
    token: Token,
    request: SSHSignRequest,
    authority: AuthorityView,
    cert_type: CertType,
) -> SSHAuthorization:
    _verify(provisioner, token, authority.audiences.ssh_sign)
    return SSHOptions.from_token(token).authorize(cert_type, token)


authorize_ssh_user_sign, authorize_ssh_host_sign = ssh_sign_hooks(_ssh)


@hookimpl
def authorize_ssh_revoke(
    provisioner: Provisioner, token: Token, request: SSHRevokeRequest, authority: AuthorityView
) -> SSHRevokeAuthorization:
    _verify(provisioner, token, authority.audiences.ssh_revoke)
    return SSHRevokeAuthorization(token_id=token.id)
