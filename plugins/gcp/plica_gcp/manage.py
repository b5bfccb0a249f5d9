"""`plica provisioner add|update --type GCP`: the ca.json block, with step's flags (`--gcp-service-account`,
`--gcp-project`, their `--remove-...` forms on update, `--instance-age`, `--disable-custom-sans`,
`--disable-trust-on-first-use`) and Plica's `--gcp-jwks-url`."""

from __future__ import annotations

from typing import Any

import click

from plica.api import apply_instance_flags, check_url, hookimpl, instance_cli_options

# (option name, flag, ca.json key, what a value is) of the repeatable allow-list flags.
LISTS = (
    ("gcp_service_account", "--gcp-service-account", "serviceAccounts", "service account (e-mail or id)"),
    ("gcp_project", "--gcp-project", "projectIDs", "project id"),
)


@hookimpl
def provisioner_cli_options() -> list[click.Option]:
    opts: list[click.Option] = []
    for name, flag, key, what in LISTS:
        opts += [
            click.Option(
                [flag, name],
                multiple=True,
                help=f"GCP: allow this {what} ({key}; repeatable; update adds to the list).",
            ),
            click.Option(
                [f"--remove-{flag[2:]}", f"remove_{name}"],
                multiple=True,
                help=f"GCP, update: remove this {what} from {key} (repeatable).",
            ),
        ]
    return [
        *opts,
        click.Option(
            ["--gcp-jwks-url"],
            default=None,
            help="GCP: jwksURL, where Google's signing keys are fetched (default "
            'https://www.googleapis.com/oauth2/v3/certs; "" removes it).',
        ),
        *instance_cli_options(instance_age=True),
    ]


def _update_list(block: dict[str, Any], key: str, add: tuple[str, ...], remove: tuple[str, ...]) -> None:
    values = [v for v in block.get(key) or [] if v not in remove]
    values += [v for v in dict.fromkeys(add) if v and v not in values]
    block.pop(key, None)
    if values:
        block[key] = values


def _set_or_remove(block: dict[str, Any], key: str, value: str | None) -> None:
    if value is None:
        return
    block.pop(key, None)
    if value:
        block[key] = value


@hookimpl
def provisioner_block_from_cli(
    provisioner_type: str, name: str, options: dict[str, Any], existing: dict[str, Any] | None
) -> dict[str, Any] | None:
    block = dict(existing or {"type": "GCP", "name": name})
    for opt, _, key, _ in LISTS:
        _update_list(block, key, tuple(options.get(opt) or ()), tuple(options.get(f"remove_{opt}") or ()))
    url = options.get("gcp_jwks_url")
    if url:
        try:
            check_url(url, "--gcp-jwks-url")
        except ValueError as e:
            raise click.UsageError(str(e)) from None
    _set_or_remove(block, "jwksURL", url)
    apply_instance_flags(block, options, adding=existing is None)
    return block
