"""Every kernel hook the ACME plugin implements (the package's `__init__` hands them to the kernel).

ACME is authorized by its protocol (accounts, orders, challenges), not by tokens: `authorize_sign` exists so
the capability matrix shows x509-sign, and refuses the token flow as step-ca does. Certificates are issued
at finalize through the kernel's `issue` (claims, templates, policy, the provisioner extension, storage).
"""

from __future__ import annotations

from typing import Any

import click
from aiohttp import web

from plica.api import (
    AuthorityView,
    BadRequest,
    Migration,
    Provisioner,
    ProvisionerType,
    RevokeAuthorization,
    RevokeRequest,
    Route,
    SignRequest,
    Token,
    X509Authorization,
    hookimpl,
    renew_with_kernel_checks,
)

from . import cli, runtime
from .api.routes import routes
from .provisioner import TYPE, load_state
from .schema import MIGRATIONS

# step-ca's ACME AuthorizeRenew is the controller's check (disableRenewal, expiry), which the kernel makes:
# an ACME certificate renews over mTLS or with a renew token like any other.
authorize_renew = renew_with_kernel_checks


@hookimpl
def provisioner_types() -> list[ProvisionerType]:
    return [TYPE]


@hookimpl
def provisioner_load(provisioner: Provisioner, authority: AuthorityView) -> None:
    provisioner.state = load_state(provisioner.config)


@hookimpl
def authorize_sign(
    provisioner: Provisioner, token: Token, request: SignRequest, authority: AuthorityView
) -> X509Authorization:
    # Protocol-authorized, as in step-ca: the token flow is refused; the ACME endpoints issue through
    # the same kernel pipeline (authority.issue) at finalize.
    raise BadRequest(
        f"provisioner {provisioner.name!r} is an ACME provisioner: request certificates with an ACME client "
        f"at /acme/{provisioner.name}/directory, not with a token"
    )


@hookimpl
def authorize_revoke(
    provisioner: Provisioner, token: Token, request: RevokeRequest, authority: AuthorityView
) -> RevokeAuthorization:
    # step-ca's ACME AuthorizeRevoke is a no-op: revocation is authorized by the ACME protocol (revokeCert
    # signed by the account or the certificate key). No token names an ACME provisioner, so this is only
    # reached by a request the kernel already routed here.
    return RevokeAuthorization(token_id=token.hash_id())


# What step-ca publishes of an ACME provisioner (its ACME struct's JSON; challenges and the attestation
# settings since 0.22). The rest of the block is operational (`validation`: resolver, ports, timeouts)
# and stays in ca.json.
PUBLIC_FIELDS = (
    "type",
    "name",
    "forceCN",
    "requireEAB",
    "challenges",
    "attestationFormats",
    "attestationRoots",
    "claims",
    "options",
)


@hookimpl
def provisioner_public_json(provisioner: Provisioner) -> dict[str, Any] | None:
    return {k: provisioner.raw[k] for k in PUBLIC_FIELDS if k in provisioner.raw}


@hookimpl
def http_routes(authority: AuthorityView) -> list[Route]:
    return routes(authority)


@hookimpl
def http_setup(app: web.Application, authority: AuthorityView) -> None:
    runtime.setup(app, authority)


@hookimpl
def storage_migrations() -> list[Migration]:
    return list(MIGRATIONS)


@hookimpl
def cli_commands() -> list[click.Command]:
    return [cli.acme_group]


@hookimpl
def provisioner_cli_options() -> list[click.Option]:
    return cli.provisioner_options()


@hookimpl
def provisioner_block_from_cli(
    provisioner_type: str, name: str, options: dict[str, Any], existing: dict[str, Any] | None
) -> dict[str, Any]:
    return cli.provisioner_block(name, options, existing)
