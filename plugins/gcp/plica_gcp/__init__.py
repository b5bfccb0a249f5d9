"""The GCP provisioner: Google Compute Engine instances get certificates with the identity token their
metadata server mints (step-ca's `GCP` type, provisioner-extension type 3; docs/reference/cloud-iid.md).

The hooks, by module: `provisioner` (the type, Google's keys kept fresh through the kernel's key sources,
x509-sign, ssh-host-cert-sign), the kernel's `renew_with_kernel_checks` (x509-renew over mTLS), `client`
(the identity token from the metadata server) and `manage` (`plica provisioner add|update`). Uses only the
kernel's public face, `plica.api`.
"""

from __future__ import annotations

from plica.api import renew_with_kernel_checks as authorize_renew
from plica_gcp.client import cli_client_options, client_token
from plica_gcp.manage import provisioner_block_from_cli, provisioner_cli_options
from plica_gcp.provisioner import (
    GCPConfig,
    authorize_sign,
    authorize_ssh_host_sign,
    http_setup,
    provisioner_load,
    provisioner_token_keys,
    provisioner_types,
)

__all__ = [
    "GCPConfig",
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
