"""The ACME provisioner: an RFC 8555 server under /acme/<provisioner>/ (and /2.0/acme/<provisioner>/) with
http-01, dns-01 and tls-alpn-01 challenges, External Account Binding, key rollover and Renewal Information.

Uses only the kernel's public face (`plica.api`), and the kernel's `authority.issue` to sign at finalize.
The kernel registers this package: its hooks are hooks.py's, named here.
"""

from __future__ import annotations

from plica_acme.hooks import (
    authorize_renew,
    authorize_revoke,
    authorize_sign,
    cli_commands,
    http_routes,
    http_setup,
    provisioner_block_from_cli,
    provisioner_cli_options,
    provisioner_load,
    provisioner_public_json,
    provisioner_types,
    storage_migrations,
)
from plica_acme.panel import admin_panels
from plica_acme.provisioner import ACMEConfig

__all__ = [
    "ACMEConfig",
    "admin_panels",
    "authorize_renew",
    "authorize_revoke",
    "authorize_sign",
    "cli_commands",
    "http_routes",
    "http_setup",
    "provisioner_block_from_cli",
    "provisioner_cli_options",
    "provisioner_load",
    "provisioner_public_json",
    "provisioner_types",
    "storage_migrations",
]
