"""The CA's SSH certificate inventory, as `plica.admin.certs` is the X.509 one: filters, a sort (`sort`
and `order` as in `plica.admin.ordering`; by expiry by default), a cursor. Filters: `name` (substring of the key id or a principal), `type` (`user`, `host`),
`provisioner`, `status` (`valid`, `expired`, `revoked`); `limit` at most 10,000."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from plica.admin.errors import AdminError
from plica.admin.inventory import read_page
from plica.durations import rfc3339
from plica.storage import Storage
from plica.storage.names import ssh_principals

_COLUMNS = (
    "c.serial, c.cert, c.cert_type, c.key_id, c.provisioner_id, c.provisioner_name, c.provisioner_type,"
    " c.valid_before, c.issued_at, r.revoked_at, c.names"
)


def _item(row: tuple[Any, ...], now: int, *, full: bool = False) -> dict[str, Any]:
    serial, blob, ctype, key_id, pid, prov, ptype, valid_before, issued_at, revoked_at = row[:10]
    state = "revoked" if revoked_at is not None else "expired" if int(valid_before) <= now else "valid"
    item = {
        "serial": serial,
        "type": ctype,
        "keyId": key_id,
        "principals": ssh_principals(blob),
        "provisioner": prov,
        "provisionerId": pid,
        "provisionerType": ptype,
        "issuedAt": rfc3339(int(issued_at)),
        "validBefore": rfc3339(int(valid_before)),
        "status": state,
    }
    if revoked_at is not None:
        item["revokedAt"] = rfc3339(int(revoked_at))
    if full:
        item["certificate"] = bytes(blob).decode()  # its OpenSSH line, as `ssh-keygen -L -f` reads it
    return item


async def get_ssh_certificate(storage: Storage, serial: str) -> dict[str, Any] | None:
    row = await storage.fetch_one(
        f"SELECT {_COLUMNS} FROM ssh_certs c LEFT JOIN revoked_ssh_certs r ON r.serial = c.serial"
        " WHERE c.serial = ?",
        (serial,),
    )
    return _item(row, int(time.time()), full=True) if row else None


async def list_ssh_certificates(storage: Storage, query: Mapping[str, str]) -> dict[str, Any]:
    now = int(time.time())
    where: list[str] = []
    params: list[Any] = []
    if query.get("provisioner"):
        where.append("c.provisioner_name = ?")
        params.append(query["provisioner"])
    if query.get("type"):
        if query["type"] not in ("user", "host"):
            raise AdminError(400, "type must be user or host")
        where.append("c.cert_type = ?")
        params.append(query["type"])
    certificates, cursor = await read_page(
        storage,
        query,
        now=now,
        table="ssh_certs",
        revoked="revoked_ssh_certs",
        columns=_COLUMNS,
        expiry="c.valid_before",
        where=where,
        params=params,
        item=lambda row: _item(row, now),
    )
    return {"certificates": certificates, "nextCursor": cursor}
