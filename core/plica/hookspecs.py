"""The contract between the kernel and provisioner plugins.

A plugin is a module (found through the entry-point group `plica.provisioners`) that implements some of
these hooks with `@plica.hookspecs.hookimpl`.

Two kinds of hooks:

* **Per-type hooks** take a `provisioner` argument. The kernel calls them only on the plugin that registered
  the provisioner's type — never a broadcast — so a request costs one function call, and a type's
  capabilities are exactly the `authorize_*` hooks its plugin implements (`plica.plugins` derives the
  capability matrix from that; nobody writes it by hand).
* **Broadcast hooks** (no `provisioner` argument) are called on every plugin, once, at start-up or when the
  CLI is built: type registration, HTTP routes, CLI commands, storage migrations, start-up/shut-down tasks.

Every authorization hook either returns what it allows or raises a `plica.errors` exception (usually
`Unauthorized` for a bad credential, `Forbidden` for a good credential asking for too much).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click
    from aiohttp import web
    from cryptography import x509

    from plica.tokens import Token
    from plica.types import (
        AdminPanel,
        AuthorityView,
        ClientContext,
        Migration,
        Provisioner,
        ProvisionerType,
        RenewAuthorization,
        RevokeAuthorization,
        RevokeRequest,
        Route,
        SignRequest,
        SSHAuthorization,
        SSHRenewAuthorization,
        SSHRenewRequest,
        SSHRevokeAuthorization,
        SSHRevokeRequest,
        SSHSignRequest,
        X509Authorization,
    )

PROJECT = "plica"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# ============================================================================ registration (broadcast)


@hookspec
def provisioner_types() -> list[ProvisionerType]:
    """Return the provisioner types this plugin provides (usually one).

    Why a hook: the kernel knows no type; this is how a `type` in ca.json finds its config class, its
    provisioner-extension number and its row in the identifier-types table.
    """


# ============================================================================ per-type: lifecycle


@hookspec
def provisioner_load(provisioner: Provisioner, authority: AuthorityView) -> None:
    """Validate `provisioner.config` and prepare everything the hot path needs (parse keys, roots, build
    lookup tables) into `provisioner.state`. Called at start-up and on every reload, never per request.
    Raise `plica.errors.ConfigError(path, message)` for a bad block; the kernel prefixes the JSON path.

    Why a hook: only the type knows what its block means, and doing it once keeps requests lean.
    """


@hookspec
def provisioner_token_keys(provisioner: Provisioner) -> list[str]:
    """Return the keys under which a token finds this provisioner (docs/reference/wire.md §4a).

    The kernel derives candidate keys from every token, in step's order, and takes the first that a
    provisioner claimed: the audience fragment (`"x5c/<name>"`, `"sshpop/<name>"`, ...), then
    `"<iss>:<kid>"` (JWK), then `iss` (K8sSA: `"kubernetes/serviceaccount"`), `azp`, `tid`, and `aud[0]`
    (OIDC client id). A type that owns no tokens (ACME, SCEP) does not implement this.

    Why a hook: token ownership differs per type, and a lookup table built at load time keeps routing O(1).
    """


@hookspec
def provisioner_public_json(provisioner: Provisioner) -> dict[str, Any] | None:
    """Return the provisioner as `GET /provisioners` shows it, or None to show the ca.json block as is.

    Why a hook: what may be published differs per type (SCEP redacts its challenge; JWK publishes its
    encrypted key on purpose, as step-ca does).
    """


@hookspec
def provisioner_encrypted_key(provisioner: Provisioner) -> str | None:
    """Return the JWE of the provisioner's private key for `/provisioners/{kid}/encrypted-key`, if any.

    Why a hook: only JWK-like types hold one, and the kernel serves the endpoint without knowing them.
    """


# ============================================================================ per-type: authorization (capabilities)


@hookspec
def authorize_sign(
    provisioner: Provisioner, token: Token, request: SignRequest, authority: AuthorityView
) -> X509Authorization:
    """x509-sign: verify `token` for `/sign` and say which certificate it allows."""


@hookspec
def authorize_renew(
    provisioner: Provisioner, certificate: x509.Certificate, authority: AuthorityView
) -> RenewAuthorization | None:
    """x509-renew: may `certificate` (issued by this provisioner, presented over mTLS or in a renew token)
    be renewed? The kernel has already checked revocation, `disableRenewal` and expiry."""


@hookspec
def authorize_revoke(
    provisioner: Provisioner, token: Token, request: RevokeRequest, authority: AuthorityView
) -> RevokeAuthorization:
    """x509-revoke with a one-time token (`sub` must be the serial; the kernel checks that too)."""


@hookspec
def authorize_ssh_user_sign(
    provisioner: Provisioner, token: Token, request: SSHSignRequest, authority: AuthorityView
) -> SSHAuthorization:
    """ssh-user-cert-sign: verify `token` for `/ssh/sign` of a user certificate."""


@hookspec
def authorize_ssh_host_sign(
    provisioner: Provisioner, token: Token, request: SSHSignRequest, authority: AuthorityView
) -> SSHAuthorization:
    """ssh-host-cert-sign: verify `token` for `/ssh/sign` of a host certificate."""


@hookspec
def authorize_ssh_user_renew(
    provisioner: Provisioner, token: Token, request: SSHRenewRequest, authority: AuthorityView
) -> SSHRenewAuthorization:
    """ssh-user-cert-renew (no step-ca type has it; the column exists in the table of docs/reference/provisioners.md)."""


@hookspec
def authorize_ssh_host_renew(
    provisioner: Provisioner, token: Token, request: SSHRenewRequest, authority: AuthorityView
) -> SSHRenewAuthorization:
    """ssh-host-cert-renew: `/ssh/renew`; returns the host certificate to renew."""


@hookspec
def authorize_ssh_revoke(
    provisioner: Provisioner, token: Token, request: SSHRevokeRequest, authority: AuthorityView
) -> SSHRevokeAuthorization:
    """ssh-revoke: `/ssh/revoke` with a one-time token."""


@hookspec
def authorize_ssh_rekey(
    provisioner: Provisioner, token: Token, request: SSHRenewRequest, authority: AuthorityView
) -> SSHRenewAuthorization:
    """ssh-rekey: `/ssh/rekey`; returns the certificate whose principals the new key gets."""


# ============================================================================ extension (broadcast)


@hookspec
def http_routes(authority: AuthorityView) -> list[Route]:
    """Return extra HTTP routes (ACME under `/acme/…`, SCEP under `/scep/…`). A route marked
    `Route(..., insecure=True)` is also served on ca.json's `insecureAddress` (plain HTTP), which serves
    nothing else.

    Why a hook: protocol-authorized types speak their own protocol on their own paths; the kernel mounts
    them on the same server (and TLS, body limits, error handling)."""


@hookspec
def admin_panels(authority: AuthorityView) -> list[AdminPanel]:
    """Return what this plugin shows admins and lets them do, as tables and actions an operator's console
    renders (ACME: its accounts, orders in flight and EAB keys; creating and revoking a key).

    Why a hook: plugins may not import one another, so a console cannot call a protocol plugin's own
    functions; through this hook the plugin's data and operations reach any console, each action keeping the
    plugin's own checks. Called per console page view: keep it to a few indexed queries."""


