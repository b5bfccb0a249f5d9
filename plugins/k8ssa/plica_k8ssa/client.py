"""Client side of the K8sSA provisioner: the pod's service-account token is the one-time token."""

from __future__ import annotations

from pathlib import Path

import click

from plica.api import ClientContext, hookimpl

DEFAULT_TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount/token"


@hookimpl
def cli_client_options() -> list[click.Option]:
    return [
        click.Option(
            ["--k8ssa-token-path"],
            type=click.Path(dir_okay=False),
            default=DEFAULT_TOKEN_PATH,
            show_default=True,
            help="K8sSA provisioner: the Kubernetes service-account token to authenticate with (the mounted "
            "secret token, or a projected token's path).",
        ),
    ]


@hookimpl
def client_token(provisioner_type: str, context: ClientContext, operation: str) -> str | None:
    path = Path(context.options.get("k8ssa_token_path") or DEFAULT_TOKEN_PATH)
    try:
        token = path.read_text().strip()
    except OSError as e:
        raise click.UsageError(
            f"cannot read the service-account token {path}: {e.strerror} (use --k8ssa-token-path)"
        ) from None
    if token.count(".") != 2:
        raise click.UsageError(f"{path} does not hold a JWT service-account token")
    return token
