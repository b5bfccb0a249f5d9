"""The JWK provisioner: one-time tokens signed with a provisioner key (docs/reference/wire.md §4-§5, JWK row).

The hooks, by module: `provisioner` (the type, its keys, x509-sign, x509-revoke, ssh-user/host-cert-sign,
ssh-revoke), the kernel's `renew_with_kernel_checks` (x509-renew), `client` (tokens) and `manage`
(`plica provisioner add|update`). Uses only the kernel's public face, `plica.api`.
"""

from __future__ import annotations

from plica.api import renew_with_kernel_checks as authorize_renew
from plica_jwk.client import cli_client_options, client_token
from plica_jwk.manage import provisioner_block_from_cli, provisioner_cli_options
from plica_jwk.provisioner import (
    JWKConfig,
    authorize_revoke,
    authorize_sign,
    authorize_ssh_host_sign,
    authorize_ssh_revoke,
    authorize_ssh_user_sign,
    provisioner_encrypted_key,
    provisioner_load,
    provisioner_token_keys,
    provisioner_types,
)

__all__ = [
    "JWKConfig",
    "authorize_renew",
    "authorize_revoke",
    "authorize_sign",
    "authorize_ssh_host_sign",
    "authorize_ssh_revoke",
    "authorize_ssh_user_sign",
    "cli_client_options",
    "client_token",
    "provisioner_block_from_cli",
    "provisioner_cli_options",
    "provisioner_encrypted_key",
    "provisioner_load",
    "provisioner_token_keys",
    "provisioner_types",
]
