"""Provisioners in the database (`authority.enableAdmin`): the `provisioners` table, the first start's
migration of ca.json's provisioners into it, and the writes of the admin API.

Each row holds the provisioner's ca.json block as JSON, so what the CA loads from the database is exactly
what it would load from ca.json (the same plugins, the same validation); the admin API's linkedca form is
a view of it (`plica.admin.linkedca`). Every write changes `config_state.version` through the table's
triggers, in the write's own transaction: instances polling that row reload (`plica.admin.sync`), and a
write that fails leaves neither a row nor a change behind.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import orjson
from attrs import frozen

from plica.admin.errors import AdminError
from plica.admin.store import DEFAULT_SUPER_ADMIN, bootstrap, locked
from plica.config import CAConfig
from plica.errors import ConfigError
from plica.storage import Storage, UniqueViolation

log = logging.getLogger("plica.admin")

# step-ca's admin.DefaultAuthorityID: the authority id of every object of a CA that is not linked.
AUTHORITY_ID = "00000000-0000-0000-0000-000000000000"
ADMIN_PROVISIONER = "Admin JWK"


@frozen
class StoredProvisioner:
    id: str
    name: str
    type: str
    block: dict[str, Any]
    created_at: int
    seq: int  # the list's order (creation, in microseconds; ca.json's order for migrated ones)


_COLUMNS = "id, name, type, block, created_at, seq"


def _row(r: Sequence[Any]) -> StoredProvisioner:
    return StoredProvisioner(
        id=r[0], name=r[1], type=r[2], block=orjson.loads(r[3]), created_at=int(r[4]), seq=int(r[5])
    )


async def list_provisioners(storage: Storage) -> list[StoredProvisioner]:
    rows = await storage.fetch_all(f"SELECT {_COLUMNS} FROM provisioners ORDER BY seq, id")
    return [_row(r) for r in rows]


async def get_provisioner(
    storage: Storage, *, name: str | None = None, id: str | None = None
) -> StoredProvisioner:
    """The provisioner of that name (or id); AdminError 404 when there is none."""
    column, value = ("name", name) if name is not None else ("id", id)
    r = await storage.fetch_one(f"SELECT {_COLUMNS} FROM provisioners WHERE {column} = ?", (value,))
    if r is None:
        raise AdminError(404, f"provisioner {value!r} does not exist")
    return _row(r)


async def config_version(storage: Storage) -> int:
    r = await storage.fetch_one("SELECT version FROM config_state WHERE id = 1")
    return int(r[0]) if r else 0


def _insert(p: StoredProvisioner) -> tuple[str, Sequence[Any]]:
    return (
        f"INSERT INTO provisioners ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
        (p.id, p.name, p.type, orjson.dumps(p.block).decode(), p.created_at, p.seq),
    )


def new_provisioner(block: dict[str, Any], offset: int = 0) -> StoredProvisioner:
    return StoredProvisioner(
        seq=time.time_ns() // 1000 + offset,
        id=str(uuid.uuid4()),
        name=str(block["name"]),
        type=str(block["type"]).upper(),
        block=block,
        created_at=int(time.time()),
    )


async def create_provisioner(storage: Storage, block: dict[str, Any]) -> StoredProvisioner:
    """Store a new provisioner (already validated by loading it); AdminError 400 if the name is taken."""
    p = new_provisioner(block)
    try:
        await storage.execute(*_insert(p))
    except UniqueViolation:
        raise AdminError(400, f"a provisioner named {p.name!r} already exists") from None
    return p


async def update_provisioner(
    storage: Storage, old: StoredProvisioner, block: dict[str, Any]
) -> StoredProvisioner:
    """Replace a provisioner's block; a new name carries its admins along (they are bound by name)."""
    new = attrs.evolve(old, name=str(block["name"]), block=block)
    statements: list[tuple[str, Sequence[Any]]] = [
        *locked(storage),
        (
            "UPDATE provisioners SET name = ?, block = ? WHERE id = ?",
            (new.name, orjson.dumps(block).decode(), old.id),
        ),
    ]
    if new.name != old.name:
        statements.append(
            ("UPDATE admins SET provisioner_name = ? WHERE provisioner_name = ?", (new.name, old.name))
        )
    try:
        await storage.execute_many(statements)
    except UniqueViolation:
        raise AdminError(400, f"a provisioner named {new.name!r} already exists") from None
    return new


