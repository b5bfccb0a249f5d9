"""Server side of the AWS provisioner (docs/reference/cloud-iid.md, AWS; step-ca's authority/provisioner/aws.go):
an EC2 instance proves what it is with its instance identity document and AWS's signature over it.

The token is verified completely (HMAC, the document's signature with AWS's certificates or `iidRoots`,
times, issuer, audience, `accounts`, `instanceAge`, the subject with `disableCustomSANs`) before the hook
returns; only then does the kernel record the instance, in the same transaction as the certificate (trust
on first use: one X.509 certificate and one SSH host certificate per instance, unless
`disableTrustOnFirstUse`). A refused request uses up nothing.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from attrs import define, frozen

from plica.api import (
    INSTANCE_IDENTIFIERS,
    AuthorityView,
    ConfigError,
    InstanceConfig,
    InstanceIdentity,
    Provisioner,
    ProvisionerType,
    Token,
    Unauthorized,
    check_allowed,
    check_instance_age,
    hookimpl,
    instance_sign_hooks,
    j,
    parse_instance_age,
    provides,
)
from plica_aws.identity import ISSUER, Document, RootKeys, aws_roots, load_roots, verified_document

IMDS_VERSIONS = ("v1", "v2")


@define(kw_only=True)
class AWSConfig(InstanceConfig):
    accounts: list[str] = j("accounts", factory=list)
    imds_versions: list[str] = j("imdsVersions", factory=list)
    instance_age: str = j("instanceAge", default="")
    iid_roots: str = j("iidRoots", default="")


TYPE = ProvisionerType(
    name="AWS",
    type_id=4,
    config_class=AWSConfig,
    identifier_types=INSTANCE_IDENTIFIERS,
    description="EC2 instance identity documents signed by AWS (trust on first use per instance)",
)
provisioner_types = provides(TYPE)


@frozen
class AWSState:
    fragment: str  # "aws/<name>": the token's audience fragment, and the instance's trust-on-first-use key
    roots: RootKeys
    accounts: tuple[str, ...]
    instance_age: dt.timedelta | None


def _accounts(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ConfigError("accounts", "must be a list of AWS account ids")
    for i, v in enumerate(value):
        if not isinstance(v, str) or not v:
            raise ConfigError(f"accounts[{i}]", "must be a non-empty string (an AWS account id)")
    return tuple(value)


def _imds_versions(value: Any) -> None:
    # Read by the client (from /provisioners); checked here so that a typo fails at load, as in step-ca.
    if not isinstance(value, list):
        raise ConfigError("imdsVersions", "must be a list of 'v1' and 'v2'")
    for i, v in enumerate(value):
        if v not in IMDS_VERSIONS:
            raise ConfigError(
                f"imdsVersions[{i}]", f"{v!r} is not a supported AWS metadata service version (v1, v2)"
            )


def _roots(path: str) -> RootKeys:
    if not path:
        return aws_roots()
    try:
        pem = Path(path).read_bytes()
    except OSError as e:
        raise ConfigError("iidRoots", f"cannot read {path}: {e.strerror}") from None
    try:
        return load_roots(pem)
    except ValueError as e:
        raise ConfigError("iidRoots", f"{path} {e}") from None


@hookimpl
def provisioner_load(provisioner: Provisioner, authority: AuthorityView) -> None:
    cfg: AWSConfig = provisioner.config
    if not cfg.name:
        raise ConfigError("name", "is required")
    _imds_versions(cfg.imds_versions)
    provisioner.state = AWSState(
        fragment=f"aws/{cfg.name}",
        roots=_roots(cfg.iid_roots),
        accounts=_accounts(cfg.accounts),
        instance_age=parse_instance_age(cfg.instance_age),
    )


@hookimpl
def provisioner_token_keys(provisioner: Provisioner) -> list[str]:
    return [provisioner.state.fragment]


def _verify(provisioner: Provisioner, token: Token, authority: AuthorityView) -> Document:
    """Every check of step-ca's aws.authorizeToken, in its order; Unauthorized naming the one that failed."""
    cfg: AWSConfig = provisioner.config
    state: AWSState = provisioner.state
    doc = verified_document(token, state.roots)
    token.check_times()
    if token.issuer != ISSUER:
        raise Unauthorized(f"AWS token issuer {token.issuer!r} is not {ISSUER!r}")
    # step's client addresses SSH tokens to /1.0/sign too; the CA's sign audiences include /ssh/sign.
    token.check_audience(authority.audiences.sign, fragment=state.fragment)
    if cfg.disable_custom_sans and token.subject not in (doc.instance_id, doc.private_ip, doc.dns_name):
        raise Unauthorized(
            f"token subject {token.subject!r} is not the instance's id, private IP or private DNS name "
            "(disableCustomSANs)"
        )
    check_allowed(doc.account_id, state.accounts, rule="accounts", what="AWS account (accountId)")
    check_instance_age(doc.pending_time, state.instance_age, what="pendingTime")
    return doc


def _identity(provisioner: Provisioner, token: Token, authority: AuthorityView) -> InstanceIdentity:
    state: AWSState = provisioner.state
    doc = _verify(provisioner, token, authority)
    return InstanceIdentity(
        subject=token.subject,
        # step-ca writes the instance id; the kernel refuses a request naming another key id than the
        # authorization's, and step's client sends the host's name: the request's is kept when it has one.
        key_id=doc.instance_id,
        key_id_from_request=True,
        names=doc.names,
        principals=[doc.private_ip, doc.dns_name],
        credential_id=doc.account_id,
        first_use=f"{state.fragment}.{doc.instance_id}",
        # The token's own hash without trust on first use, as step-ca: its jti names the instance.
        token_id=token.hash_id(),
        key_value_pairs=("InstanceID", doc.instance_id),
        # step's commonNameValidator(sub): the CSR's common name, when it has one, is the token's subject.
        cn_is_subject=True,
    )


authorize_sign, authorize_ssh_host_sign = instance_sign_hooks(_identity)
