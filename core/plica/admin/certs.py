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
from plica.admin.ordering import Ordering
from plica.durations import parse_time, rfc3339
from plica.storage import Storage
from plica.storage.names import like_pattern, matches, x509_names_of_der

DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
STATUSES = ("valid", "expired", "revoked")


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
    status = query.get("status", "")
    if status and status not in STATUSES:
        raise AdminError(400, f"status must be one of {', '.join(STATUSES)}")
    if status == "valid":
        where.append("c.not_after > ? AND r.serial IS NULL")
        params.append(now)
    elif status == "expired":
        where.append("c.not_after <= ?")
        params.append(now)
    elif status == "revoked":
        where.append("r.serial IS NOT NULL")
    if query.get("expiringBefore"):
        where.append("c.not_after > ? AND c.not_after < ?")
        params += [now, _when(query["expiringBefore"])]
    ordering = Ordering.of(query, expiry="c.not_after", now=now)
    key = ordering.after
    raw_limit = query.get("limit", "")
    try:
        limit = min(int(raw_limit), MAX_LIMIT) if raw_limit else DEFAULT_LIMIT
    except ValueError:
        raise AdminError(400, f"limit {raw_limit!r} is not an integer") from None
    limit = limit if limit > 0 else DEFAULT_LIMIT
    needle = query.get("name", "").lower()
    if needle:
        where.append("c.names LIKE ? ESCAPE '!'")
        params.append(like_pattern(needle))
    out: list[dict[str, Any]] = []
    # SQL's LIKE may also take a row whose match spans two names; `matches` drops those, so a page is read
    # in batches until enough rows match (nearly always the first).
    batch = limit + 1
    while True:
        clauses, args = list(where), list(params)
        if key is not None:
            clause, more = ordering.beyond(key)
            clauses.append(clause)
            args += more
        sql = (
            "SELECT c.serial, c.der, c.provisioner_name, c.provisioner_type, c.not_after, c.issued_at,"
            f" r.revoked_at, c.names, {ordering.expr}"
            " FROM x509_certs c LEFT JOIN revoked_x509_certs r ON r.serial = c.serial"
            + (" WHERE " + " AND ".join(clauses) if clauses else "")
            + ordering.order_by
            + " LIMIT ?"
        )
        rows = await storage.fetch_all(sql, (*args, batch))
        for serial, der, prov, ptype, not_after, issued_at, revoked_at, names, sort_value in rows:
            if len(out) == limit:
                return {"certificates": out, "nextCursor": ordering.cursor(key)}
            key = (sort_value, serial)
            if needle and not matches(needle, names):
                continue
            cn, sans = x509_names_of_der(der)
            state = "revoked" if revoked_at is not None else "expired" if not_after <= now else "valid"
            item = {
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
                item["revokedAt"] = rfc3339(int(revoked_at))
            out.append(item)
        if len(rows) < batch:
            break
    next_cursor = ""
    return {"certificates": out, "nextCursor": next_cursor}
