"""Abuse limits per account (Plica extension): pending orders, and new orders in a sliding hour.

Both are read with one aggregate query over the account's recent orders (indexed by account and time),
and only when a limit is configured, so the default order path pays nothing for them.
"""

from __future__ import annotations

import time

from .problems import Problem
from .provisioner import ACMEState
from .store import AcmeStore

HOUR = 3600


async def check_new_order(store: AcmeStore, state: ACMEState, account_id: str) -> None:
    if not state.pending_orders and not state.orders_per_hour:
        return
    now = int(time.time())
    pending, first_expiry, recent, oldest = await store.order_counts(account_id, now, now - HOUR)
    if state.pending_orders and pending >= state.pending_orders:
        wait = max(1, (first_expiry or now + 60) - now)
        raise Problem(
            "rateLimited",
            f"too many pending orders for this account ({pending}, the limit is {state.pending_orders}): "
            "finish or let some expire first",
            headers={"Retry-After": str(wait)},
        )
    if state.orders_per_hour and recent >= state.orders_per_hour:
        wait = max(1, (oldest or now) + HOUR - now)
        raise Problem(
            "rateLimited",
            f"too many new orders for this account in the last hour ({recent}, the limit is "
            f"{state.orders_per_hour})",
            headers={"Retry-After": str(wait)},
        )
