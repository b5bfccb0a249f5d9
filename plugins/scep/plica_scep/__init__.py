"""The SCEP provisioner (RFC 8894): /scep/<provisioner> for network equipment, printers and MDM-enrolled
devices, with a shared challenge or one an MDM checks through step-ca's SCEPCHALLENGE webhook.

Uses only the kernel's public face (`plica.api`) and the kernel's `authority.issue` to sign. Its routes are
marked `insecure`: with ca.json's `insecureAddress` they are served over plain HTTP too, as most SCEP
clients need. The kernel registers this package: its hooks are the ones named here.
"""

from __future__ import annotations

from plica_scep.hooks import (
    authorize_sign,
    http_routes,
    provisioner_block_from_cli,
    provisioner_cli_options,
    provisioner_load,
    provisioner_public_json,
    provisioner_types,
)
from plica_scep.provisioner import SCEPConfig

__all__ = [
    "SCEPConfig",
    "authorize_sign",
    "http_routes",
    "provisioner_block_from_cli",
    "provisioner_cli_options",
    "provisioner_load",
    "provisioner_public_json",
    "provisioner_types",
]
