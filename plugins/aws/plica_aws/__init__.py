"""The AWS provisioner: EC2 instances get certificates with their instance identity document, signed by
AWS, wrapped in step's token (docs/reference/cloud-iid.md, AWS). Wire-compatible with step-ca's.

The hooks, by module: `provisioner` (the type, x509-sign, ssh-host-cert-sign), the kernel's
`renew_with_kernel_checks` (x509-renew over mTLS), `client` (the token, from the metadata service that
`imds` speaks to) and `manage` (`plica provisioner add|update`). `identity` holds the document, its
signature and AWS's certificates. Uses only the kernel's public face, `plica.api`.
"""

from __future__ import annotations

from plica.api import renew_with_kernel_checks as authorize_renew
from plica_aws.client import cli_client_options, client_token
from plica_aws.manage import provisioner_block_from_cli, provisioner_cli_options
from plica_aws.provisioner import (
    AWSConfig,
    authorize_sign,
    authorize_ssh_host_sign,
    provisioner_load,
    provisioner_token_keys,
    provisioner_types,
)

__all__ = [
    "AWSConfig",
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
