"""The K8sSA provisioner: Kubernetes service-account tokens — legacy secret tokens as step-ca accepts them,
and bound (projected) tokens with audience binding and keys discovered from the cluster (api.md §5, K8sSA
row). At most one K8sSA provisioner per CA.

Uses only the kernel's public API (hooks, `plica.api`, `plica.tokens`, `plica.jose`, `plica.errors`).
"""

from __future__ import annotations

from plica_k8ssa.client import cli_client_options, client_token
from plica_k8ssa.manage import provisioner_block_from_cli, provisioner_cli_options
from plica_k8ssa.provisioner import (
    K8sSAConfig,
    authorize_renew,
    authorize_revoke,
    authorize_sign,
    authorize_ssh_host_sign,
    authorize_ssh_user_sign,
    on_shutdown,
    on_startup,
    provisioner_load,
    provisioner_token_keys,
    provisioner_types,
)

__all__ = [
    "K8sSAConfig",
    "authorize_renew",
    "authorize_revoke",
    "authorize_sign",
    "authorize_ssh_host_sign",
    "authorize_ssh_user_sign",
    "cli_client_options",
    "client_token",
    "on_shutdown",
    "on_startup",
    "provisioner_block_from_cli",
    "provisioner_cli_options",
    "provisioner_load",
    "provisioner_token_keys",
    "provisioner_types",
]
