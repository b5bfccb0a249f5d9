"""Signature keys a provisioner fetches over the network: an OpenID discovery document
(`<issuer>/.well-known/openid-configuration` → `jwks_uri`) or a JWKS URL, fetched when the CA starts and
refreshed in the background; and the `publicKeys` form of ca.json.

Why in the kernel: K8sSA (the cluster's service-account keys), GCP (Google's JWKS), Azure (the tenant's
discovery document) and OIDC all verify JWTs with keys a provider publishes and rotates. One implementation
means one set of rules for caching, retrying, rate limiting and refusing key material sent in the clear.

The hot path never waits on the network: it reads the last good key set of a `KeySource`. A plugin's
`http_setup` calls `refresh_key_sources(app, name, sources)`; the application then fetches those sources
before it serves and refreshes them in one background task per (application, name): when the answer's
`Cache-Control: max-age` runs out (default one hour, clamped to [MIN_TTL, MAX_TTL]), earlier when a token
names a key the source does not have (`request_refresh()`, at most once per ON_DEMAND_INTERVAL), and with a
growing delay after a failure, which keeps the last good keys and is logged.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import functools
import ipaddress
import logging
import math
import re
import ssl
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson
from aiohttp import web
from attrs import define, frozen
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from plica.jose import JOSEError, PublicKey, key_from_jwk

log = logging.getLogger("plica.keysources")


def _log_for(name: str) -> logging.Logger:
    # A refresh is logged under the plugin's logger ("K8sSA" → plica.k8ssa), where its operator looks.
    return logging.getLogger(f"plica.{name.lower()}")


# Module constants rather than arguments: one policy for every provider (tests monkeypatch them).
DEFAULT_TTL = 3600.0  # without Cache-Control: max-age
MIN_TTL = 60.0  # a max-age below this is raised to it (a provider cannot make us poll it in a loop)
MAX_TTL = 86400.0
RETRY_MIN = 30.0  # first retry after a failure; doubles up to RETRY_MAX
RETRY_MAX = 600.0
ON_DEMAND_INTERVAL = 30.0  # at most one early refresh per source for unknown `kid`s
FETCH_TIMEOUT = 10.0
MAX_BODY = 1 << 20
IDLE_CHECK = 60.0  # the refresher looks at its (possibly reloaded) sources at least this often

WELL_KNOWN = "/.well-known/openid-configuration"
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)\"?\s*(?:,|$)", re.IGNORECASE)
_NO_CACHE = re.compile(r"(?:^|,)\s*(no-store|no-cache)\s*(?:,|$)", re.IGNORECASE)
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----.*?-----END \1-----\r?\n?", re.DOTALL)


# ============================================================================ key sets


class KeysError(ValueError):
    """A key cannot be used; the message says which and why."""


@frozen
class KeySet:
    """Keys by `kid`, and the keys without one (tried for tokens that name no `kid`)."""

    by_kid: Mapping[str, PublicKey]
    anonymous: tuple[PublicKey, ...]

    def __len__(self) -> int:
        return len(self.by_kid) + len(self.anonymous)

    def candidates(self, kid: str | None) -> Iterable[PublicKey]:
        # A token naming a kid is tried with that key only: trying every key would let any published key
        # stand in for the one the issuer says it used.
        if kid:
            key = self.by_kid.get(kid)
            return (key,) if key is not None else ()
        return (*self.by_kid.values(), *self.anonymous)


EMPTY = KeySet(by_kid={}, anonymous=())


def parse_public_keys(value: Any) -> tuple[PublicKey, ...]:
    """`publicKeys` as ca.json holds it (Go []byte): standard base64 of PEM public keys — RSA, EC or
    Ed25519, as `PUBLIC KEY`/`RSA PUBLIC KEY` blocks or certificates whose key is taken (step's
    pemutil.ParseKey)."""
    if not isinstance(value, str) or not value.strip():
        raise KeysError("must be the standard base64 of PEM public keys")
    if value.lstrip().startswith("-----BEGIN"):
        raise KeysError("must be the standard base64 of the PEM text, not the PEM text itself")
    try:
        pem = base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):
        raise KeysError("is not valid standard base64 (it must be base64 of PEM text)") from None
    keys: list[PublicKey] = []
    for i, m in enumerate(_PEM_BLOCK.finditer(pem), start=1):
        kind = m.group(1).decode()
        try:
            if kind == "CERTIFICATE":
                key: Any = x509.load_pem_x509_certificate(m.group(0)).public_key()
            elif kind.endswith("PUBLIC KEY"):
                key = load_pem_public_key(m.group(0))
            else:
                raise KeysError(f"PEM block {i} is a {kind!r}, not a public key")
        except ValueError as e:
            if isinstance(e, KeysError):
                raise
            raise KeysError(f"PEM block {i} ({kind}) cannot be parsed: {e}") from None
        if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey):
            raise KeysError(
                f"PEM block {i}: unsupported key type {type(key).__name__} (use RSA, EC or Ed25519)"
            )
        keys.append(key)
    if not keys:
        raise KeysError("holds no PEM public key")
    return tuple(keys)


def parse_jwks(doc: Any, source: str) -> KeySet:
    """The signature keys of a JWKS document; keys of unknown types or for encryption are skipped (and
    logged), because a provider may publish keys this CA never needs. `source` names the document in logs."""
    if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
        raise KeysError("is not a JWKS document (no 'keys' list)")
    by_kid: dict[str, PublicKey] = {}
    anonymous: list[PublicKey] = []
    for i, jwk in enumerate(doc["keys"]):
        if not isinstance(jwk, dict):
            continue
        if jwk.get("use") not in (None, "sig"):
            continue
        try:
            key = key_from_jwk(jwk)
        except JOSEError as e:
            log.info("skipping key %d of %s: %s", i, source, e)
            continue
        if hasattr(key, "private_bytes"):
            log.warning("%s publishes a private key (key %d); it is ignored", source, i)
            continue
        kid = jwk.get("kid")
        if isinstance(kid, str) and kid:
            by_kid[kid] = key  # type: ignore[assignment]
        else:
            anonymous.append(key)  # type: ignore[arg-type]
    return KeySet(by_kid=by_kid, anonymous=tuple(anonymous))


# ============================================================================ fetching


class FetchError(Exception):
    """A discovery or JWKS fetch failed; the message says where and why (it holds no secret)."""


def check_url(url: str, what: str) -> str:
    """`url` if it is https, or http to a loopback address (kubectl proxy, a test's server): key material
    must not travel in the clear. `what` names the setting in the ValueError."""
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
    """Seconds a `Cache-Control` value allows an answer to be kept (0 for no-store/no-cache); None when it
    does not say."""
    if not cache_control:
        return None
    if _NO_CACHE.search(cache_control):
        return 0.0
    m = _MAX_AGE.search(cache_control)
    return float(m.group(1)) if m else None


async def _get_json(
    session: aiohttp.ClientSession, url: str, ssl_ctx: ssl.SSLContext
) -> tuple[Any, float | None]:
    # No redirects: the URL was checked (https, or loopback http); a redirect could lead anywhere.
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
    """One place a provider publishes its keys, with the last good key set.

    Verifiers read `keys` (never waiting on the network) and call `request_refresh()` when a token names a
    `kid` they do not find. `fetched` says whether a fetch ever succeeded, `last_error` why the last one
    failed ("" after a success), `where` the URL fetched first (for messages)."""

    issuer: str | None  # the issuer the discovery document must name (None: any; see discovered_issuer)
    jwks_url: str | None  # fetch this JWKS directly, or
    discovery_url: str | None  # discover `jwks_uri` here
    ssl_ctx: ssl.SSLContext
    keys: KeySet = EMPTY
    fetched: bool = False
    discovered_issuer: str | None = None  # the "issuer" of the last good discovery document
    next_refresh: float = 0.0  # time.monotonic(); 0 = due now
    last_attempt: float = -math.inf
    failures: int = 0
    last_error: str = ""
    busy: bool = False

    @property
    def where(self) -> str:
        return self.jwks_url or self.discovery_url or ""

    def request_refresh(self) -> None:
        """A token named a key we do not have: the provider may have rotated; refresh soon. At most once per
        ON_DEMAND_INTERVAL since the last attempt, so a flood of made-up kids cannot make us hammer it."""
        if time.monotonic() - self.last_attempt >= ON_DEMAND_INTERVAL and self.next_refresh > 0:
            self.next_refresh = 0.0
            _wake_refreshers()

    async def _fetch(self, session: aiohttp.ClientSession) -> tuple[KeySet, float | None, str | None]:
        jwks_url = self.jwks_url
        issuer = None
        if jwks_url is None:
            doc, _ = await _get_json(session, self.where, self.ssl_ctx)
            if not isinstance(doc, dict):
                raise FetchError(f"{self.where} is not a discovery document")
            issuer = doc.get("issuer")
            # OpenID Connect Discovery §4.3: the document must name the issuer it was fetched for.
            if self.issuer is not None and issuer != self.issuer:
                raise FetchError(f"{self.where} names issuer {issuer!r}, expected {self.issuer!r}")
            if not isinstance(issuer, str) or not issuer:
                raise FetchError(f"{self.where} names no issuer")
            uri = doc.get("jwks_uri")
            if not isinstance(uri, str) or not uri:
                raise FetchError(f"{self.where} has no jwks_uri")
            try:
                jwks_url = check_url(uri, "jwks_uri")
            except ValueError as e:
                raise FetchError(str(e)) from None
        jwks, age = await _get_json(session, jwks_url, self.ssl_ctx)
        try:
            keys = parse_jwks(jwks, jwks_url)
        except KeysError as e:
            raise FetchError(f"{jwks_url} {e}") from None
        if not len(keys):
            raise FetchError(f"{jwks_url} has no usable signature key")
        return keys, age, issuer

    async def refresh(self, session: aiohttp.ClientSession, name: str) -> None:
        """Fetch now (unless a fetch is under way); on failure keep the last good keys and retry later with
        a doubling delay. `name` (the provisioner type) prefixes the log lines and names their logger."""
        if self.busy:
            return
        self.busy = True
        self.last_attempt = time.monotonic()
        try:
            keys, age, issuer = await self._fetch(session)
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
            _log_for(name).warning(
                "%s: cannot refresh keys from %s: %s; %s; retrying in %.0fs",
                name,
                self.where,
                self.last_error,
                kept,
                delay,
            )
        else:
            self.keys, self.fetched, self.failures, self.last_error = keys, True, 0, ""
            if issuer is not None:
                self.discovered_issuer = issuer
            ttl = min(max(DEFAULT_TTL if age is None else age, MIN_TTL), MAX_TTL)
            self.next_refresh = time.monotonic() + ttl
            _log_for(name).info(
                "%s: %d key(s) from %s; next refresh in %.0fs", name, len(keys), self.where, ttl
            )
        finally:
            self.busy = False


# Sources are shared by location and trust, process-wide, so that a reload (which loads the provisioners
# again) finds the source it had, with its keys and schedule, instead of starting with none. So are the
# refreshers' wake-up events: a source created by a reload, or asking for an early refresh, wakes every
# running refresher, and each refreshes only the due sources its own application serves.
_SOURCES: dict[tuple[str | None, str | None, str | None, str | None], KeySource] = {}
_WAKERS: set[asyncio.Event] = set()


def key_source(
    issuer: str | None,
    jwks_url: str | None,
    roots_pem: str | None = None,
    *,
    discovery_url: str | None = None,
) -> KeySource:
    """The shared source for this location and trust (created on first use, due for a fetch at once).

    With `jwks_url`, that JWKS is fetched directly (`issuer` is not used). Otherwise the discovery document
    at `discovery_url` (default `<issuer>/.well-known/openid-configuration`) is fetched, its "issuer" must
    equal `issuer` when one is given (`discovered_issuer` keeps what it named), then its `jwks_uri`.
    `roots_pem`: the PEM roots that verify the servers (default: the system's). ValueError when a URL is
    not https (or http to a loopback address); callers check their settings first with `check_url` to name
    them in the message."""
    if jwks_url:
        key = (None, check_url(jwks_url, "JWKS URL"), None, roots_pem)
    elif discovery_url or issuer:
        where = discovery_url or f"{issuer}{WELL_KNOWN}"
        key = (issuer, None, check_url(where, "discovery URL"), roots_pem)
    else:
        raise ValueError("a key source needs an issuer, a discovery URL or a JWKS URL")
    src = _SOURCES.get(key)
    if src is None:
        ctx = ssl.create_default_context(cadata=roots_pem) if roots_pem else ssl.create_default_context()
        src = KeySource(issuer=key[0], jwks_url=key[1], discovery_url=key[2], ssl_ctx=ctx)
        _SOURCES[key] = src
        _wake_refreshers()
    return src


def forget_all() -> None:
    """Drop every shared source, as a new process starts with none (tests: a CA started by a later test
    must not inherit keys fetched for an earlier test's provider that happened to use the same port)."""
    _SOURCES.clear()


def _wake_refreshers() -> None:
    for ev in list(_WAKERS):
        ev.set()


# ============================================================================ the refresher


class Refresher:
    """The background refresh of the sources one plugin's provisioners use, for one application."""

    def __init__(self, name: str, sources: Callable[[], Iterable[KeySource]]) -> None:
        self.name = name
        self.sources = sources
        self.wake = asyncio.Event()
        self.session: aiohttp.ClientSession | None = None
        self.task: asyncio.Task[None] | None = None

    def live(self) -> list[KeySource]:
        # Asked each time: a reload changes the provisioners, and with them the sources.
        out: list[KeySource] = []
        for s in self.sources():
            if s is not None and s not in out:
                out.append(s)
        return out

    async def running(self, app: web.Application) -> AsyncIterator[None]:
        """The application's cleanup context: the first fetch before serving, the task, and their end."""
        session = self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=FETCH_TIMEOUT))
        _WAKERS.add(self.wake)
        try:
            # Fetched before the CA takes tokens; a provider that is down must not keep the CA from
            # starting (fetch errors are logged by `refresh`, anything else here too, and retried).
            try:
                await self.refresh_due()
            except Exception:
                _log_for(self.name).exception(
                    "%s: the first key fetch failed unexpectedly; trying again later", self.name
                )
            self.task = asyncio.create_task(self._run(), name=f"{self.name}-key-refresh")
            yield
        finally:
            _WAKERS.discard(self.wake)
            if self.task is not None:
                self.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self.task
            await session.close()

    async def refresh_due(self) -> None:
        assert self.session is not None
        now = time.monotonic()
        due = [s for s in self.live() if s.next_refresh <= now]
        if due:
            await asyncio.gather(*(s.refresh(self.session, self.name) for s in due))

    async def _run(self) -> None:
        while True:
            self.wake.clear()
            nxt = math.inf
            try:
                await self.refresh_due()
                nxt = min((s.next_refresh for s in self.live()), default=math.inf)
            except Exception:
                _log_for(self.name).exception(
                    "%s: key refresh failed unexpectedly; trying again later", self.name
                )
            delay = min(max(nxt - time.monotonic(), 0.05), IDLE_CHECK)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), delay)


@functools.cache
def _app_key(name: str) -> web.AppKey[Refresher]:
    # One key per name, the same object every time (an AppKey is looked up by identity).
    return web.AppKey(f"plica.keysources.{name}", Refresher)


def refresh_key_sources(app: web.Application, name: str, sources: Callable[[], Iterable[KeySource]]) -> None:
    """Keep the sources `sources()` returns fresh for as long as `app` runs; call it from an `http_setup`
    hookimpl. `sources` is called on every round (it should return the sources the live provisioners use,
    so a reload is followed); `name` (e.g. "K8sSA") prefixes the log lines, names their logger
    (`plica.<name in lower case>`) and the refresher, which lives in `app` (one per name)."""
    key = _app_key(name)
    if key in app:
        raise ValueError(f"key sources named {name!r} are already refreshed for this application")
    refresher = Refresher(name, sources)
    app[key] = refresher
    app.cleanup_ctx.append(refresher.running)
