"""Server side of the X5C provisioner (docs/reference/wire.md §5, X5C row): tokens signed with the key of an X.509
certificate whose chain, carried in the `x5c` header, verifies to the provisioner's roots."""

from __future__ import annotations

import datetime as dt
from typing import Any

from attrs import define, frozen
from cryptography import x509

from plica.api import (
    AuthorityView,
    CertType,
    ConfigError,
    Forbidden,
    Provisioner,
    ProvisionerConfig,
    ProvisionerType,
    RevokeAuthorization,
    RevokeRequest,
    SignRequest,
    SSHAuthorization,
    SSHOptions,
    SSHSignRequest,
    Token,
    X509Authorization,
    check_signed_by,
    check_token_claims,
    hookimpl,
    j,
    provides,
    ssh_sign_hooks,
    x509_authorization,
)
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
provisioner_types = provides(TYPE)


@frozen
class X5CState:
    anchors: TrustAnchors
    fragment: str


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


def _verify(provisioner: Provisioner, token: Token, audiences: frozenset[str]) -> x509.Certificate:
    """The x5c leaf certificate of a token whose chain, signature and claims passed."""
    state: X5CState = provisioner.state
    chain = verify_chain(
        parse_header(token.header.get("x5c")),
        state.anchors,
        provisioner.name,
        dt.datetime.now(dt.UTC),
    )
    leaf = chain[0]
    # The leaf's key signs the token: that proves possession of the certificate, not just a copy of it.
    check_signed_by(
        token, leaf.public_key(), what="x5c token", signer="the public key of the x5c leaf certificate"
    )
    check_token_claims(provisioner, token, audiences, fragment=state.fragment)
    return leaf


@hookimpl
def authorize_sign(
    provisioner: Provisioner, token: Token, request: SignRequest, authority: AuthorityView
) -> X509Authorization:
    leaf = _verify(provisioner, token, authority.audiences.sign)
    # step's commonNameValidator is stricter than JWK's: the CN must be the subject itself.
    return x509_authorization(
        token,
        cn_is_subject=True,
        not_before=leaf.not_valid_before_utc,
        not_after=leaf.not_valid_after_utc,
        authorization_crt=leaf,
    )


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
    leaf = _verify(provisioner, token, authority.audiences.ssh_sign)
    auth = SSHOptions.from_token(token).authorize(
        cert_type, token, authorization_crt=leaf, not_after=leaf.not_valid_after_utc
    )
    # step validates the request's keyID against the token subject as well as the token's own keyID.
    if request.key_id and request.key_id != token.subject:
        raise Forbidden(
            f"requested keyID {request.key_id!r} does not match the token subject {token.subject!r}"
        )
    return auth


authorize_ssh_user_sign, authorize_ssh_host_sign = ssh_sign_hooks(_ssh)
