"""`plica provisioner add|update --type Nebula --nebula-root FILE`: the ca.json block."""

from __future__ import annotations

import base64
from pathlib import Path

import click

from plica.api import block_from_file_option, file_option, hookimpl
from plica_nebula.cert import NebulaCAPool, NebulaCertificateError, parse_pem


@hookimpl
def provisioner_cli_options() -> list[click.Option]:
    return [
        file_option(
            "--nebula-root",
            help="Nebula: the Nebula CA certificate(s) (PEM, e.g. /etc/nebula/ca.crt) that issue the host "
            "certificates clients authenticate with.",
        ),
    ]


def roots_value(path: str) -> str:
    """The `roots` value for a PEM file of Nebula CA certificates, checked as the CA will check it."""
    pem = Path(path).read_bytes()
    try:
        NebulaCAPool(parse_pem(pem))
    except NebulaCertificateError as e:
        raise click.UsageError(f"{path}: not usable as Nebula CA certificates: {e}") from None
    return base64.b64encode(pem).decode()


provisioner_block_from_cli = block_from_file_option(
    "Nebula",
    "nebula_root",
    "roots",
    roots_value,
    missing="a Nebula provisioner needs its Nebula CA certificate: use --nebula-root",
)
