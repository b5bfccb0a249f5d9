"""What the X.509 and the SSH inventories (`plica.admin.certs`, `plica.admin.sshcerts`) share: the status,
name and limit filters and the page read in sort order (`plica.admin.ordering`) with its cursor."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from plica.admin.errors import AdminError
from plica.admin.ordering import Ordering
from plica.storage import Storage
from plica.storage.names import like_pattern, matches

DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
STATUSES = ("valid", "expired", "revoked")


async def read_page(
    storage: Storage,
    query: Mapping[str, str],
    *,
    now: int,
    table: str,
    revoked: str,
    columns: str,
    expiry: str,
    where: list[str],
    params: list[Any],
    item: Callable[[tuple[Any, ...]], dict[str, Any]],
) -> tuple[list[dict[str, Any]], str]:
    """(items, next cursor) of one page. `where`/`params` hold the caller's own filters; `columns` must
    start with `c.serial` and end with `c.names` (the sort value is added after it)."""
    where, params = list(where), list(params)
    status = query.get("status", "")
    if status and status not in STATUSES:
        raise AdminError(400, f"status must be one of {', '.join(STATUSES)}")
    if status == "valid":
        where.append(f"{expiry} > ? AND r.serial IS NULL")
        params.append(now)
    elif status == "expired":
        where.append(f"{expiry} <= ?")
        params.append(now)
    elif status == "revoked":
        where.append("r.serial IS NOT NULL")
    ordering = Ordering.of(query, expiry=expiry, now=now)
    key = ordering.after
    raw = query.get("limit", "")
    try:
        limit = min(int(raw), MAX_LIMIT) if raw else DEFAULT_LIMIT
    except ValueError:
        raise AdminError(400, f"limit {raw!r} is not an integer") from None
    limit = limit if limit > 0 else DEFAULT_LIMIT
    needle = query.get("name", "").lower()
    if needle:
        # the names stored with each certificate (kernel-0004, plica.storage.names)
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
        rows = await storage.fetch_all(
            f"SELECT {columns}, {ordering.expr} FROM {table} c LEFT JOIN {revoked} r ON r.serial = c.serial"
            + (" WHERE " + " AND ".join(clauses) if clauses else "")
            + ordering.order_by
            + " LIMIT ?",
            (*args, batch),
        )
        for row in rows:
            if len(out) == limit:
                return out, ordering.cursor(key)
            key = (row[-1], str(row[0]))
            if needle and not matches(needle, row[-2]):
                continue
            out.append(item(row))
        if len(rows) < batch:
            return out, ""
