"""`plica provisioner add|update --type Azure`: the ca.json block, with step's flags."""

from __future__ import annotations

from typing import Any

import click

from plica.api import apply_instance_flags, check_url, hookimpl, instance_cli_options
from plica_azure.provisioner import check_tenant

# (option name, flag, ca.json key) of the repeatable allow-list flags.
LIST_FLAGS = (
    ("azure_resource_group", "--azure-resource-group", "resourceGroups"),
    ("azure_subscription_id", "--azure-subscription-id", "subscriptionIDs"),
    ("azure_object_id", "--azure-object-id", "objectIDs"),
)


@hookimpl
def provisioner_cli_options() -> list[click.Option]:
    return [
        click.Option(
            ["--azure-tenant"],
            default=None,
            metavar="TENANT_ID",
            help="Azure: tenantId, the Azure AD tenant (directory) id whose VMs may get certificates.",
        ),
        click.Option(
            ["--azure-resource-group"],
            multiple=True,
            help="Azure: resourceGroups, allow only VMs of these resource groups (repeatable; replaces the "
            'list on update, "" empties it).',
        ),
        click.Option(
            ["--azure-subscription-id"],
            multiple=True,
            help='Azure: subscriptionIDs, allow only VMs of these subscriptions (repeatable; "" empties it).',
        ),
        click.Option(
            ["--azure-object-id"],
            multiple=True,
            help="Azure: objectIDs, allow only these managed identities (their object ids; repeatable; "
            '"" empties it).',
        ),
        click.Option(
            ["--azure-audience"],
            default=None,
            help='Azure: audience, the token audience required (default https://management.azure.com/; "" '
            "removes it).",
        ),
        click.Option(
            ["--azure-discovery-url"],
            default=None,
            help="Azure: discoveryURL, where the tenant's OpenID configuration is (default "
            'https://login.microsoftonline.com/<tenant>/.well-known/openid-configuration; "" removes it).',
        ),
        *instance_cli_options(),
    ]


def _set(block: dict[str, Any], key: str, value: Any) -> None:
    """Set `key`, or remove it for an empty value (the default applies then)."""
    if value in ("", []):
        block.pop(key, None)
    else:
        block[key] = value


@hookimpl
def provisioner_block_from_cli(
    provisioner_type: str, name: str, options: dict[str, Any], existing: dict[str, Any] | None
) -> dict[str, Any] | None:
    block = dict(existing or {"type": "Azure", "name": name})
    tenant = options.get("azure_tenant")
    if tenant is not None:
        try:
            check_tenant(tenant, "--azure-tenant")
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="--azure-tenant") from None
        for k in [k for k in block if k.lower() == "tenantid"]:  # step's spelling `tenantID` too
            del block[k]
        block["tenantId"] = tenant
    if not any(k.lower() == "tenantid" for k in block):
        raise click.UsageError("an Azure provisioner needs --azure-tenant (the tenant's directory id)")
    for opt, _, key in LIST_FLAGS:
        values = options.get(opt)
        if values:
            _set(block, key, [v for v in values if v])
    if options.get("azure_audience") is not None:
        _set(block, "audience", options["azure_audience"])
    url = options.get("azure_discovery_url")
    if url:
        try:
            check_url(url, "--azure-discovery-url")
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="--azure-discovery-url") from None
    if url is not None:
        _set(block, "discoveryURL", url)
    apply_instance_flags(block, options, adding=existing is None)
    return block
