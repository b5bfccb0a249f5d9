"""The overview's figures: certificates issued per day and provisioner over 30 days (drawn as an SVG bar
chart on the server: no script), the counts of valid, expiring and revoked certificates, and each
provisioner's health as the kernel's key sources know it (no network on a page view).

Each figure is one indexed query: on 100,000 certificates the page stays well under its 300 ms budget
(bench/console_bench.py)."""

from __future__ import annotations

import time
from typing import Any

from attrs import frozen

from plica.api import AuthorityView, KeySource, Migration, Storage

DAY = 86400
DAYS = 30
# A covering index for the per-day counts (the kernel's indexes serve expiry, not issuance).
MIGRATIONS = [
    Migration(
        id="console-0002",
        sql={
            e: ["CREATE INDEX IF NOT EXISTS console_x509_issued ON x509_certs (issued_at, provisioner_name)"]
            for e in ("sqlite", "postgresql")
        },
    )
]
COLOURS = ["#1f5fa8", "#b5480b", "#2b7a3d", "#7a2b7a", "#8a6d00", "#0b6f6f", "#a01c3c", "#4d4d4d"]


async def counts(storage: Storage, now: int) -> dict[str, int]:
    """Index-only counts of the live certificates by expiry, less the revoked ones among them (read from
    the few revocations, so the planner never walks every live certificate to find them)."""
    week, month = now + 7 * DAY, now + 30 * DAY

    async def one(sql: str, *args: Any) -> tuple[Any, ...]:
        return await storage.fetch_one(sql, args) or (0, 0, 0)

    live = "SELECT COUNT(*) FROM x509_certs WHERE not_after > ? AND not_after <= ?"
    valid, in7, in30 = [int((await one(live, now, until))[0]) for until in (1 << 62, week, month)]
    rev = await one(
        "SELECT COUNT(*), COALESCE(SUM(CASE WHEN na <= ? THEN 1 ELSE 0 END), 0),"
        " COALESCE(SUM(CASE WHEN na <= ? THEN 1 ELSE 0 END), 0) FROM"
        " (SELECT (SELECT c.not_after FROM x509_certs c WHERE c.serial = r.serial) AS na"
        "  FROM revoked_x509_certs r) t WHERE na > ?",
        week, month, now,
    )  # fmt: skip
    revoked = await one("SELECT COUNT(*) FROM revoked_x509_certs")
    return {
        "valid": valid - int(rev[0]),
        "expiring7": in7 - int(rev[1]),
        "expiring30": in30 - int(rev[2]),
        "revoked": int(revoked[0]),
    }


@frozen
class Series:
    provisioner: str
    colour: str
    per_day: list[int]


async def issued_per_day(storage: Storage, now: int) -> tuple[int, list[Series]]:
    """(first day's start, one series per provisioner that issued anything in the last 30 days)."""
    start = (now // DAY - (DAYS - 1)) * DAY
    rows = await storage.fetch_all(
        # Grouped by day first, so the issuance index (console-0002) is read in its own order.
        "SELECT (issued_at - ?) / ? AS d, provisioner_name, COUNT(*) FROM x509_certs"
        " WHERE issued_at >= ? GROUP BY d, provisioner_name",
        (start, DAY, start),
    )
    by: dict[str, list[int]] = {}
    for day, name, n in rows:
        if 0 <= int(day) < DAYS:
            by.setdefault(str(name), [0] * DAYS)[int(day)] += int(n)
    series = [
        Series(name, COLOURS[i % len(COLOURS)], days) for i, (name, days) in enumerate(sorted(by.items()))
    ]
    return start, series


@frozen
class Bar:
    x: float
    y: float
    height: float
    colour: str
    title: str


def chart(start: int, series: list[Series], width: int = 600, height: int = 180) -> dict[str, Any]:
    """Stacked bars, one per day, computed here so the template only places rectangles."""
    totals = [sum(s.per_day[d] for s in series) for d in range(DAYS)]
    top = max([*totals, 1])
    slot = width / DAYS
    bars: list[Bar] = []
    for d in range(DAYS):
        y = float(height)
        day = time.strftime("%Y-%m-%d", time.gmtime(start + d * DAY))
        for s in series:
            n = s.per_day[d]
            if n:
                h = n / top * (height - 10)
                y -= h
                bars.append(Bar(d * slot + 1, y, h, s.colour, f"{day}: {n} by {s.provisioner}"))
    return {"bars": bars, "top": top, "width": width, "height": height, "slot": slot, "totals": totals}


@frozen
class Health:
    name: str
    type: str
    ok: bool
    note: str


def health(authority: AuthorityView) -> list[Health]:
    """Each provisioner's keys, where it depends on a provider that publishes them (OIDC, the clouds,
    K8sSA): a source never fetched, or whose last fetch failed, is shown with the reason."""
    out = []
    for p in authority.public_provisioners():
        name, kind = str(p.get("name", "")), str(p.get("type", ""))
        prov = authority.provisioner_by_name(name)
        source = getattr(getattr(prov, "state", None), "source", None)
        if isinstance(source, KeySource):
            if source.last_error or not source.fetched:
                note = f"keys from {source.where} unavailable: {source.last_error or 'never fetched'}"
                out.append(Health(name, kind, False, note))
            else:
                out.append(Health(name, kind, True, f"{len(source.keys)} key(s) from {source.where}"))
        else:
            out.append(Health(name, kind, True, "nothing to fetch: its keys are in its settings"))
    return out
