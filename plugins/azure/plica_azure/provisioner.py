"""Server side of the Azure provisioner (docs/reference/cloud-iid.md, "Azure"): a VM's managed-identity access
token from the Azure Instance Metadata Service (IMDS), an RS256 JWT that Azure AD signs, verified with the
keys of the tenant's OpenID discovery document.

What is checked, all of it before anything is recorded (the kernel records the instance only once this
returns, in the same transaction as the certificate): the signature with a key of the discovery document's
`jwks_uri` (the kernel's shared key sources, fetched in the background, never on the request path), `iss` equal
to the `issuer` that document names (`https://sts.windows.net/<tenant>/`), the times with a minute of leeway,
`aud` equal to the provisioner's `audience`, `tid` its `tenantId`, and `xms_mirid`, the resource id of the VM
(or of the user-assigned identity) that the token was issued to, which gives the subscription, the resource
group and the name checked against `subscriptionIDs`, `resourceGroups` (and `objectIDs`, the token's `oid`).

Which provisioner: the token's `tid` (one Azure provisioner per tenant, as step-ca).
"""

from __future__ import annotations

import re
from typing import Any

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
    configured_key_source,
    hookimpl,
    instance_sign_hooks,
    j,
    key_sources_setup,
    provides,
    verify_with_key_source,
)

DEFAULT_AUDIENCE = "https://management.azure.com/"
ALGS = frozenset({"RS256"})  # what Azure AD signs its access tokens with
DISCOVERY_URL = "https://login.microsoftonline.com/{tenant}/.well-known/openid-configuration"

# A tenant id is the directory's GUID: the form the token's `tid` always has, and safe inside a URL path.
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# Case-insensitive, as Azure's resource ids are (xms_mirid says `resourcegroups`, ARM `resourceGroups`).
_XMS_MIRID = re.compile(
    r"/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/"
    r"Microsoft\.(Compute/virtualMachines|ManagedIdentity/userAssignedIdentities)/([^/]+)",
    re.IGNORECASE,
)


@define(kw_only=True)
class AzureConfig(InstanceConfig):
    tenant_id: str = j("tenantId", default="")
    resource_groups: list[str] = j("resourceGroups", factory=list)
    subscription_ids: list[str] = j("subscriptionIDs", factory=list)
    object_ids: list[str] = j("objectIDs", factory=list)
    audience: str = j("audience", default="")
    # Plica's: where the tenant's keys are discovered (tests, sovereign clouds); default DISCOVERY_URL.
    discovery_url: str | None = j("discoveryURL", default=None)


TYPE = ProvisionerType(
    name="Azure",
    type_id=5,
    config_class=AzureConfig,
    identifier_types=INSTANCE_IDENTIFIERS,
    description="Microsoft Azure VMs: managed-identity tokens from the instance metadata service, verified "
    "through the tenant's OpenID discovery",
    # IMDS hands out one cached token for up to a day, so step's "issued before the CA started" rule would
    # lock VMs out for hours after a restart; the used-tokens table, not that rule, stops replays here.
    iat_check=False,
)
provisioner_types = provides(TYPE)
# The tenants' keys, fetched before the CA serves and kept fresh in the background.
http_setup = key_sources_setup(TYPE.name)


@frozen
class AzureState:
    tenant_id: str  # lower case, as `tid` is written
    audience: str
    source: KeySource
    resource_groups: tuple[str, ...]
    subscription_ids: tuple[str, ...]
    object_ids: tuple[str, ...]


@frozen
class Identity:
    """What a verified token says about the instance."""

    resource_id: str  # xms_mirid
    subscription: str
    resource_group: str
    name: str  # the VM's (or the user-assigned identity's) name
    object_id: str


def check_tenant(value: str, what: str) -> str:
    """`value` if it is a tenant (directory) id, a GUID; ValueError naming `what` otherwise."""
    if not _GUID.fullmatch(value):
        raise ValueError(
            f"{what} {value!r} is not a tenant id: the directory (tenant) id is a GUID such as "
            "b17c217c-84db-43f0-babd-e06a71083cda"
        )
    return value


