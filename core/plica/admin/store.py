"""The admins (the `admins` table): listing, finding, adding and removing them, and the first super admin
a new CA creates for itself."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from attrs import frozen

from plica.admin.errors import AdminError
from plica.durations import rfc3339
from plica.storage import Storage, UniqueViolation

log = logging.getLogger("plica.admin")

AdminType = Literal["ADMIN", "SUPER_ADMIN"]
ADMIN_TYPES: tuple[AdminType, ...] = ("ADMIN", "SUPER_ADMIN")
DEFAULT_SUPER_ADMIN = "step"
MAX_SUBJECT_LENGTH = 1024


@frozen
class Admin:
    id: str
    subject: str
    provisioner: str
    type: AdminType
    created_at: int

    @property
    def is_super(self) -> bool:
        return self.type == "SUPER_ADMIN"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "subject": self.subject,
            "provisioner": self.provisioner,
            "type": self.type,
            "createdAt": rfc3339(self.created_at),
        }


_COLUMNS = "id, subject, provisioner_name, type, created_at"


def _admin(row: Sequence[Any]) -> Admin:
    return Admin(id=row[0], subject=row[1], provisioner=row[2], type=row[3], created_at=int(row[4]))


async def list_admins(storage: Storage, *, provisioner: str | None = None) -> list[Admin]:
    if provisioner is None:
        rows = await storage.fetch_all(f"SELECT {_COLUMNS} FROM admins ORDER BY created_at, id")
    else:
        rows = await storage.fetch_all(
            f"SELECT {_COLUMNS} FROM admins WHERE provisioner_name = ? ORDER BY created_at, id",
            (provisioner,),
        )
    return [_admin(r) for r in rows]


async def get_admin(storage: Storage, admin_id: str) -> Admin | None:
    row = await storage.fetch_one(f"SELECT {_COLUMNS} FROM admins WHERE id = ?", (admin_id,))
    return _admin(row) if row else None


async def find_admin(storage: Storage, subjects: Sequence[str], provisioner: str) -> Admin | None:
    """The admin among `subjects` bound to `provisioner` (the first in `subjects` order, as step tries them)."""
    names = [s for s in dict.fromkeys(subjects) if s]
    if not names:
        return None
    marks = ", ".join("?" for _ in names)
    rows = await storage.fetch_all(
        f"SELECT {_COLUMNS} FROM admins WHERE provisioner_name = ? AND subject IN ({marks})",
        (provisioner, *names),
    )
    found = {r[1]: _admin(r) for r in rows}
    return next((found[s] for s in names if s in found), None)


async def add_admin(storage: Storage, subject: str, provisioner: str, type: AdminType = "ADMIN") -> Admin:
    """Add an admin. AdminError 400 for a bad subject or type, 409 if the pair exists. The caller checks
    that the provisioner exists (it knows the configuration)."""
    if not subject or subject != subject.strip() or len(subject) > MAX_SUBJECT_LENGTH:
        raise AdminError(400, "admin subject must be non-empty, without surrounding spaces, and short")
    if type not in ADMIN_TYPES:
        raise AdminError(400, f"admin type must be one of {', '.join(ADMIN_TYPES)}")
    admin = Admin(
        id=str(uuid.uuid4()), subject=subject, provisioner=provisioner, type=type, created_at=int(time.time())
    )
    try:
        await storage.execute(
            f"INSERT INTO admins ({_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
            (admin.id, admin.subject, admin.provisioner, admin.type, admin.created_at),
        )
    except UniqueViolation:
        raise AdminError(409, f"admin {subject!r} of provisioner {provisioner!r} already exists") from None
    return admin


# Admin writes on PostgreSQL take this transaction-scoped lock first, so the super-admin checks of two
# instances never pass on the same count (READ COMMITTED gives each later statement a fresh snapshot;
# SQLite runs one write transaction at a time anyway).
ADMIN_LOCK = 0x706C6963


def locked(storage: Storage, *statements: tuple[str, Sequence[Any]]) -> list[tuple[str, Sequence[Any]]]:
    lock: list[tuple[str, Sequence[Any]]] = (
        [("SELECT pg_advisory_xact_lock(?)", (ADMIN_LOCK,))] if storage.engine == "postgresql" else []
    )
    return [*lock, *statements]


_KEEPS_A_SUPER_ADMIN = (
    "(type <> 'SUPER_ADMIN' OR (SELECT COUNT(*) FROM admins WHERE type = 'SUPER_ADMIN') > 1)"
)


async def remove_admin(storage: Storage, admin_id: str) -> None:
    """Remove an admin; never the last super admin (the CA would be left without one who can add admins),
    counted inside the transaction that deletes, on any instance."""
    if await get_admin(storage, admin_id) is None:
        raise AdminError(404, f"admin {admin_id!r} does not exist")
    await storage.execute_many(
        locked(storage, (f"DELETE FROM admins WHERE id = ? AND {_KEEPS_A_SUPER_ADMIN}", (admin_id,)))
    )
    if await get_admin(storage, admin_id) is not None:
        raise AdminError(400, "cannot remove the last super admin")


async def set_admin_type(storage: Storage, admin_id: str, type: AdminType) -> Admin:
    """Change an admin's type; the last super admin is never demoted. AdminError 404 / 400."""
    if await get_admin(storage, admin_id) is None:
        raise AdminError(404, f"admin {admin_id!r} does not exist")
    await storage.execute_many(
        locked(
            storage,
            (
                f"UPDATE admins SET type = ? WHERE id = ? AND (? = 'SUPER_ADMIN' OR {_KEEPS_A_SUPER_ADMIN})",
                (type, admin_id, type),
            ),
        )
    )
    adm = await get_admin(storage, admin_id)
    if adm is None:
        raise AdminError(404, f"admin {admin_id!r} does not exist")
    if adm.type != type:
        raise AdminError(400, "cannot demote the last super admin")
    return adm


async def bootstrap(storage: Storage, provisioners: Iterable[dict[str, Any]]) -> Admin | None:
    """First start with `enableAdmin` and no admins: super admin `step` bound to the first JWK provisioner
    of ca.json (step-ca's behaviour). Safe to run from several processes: the pair is unique."""
    if await storage.fetch_one("SELECT id FROM admins LIMIT 1") is not None:
        return None
    first = next((p for p in provisioners if str(p.get("type", "")).upper() == "JWK" and p.get("name")), None)
    if first is None:
        log.warning(
            "enableAdmin is set but there are no admins and no JWK provisioner to bind the first super "
            "admin to; add one with `plica admin add SUBJECT PROVISIONER --super`"
        )
        return None
    try:
        admin = await add_admin(storage, DEFAULT_SUPER_ADMIN, str(first["name"]), "SUPER_ADMIN")
    except AdminError:
        return None  # another process of this CA created it a moment ago
    log.info("created super admin %r bound to provisioner %r", admin.subject, admin.provisioner)
    return admin
