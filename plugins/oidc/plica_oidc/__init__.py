"""The OIDC provisioner: people get certificates carrying the identity their company's OpenID provider
vouches for (step-ca's `OIDC` type, provisioner-extension type 2).

The hooks, by module: `provisioner` (the type, the provider's discovery and keys kept fresh through the
kernel's key sources, the ID-token rules), `authorize` (x509-sign, x509-revoke, SSH user and host
certificates, ssh-revoke), the kernel's `renew_with_kernel_checks` (x509-renew over mTLS), `client` (the
OAuth flows that get an ID token) and `manage` (`plica provisioner add|update`). Uses only the kernel's
public face, `plica.api`.
"""

from __future__ import annotations

from plica.api import renew_with_kernel_checks as authorize_renew
from plica_oidc.authorize import (
    authorize_revoke,
    authorize_sign,
    authorize_ssh_host_sign,
    authorize_ssh_revoke,
    authorize_ssh_user_sign,
)
from plica_oidc.client import cli_client_options, client_token
from plica_oidc.manage import provisioner_block_from_cli, provisioner_cli_options
from plica_oidc.provisioner import (
    OIDCConfig,
    http_setup,
    provisioner_load,
    provisioner_token_keys,
    provisioner_types,
)

__all__ = [
    "OIDCConfig",
    "authorize_renew",
    "authorize_revoke",
    "authorize_sign",
    "authorize_ssh_host_sign",
    "authorize_ssh_revoke",
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
