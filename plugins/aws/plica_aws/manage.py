"""`plica provisioner add|update --type AWS`: the ca.json block, with step's flags."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from plica.api import apply_instance_flags, file_option, hookimpl, instance_cli_options
from plica_aws.identity import load_roots
from plica_aws.provisioner import IMDS_VERSIONS


@hookimpl
def provisioner_cli_options() -> list[click.Option]:
    return [
        click.Option(
            ["--aws-account"],
            multiple=True,
            metavar="ID",
            help="AWS: an account whose instances may get certificates (repeatable; none: every account). "
            "update adds to the list.",
        ),
        click.Option(
            ["--remove-aws-account"],
            multiple=True,
            metavar="ID",
            help="AWS (update): remove this account from the list (repeatable).",
        ),
        file_option(
            "--iid-roots",
            help="AWS: PEM file of the certificates that verify instance identity documents (iidRoots; default "
            "AWS's published per-region certificates).",
        ),
        click.Option(
            ["--imds-version"],
            multiple=True,
            type=click.Choice(IMDS_VERSIONS),
            help="AWS: the metadata service versions clients use, in order (imdsVersions; repeatable; default "
            "v2 then v1).",
        ),
        *instance_cli_options(instance_age=True),
    ]


def _iid_roots(path: str) -> str:
    try:
        load_roots(Path(path).read_bytes())
    except ValueError as e:
        raise click.BadParameter(f"{path} {e}", param_hint="--iid-roots") from None
    # The CA reads the file when it loads; an absolute path does not depend on where it is started.
    return str(Path(path).resolve())


@hookimpl
def provisioner_block_from_cli(
    provisioner_type: str, name: str, options: dict[str, Any], existing: dict[str, Any] | None
) -> dict[str, Any] | None:
    block = dict(existing or {"type": "AWS", "name": name})
    accounts = list(block.get("accounts") or []) if existing else []
    accounts += [a for a in options.get("aws_account") or () if a not in accounts]
    removed = set(options.get("remove_aws_account") or ())
    if options.get("aws_account") or removed:
        accounts = [a for a in accounts if a not in removed]
        if accounts:
            block["accounts"] = accounts
        else:
            block.pop("accounts", None)
    if options.get("iid_roots"):
        block["iidRoots"] = _iid_roots(options["iid_roots"])
    if options.get("imds_version"):
        block["imdsVersions"] = list(dict.fromkeys(options["imds_version"]))
    apply_instance_flags(block, options, adding=existing is None)
    return block
