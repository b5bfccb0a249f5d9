"""The ACME provisioner: an RFC 8555 server under /acme/<provisioner>/ (and /2.0/acme/<provisioner>/) with
http-01, dns-01 and tls-alpn-01 challenges, External Account Binding, key rollover and Renewal Information.

Uses the kernel's public API (hooks, `plica.api`, `plica.jose`, `plica.errors`, storage through the
AuthorityView) and the kernel's `authority.issue` to sign at finalize.
"""

from __future__ import annotations

from plica_acme.cli import cli_commands, provisioner_block_from_cli, provisioner_cli_options
from plica_acme.provisioner import (
    ACMEConfig,
    authorize_renew,
    authorize_revoke,
    authorize_sign,
    provisioner_load,
    provisioner_types,
)
from plica_acme.routes import http_routes, on_shutdown, on_startup, storage_migrations

__all__ = [
    "ACMEConfig",
    "authorize_renew",
    "authorize_revoke",
    "authorize_sign",
    "cli_commands",
    "http_routes",
    "on_shutdown",
    "on_startup",
    "provisioner_block_from_cli",
    "provisioner_cli_options",
    "provisioner_load",
    "provisioner_types",
    "storage_migrations",
]
