"""Server-side sessions of signed-in admins, the state of single sign-on flows, and the sign-in rate limit.

Sessions live in the CA's database (every worker and instance sees the same ones, and sign-out ends a
session everywhere); the cookie holds only a random id, the table only its SHA-256. A session remembers the
admin's id, never their rights: every request reads the admin again, so a removed or demoted admin loses
what they lost at once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import deque
from typing import Any

from attrs import frozen

from plica.api import Migration, Storage, parse_duration

SESSION_COOKIE = "plica_console"
FLOW_COOKIE = "plica_console_flow"
FLOW_LIFETIME = 600  # an SSO sign-in must come back from the provider within 10 minutes

MIGRATIONS = [
    Migration(
        id="console-0001",
        sql={
            engine: [
                """CREATE TABLE IF NOT EXISTS console_sessions (
                    id TEXT PRIMARY KEY,
                    admin_id TEXT NOT NULL,
                    method TEXT NOT NULL,
                    csrf TEXT NOT NULL,
                    created_at BIGINT NOT NULL,
                    seen_at BIGINT NOT NULL)""",
                """CREATE TABLE IF NOT EXISTS console_flows (
                    state TEXT PRIMARY KEY,
                    provisioner TEXT NOT NULL,
                    verifier TEXT NOT NULL,
                    nonce TEXT NOT NULL,
                    binding TEXT NOT NULL,
                    redirect_uri TEXT NOT NULL,
                    created_at BIGINT NOT NULL)""",
            ]
            for engine in ("sqlite", "postgresql")
        },
    )
]


IDLE, LIFETIME = 15 * 60, 8 * 3600


@frozen
class Settings:
    """The `console` block of ca.json: `{"enabled": true, "idleTimeout": "15m", "sessionLifetime": "8h",
    "externalURL": "https://ca.example.com"}` (the last one only behind a proxy; see sso.callback_url)."""

    enabled: bool = True
    idle: int = IDLE
    lifetime: int = LIFETIME
    external_url: str = ""

    @classmethod
    def of(cls, extra: dict[str, Any]) -> Settings:
        block = extra.get("console") or {}
        if not isinstance(block, dict):
            return cls(enabled=False)  # a malformed switch fails closed
        return cls(
            enabled=block.get("enabled", True) is not False,
            idle=_seconds(block.get("idleTimeout"), IDLE),
            lifetime=_seconds(block.get("sessionLifetime"), LIFETIME),
            external_url=str(block.get("externalURL") or ""),
        )


def _seconds(raw: Any, default: int) -> int:
    if not isinstance(raw, str) or not raw:
        return default
    try:
        return max(1, int(parse_duration(raw).total_seconds()))
    except (ValueError, TypeError):
        return default


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@frozen
class Session:
    key: str  # the stored digest
    admin_id: str
    method: str
    csrf: str
    created_at: int
    seen_at: int


async def create_session(storage: Storage, admin_id: str, method: str) -> tuple[str, Session]:
    raw = secrets.token_urlsafe(32)
    now = int(time.time())
    s = Session(_digest(raw), admin_id, method, secrets.token_urlsafe(32), now, now)
    await storage.execute(
        "INSERT INTO console_sessions (id, admin_id, method, csrf, created_at, seen_at) VALUES (?, ?, ?, ?, ?, ?)",
        (s.key, s.admin_id, s.method, s.csrf, s.created_at, s.seen_at),
    )
    return raw, s


async def load_session(storage: Storage, raw: str, settings: Settings) -> Session | None:
    """The live session of cookie value `raw`, touched; None (and the row gone) when it has expired."""
    if not raw or len(raw) > 100:
        return None
    key = _digest(raw)
    row = await storage.fetch_one(
        "SELECT id, admin_id, method, csrf, created_at, seen_at FROM console_sessions WHERE id = ?", (key,)
    )
    if row is None:
        return None
    s = Session(row[0], row[1], row[2], row[3], int(row[4]), int(row[5]))
    now = int(time.time())
    if now - s.seen_at > settings.idle or now - s.created_at > settings.lifetime:
        await end_session(storage, s)
        return None
    if now - s.seen_at >= 5:  # a write per page at most every few seconds
        await storage.execute("UPDATE console_sessions SET seen_at = ? WHERE id = ?", (now, key))
    return s


async def end_session(storage: Storage, s: Session) -> None:
    await storage.execute("DELETE FROM console_sessions WHERE id = ?", (s.key,))


def csrf_ok(expected: str, given: Any) -> bool:
    return isinstance(given, str) and bool(expected) and hmac.compare_digest(expected, given)


def anonymous_csrf(binding: str) -> str:
    """The CSRF token of the sign-in forms, before there is a session: the pre-session cookie's value,
    submitted again (a SameSite=Strict, HttpOnly cookie another site can neither send nor read). Every
    worker process and instance agrees on it without a shared key."""
    return binding


# ---------------------------------------------------------------------------------------------- SSO flows


@frozen
class Flow:
    state: str
    provisioner: str
    verifier: str
    nonce: str
    binding: str
    redirect_uri: str
    created_at: int


async def save_flow(storage: Storage, flow: Flow) -> None:
    now = int(time.time())
    await storage.execute_many(
        [
            ("DELETE FROM console_flows WHERE created_at < ?", (now - FLOW_LIFETIME,)),
            (
                "INSERT INTO console_flows (state, provisioner, verifier, nonce, binding, redirect_uri,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (flow.state, flow.provisioner, flow.verifier, flow.nonce, flow.binding, flow.redirect_uri,
                 flow.created_at),
            ),
        ]
    )  # fmt: skip


async def take_flow(storage: Storage, state: str) -> Flow | None:
    """The flow of `state`, used up: a callback can be answered once."""
    if not state or len(state) > 100:
        return None
    row = await storage.fetch_one(
        "SELECT state, provisioner, verifier, nonce, binding, redirect_uri, created_at FROM console_flows"
        " WHERE state = ?",
        (state,),
    )
    if row is None:
        return None
    n = await storage.execute("DELETE FROM console_flows WHERE state = ?", (state,))
    if n != 1:
        return None  # another request took it first
    flow = Flow(*row[:6], int(row[6]))
    return flow if int(time.time()) - flow.created_at <= FLOW_LIFETIME else None


# ---------------------------------------------------------------------------------------------- rate limit


class SignInLimiter:
    """At most `limit` sign-in attempts per client address in `window` seconds, per worker process (a
    password guesser is slowed to a crawl; a shared counter would cost a write per attempt)."""

    def __init__(self, limit: int = 10, window: int = 300) -> None:
        self.limit, self.window = limit, window
        self.seen: dict[str, deque[float]] = {}

    def allow(self, who: str) -> bool:
        now = time.monotonic()
        q = self.seen.setdefault(who, deque())
        while q and now - q[0] > self.window:
            q.popleft()
        if len(q) >= self.limit:
            return False
        q.append(now)
        if len(self.seen) > 10_000:  # forget quiet addresses rather than grow without bound
            self.seen = {k: v for k, v in self.seen.items() if v and now - v[-1] <= self.window}
        return True
