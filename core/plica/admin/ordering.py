"""The sort of the certificate inventories (`plica.admin.certs`, `plica.admin.sshcerts`): `sort` is one of
`expiry` (the default), `issued`, `name`, `provisioner`, `status`; `order` is `asc` or `desc`. Ties are
broken by serial, so a page boundary is a (value, serial) pair: the keyset cursor. The expiry cursor keeps
its old spelling (`notAfter:serial`, all digits); the others are base64url JSON naming their sort, so a
cursor from another sort is refused rather than misread."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from attrs import frozen

from plica.admin.errors import AdminError

SORTS = ("expiry", "issued", "name", "provisioner", "status")


def _expressions(expiry: str, now: int) -> dict[str, str]:
    # `names` starts with the lower-cased CN (X.509) or key id (SSH): plica.storage.names.
    # Status ranks valid < expired < revoked; `now` is an int, so inlining it is safe.
    return {
        "expiry": expiry,
        "issued": "c.issued_at",
        "name": "c.names",
        "provisioner": "c.provisioner_name",
        "status": f"(CASE WHEN r.serial IS NOT NULL THEN 2 WHEN {expiry} <= {int(now)} THEN 1 ELSE 0 END)",
    }


@frozen
class Ordering:
    sort: str
    expr: str
    desc: bool
    after: tuple[Any, str] | None

    @classmethod
    def of(cls, query: Mapping[str, str], *, expiry: str, now: int) -> Ordering:
        sort = query.get("sort", "") or "expiry"
        if sort not in SORTS:
            raise AdminError(400, f"sort must be one of {', '.join(SORTS)}")
        order = query.get("order", "") or "asc"
        if order not in ("asc", "desc"):
            raise AdminError(400, "order must be asc or desc")
        return cls(
            sort, _expressions(expiry, now)[sort], order == "desc", _cursor(sort, query.get("cursor", ""))
        )

    @property
    def order_by(self) -> str:
        d = " DESC" if self.desc else ""
        return f" ORDER BY {self.expr}{d}, c.serial{d}"

    def beyond(self, key: tuple[Any, str]) -> tuple[str, list[Any]]:
        """The WHERE clause (and its arguments) of the rows after `key` in this order."""
        op = "<" if self.desc else ">"
        return f"({self.expr} {op} ? OR ({self.expr} = ? AND c.serial {op} ?))", [key[0], key[0], key[1]]

    def cursor(self, key: tuple[Any, str] | None) -> str:
        if key is None:
            return ""
        if self.sort == "expiry":
            return f"{key[0]}:{key[1]}"
        raw = json.dumps([self.sort, key[0], key[1]], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _cursor(sort: str, raw: str) -> tuple[Any, str] | None:
    if not raw:
        return None
    bad = AdminError(400, "cursor is not one this CA gave out (for this sort)")
    if sort == "expiry":
        after, _, serial = raw.partition(":")
        if not after.isdigit() or not serial.isdigit():
            raise bad
        return int(after), serial
    try:
        got = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except ValueError:
        raise bad from None
    if not isinstance(got, list) or len(got) != 3 or got[0] != sort or not isinstance(got[2], str):
        raise bad
    value = got[1]
    numeric = sort in ("issued", "status")
    if numeric != isinstance(value, int) or isinstance(value, bool) or not got[2].isdigit():
        raise bad
    return value, got[2]
