"""`plica provisioner ...`: list what a CA offers, and what this installation can do."""

from __future__ import annotations

from typing import Any

import click
import orjson

from plica.cli.client_cmds import client_for
from plica.client import CAClientError
from plica.plugins import get_plugins


@click.group("provisioner")
def provisioner_group() -> None:
    """Provisioners: list, capabilities (and, on the CA machine, add/update/remove)."""


@provisioner_group.command("list")
@click.option("--ca-url", envvar="PLICA_CA_URL")
@click.option("--root", envvar="PLICA_ROOT", type=click.Path(dir_okay=False))
def list_cmd(**kw: Any) -> None:
    """Print the CA's provisioners as JSON (from its /provisioners endpoint)."""
    try:
        provs = client_for(kw).provisioners()
    except CAClientError as e:
        raise click.ClickException(f"cannot list provisioners: {e}") from None
    click.echo(orjson.dumps(provs, option=orjson.OPT_INDENT_2).decode())


def capability_table() -> str:
    from plica.api import CAPABILITIES

    plugins = get_plugins()
    rows = plugins.capability_rows()
    caps = list(CAPABILITIES)
    lines: list[str] = []
    if not rows:
        lines.append("No provisioner types are installed (pip install plica-jwk, plica-acme, ...).")
    else:
        width = max(len("type"), *(len(r["type"]) for r in rows))
        lines.append("type".ljust(width) + "  " + "  ".join(caps))
        for r in rows:
            marks = ["✔".center(len(c)) if c in r["capabilities"] else "-".center(len(c)) for c in caps]
            lines.append(r["type"].ljust(width) + "  " + "  ".join(marks))
        lines.append("")
        ident = plugins.identifier_rows()
        if ident:
            cols = list(ident[0]["columns"])
            w = max(len("identifier"), *(len(i["identifier"]) for i in ident))
            lines.append("identifier".ljust(w) + "  " + "  ".join(cols))
            for i in ident:
                lines.append(
                    i["identifier"].ljust(w)
                    + "  "
                    + "  ".join(("✔" if i["columns"][c] else "-").center(len(c)) for c in cols)
                )
    for f in plugins.failures:
        lines.append(f"warning: {f}")
    return "\n".join(lines)


@provisioner_group.command("capabilities")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (the same as GET /capabilities).")
def capabilities_cmd(as_json: bool) -> None:
    """Show each installed provisioner type and the capabilities its plugin implements."""
    if as_json:
        p = get_plugins()
        click.echo(
            orjson.dumps(
                {"provisionerTypes": p.capability_rows(), "identifierTypes": p.identifier_rows()},
                option=orjson.OPT_INDENT_2,
            ).decode()
        )
    else:
        click.echo(capability_table())
