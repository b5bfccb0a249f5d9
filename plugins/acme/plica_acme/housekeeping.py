"""Housekeeping: expired nonces, orders and authorizations are deleted; validation jobs whose worker died
are resumed. Every instance runs it (the statements are idempotent), at a jittered interval."""

from __future__ import annotations

import time

from .runtime_types import StorageLike

# A finished-but-unsuccessful order stays readable (as invalid) this long after it expires, so a client
# polling it sees why it failed rather than a 404.
KEEP_EXPIRED = 3600

_DELETABLE_ORDER = "(status <> 'valid' AND expires < ?) OR (status = 'valid' AND cert_not_after < ?)"


async def sweep(storage: StorageLike, now: int | None = None) -> dict[str, int]:
    now = int(now if now is not None else time.time())
    cutoff = now - KEEP_EXPIRED
    counts = {"nonces": await storage.execute("DELETE FROM acme_nonces WHERE expires < ?", (now,))}
    # Authorizations go with their order; a valid order (and its authorizations) lives as long as its
    # certificate, which its certificate URL and revocation-by-authorization need.
    counts["authorizations"] = await storage.execute(
        f"DELETE FROM acme_authz WHERE order_id IN (SELECT id FROM acme_orders WHERE {_DELETABLE_ORDER})",
        (cutoff, now),
    )
    counts["orders"] = await storage.execute(
        f"DELETE FROM acme_orders WHERE {_DELETABLE_ORDER}", (cutoff, now)
    )
    # Orphans (an order deleted between the two statements by another instance) follow later.
    counts["authorizations"] += await storage.execute(
        "DELETE FROM acme_authz WHERE expires < ? AND NOT EXISTS"
        " (SELECT 1 FROM acme_orders o WHERE o.id = acme_authz.order_id)",
        (cutoff,),
    )
    return counts
