"""`plica provisioner add|update --type X5C --x5c-root FILE`: the roots go into ca.json as base64 of the PEM."""

from __future__ import annotations

import base64
from pathlib import Path

import click
from cryptography import x509

from plica.api import block_from_file_option, file_option, hookimpl


@hookimpl
def provisioner_cli_options() -> list[click.Option]:
    return [
        file_option(
            "--x5c-root",
            "--x5c-roots",
            "x5c_root",
            help="X5C: PEM file of the root certificate(s) that tokens' x5c chains must verify to "
            "(e.g. the CA's own certs/root_ca.crt).",
        ),
    ]


def roots_value(path: str) -> str:
    """ca.json's `roots`: standard base64 of the PEM text (a Go []byte), checked to hold certificates."""
    data = Path(path).read_bytes()
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise click.UsageError(f"{path} holds no PEM certificate")
    try:
        x509.load_pem_x509_certificates(data)
    except ValueError as e:
        raise click.UsageError(f"{path}: cannot parse a certificate: {e}") from None
    return base64.b64encode(data).decode("ascii")


provisioner_block_from_cli = block_from_file_option(
    "X5C",
    "x5c_root",
    "roots",
    roots_value,
    missing="an X5C provisioner needs its roots: give --x5c-root FILE",
)
