"""Server side of the SSHPOP provisioner (docs/reference/wire.md §5, SSHPOP row): an SSH certificate this CA signed proves
possession of itself — a token signed with its private key, carrying it in the `sshpop` header — to be
renewed, rekeyed (host certificates) or revoked."""

from __future__ import annotations

import time

from attrs import define, frozen
from cryptography.hazmat.primitives.serialization import SSHCertificate, SSHCertificateType

from plica.api import (
    AuthorityView,
    BadRequest,
    ConfigError,
    Forbidden,
    Provisioner,
    ProvisionerConfig,
    ProvisionerType,
    SSHRenewAuthorization,
    SSHRenewRequest,
    SSHRevokeAuthorization,
    SSHRevokeRequest,
    Token,
    Unauthorized,
    check_signed_by,
    check_token_claims,
    hookimpl,
    provides,
)
from plica_sshpop.sshcert import INFINITY, SSHCertError, from_wire_b64, kind, public_key_wire, signed_by


@define(kw_only=True)
class SSHPOPConfig(ProvisionerConfig):
    """No fields beyond the common ones."""


TYPE = ProvisionerType(
    name="SSHPOP",
    type_id=9,
    config_class=SSHPOPConfig,
    identifier_types={},
    description="renew, rekey and revoke SSH certificates with the certificate itself (proof of possession)",
)
provisioner_types = provides(TYPE)


@frozen
class SSHPOPState:
    user_keys: frozenset[bytes]
    host_keys: frozenset[bytes]
    fragment: str


@hookimpl
def provisioner_load(provisioner: Provisioner, authority: AuthorityView) -> None:
    if not provisioner.config.name:
        raise ConfigError("name", "is required")
    user = frozenset(public_key_wire(k) for k in authority.ssh_public_keys("user"))
    host = frozenset(public_key_wire(k) for k in authority.ssh_public_keys("host"))
    if not user and not host:
        raise ConfigError(
            "",
            "an SSHPOP provisioner needs the CA's SSH keys (ca.json ssh.hostKey / ssh.userKey; plica init --ssh)",
        )
    provisioner.state = SSHPOPState(user_keys=user, host_keys=host, fragment=f"sshpop/{provisioner.name}")


@hookimpl
def provisioner_token_keys(provisioner: Provisioner) -> list[str]:
    return [provisioner.state.fragment]


def _check_valid_now(cert: SSHCertificate, *, allow_expired: bool = False) -> None:
    now = int(time.time())
    if now < cert.valid_after:
        raise Unauthorized(
            f"sshpop certificate (serial {cert.serial}) is not valid yet (validAfter {cert.valid_after})"
        )
    if cert.valid_before != INFINITY and now >= cert.valid_before and not allow_expired:
        raise Unauthorized(
            f"sshpop certificate (serial {cert.serial}) has expired (validBefore {cert.valid_before})"
        )


def _verify(
    provisioner: Provisioner, token: Token, audiences: frozenset[str], *, check_validity: bool
) -> SSHCertificate:
    """The sshpop certificate of a token whose certificate, signature and claims passed."""
    state: SSHPOPState = provisioner.state
    try:
        cert = from_wire_b64(token.header.get("sshpop"))
    except SSHCertError as e:
        raise Unauthorized(f"token 'sshpop' header {e}") from None
    if check_validity:
        _check_valid_now(cert)
    ca_keys = state.user_keys if cert.type == SSHCertificateType.USER else state.host_keys
    if not signed_by(cert, ca_keys):
        raise Unauthorized(
            f"sshpop {kind(cert)} certificate (serial {cert.serial}) was not signed by this CA's SSH {kind(cert)} key"
        )
    # The certificate's own key signs the token: holding a copy of a certificate proves nothing.
    check_signed_by(token, cert.public_key(), what="sshpop token", signer="the certificate's public key")
    check_token_claims(provisioner, token, audiences, fragment=state.fragment)
    return cert


def _host_renewal(
    provisioner: Provisioner, token: Token, audiences: frozenset[str], *, check_validity: bool, what: str
) -> SSHRenewAuthorization:
    """What renew and rekey both allow: a new certificate like the token's host certificate (`what`:
    "renewed", "rekeyed"). Renew adds its own policy checks."""
    cert = _verify(provisioner, token, audiences, check_validity=check_validity)
    if cert.type != SSHCertificateType.HOST:
        raise BadRequest(
            f"only SSH host certificates can be {what}; the sshpop certificate is a user certificate"
        )
    return SSHRenewAuthorization(certificate=cert, token_id=token.id)


@hookimpl
def authorize_ssh_host_renew(
    provisioner: Provisioner, token: Token, request: SSHRenewRequest, authority: AuthorityView
) -> SSHRenewAuthorization:
    # Renewal does not require the certificate to be valid now: it may have expired when the provisioner
    # allows renewal after expiry (step's Controller.AuthorizeSSHRenew).
    auth = _host_renewal(
        provisioner, token, authority.audiences.ssh_renew, check_validity=False, what="renewed"
    )
    if provisioner.claims.disable_renewal:
        raise Unauthorized(f"renew is disabled for provisioner {provisioner.name!r}")
    _check_valid_now(auth.certificate, allow_expired=provisioner.claims.allow_renewal_after_expiry)
    return auth


@hookimpl
def authorize_ssh_rekey(
    provisioner: Provisioner, token: Token, request: SSHRenewRequest, authority: AuthorityView
) -> SSHRenewAuthorization:
    return _host_renewal(
        provisioner, token, authority.audiences.ssh_rekey, check_validity=True, what="rekeyed"
    )


@hookimpl
def authorize_ssh_revoke(
    provisioner: Provisioner, token: Token, request: SSHRevokeRequest, authority: AuthorityView
) -> SSHRevokeAuthorization:
    cert = _verify(provisioner, token, authority.audiences.ssh_revoke, check_validity=True)
    # A certificate may revoke only itself: the subject names it, and the kernel matches it to the request.
    if token.subject != str(cert.serial):
        raise Forbidden(
            f"sshpop token subject {token.subject!r} must be the serial number of the sshpop certificate "
            f"({cert.serial})"
        )
    return SSHRevokeAuthorization(token_id=token.id)
