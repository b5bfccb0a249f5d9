"""Service-account signing keys from the cluster: OIDC discovery (`<issuer>/.well-known/openid-configuration`
→ `jwks_uri`) or a JWKS URL, fetched when the CA starts and refreshed in the background.

The hot path never waits on the network: it reads the last good key set of a `KeySource`. One task per
server process (started by `on_startup`) refreshes every source the loaded K8sSA provisioners use, when its
`Cache-Control: max-age` runs out (default one hour), earlier when a token names a key it does not know
(at most once per `ON_DEMAND_INTERVAL`), and with a growing delay after a failure, which keeps the last good
keys and is logged. Sources are shared by URL across reloads, so a reload does not drop keys.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import math
import re
import ssl
import time
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson
from attrs import define

from plica.api import AuthorityView
from plica_k8ssa.keys import EMPTY, KeysError, KeySet, parse_jwks

log = logging.getLogger("plica.k8ssa")

DEFAULT_TTL = 3600.0  # without Cache-Control: max-age
MIN_TTL = 60.0  # a max-age below this is raised to it (a cluster cannot make us poll it in a loop)
MAX_TTL = 86400.0
RETRY_MIN = 30.0  # first retry after a failure; doubles up to RETRY_MAX
RETRY_MAX = 600.0
ON_DEMAND_INTERVAL = 30.0  # at most one early refresh per source for unknown `kid`s
FETCH_TIMEOUT = 10.0
MAX_BODY = 1 << 20
IDLE_CHECK = 60.0

WELL_KNOWN = "/.well-known/openid-configuration"
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)\"?\s*(?:,|$)", re.IGNORECASE)


class FetchError(Exception):
    """A discovery or JWKS fetch failed; the message says where and why (it holds no secret)."""


def check_url(url: str, what: str) -> str:
    """https, or http to a loopback address (kubectl proxy): key material must not travel in the clear."""
    try:
        u = urlsplit(url)
    except ValueError:
        raise ValueError(f"{what} {url!r} is not a URL") from None
    if u.username is not None or u.password is not None:
        # URLs are logged; credentials do not belong in them.
        raise ValueError(f"{what} must not carry credentials (user:password@) in the URL")
    if u.scheme == "https" and u.hostname:
        return url
    if u.scheme == "http" and u.hostname:
        host = u.hostname
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if loopback:
            return url
    raise ValueError(f"{what} {url!r} must be an https URL (http only to a loopback address)")


def max_age(cache_control: str | None) -> float | None:
    if not cache_control:
        return None
    if re.search(r"(?:^|,)\s*(no-store|no-cache)\s*(?:,|$)", cache_control, re.IGNORECASE):
        return 0.0
    m = _MAX_AGE.search(cache_control)
    return float(m.group(1)) if m else None


async def get_json(
    session: aiohttp.ClientSession, url: str, ssl_ctx: ssl.SSLContext
) -> tuple[Any, float | None]:
    async with session.get(
        url, ssl=ssl_ctx, allow_redirects=False, headers={"Accept": "application/json"}
    ) as r:
        if r.status != 200:
            raise FetchError(f"{url} answered HTTP {r.status}")
        body = await r.content.read(MAX_BODY + 1)
        if len(body) > MAX_BODY:
            raise FetchError(f"{url} answered more than {MAX_BODY} bytes")
        try:
            return orjson.loads(body), max_age(r.headers.get("Cache-Control"))
        except orjson.JSONDecodeError:
            raise FetchError(f"{url} did not answer JSON") from None


@define(eq=False)
class KeySource:
    """One place the cluster publishes its keys, with the last good key set."""

    issuer: str | None  # discover `jwks_uri` at <issuer>/.well-known/openid-configuration
    jwks_url: str | None  # or fetch this JWKS directly
    ssl_ctx: ssl.SSLContext
    keys: KeySet = EMPTY
    fetched: bool = False
    next_refresh: float = 0.0  # time.monotonic(); 0 = due now
    last_attempt: float = -math.inf
    failures: int = 0
    last_error: str = ""
    busy: bool = False

    @property
    def where(self) -> str:
        return self.jwks_url or f"{self.issuer}{WELL_KNOWN}"

    def request_refresh(self) -> None:
        """A token named a key we do not have: the cluster may have rotated; refresh soon (rate-limited)."""
        if time.monotonic() - self.last_attempt >= ON_DEMAND_INTERVAL and self.next_refresh > 0:
            self.next_refresh = 0.0
            wake_refreshers()

    async def _fetch(self, session: aiohttp.ClientSession) -> tuple[KeySet, float | None]:
        jwks_url = self.jwks_url
        if jwks_url is None:
            doc, _ = await get_json(session, self.where, self.ssl_ctx)
            if not isinstance(doc, dict):
                raise FetchError(f"{self.where} is not a discovery document")
            # OpenID Connect Discovery §4.3: the document must name the issuer it was fetched for.
            if doc.get("issuer") != self.issuer:
                raise FetchError(f"{self.where} names issuer {doc.get('issuer')!r}, expected {self.issuer!r}")
            uri = doc.get("jwks_uri")
            if not isinstance(uri, str) or not uri:
                raise FetchError(f"{self.where} has no jwks_uri")
            try:
                jwks_url = check_url(uri, "jwks_uri")
            except ValueError as e:
                raise FetchError(str(e)) from None
        jwks, age = await get_json(session, jwks_url, self.ssl_ctx)
        try:
            keys = parse_jwks(jwks, jwks_url)
        except KeysError as e:
            raise FetchError(f"{jwks_url} {e}") from None
        if not len(keys):
            raise FetchError(f"{jwks_url} has no usable signature key")
        return keys, age

    async def refresh(self, session: aiohttp.ClientSession) -> None:
        if self.busy:
            return
        self.busy = True
        self.last_attempt = time.monotonic()
        try:
            keys, age = await self._fetch(session)
        except (FetchError, aiohttp.ClientError, TimeoutError, ssl.SSLError, OSError) as e:
            self.failures += 1
            delay = min(RETRY_MIN * 2 ** (self.failures - 1), RETRY_MAX)
            self.next_refresh = time.monotonic() + delay
            self.last_error = str(e) or type(e).__name__
            kept = (
                f"keeping the {len(self.keys)} key(s) of the last good fetch"
                if self.fetched
                else "no keys yet"
            )
            log.warning(
                "K8sSA: cannot refresh service-account keys from %s: %s; %s; retrying in %.0fs",
                self.where,
                self.last_error,
                kept,
                delay,
            )
        else:
            self.keys, self.fetched, self.failures, self.last_error = keys, True, 0, ""
            ttl = min(max(DEFAULT_TTL if age is None else age, MIN_TTL), MAX_TTL)
            self.next_refresh = time.monotonic() + ttl
            log.info(
                "K8sSA: %d service-account key(s) from %s; next refresh in %.0fs", len(keys), self.where, ttl
            )
        finally:
            self.busy = False


_SOURCES: dict[tuple[str | None, str | None, str | None], KeySource] = {}
_WAKERS: set[asyncio.Event] = set()


def source_for(issuer: str | None, jwks_url: str | None, roots_pem: str | None) -> KeySource:
    """The shared source for this location and trust (created on first use, due for a fetch at once)."""
    key = (None if jwks_url else issuer, jwks_url, roots_pem)
    src = _SOURCES.get(key)
    if src is None:
        ctx = ssl.create_default_context(cadata=roots_pem) if roots_pem else ssl.create_default_context()
        src = KeySource(issuer=key[0], jwks_url=jwks_url, ssl_ctx=ctx)
        _SOURCES[key] = src
        wake_refreshers()
    return src


def wake_refreshers() -> None:
    for ev in list(_WAKERS):
        ev.set()


class Refresher:
    """The background refresh of one server process (one authority)."""

    def __init__(self, authority: AuthorityView) -> None:
        self.authority = authority
        self.wake = asyncio.Event()
        self.session: aiohttp.ClientSession | None = None
        self.task: asyncio.Task[None] | None = None

    def live(self) -> list[KeySource]:
        out: list[KeySource] = []
        for p in self.authority.provisioners_of_type("K8sSA"):
            src = getattr(p.state, "source", None)
            if src is not None and src not in out:
                out.append(src)
        return out

    async def start(self) -> None:
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=FETCH_TIMEOUT))
        _WAKERS.add(self.wake)
        # The first fetch happens before the CA takes tokens for granted; a failure is logged and retried.
        await self.refresh_due()
        self.task = asyncio.create_task(self._run(), name="k8ssa-key-refresh")

    async def refresh_due(self) -> None:
        assert self.session is not None
        now = time.monotonic()
        due = [s for s in self.live() if s.next_refresh <= now]
        if due:
            await asyncio.gather(*(s.refresh(self.session) for s in due))

    async def _run(self) -> None:
        while True:
            self.wake.clear()
            try:
                await self.refresh_due()
            except Exception:
                log.exception("K8sSA: key refresh failed unexpectedly; trying again later")
            sources = self.live()
            nxt = min((s.next_refresh for s in sources), default=math.inf)
            delay = min(max(nxt - time.monotonic(), 0.05), IDLE_CHECK)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), delay)

    async def stop(self) -> None:
        _WAKERS.discard(self.wake)
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        if self.session is not None:
            await self.session.close()


_RUNNING: dict[int, Refresher] = {}


async def start_for(authority: AuthorityView) -> None:
    r = Refresher(authority)
    _RUNNING[id(authority)] = r
    await r.start()


async def stop_for(authority: AuthorityView) -> None:
    r = _RUNNING.pop(id(authority), None)
    if r is not None:
        await r.stop()
