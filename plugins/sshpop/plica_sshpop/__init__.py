"""The SSHPOP provisioner: an SSH certificate signed by this CA authenticates its own renewal, rekey or
revocation (docs/reference/wire.md §3 /ssh/renew, /ssh/rekey, /ssh/revoke; §5 SSHPOP row).

The hooks, by module: `provisioner` (the type, ssh-host-cert-renew, ssh-rekey, ssh-revoke), `client`
(tokens), `commands` (`plica ssh renew|rekey`) and `manage` (`plica provisioner add`). Uses only the
kernel's public face, `plica.api`.
"""

from __future__ import annotations

from plica_sshpop.client import cli_client_options, client_token
from plica_sshpop.commands import cli_commands
from plica_sshpop.manage import provisioner_block_from_cli
from plica_sshpop.provisioner import (
    SSHPOPConfig,
    authorize_ssh_host_renew,
    authorize_ssh_rekey,
    authorize_ssh_revoke,
    provisioner_load,
    provisioner_token_keys,
    provisioner_types,
)

__all__ = [
    "SSHPOPConfig",
    "authorize_ssh_host_renew",
    "authorize_ssh_rekey",
    "authorize_ssh_revoke",
    "cli_client_options",
    "cli_commands",
    "client_token",
    "provisioner_block_from_cli",
    "provisioner_load",
    "provisioner_token_keys",
    "provisioner_types",
]
