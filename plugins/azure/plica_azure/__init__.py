"""The Azure provisioner: Microsoft Azure VMs get certificates with their managed-identity access token from
the instance metadata service, verified through the tenant's OpenID discovery (docs/reference/cloud-iid.md).

The hooks, by module: `provisioner` (the type, its key source refreshed by `http_setup`, x509-sign,
ssh-host-cert-sign), the kernel's `renew_with_kernel_checks` (x509-renew over mTLS), `client` (the token
from IMDS) and `manage` (`plica provisioner add|update`). Uses only the kernel's public face, `plica.api`.
"""

from __future__ import annotations

from plica.api import renew_with_kernel_checks as authorize_renew
from plica_azure.client import cli_client_options, client_token
from plica_azure.manage import provisioner_block_from_cli, provisioner_cli_options
from plica_azure.provisioner import (
    AzureConfig,
    authorize_sign,
    authorize_ssh_host_sign,
    http_setup,
    provisioner_load,
    provisioner_token_keys,
    provisioner_types,
)

__all__ = [
    "AzureConfig",
    "authorize_renew",
    "authorize_sign",
    "authorize_ssh_host_sign",
    "cli_client_options",
    "client_token",
    "http_setup",
    "provisioner_block_from_cli",
    "provisioner_cli_options",
    "provisioner_load",
    "provisioner_token_keys",
    "provisioner_types",
]
