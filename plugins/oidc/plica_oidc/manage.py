"""`plica provisioner add|update --type OIDC`: the ca.json block, with step's flags (`--client-id`,
`--client-secret`, `--configuration-endpoint`, `--tenant-id`, `--listen-address`, the repeatable `--domain`,
`--group`, `--admin`, `--scope`, `--auth-param` and their `--remove-...` forms on update)."""

from __future__ import annotations

from typing import Any

import click

from plica.api import check_url, hookimpl

# (option name, flag, ca.json key, what a value is) of the repeatable list flags.
LISTS = (
    ("oidc_domain", "--domain", "domains", "e-mail domain allowed to sign in"),
    ("oidc_group", "--group", "groups", "group a person must be in"),
    ("oidc_admin", "--admin", "admins", "admin (e-mail address or group)"),
    ("oidc_scope", "--scope", "scopes", "scope the client asks for"),
    ("oidc_auth_param", "--auth-param", "authParams", "name=value parameter of the authorization request"),
)
# (option name, flag, ca.json key) of the single-value settings; "" removes the setting on update.
VALUES = (
    ("client_id", "--client-id", "clientID"),
    ("client_secret", "--client-secret", "clientSecret"),
    ("configuration_endpoint", "--configuration-endpoint", "configurationEndpoint"),
    ("tenant_id", "--tenant-id", "tenantID"),
    ("listen_address", "--listen-address", "listenAddress"),
)


@hookimpl
def provisioner_cli_options() -> list[click.Option]:
    opts: list[click.Option] = [
        click.Option([flag, name], default=None, help=f"OIDC: {key}.") for name, flag, key in VALUES
    ]
    for name, flag, key, what in LISTS:
        opts += [
            click.Option(
                [flag, name], multiple=True, help=f"OIDC: {what} ({key}; repeatable; update adds to it)."
            ),
            click.Option(
                [f"--remove-{flag[2:]}", f"remove_{name}"],
                multiple=True,
                help=f"OIDC, update: remove this {what} from {key} (repeatable).",
            ),
        ]
    return opts


def _update_list(block: dict[str, Any], key: str, add: tuple[str, ...], remove: tuple[str, ...]) -> None:
    values = [v for v in block.get(key) or [] if v not in remove]
    values += [v for v in dict.fromkeys(add) if v and v not in values]
    block.pop(key, None)
    if values:
        block[key] = values


@hookimpl
def provisioner_block_from_cli(
    provisioner_type: str, name: str, options: dict[str, Any], existing: dict[str, Any] | None
) -> dict[str, Any] | None:
    block = dict(existing or {"type": "OIDC", "name": name})
    for opt, flag, key in VALUES:
        value = options.get(opt)
        if value is None:
            continue
        if key == "configurationEndpoint" and value:
            try:
                check_url(value, flag)
            except ValueError as e:
                raise click.UsageError(str(e)) from None
        block.pop(key, None)
        if value or key == "clientSecret":  # an empty secret is step's public client
            block[key] = value
    for opt, _, key, _ in LISTS:
        _update_list(block, key, tuple(options.get(opt) or ()), tuple(options.get(f"remove_{opt}") or ()))
    for flag, key in (("--client-id", "clientID"), ("--configuration-endpoint", "configurationEndpoint")):
        if not block.get(key):
            raise click.UsageError(f"an OIDC provisioner needs {flag}")
    block.setdefault("clientSecret", "")
    return block