@hookspec
def storage_migrations() -> list[Migration]:
    """Return the schema steps this plugin's tables need; the kernel applies each once, in order, in the
    same migration table as its own.

    Why a hook: ACME keeps accounts, orders and nonces in the shared database so several instances agree."""


@hookspec
def http_setup(app: web.Application, authority: AuthorityView) -> None:
    """Set up what this plugin keeps for as long as the server's application lives: store it in `app` under
    the plugin's own `web.AppKey` (its handlers read `request.app[KEY]`) and append an async generator to
    `app.cleanup_ctx` that starts it, yields, and stops it.

    Why a hook: protocol plugins (ACME, SCEP) keep per-server state (nonce pools, validators, background
    tasks). Held in the application instead of a module-level registry, it lives and dies with the server
    that made it; run through `cleanup_ctx`, its shutdown runs exactly when its startup ran, and the kernel's
    storage close (an earlier context) still runs when a plugin's startup fails.

    Called when: once per application, after the routes are added and before the server starts."""


@hookspec
async def on_startup(authority: AuthorityView) -> None:
    """Start background work that needs nothing but the authority. Awaited once per worker process, through
    the application's `cleanup_ctx` (so `on_shutdown` runs only if this finished). State a plugin's handlers
    need belongs in `http_setup` instead.

    Why a hook: some types need tasks that live as long as the server, started after the storage is open."""


@hookspec
async def on_shutdown(authority: AuthorityView) -> None:
    """Stop what `on_startup` started; awaited on graceful shutdown before the storage closes."""


@hookspec
def cli_commands() -> list[click.Command]:
    """Return extra `plica` sub-commands (e.g. `plica acme eab ...`).

    Why a hook: some types have their own operator workflows."""


@hookspec
def cli_client_options() -> list[click.Option]:
    """Return options added to the client commands (`plica token`, `plica certificate`,
    `plica ssh certificate`, `plica revoke`), e.g. `--x5c-cert/--x5c-key`. Values reach `client_token`
    in `ClientContext.options` by parameter name.

    Why a hook: how a client proves who it is differs per type, and the step CLI names the flags per type."""


@hookspec
def provisioner_cli_options() -> list[click.Option]:
    """Return the type-specific options of `plica provisioner add|update` (`--create`, `--client-id`, ...).

    Why a hook: the kernel edits ca.json but only the type knows its fields."""


# ============================================================================ per-type: client side and management


@hookspec(firstresult=True)
def client_token(provisioner_type: str, context: ClientContext, operation: str) -> str | None:
    """Make a token for `operation` ("sign", "revoke", "ssh-sign", "ssh-renew", "ssh-rekey", "ssh-revoke",
    "renew") with a provisioner of `provisioner_type` as the CA published it. Return None when the type
    is not yours (this hook is asked of plugins in turn until one answers).

    Why a hook: the client builds tokens of every installed type without knowing them."""


@hookspec(firstresult=True)
def provisioner_block_from_cli(
    provisioner_type: str, name: str, options: dict[str, Any], existing: dict[str, Any] | None
) -> dict[str, Any] | None:
    """Build (or, with `existing`, update) the ca.json block of a provisioner from `provisioner add|update`
    options; return None when the type is not yours. The kernel adds the common fields (claims, options,
    templates) afterwards and validates the result by loading it.

    Why a hook: the type-specific fields and side effects (`--create` makes a key pair) belong to the type."""
