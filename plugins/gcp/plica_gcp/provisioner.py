"""Server side of the GCP provisioner (docs/reference/cloud-iid.md, GCP; step-ca's gcp.go): a Compute Engine
instance proves what it is with the identity token its metadata server mints (an RS256 JWT signed by
Google, `format=full`), and gets one X.509 certificate and one SSH host certificate on first use.

The token is verified completely before anything is recorded: Google's key (by `kid`, from the JWKS the
kernel's key sources keep fresh), `iss`, the times with a minute of leeway, the audience
`<ca>/1.0/sign#gcp/<name>`, `serviceAccounts` (`sub` or `email`), `projectIDs`, `instanceAge` and the
instance fields. Trust on first use is the kernel's: the authorization's token id (the instance's, or the
token's own with `disableTrustOnFirstUse`) is recorded in the same transaction as the certificate, so a
refused request uses up nothing.
"""

from __future__ import annotations

import datetime as dt

from attrs import define, frozen

from plica.api import (
    INSTANCE_IDENTIFIERS,
    AuthorityView,
    ConfigError,
    InstanceConfig,
    InstanceIdentity,
    KeySource,
    Provisioner,
    ProvisionerType,
    Token,
    Unauthorized,
    check_allowed,
    check_instance_age,
    configured_key_source,
    hookimpl,
    instance_sign_hooks,
    j,
    key_sources_setup,
    parse_instance_age,
    provides,
    verify_with_key_source,
)
from plica_gcp.identity import GOOGLE_ISSUER, Instance, read_instance

GOOGLE_JWKS_URL = "https://www.googleapis.com/oauth2/v3/certs"
TYPE_NAME = "GCP"


@define(kw_only=True)
class GCPConfig(InstanceConfig):
    service_accounts: list[str] | None = j("serviceAccounts", default=None)
    project_ids: list[str] | None = j("projectIDs", default=None)
    # Newer step-ca's: checked with Cloud Resource Manager, which Plica does not do (refused at load).
    organization_id: str | None = j("organizationID", default=None)
    instance_age: str | None = j("instanceAge", default=None)
    # Plica's: where Google's signing keys are fetched (tests and private mirrors point it elsewhere).
    jwks_url: str | None = j("jwksURL", default=None)


TYPE = ProvisionerType(
    name=TYPE_NAME,
    type_id=3,
    config_class=GCPConfig,
    identifier_types=INSTANCE_IDENTIFIERS,
    description="Google Compute Engine instance identity tokens (trust on first use)",
)
provisioner_types = provides(TYPE)


@frozen
class GCPState:
    key: str  # the token key and trust-on-first-use prefix: "gcp/<name>"
    source: KeySource
    service_accounts: frozenset[str]
    project_ids: frozenset[str]
    instance_age: dt.timedelta | None


def _names(values: list[str] | None, field: str) -> frozenset[str]:
    for i, v in enumerate(values or []):
        if not v:
            raise ConfigError(f"{field}[{i}]", "must not be empty")
    return frozenset(values or [])


@hookimpl
def provisioner_load(provisioner: Provisioner, authority: AuthorityView) -> None:
    cfg: GCPConfig = provisioner.config
    if cfg.organization_id:
        # Never ignored: a provisioner meant for one organization would take every project's instances.
        raise ConfigError(
            "organizationID",
            "is not supported by plica-gcp: step-ca asks Cloud Resource Manager (projects.getAncestry) for "
            "every token, a network call a provisioner cannot make while it authorizes; list the "
            "organization's projects in projectIDs instead",
        )
    provisioner.state = GCPState(
        key=f"gcp/{provisioner.name}",
        source=configured_key_source(cfg.jwks_url or GOOGLE_JWKS_URL, "jwksURL"),
        service_accounts=_names(cfg.service_accounts, "serviceAccounts"),
        project_ids=_names(cfg.project_ids, "projectIDs"),
        instance_age=parse_instance_age(cfg.instance_age),
    )


@hookimpl
def provisioner_token_keys(provisioner: Provisioner) -> list[str]:
    return [provisioner.state.key]


# Google's keys, fetched before the CA serves and kept fresh in the background.
http_setup = key_sources_setup(TYPE_NAME)


# ============================================================================ verification


def verify(provisioner: Provisioner, token: Token, authority: AuthorityView) -> Instance:
    """The instance a GCP identity token speaks for, every rule checked in step-ca's order; Unauthorized
    naming the first that failed."""
    state: GCPState = provisioner.state
    # Google signs identity tokens with RS256 and rotates its keys every few days.
    verify_with_key_source(token, state.source, what="GCP identity token", algs=("RS256",))
    if token.issuer != GOOGLE_ISSUER:
        raise Unauthorized(f"GCP token issuer {token.issuer!r} is not {GOOGLE_ISSUER!r}")
    token.check_times()
    token.check_audience(authority.audiences.sign, fragment=state.key)
    instance = read_instance(token.claims)
    # serviceAccounts lists the accounts' unique ids (`sub`) or their e-mail addresses.
    account = (
        instance.service_account if instance.service_account in state.service_accounts else instance.email
    )
    check_allowed(account, state.service_accounts, rule="serviceAccounts", what="service account")
    check_allowed(instance.project_id, state.project_ids, rule="projectIDs", what="project")
    check_instance_age(
        instance.created, state.instance_age, what="google.compute_engine.instance_creation_timestamp"
    )
    instance.check_complete()
    return instance


def _identity(provisioner: Provisioner, token: Token, authority: AuthorityView) -> InstanceIdentity:
    state: GCPState = provisioner.state
    instance = verify(provisioner, token, authority)
    return InstanceIdentity(
        subject=instance.name,
        key_id=instance.name,
        names=instance.dns_names,
        principals=instance.dns_names,
        credential_id=instance.service_account,
        first_use=f"{state.key}.{instance.id}",
        # Every token once (a GCP token has no jti: step's sha256 of the token).
        token_id=token.id,
        common_names=(instance.name, instance.id),
        key_value_pairs=("InstanceID", instance.id, "InstanceName", instance.name),
    )


authorize_sign, authorize_ssh_host_sign = instance_sign_hooks(_identity)
