"""`plica provisioner add|update --type Nebula --nebula-root FILE`: the ca.json block."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import click

from plica.api import file_option, hookimpl
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


@hookimpl
def provisioner_block_from_cli(
    provisioner_type: str, name: str, options: dict[str, Any], existing: dict[str, Any] | None
) -> dict[str, Any] | None:
    block = dict(existing or {"type": "Nebula", "name": name})
    if options.get("nebula_root"):
        block["roots"] = roots_value(options["nebula_root"])
    if not block.get("roots"):
        raise click.UsageError("a Nebula provisioner needs its Nebula CA certificate: use --nebula-root")
    return block
