"""The kernel's admin endpoints (docs/admin.md): `/admin/provisioners` and `/admin/admins` in step-ca's
wire format, and `/admin/certificates`. Every failure is the admin error shape (`admin_route`).

Writes are validated by loading the whole resulting set of provisioners, with the plugins, before
anything is stored: a block that would not load (a bad key, a duplicate token key, a claim out of range)
is a 400 and leaves no row. After a write this instance reloads at once; the others within a second
(`plica.admin.sync`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from plica.admin import linkedca, sync
from plica.admin.auth import require_admin
from plica.admin.certs import list_certificates
from plica.admin.errors import AdminError, admin_route
from plica.admin.provops import add_provisioner, change_provisioner, delete_provisioner
from plica.admin.provstore import AUTHORITY_ID, StoredProvisioner, get_provisioner, list_provisioners
from plica.admin.store import Admin, add_admin, get_admin, list_admins, remove_admin, set_admin_type
from plica.durations import rfc3339
from plica.http.wire import read_json
from plica.types import Route

if TYPE_CHECKING:
    from aiohttp import web

    from plica.authority import Authority

ADMIN_TYPES = {1: "ADMIN", 2: "SUPER_ADMIN"}
ADMIN_NUMBERS = {v: k for k, v in ADMIN_TYPES.items()}


def _json(obj: Any, status: int = 200) -> web.Response:
    from plica.http.app import json_response

    return json_response(obj, status)


def _limit(request: web.Request, default: int = 20, most: int = 100) -> int:
    raw = request.query.get("limit", "")
    if not raw:
        return default
    try:
        n = int(raw)
    except ValueError:
        raise AdminError(400, f"limit '{raw}' is not an integer") from None
    return default if n <= 0 else min(n, most)


def _enabled(authority: Authority) -> None:
    if authority.file_config is None:
        raise AdminError(501, "administration API not enabled")


def _keep_unexpressed(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """A PUT replaces what linkedca expresses; the stored fields it cannot (a migrated provisioner's
    `policy`, SCEP's decrypter, a `templateFile`) stay, unless the body set them."""
    kept = {k: v for k, v in old.items() if not linkedca.expressible(str(old.get("type", "")), k)}
    merged = {**kept, **new}
    old_options, new_options = old.get("options"), new.get("options")
    if isinstance(old_options, dict):
        merged["options"] = {**old_options, **(new_options if isinstance(new_options, dict) else {})}
    return merged


def admin_routes(authority: Authority) -> list[Route]:
    a = authority

    async def target(request: web.Request) -> StoredProvisioner:
        name = request.match_info.get("name")
        if name is None or (name == "id" and "id" in request.query):
            return await get_provisioner(a.storage, id=request.query.get("id", ""))
        return await get_provisioner(a.storage, name=name)

    @admin_route
    async def prov_list(request: web.Request) -> web.Response:
        await require_admin(request, a)
        _enabled(a)
        await sync.refresh(a)
        pset = a.snapshot.provisioners
        page, nxt = pset.page(request.query.get("cursor", ""), _limit(request))
        return _json({"provisioners": [pset.public[id(p)] for p in page], "nextCursor": nxt})

    @admin_route
    async def prov_get(request: web.Request) -> web.Response:
        await require_admin(request, a)
        _enabled(a)
        return _json(linkedca.linkedca_from_block(await target(request)))

    @admin_route
    async def prov_create(request: web.Request) -> web.Response:
        await require_admin(request, a)
        _enabled(a)
        block = linkedca.block_from_linkedca(await read_json(request), a.plugins)
        p = await add_provisioner(a, block)
        return _json(linkedca.linkedca_from_block(p), 201)

    @admin_route
    async def prov_update(request: web.Request) -> web.Response:
        await require_admin(request, a)
        _enabled(a)
        old = await target(request)
        body = await read_json(request)
        block = linkedca.block_from_linkedca(body, a.plugins)
        current = linkedca.linkedca_from_block(old)
        for field in ("id", "authorityId", "createdAt"):
            if body.get(field) not in (None, "", current[field]):
                raise AdminError(400, f"cannot change the provisioner's {field}")
        block = _keep_unexpressed(old.block, block)
        p = await change_provisioner(a, old, block)
        return _json(linkedca.linkedca_from_block(p))

    @admin_route
    async def prov_delete(request: web.Request) -> web.Response:
        await require_admin(request, a)
        _enabled(a)
        await delete_provisioner(a, await target(request))
        return _json({"status": "ok"})

    async def ids_by_name() -> dict[str, str]:
        return {p.name: p.id for p in await list_provisioners(a.storage)}

    def proto_admin(adm: Admin, ids: dict[str, str]) -> dict[str, Any]:
        return {
            "id": adm.id,
            "authorityId": AUTHORITY_ID,
            "subject": adm.subject,
            "provisionerId": ids.get(adm.provisioner, ""),
            "type": adm.type,
            "createdAt": rfc3339(adm.created_at),
            "deletedAt": linkedca.ZERO_TIME,
        }

    def plain_admin(adm: Admin, ids: dict[str, str]) -> dict[str, Any]:
        # The list is decoded with encoding/json by step's client: the Go struct's own field names.
        return {
            "id": adm.id,
            "authority_id": AUTHORITY_ID,
            "subject": adm.subject,
            "provisioner_id": ids.get(adm.provisioner, ""),
            "type": ADMIN_NUMBERS[adm.type],
            "created_at": {"seconds": adm.created_at},
        }

    def admin_type(body: dict[str, Any]) -> str:
        t = body.get("type")
        if isinstance(t, bool) or not isinstance(t, int) or t not in ADMIN_TYPES:
            raise AdminError(400, "admin type must be 1 (ADMIN) or 2 (SUPER_ADMIN)")
        return ADMIN_TYPES[t]

    @admin_route
    async def admins_list(request: web.Request) -> web.Response:
        await require_admin(request, a)
        _enabled(a)
        admins = await list_admins(a.storage)
        cursor = request.query.get("cursor", "")
        limit = _limit(request)
        admins = [x for x in sorted(admins, key=lambda x: x.id) if x.id >= cursor]
        nxt = admins[limit].id if len(admins) > limit else ""
        ids = await ids_by_name()
        return _json({"admins": [plain_admin(x, ids) for x in admins[:limit]], "nextCursor": nxt})

    @admin_route
    async def admin_get(request: web.Request) -> web.Response:
        await require_admin(request, a)
        _enabled(a)
        adm = await get_admin(a.storage, request.match_info["id"])
        if adm is None:
            raise AdminError(404, f"admin {request.match_info['id']!r} does not exist")
        return _json(proto_admin(adm, await ids_by_name()))

    @admin_route
    async def admin_create(request: web.Request) -> web.Response:
        await require_admin(request, a, super_admin=True)
        _enabled(a)
        body = await read_json(request)
        subject, prov = body.get("subject"), body.get("provisioner")
        if not isinstance(subject, str) or not subject:
            raise AdminError(400, "subject cannot be empty")
        if not isinstance(prov, str) or not prov:
            raise AdminError(400, "provisioner cannot be empty")
        kind = admin_type(body)
        ids = await ids_by_name()
        if prov not in ids:
            raise AdminError(400, f"provisioner {prov!r} does not exist")
        try:
            adm = await add_admin(a.storage, subject, prov, kind)  # type: ignore[arg-type]
        except AdminError as e:
            raise AdminError(400, e.message) from None  # step-ca: an existing admin is a bad request
        return _json(proto_admin(adm, ids), 201)

    @admin_route
    async def admin_update(request: web.Request) -> web.Response:
        await require_admin(request, a, super_admin=True)
        _enabled(a)
        kind = admin_type(await read_json(request))
        adm = await set_admin_type(a.storage, request.match_info["id"], kind)  # type: ignore[arg-type]
        return _json(proto_admin(adm, await ids_by_name()))

    @admin_route
    async def admin_delete(request: web.Request) -> web.Response:
        await require_admin(request, a, super_admin=True)
        _enabled(a)
        await remove_admin(a.storage, request.match_info["id"])
        return _json({"status": "ok"})

    @admin_route
    async def certificates(request: web.Request) -> web.Response:
        await require_admin(request, a)
        return _json(await list_certificates(a.storage, request.query))

    return [
        Route("GET", "/admin/provisioners", prov_list),
        Route("POST", "/admin/provisioners", prov_create),
        Route("GET", "/admin/provisioners/{name}", prov_get),
        Route("PUT", "/admin/provisioners/{name}", prov_update),
        Route("DELETE", "/admin/provisioners/{name}", prov_delete),
        Route("GET", "/admin/admins", admins_list),
        Route("POST", "/admin/admins", admin_create),
        Route("GET", "/admin/admins/{id}", admin_get),
        Route("PATCH", "/admin/admins/{id}", admin_update),
        Route("DELETE", "/admin/admins/{id}", admin_delete),
        Route("GET", "/admin/certificates", certificates),
    ]