async def remove_provisioner(storage: Storage, p: StoredProvisioner) -> None:
    """Remove a provisioner and its admins, unless that would leave the CA without a super admin."""
    await storage.execute_many(
        [
            *locked(storage),
            (
                "DELETE FROM provisioners WHERE id = ? AND (NOT EXISTS (SELECT 1 FROM admins WHERE"
                " type = 'SUPER_ADMIN' AND provisioner_name = ?) OR EXISTS (SELECT 1 FROM admins WHERE"
                " type = 'SUPER_ADMIN' AND provisioner_name <> ?))",
                (p.id, p.name, p.name),
            ),
            (
                "DELETE FROM admins WHERE provisioner_name = ? AND NOT EXISTS"
                " (SELECT 1 FROM provisioners WHERE name = ?)",
                (p.name, p.name),
            ),
        ]
    )
    if await storage.fetch_one("SELECT 1 FROM provisioners WHERE id = ?", (p.id,)) is not None:
        raise AdminError(400, f"removing provisioner {p.name!r} would remove the last super admin")


def with_provisioners(cfg: CAConfig, blocks: list[dict[str, Any]]) -> CAConfig:
    """`cfg` with its provisioners replaced (those of the database)."""
    return attrs.evolve(cfg, authority=attrs.evolve(cfg.authority, provisioners=blocks))


async def database_config(storage: Storage, cfg: CAConfig) -> CAConfig:
    """The configuration the CA serves with `enableAdmin`: ca.json with the database's provisioners."""
    return with_provisioners(cfg, [p.block for p in await list_provisioners(storage)])


async def migrate_from_config(
    storage: Storage, cfg: CAConfig, plugins: Any, password: bytes | None
) -> list[StoredProvisioner]:
    """The first start with `enableAdmin` (docs/admin.md "Provisioners in the database"): ca.json's
    provisioners go into the database, the first JWK becomes the admin provisioner (or a new `Admin JWK`
    is made, its key encrypted with `password`), and `step` becomes its super admin. Later starts ignore
    ca.json's provisioners, and say so. Returns what was migrated (nothing after the first time)."""
    row = await storage.fetch_one("SELECT migrated FROM config_state WHERE id = 1")
    if row is not None and int(row[0]):
        if cfg.authority.provisioners:
            log.warning(
                "ca.json lists %d provisioner(s), ignored: with enableAdmin the provisioners are in the "
                "database (manage them with `plica provisioner ... --admin-cert`); remove them from ca.json",
                len(cfg.authority.provisioners),
            )
        return []
    blocks = [dict(b) for b in cfg.authority.provisioners]
    if not any(str(b.get("type", "")).upper() == "JWK" for b in blocks):
        blocks.insert(0, admin_jwk_block(plugins, password))
    made = [new_provisioner(b, i) for i, b in enumerate(blocks)]
    try:
        await storage.execute_many(
            [
                *[_insert(p) for p in made],
                ("UPDATE config_state SET migrated = ? WHERE id = 1", (int(time.time()),)),
            ]
        )
    except UniqueViolation:
        return []  # another instance of this CA migrated them a moment ago
    for p in made:
        log.info("migrated provisioner %r (%s) from ca.json into the database", p.name, p.type)
    await bootstrap(storage, blocks)
    return made


def admin_jwk_block(plugins: Any, password: bytes | None, name: str = ADMIN_PROVISIONER) -> dict[str, Any]:
    """A new JWK provisioner for admins, its private key encrypted with `password`."""
    if not password:
        raise ConfigError(
            "ca.json.authority.provisioners",
            f"enableAdmin needs a JWK provisioner for the super admin {DEFAULT_SUPER_ADMIN!r}; to create "
            f"{name!r}, give the password for its key (--password-file)",
        )
    make = plugins.type_hook("JWK", "provisioner_block_from_cli")
    if make is None:
        raise ConfigError("ca.json.authority", "enableAdmin needs the JWK provisioner plugin (plica-jwk)")
    block: dict[str, Any] = make(
        provisioner_type="JWK", name=name, options={"create": True, "password": password}, existing=None
    )
    return block


def remote_management_init(config_path: Any, plugins: Any) -> list[StoredProvisioner]:
    """`plica init --remote-management`: turn `enableAdmin` on in the new ca.json and move its
    provisioners (the `Admin JWK` one) into the database now, with super admin `step`; ca.json keeps an
    empty list, as the spec's procedure ends."""
    import asyncio

    from plica import config as config_mod
    from plica.storage import open_storage_for

    raw = orjson.loads(Path(config_path).read_bytes())
    raw.setdefault("authority", {})["enableAdmin"] = True
    Path(config_path).write_bytes(orjson.dumps(raw, option=orjson.OPT_INDENT_2) + b"\n")
    cfg = config_mod.load(config_path)

    async def run() -> list[StoredProvisioner]:
        storage = open_storage_for(cfg)
        await storage.open()
        try:
            migrations = [m for res in plugins.pm.hook.storage_migrations() for m in (res or [])]
            await storage.migrate(migrations)
            return await migrate_from_config(storage, cfg, plugins, None)
        finally:
            await storage.close()

    made = asyncio.run(run())
    raw["authority"]["provisioners"] = []
    Path(config_path).write_bytes(orjson.dumps(raw, option=orjson.OPT_INDENT_2) + b"\n")
    return made
