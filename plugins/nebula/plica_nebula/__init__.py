"""The Nebula provisioner: one-time tokens signed with the key of a Nebula host certificate issued by the
provisioner's Nebula CA (docs/reference/wire.md §4-§5, Nebula row). The certificate's name and networks decide which names
the client may put on its X.509 or SSH host certificate.

The hooks, by module: `provisioner` (the type, x509-sign, ssh-host-cert-sign), the kernel's
`renew_with_kernel_checks` (x509-renew), `client` (tokens) and `manage` (`plica provisioner add|update`).
Uses only the kernel's public face, `plica.api`; `cert` is this package's own pure-Python Nebula library.
"""

from __future__ import annotations

from plica.api import renew_with_kernel_checks as authorize_renew
from plica_nebula.client import cli_client_options, client_token
from plica_nebula.manage import provisioner_block_from_cli, provisioner_cli_options
from plica_nebula.provisioner import (
    NebulaConfig,
    authorize_sign,
    authorize_ssh_host_sign,
    provisioner_load,
    provisioner_token_keys,
    provisioner_types,
)

__all__ = [
    "NebulaConfig",
    "authorize_renew",
    "authorize_sign",
    "authorize_ssh_host_sign",
    "cli_client_options",
    "client_token",
    "provisioner_block_from_cli",
    "provisioner_cli_options",
    "provisioner_load",
    "provisioner_token_keys",
    "provisioner_types",
]
