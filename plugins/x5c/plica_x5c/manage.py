"""`plica provisioner add|update --type X5C --x5c-root FILE`: the roots go into ca.json as base64 of the PEM."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import click
from cryptography import x509

from plica.api import file_option, hookimpl


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


@hookimpl
def provisioner_block_from_cli(
    provisioner_type: str, name: str, options: dict[str, Any], existing: dict[str, Any] | None
) -> dict[str, Any] | None:
    block = dict(existing or {"type": "X5C", "name": name})
    if options.get("x5c_root"):
        block["roots"] = roots_value(options["x5c_root"])
    if not block.get("roots"):
        raise click.UsageError("an X5C provisioner needs its roots: give --x5c-root FILE")
    return block
