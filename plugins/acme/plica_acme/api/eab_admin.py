"""The admin endpoints of External Account Binding keys (docs/reference/wire.md §6), wire-compatible with step-ca (whose
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

from plica.api import (
    AdminError,
    AuthorityView,
    Provisioner,
    Route,
    admin_route,
    b64url_decode,
    require_admin,
    rfc3339,
)

from .. import eab
from ..model import EABKey
from ..provisioner import acme_provisioner
from ..runtime import RUNTIME
from ..store import AcmeStore

PREFIX = "/admin/acme/eab/{provisioner}"
MAX_REFERENCE = 256  # step's limit
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
KEY_NOT_FOUND = "ACME External Account Key not found"


def wire(key: EABKey, *, with_secret: bool = False) -> dict[str, Any]:
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
    prov = acme_provisioner(authority, name)
    if prov is None:
        if authority.provisioner_by_name(name) is None:
            raise AdminError(404, f"provisioner {name!r} not found")
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


async def _page(store: AcmeStore, provisioner: str, cursor: str, limit: int) -> tuple[list[EABKey], str]:
    """Keys in creation order; the cursor is the id of the first key of the next page."""
    start: tuple[int, str] | None = None
    if cursor:
        created = await store.eab_key_created(provisioner, cursor)
        if created is None:
            raise AdminError(400, "cursor is not valid (the key it points at is gone)")
        start = (created, cursor)
    keys = await store.eab_keys_page(provisioner, start, limit + 1)
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
    Handler = Callable[[web.Request, Provisioner, AcmeStore], Awaitable[web.Response]]

    def guarded(fn: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        @admin_route
        async def handler(request: web.Request) -> web.StreamResponse:
            await require_admin(request, authority)
            prov = _eab_provisioner(authority, request.match_info["provisioner"])
            return await fn(request, prov, request.app[RUNTIME].store)

        return handler

    async def list_keys(request: web.Request, prov: Provisioner, store: AcmeStore) -> web.Response:
        keys, cursor = await _page(
            store, prov.name, request.query.get("cursor", ""), _limit(request.query.get("limit", ""))
        )
        return _json({"eaks": [wire(k) for k in keys], "nextCursor": cursor})

    async def by_reference(request: web.Request, prov: Provisioner, store: AcmeStore) -> web.Response:
        keys = await store.eab_keys(prov.name, request.match_info["reference"])
        if not keys:
            raise AdminError(404, KEY_NOT_FOUND)
        return _json({"eaks": [wire(k) for k in keys], "nextCursor": ""})

    async def create(request: web.Request, prov: Provisioner, store: AcmeStore) -> web.Response:
        reference = await _read_reference(request)
        try:
            key = await eab.add_key(store, prov.name, reference)
        except ValueError:
            raise AdminError(
                409,
                f"an ACME EAB key for provisioner {prov.name!r} with reference {reference!r} already exists",
            ) from None
        return _json(wire(key, with_secret=True), status=201)

    async def delete(request: web.Request, prov: Provisioner, store: AcmeStore) -> web.Response:
        if not await store.remove_eab_key(prov.name, request.match_info["reference"]):
            raise AdminError(404, KEY_NOT_FOUND)
        return _json({"status": "ok"})

    return [
        Route("GET", PREFIX, guarded(list_keys)),
        Route("POST", PREFIX, guarded(create)),
        Route("GET", PREFIX + "/{reference:.+}", guarded(by_reference)),
        Route("DELETE", PREFIX + "/{reference:.+}", guarded(delete)),
    ]
