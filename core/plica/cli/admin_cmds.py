"""`plica admin list|add|update|remove`: the admins of the admin API, edited in the CA's database on the
CA machine (as `plica acme eab` edits EAB keys; a running CA sees the change at its next request), or
through the remote CA's admin API with --admin-cert/--admin-provisioner or from a machine without a CA
(plica.cli.remote_cmds)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import orjson

from plica import config as config_mod
from plica.admin.errors import AdminError
from plica.admin.provstore import list_provisioners, migrate_from_config
from plica.admin.store import Admin, AdminType, add_admin, bootstrap, get_admin, list_admins, remove_admin
from plica.cli import remote_cmds as remote
from plica.cli.common import default_home, home_option
from plica.errors import ConfigError
from plica.plugins import get_plugins
from plica.storage import StorageError, db_source, open_storage

T = TypeVar("T")

_config_option = click.option(
    "--config", "config", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="Path to ca.json (default <home>/config/ca.json).",
)  # fmt: skip
_json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def _run(home: Path | None, config: Path | None, fn: Callable[[Any, Any], Awaitable[T]]) -> T:
    """Open the database of the CA's ca.json, apply the kernel schema, seed the first super admin when
    `enableAdmin` is on (what `plica start` does), and run `fn(storage, cfg)`."""
    path = config or (home or default_home()) / "config" / "ca.json"
    try:
        cfg = config_mod.load(path)
    except ConfigError as e:
        raise click.ClickException(e.in_file(path)) from None

    async def run() -> T:
        storage = open_storage(*db_source(cfg))
        await storage.open()
        try:
            await storage.migrate([])
            if cfg.authority.enable_admin:
                # what the CA's first start does: ca.json's provisioners into the database, then `step`
                await migrate_from_config(storage, cfg, get_plugins(), None)
                await bootstrap(storage, cfg.authority.provisioners)
            return await fn(storage, cfg)
        finally:
            await storage.close()

    try:
        return asyncio.run(run())
    except AdminError as e:
        raise click.ClickException(e.message) from None
    except StorageError as e:
        raise click.ClickException(f"database error: {e}") from None
    except ConfigError as e:
        raise click.ClickException(str(e)) from None


def _warn_if_disabled(cfg: Any) -> None:
    if not cfg.authority.enable_admin:
        click.echo(
            "Note: the admin API is off; set authority.enableAdmin to true in ca.json and restart the CA.",
            err=True,
        )


def _print(admins: list[Admin], as_json: bool) -> None:
    if as_json:
        click.echo(orjson.dumps([a.to_json() for a in admins], option=orjson.OPT_INDENT_2).decode())
        return
    if not admins:
        click.echo("No admins.")
        return
    width = max(len(a.subject) for a in admins)
    click.echo(f"{'SUBJECT':<{width}}  {'PROVISIONER':<20}  {'TYPE':<11}  ID")
    for a in admins:
        click.echo(f"{a.subject:<{width}}  {a.provisioner:<20}  {a.type:<11}  {a.id}")


@click.group("admin")
def admin_group() -> None:
    """Admins of the admin API (a subject bound to a provisioner; super admins manage admins)."""


@admin_group.command("list")
@click.option("--provisioner", help="Only the admins of this provisioner.")
@click.option("--super", "only_super", is_flag=True, help="Only super admins.")
@home_option
@_config_option
@_json_option
@remote.with_remote_options
def list_cmd(
    provisioner: str | None,
    only_super: bool,
    home: Path | None,
    config: Path | None,
    as_json: bool,
    **kw: Any,
) -> None:
    """List the admins (of the remote CA with --admin-cert or --admin-provisioner)."""
    kw["client_machine"] = remote.on_client_machine(kw, home, config)
    if remote.requested(kw):
        found = [a for a in remote.admin_list(kw) if provisioner in (None, a["provisioner"])]
        _print_remote([a for a in found if a["type"] == "SUPER_ADMIN" or not only_super], as_json)
        return

    async def run(storage: Any, cfg: Any) -> list[Admin]:
        _warn_if_disabled(cfg)
        return await list_admins(storage, provisioner=provisioner)

    admins = _run(home, config, run)
    _print([a for a in admins if a.is_super or not only_super], as_json)


@admin_group.command("add")
@click.argument("subject")
@click.argument("provisioner")
@click.option("--super", "make_super", is_flag=True, help="Make a super admin (may manage admins).")
@home_option
@_config_option
@_json_option
@remote.with_remote_options
def add_cmd(
    subject: str,
    provisioner: str,
    make_super: bool,
    home: Path | None,
    config: Path | None,
    as_json: bool,
    **kw: Any,
) -> None:
    """Make SUBJECT of PROVISIONER an admin: a certificate that PROVISIONER issued naming SUBJECT (as its
    CN, a DNS SAN or an email) then authenticates admin requests."""
    kw["client_machine"] = remote.on_client_machine(kw, home, config)
    if remote.requested(kw):
        _print_remote([remote.admin_add(kw, subject, provisioner, make_super)], as_json)
        return

    async def run(storage: Any, cfg: Any) -> Admin:
        names = [p.get("name") for p in cfg.authority.provisioners]
        if cfg.authority.enable_admin:
            names = [p.name for p in await list_provisioners(storage)]
        if provisioner not in names:
            raise click.ClickException(f"the CA has no provisioner named {provisioner!r}")
        _warn_if_disabled(cfg)
        kind: AdminType = "SUPER_ADMIN" if make_super else "ADMIN"
        return await add_admin(storage, subject, provisioner, kind)

    _print([_run(home, config, run)], as_json)


@admin_group.command("remove")
@click.argument("subject")
@click.option("--provisioner", help="The provisioner of the admin, when SUBJECT is an admin of several.")
@home_option
@_config_option
@remote.with_remote_options
def remove_cmd(
    subject: str, provisioner: str | None, home: Path | None, config: Path | None, **kw: Any
) -> None:
    """Remove the admin SUBJECT (or the admin with that ID). The last super admin cannot be removed."""
    kw["client_machine"] = remote.on_client_machine(kw, home, config)
    if remote.requested(kw):
        found = remote.admin_find(kw, subject, provisioner)
        remote.admin_remove(kw, found["id"])
        click.echo(f"Removed admin {found['subject']} ({found['provisioner']}, {found['type']}).")
        return

    async def run(storage: Any, cfg: Any) -> Admin:
        by_id = await get_admin(storage, subject)
        if by_id is not None:
            matches = [by_id]
        else:
            matches = [a for a in await list_admins(storage, provisioner=provisioner) if a.subject == subject]
        if not matches:
            where = f" of provisioner {provisioner!r}" if provisioner else ""
            raise click.ClickException(f"there is no admin {subject!r}{where}")
        if len(matches) > 1:
            provs = ", ".join(a.provisioner for a in matches)
            raise click.ClickException(
                f"{subject!r} is an admin of several provisioners ({provs}): choose one with --provisioner"
            )
        await remove_admin(storage, matches[0].id)
        return matches[0]

    gone = _run(home, config, run)
    click.echo(f"Removed admin {gone.subject} ({gone.provisioner}, {gone.type}).")


@admin_group.command("update")
@click.argument("subject")
@click.option(
    "--super/--not-super", "make_super", required=True, help="Make a super admin, or a plain admin."
)
@click.option("--provisioner", help="The provisioner of the admin, when SUBJECT is an admin of several.")
@_json_option
@remote.with_remote_options
def update_cmd(subject: str, make_super: bool, provisioner: str | None, as_json: bool, **kw: Any) -> None:
    """Change the type of the admin SUBJECT (or the admin with that ID) on the remote CA; the last super
    admin cannot be demoted. Without --admin-cert or --admin-provisioner it signs in through the CA's
    JWK provisioner (`Admin JWK`), asking for its password."""
    found = remote.admin_find(kw, subject, provisioner)
    remote.admin_update(kw, found["id"], make_super)
    _print_remote([{**found, "type": "SUPER_ADMIN" if make_super else "ADMIN"}], as_json)


def _print_remote(admins: list[dict[str, Any]], as_json: bool) -> None:
    _print(
        [
            Admin(
                id=a["id"], subject=a["subject"], provisioner=a["provisioner"], type=a["type"], created_at=0
            )
            for a in admins
        ],
        as_json,
    )
