"""Changing the database's provisioners (remote management): the one path every client of the kernel takes,
the admin API's `/admin/provisioners` and the operators' console alike.

A change is validated by loading the whole resulting set of provisioners, with the plugins, before anything
is stored: a block that would not load (a bad key, a duplicate token key, a claim out of range) is a 400 and
leaves no row. After a write this instance reloads at once; the others within a second (`plica.admin.sync`).
"""

from __future__ import annotations

import re
from typing import Any

from plica.admin import sync
from plica.admin.errors import AdminError
from plica.admin.provstore import (
    StoredProvisioner,
    create_provisioner,
    get_provisioner,
    list_provisioners,
    remove_provisioner,
    update_provisioner,
    with_provisioners,
)
from plica.errors import ConfigError, PluginError

_POSITION = re.compile(r"ca\.json\.authority\.provisioners\[(\d+)\][.:]? ?(.*)", re.S)


def remote_management(authority: Any) -> bool:
    """Whether the provisioners live in the database (`enableAdmin`), and so may be changed remotely."""
    return authority.file_config is not None


def require_remote_management(authority: Any) -> None:
    if not remote_management(authority):
        raise AdminError(501, "administration API not enabled")


async def refresh_provisioners(authority: Any) -> None:
    """Install the database's provisioners now if another worker or instance changed them (each polls
    within a second anyway): a page listing them right after a change shows it, wherever it was made."""
    if remote_management(authority):
        await sync.refresh(authority)


async def check_loads(authority: Any, blocks: list[dict[str, Any]]) -> None:
    """AdminError 400 naming the provisioner unless `blocks` load as the CA's provisioners."""
    try:
        authority.load_snapshot(with_provisioners(authority.file_config, blocks))
    except (ConfigError, PluginError) as e:
        # The path names a position in a list the client never saw: say which provisioner instead.
        m = _POSITION.match(str(e))
        if m is None:
            raise AdminError(400, str(e)) from None
        name = blocks[int(m.group(1))].get("name")
        raise AdminError(400, f"provisioner {name!r}: {m.group(2)}") from None


async def _others(authority: Any, exclude: str | None = None) -> list[dict[str, Any]]:
    return [p.block for p in await list_provisioners(authority.storage) if p.id != exclude]


async def add_provisioner(authority: Any, block: dict[str, Any]) -> StoredProvisioner:
    """Add a provisioner (its ca.json block); 400 if its name is taken or the result does not load."""
    require_remote_management(authority)
    current = await _others(authority)
    if any(b.get("name") == block.get("name") for b in current):
        raise AdminError(400, f"a provisioner named {block.get('name')!r} already exists")
    await check_loads(authority, [*current, block])
    p = await create_provisioner(authority.storage, block)
    await sync.refresh(authority)
    return p


async def change_provisioner(
    authority: Any, old: StoredProvisioner, block: dict[str, Any]
) -> StoredProvisioner:
    """Replace a provisioner's block; its type never changes (its certificates carry it)."""
    require_remote_management(authority)
    if str(block.get("type", "")).upper() != old.type.upper():
        raise AdminError(400, f"cannot change the provisioner's type ({old.type})")
    await check_loads(authority, [*await _others(authority, old.id), block])
    p = await update_provisioner(authority.storage, old, block)
    await sync.refresh(authority)
    return p


async def delete_provisioner(authority: Any, p: StoredProvisioner) -> None:
    """Remove a provisioner and its admins (never the last super admin's)."""
    require_remote_management(authority)
    await remove_provisioner(authority.storage, p)
    await sync.refresh(authority)


async def stored_provisioner(authority: Any, name: str) -> StoredProvisioner:
    """The database's provisioner of that name; 404 if none, 501 without remote management."""
    require_remote_management(authority)
    return await get_provisioner(authority.storage, name=name)
