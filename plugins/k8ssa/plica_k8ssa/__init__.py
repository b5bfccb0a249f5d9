"""The K8sSA provisioner: Kubernetes service-account tokens — legacy secret tokens as step-ca accepts them,
and bound (projected) tokens with audience binding and keys discovered from the cluster (docs/reference/wire.md §5, K8sSA
row). At most one K8sSA provisioner per CA.

The hooks, by module: `provisioner` (the type, `http_setup`: the cluster's keys kept fresh while the
server runs, x509-sign, x509-revoke, ssh-user/host-cert-sign), the kernel's `renew_with_kernel_checks`
(x509-renew), `client` (tokens) and `manage` (`plica provisioner add|update`). Uses only the kernel's public
face, `plica.api`.
"""

from __future__ import annotations

from plica.api import renew_with_kernel_checks as authorize_renew
from plica_k8ssa.client import cli_client_options, client_token
from plica_k8ssa.manage import provisioner_block_from_cli, provisioner_cli_options
from plica_k8ssa.provisioner import (
    K8sSAConfig,
    authorize_revoke,
    authorize_sign,
    authorize_ssh_host_sign,
    authorize_ssh_user_sign,
    http_setup,
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
    "http_setup",
    "provisioner_block_from_cli",
    "provisioner_cli_options",
    "provisioner_load",
    "provisioner_token_keys",
    "provisioner_types",
]
