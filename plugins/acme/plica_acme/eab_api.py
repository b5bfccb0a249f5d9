"""The admin endpoints of External Account Binding keys (api.md §6), wire-compatible with step-ca (whose
open-source edition answers them 501):

    GET    /admin/acme/eab/{provisioner}?cursor&limit   → 200 {"eaks": [EABKey…], "nextCursor"}
    GET    /admin/acme/eab/{provisioner}/{reference}    → 200 {"eaks": [EABKey], "nextCursor": ""}
    POST   /admin/acme/eab/{provisioner}  {"reference"} → 201 EABKey, with its hmacKey
    DELETE /admin/acme/eab/{provisioner}/{id}           → 200 {"status": "ok"}

Every request carries an admin token (`plica.admin.require_admin`); errors are in the admin shape. An
EABKey is linkedca's message in protobuf JSON: `hmacKey` is standard base64 of the key bytes (only in the
answer to POST: the HMAC key is shown once), times are RFC 3339.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from plica.admin import AdminError, admin_route, require_admin, rfc3339
from plica.api import AuthorityView, Provisioner, Route
from plica.jose import b64url_decode

from . import eab

PREFIX = "/admin/acme/eab/{provisioner}"
MAX_REFERENCE = 256  # step's limit
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
KEY_NOT_FOUND = "ACME External Account Key not found"
_COLUMNS = "id, provisioner, reference, hmac_key, created, account_id, bound_at"


def wire(key: eab.EABKey, *, with_secret: bool = False) -> dict[str, Any]:
    """linkedca.EABKey as protobuf JSON."""
    return {
        "id": key.id,
        "hmacKey": base64.b64encode(b64url_decode(key.hmac_key)).decode("ascii") if with_secret else "",
        "provisioner": key.provisioner,
        "reference": key.reference,
        "account": key.account_id or "",
        "createdAt": rfc3339(key.created),
        "boundAt": rfc3339(key.bound_at) if key.bound_at else None,
        "policy": None,
    }


def _json(obj: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(obj) + b"\n", status=status, content_type="application/json")


def _eab_provisioner(authority: AuthorityView, name: str) -> Provisioner:
    prov = authority.provisioner_by_name(name)
    if prov is None:
        raise AdminError(404, f"provisioner {name!r} not found")
    if prov.type.name.upper() != "ACME":
        raise AdminError(400, f"provisioner {name!r} is not an ACME provisioner")
    if not prov.state.require_eab:
        raise AdminError(400, f"ACME EAB not enabled for provisioner {name!r}")
    return prov


def _limit(raw: str) -> int:
    if not raw:
        return DEFAULT_LIMIT
    try:
        n = int(raw)
    except ValueError:
        raise AdminError(400, f"limit {raw!r} is not an integer") from None
    return DEFAULT_LIMIT if n <= 0 else min(n, MAX_LIMIT)


async def _page(
    authority: AuthorityView, provisioner: str, cursor: str, limit: int
) -> tuple[list[eab.EABKey], str]:
    """Keys in creation order; the cursor is the id of the first key of the next page."""
    storage = authority.storage
    where, params = "provisioner = ?", [provisioner]
    if cursor:
        row = await storage.fetch_one(
            "SELECT created FROM acme_eab_keys WHERE id = ? AND provisioner = ?", (cursor, provisioner)
        )
        if row is None:
            raise AdminError(400, "cursor is not valid (the key it points at is gone)")
        where += " AND (created > ? OR (created = ? AND id >= ?))"
        params += [row[0], row[0], cursor]
    rows = await storage.fetch_all(
        f"SELECT {_COLUMNS} FROM acme_eab_keys WHERE {where} ORDER BY created, id LIMIT ?",
        (*params, limit + 1),
    )
    keys = [eab.EABKey(*r[:5], account_id=r[5], bound_at=r[6]) for r in rows]
    return keys[:limit], keys[limit].id if len(keys) > limit else ""


async def _read_reference(request: web.Request) -> str:
    raw = await request.read()
    if not raw.strip():
        return ""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise AdminError(400, "request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise AdminError(400, "request body must be a JSON object")
    reference = body.get("reference", "")
    if not isinstance(reference, str):
        raise AdminError(400, "reference must be a string")
    if len(reference) > MAX_REFERENCE:
        raise AdminError(400, f"reference length {len(reference)} exceeds the maximum ({MAX_REFERENCE})")
    return reference


def routes(authority: AuthorityView) -> list[Route]:
    Handler = Callable[[web.Request, Provisioner], Awaitable[web.Response]]

    def guarded(fn: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        @admin_route
        async def handler(request: web.Request) -> web.StreamResponse:
            await require_admin(request, authority)
            return await fn(request, _eab_provisioner(authority, request.match_info["provisioner"]))

        return handler

    async def list_keys(request: web.Request, prov: Provisioner) -> web.Response:
        keys, cursor = await _page(
            authority, prov.name, request.query.get("cursor", ""), _limit(request.query.get("limit", ""))
        )
        return _json({"eaks": [wire(k) for k in keys], "nextCursor": cursor})

    async def by_reference(request: web.Request, prov: Provisioner) -> web.Response:
        reference = request.match_info["reference"]
        keys = await eab.list_keys(authority.storage, prov.name, reference)
        if not keys:
            raise AdminError(404, KEY_NOT_FOUND)
        return _json({"eaks": [wire(k) for k in keys], "nextCursor": ""})

    async def create(request: web.Request, prov: Provisioner) -> web.Response:
        reference = await _read_reference(request)
        try:
            key = await eab.add_key(authority.storage, prov.name, reference)
        except ValueError:
            raise AdminError(
                409,
                f"an ACME EAB key for provisioner {prov.name!r} with reference {reference!r} already exists",
            ) from None
        return _json(wire(key, with_secret=True), status=201)

    async def delete(request: web.Request, prov: Provisioner) -> web.Response:
        if not await eab.remove_key(authority.storage, prov.name, request.match_info["reference"]):
            raise AdminError(404, KEY_NOT_FOUND)
        return _json({"status": "ok"})

    return [
        Route("GET", PREFIX, guarded(list_keys)),
        Route("POST", PREFIX, guarded(create)),
        Route("GET", PREFIX + "/{reference:.+}", guarded(by_reference)),
        Route("DELETE", PREFIX + "/{reference:.+}", guarded(delete)),
    ]
