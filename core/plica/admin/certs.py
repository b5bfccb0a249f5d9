"""`GET /admin/certificates`: the CA's X.509 inventory (step-ca's open-source edition has none).

Filters (query parameters): `provisioner` (name), `name` (substring of the CN or a SAN), `status`
(`valid`, `expired`, `revoked`), `expiringBefore` (RFC 3339 or Unix seconds: still valid now, expiring
before then). Ordered by `sort` (`expiry`, the default; `issued`, `name`, `provisioner`, `status`: see
`plica.admin.ordering`), then serial; `order=desc` reverses; `cursor` is the `nextCursor` of the previous
page (in the same sort and order), `limit`
at most 10,000. The SQL filters ride the indexes on `not_after` and `(provisioner_name, not_after)`
(kernel-0003); the name filter is a LIKE on the names stored with each certificate (kernel-0004,
`plica.storage.names`), so only the certificates on the page are parsed.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from plica.admin.errors import AdminError
from plica.admin.inventory import read_page
from plica.durations import parse_time, rfc3339
from plica.storage import Storage
from plica.storage.names import x509_names_of_der


def _when(raw: str) -> int:
    if raw.isdigit():
        return int(raw)
    try:
        return int(parse_time(raw).timestamp())
    except (ValueError, AttributeError):
        raise AdminError(400, f"expiringBefore {raw!r} is not an RFC 3339 time or Unix seconds") from None


async def list_certificates(storage: Storage, query: Mapping[str, str]) -> dict[str, Any]:
    now = int(time.time())
    where: list[str] = []
    params: list[Any] = []
    if query.get("provisioner"):
        where.append("c.provisioner_name = ?")
        params.append(query["provisioner"])
    if query.get("expiringBefore"):
        where.append("c.not_after > ? AND c.not_after < ?")
        params += [now, _when(query["expiringBefore"])]

    def item(row: tuple[Any, ...]) -> dict[str, Any]:
        serial, der, prov, ptype, not_after, issued_at, revoked_at = row[:7]
        cn, sans = x509_names_of_der(der)
        state = "revoked" if revoked_at is not None else "expired" if not_after <= now else "valid"
        out = {
            "serial": serial,
            "subject": cn,
            "sans": sans,
            "provisioner": prov,
            "provisionerType": ptype,
            "issuedAt": rfc3339(int(issued_at)),
            "notAfter": rfc3339(int(not_after)),
            "status": state,
        }
        if revoked_at is not None:
            out["revokedAt"] = rfc3339(int(revoked_at))
        return out

    certificates, cursor = await read_page(
        storage,
        query,
        now=now,
        table="x509_certs",
        revoked="revoked_x509_certs",
        columns="c.serial, c.der, c.provisioner_name, c.provisioner_type, c.not_after, c.issued_at,"
        " r.revoked_at, c.names",
        expiry="c.not_after",
        where=where,
        params=params,
        item=item,
    )
    return {"certificates": certificates, "nextCursor": cursor}