def _tenant_of(cfg: AzureConfig) -> str:
    # step-ca writes `tenantID` and Go reads JSON keys without case, so a ca.json step wrote says that.
    given = ([cfg.tenant_id] if cfg.tenant_id else []) + [
        v for k, v in cfg.extra.items() if k.lower() == "tenantid"
    ]
    if not given:
        raise ConfigError("tenantId", "is required: the Azure AD tenant (directory) id of the VMs")
    if not all(isinstance(v, str) for v in given):
        raise ConfigError("tenantId", "must be a string")
    if len(set(given)) > 1:
        raise ConfigError("tenantId", f"is given twice with different values {sorted(set(given))!r}")
    try:
        return check_tenant(given[0], "tenantId").lower()
    except ValueError as e:
        raise ConfigError("tenantId", str(e)) from None


@hookimpl
def provisioner_load(provisioner: Provisioner, authority: AuthorityView) -> None:
    cfg: AzureConfig = provisioner.config
    if not cfg.name:
        raise ConfigError("name", "is required")
    tenant = _tenant_of(cfg)
    for field, values in (
        ("resourceGroups", cfg.resource_groups),
        ("subscriptionIDs", cfg.subscription_ids),
        ("objectIDs", cfg.object_ids),
    ):
        if not all(values):
            raise ConfigError(field, "must not hold an empty string")
    where = cfg.discovery_url or DISCOVERY_URL.format(tenant=tenant)
    provisioner.state = AzureState(
        tenant_id=tenant,
        audience=cfg.audience or DEFAULT_AUDIENCE,
        # The discovery document of a v1 tenant names `https://sts.windows.net/<tenant>/`, not the URL it is
        # served at: any issuer is taken, and tokens must then carry the one it named.
        source=configured_key_source(where, "discoveryURL", discovery=True),
        resource_groups=tuple(cfg.resource_groups),
        subscription_ids=tuple(cfg.subscription_ids),
        object_ids=tuple(cfg.object_ids),
    )


@hookimpl
def provisioner_token_keys(provisioner: Provisioner) -> list[str]:
    return [provisioner.state.tenant_id]


def _claim(claims: dict[str, Any], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value:
        raise Unauthorized(f"Azure token has no {name!r} claim")
    return value


def verify(provisioner: Provisioner, token: Token) -> Identity:
    """The whole of the token's verification; Unauthorized naming the first check that failed."""
    state: AzureState = provisioner.state
    verify_with_key_source(token, state.source, what="Azure token", algs=ALGS)
    if token.issuer != state.source.discovered_issuer:
        raise Unauthorized(
            f"Azure token issuer {token.issuer!r} is not the tenant's ({state.source.discovered_issuer!r})"
        )
    token.check_times()
    if state.audience not in token.audiences:
        raise Unauthorized(
            f"Azure token audience {token.audiences!r} is not the provisioner's {state.audience!r}"
        )
    claims = token.claims
    tid = _claim(claims, "tid")
    if tid.lower() != state.tenant_id:
        raise Unauthorized(f"Azure token tenant (tid) {tid!r} is not the provisioner's tenantId")
    mirid = _claim(claims, "xms_mirid")
    m = _XMS_MIRID.fullmatch(mirid)
    if m is None:
        raise Unauthorized(
            f"Azure token xms_mirid {mirid!r} is not a VM's or a user-assigned identity's resource id"
        )
    subscription, group, _, name = m.groups()
    oid = claims.get("oid")
    identity = Identity(
        resource_id=mirid,
        subscription=subscription,
        resource_group=group,
        name=name,
        object_id=oid if isinstance(oid, str) else "",
    )
    # Azure compares resource names and GUIDs without case; so do these lists.
    check_allowed(group, state.resource_groups, rule="resourceGroups", what="resource group", fold_case=True)
    check_allowed(
        subscription, state.subscription_ids, rule="subscriptionIDs", what="subscription", fold_case=True
    )
    check_allowed(
        identity.object_id,
        state.object_ids,
        rule="objectIDs",
        what="identity object id (oid)",
        fold_case=True,
    )
    return identity


def _identity(provisioner: Provisioner, token: Token, authority: AuthorityView) -> InstanceIdentity:
    state: AzureState = provisioner.state
    identity = verify(provisioner, token)
    return InstanceIdentity(
        subject=identity.name,
        key_id=identity.name,
        names=[identity.name],
        principals=[identity.name],
        credential_id=state.tenant_id,
        # Trust on first use by the resource id (lower case: Azure's ids are case-insensitive, so one
        # instance cannot pass for two). Without it the token may be used again: see the README's "Trust on
        # first use".
        first_use=identity.resource_id.lower(),
    )


authorize_sign, authorize_ssh_host_sign = instance_sign_hooks(_identity)
