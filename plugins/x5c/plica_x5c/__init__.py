"""The X5C provisioner: one-time tokens signed with the key of an X.509 certificate that chains to the
provisioner's roots (docs/reference/wire.md §4-§5, X5C row).

The hooks, by module: `provisioner` (the type, x509-sign, x509-revoke, ssh-user/host-cert-sign), the
kernel's `renew_with_kernel_checks` (x509-renew), `client` (tokens) and `manage` (`plica provisioner
add|update`). Uses only the kernel's public face, `plica.api`.
"""

from __future__ import annotations

from plica.api import renew_with_kernel_checks as authorize_renew
from plica_x5c.client import cli_client_options, client_token
from plica_x5c.manage import provisioner_block_from_cli, provisioner_cli_options
from plica_x5c.provisioner import (
    X5CConfig,
    authorize_revoke,
    authorize_sign,
    authorize_ssh_host_sign,
    authorize_ssh_user_sign,
    provisioner_load,
    provisioner_token_keys,
    provisioner_types,
)

__all__ = [
    "X5CConfig",
    "authorize_renew",
    "authorize_revoke",
    "authorize_sign",
    "authorize_ssh_host_sign",
    "authorize_ssh_user_sign",
    "cli_client_options",
    "client_token",
    "provisioner_block_from_cli",
    "provisioner_cli_options",
    "provisioner_load",
    "provisioner_token_keys",
    "provisioner_types",
]
