"""The certificate revocation list: step-ca's `crl` block (docs/revocation.md).

The CRL lives in the database (table `crl`, one row), so every process and instance sharing it serves the
same one. It is generated inside `Storage.exclusive("crl")` — PostgreSQL's advisory lock, SQLite's write
lock — so exactly one generates at a time, and the one that waited sees the others' revocations and CRL
number. Each worker keeps the CRL in memory and looks at the stored number at most once a second
(`RECHECK`): a CRL another instance generated is served everywhere within that second.

When: at start (when none is stored, it has expired, or it was made by another intermediate or with
another `idpURL`/`cacheDuration`), every `renewPeriod` (by default two thirds of `cacheDuration`) by
whichever worker wakes first, and after each revocation with `generateOnRevoke`.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import logging
import random
import time
from typing import TYPE_CHECKING, Any

from attrs import frozen
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from plica.config import CAConfig, crl_durations
from plica.errors import NotFound
from plica.pki import CAMaterial, fingerprint
from plica.types import CertificateStatus

if TYPE_CHECKING:
    from plica.storage import Storage

log = logging.getLogger("plica.crl")

RECHECK = 1.0  # seconds a worker serves its copy before looking at the stored CRL's number again
# As step-ca: a revoked certificate stays on the CRL until an hour after it expires.
EXPIRED_GRACE = 3600
IDLE_WAKE = 60.0  # seconds between looks at the configuration while CRLs are disabled

# RFC 5280 CRLReason codes (step's reasonCode); 0 (unspecified) is written as no reason, as RFC 5280
# recommends and step-ca does, and 7 is not a reason.
_REASONS = {
    1: x509.ReasonFlags.key_compromise,
    2: x509.ReasonFlags.ca_compromise,
    3: x509.ReasonFlags.affiliation_changed,
    4: x509.ReasonFlags.superseded,
    5: x509.ReasonFlags.cessation_of_operation,
    6: x509.ReasonFlags.certificate_hold,
    8: x509.ReasonFlags.remove_from_crl,
    9: x509.ReasonFlags.privilege_withdrawn,
    10: x509.ReasonFlags.aa_compromise,
}

_SELECT = "SELECT number, this_update, next_update, params, der FROM crl WHERE id = 1"
_STORE = (
    "INSERT INTO crl (id, number, this_update, next_update, params, der) VALUES (1, ?, ?, ?, ?, ?)"
    " ON CONFLICT (id) DO UPDATE SET number = excluded.number, this_update = excluded.this_update,"
    " next_update = excluded.next_update, params = excluded.params, der = excluded.der"
)
_REVOKED = (
    "SELECT r.serial, r.reason_code, r.revoked_at, c.not_after FROM revoked_x509_certs r"
    " LEFT JOIN x509_certs c ON c.serial = r.serial"
)


@frozen
class CRLSettings:
    """The `crl` block as the generator uses it."""

    cache: dt.timedelta
    renew: dt.timedelta
    generate_on_revoke: bool
    idp_url: str

    @classmethod
    def from_config(cls, cfg: CAConfig) -> CRLSettings | None:
        if cfg.crl is None or not cfg.crl.enabled:
            return None
        cache, renew = crl_durations(cfg.crl)
        return cls(cache, renew, cfg.crl.generate_on_revoke, cfg.crl.idp_url)

    def params(self, material: CAMaterial) -> str:
        """What a stored CRL was made with: one made by another intermediate or with other settings is
        replaced, not served."""
        return f"{fingerprint(material.intermediate)} {int(self.cache.total_seconds())} {self.idp_url}"


@frozen
class StoredCRL:
    number: int
    this_update: int
    next_update: int
    params: str
    der: bytes

    @property
    def pem(self) -> bytes:
        return b"-----BEGIN X509 CRL-----\n" + _b64_lines(self.der) + b"-----END X509 CRL-----\n"


def _stored(row: tuple[Any, ...] | None) -> StoredCRL | None:
    if row is None:
        return None
    number, this_update, next_update, params, der = row
    return StoredCRL(int(number), int(this_update), int(next_update), str(params), bytes(der))


def _b64_lines(der: bytes) -> bytes:
    b = base64.b64encode(der)
    return b"".join(b[i : i + 64] + b"\n" for i in range(0, len(b), 64))


def _utc(ts: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.UTC)


async def build_crl(
    material: CAMaterial,
    revoked: list[tuple[Any, ...]],
    *,
    number: int,
    now: int,
    settings: CRLSettings,
) -> bytes:
    """The DER of a CRL of `revoked` ((serial, reasonCode, revoked at, notAfter or None) rows), signed by
    the intermediate."""
    next_update = now + int(settings.cache.total_seconds())
    extensions: list[x509.Extension[x509.ExtensionType]] = [
        x509.Extension(x509.CRLNumber.oid, False, x509.CRLNumber(number))
    ]
    if material.akid is not None:
        extensions.append(x509.Extension(x509.AuthorityKeyIdentifier.oid, False, material.akid))
    if settings.idp_url:
        # As step-ca writes it (critical, the URL as full name). OpenSSL then checks it against the
        # certificate's CRL distribution point, so leaves need `crlDistributionPoints` with this URL.
        idp = x509.IssuingDistributionPoint(
            full_name=[x509.UniformResourceIdentifier(settings.idp_url)],
            relative_name=None,
            only_contains_user_certs=False,
            only_contains_ca_certs=False,
            only_some_reasons=None,
            indirect_crl=False,
            only_contains_attribute_certs=False,
        )
        extensions.append(x509.Extension(x509.IssuingDistributionPoint.oid, True, idp))
    entries: list[x509.RevokedCertificate] = []
    reasons: dict[int, list[x509.Extension[x509.ExtensionType]]] = {
        code: [x509.Extension(x509.CRLReason.oid, False, x509.CRLReason(r))] for code, r in _REASONS.items()
    }
    for serial, code, revoked_at, not_after in revoked:
        if not_after is not None and int(not_after) < now - EXPIRED_GRACE:
            continue
        try:
            sn = int(serial)
        except ValueError:
            log.warning("revocation of serial %r left out of the CRL: not a decimal serial", serial)
            continue
        entry = x509.RevokedCertificateBuilder(sn, _utc(int(revoked_at)), reasons.get(int(code), []))
        entries.append(entry.build())
    # Given whole to the builder: adding entries one by one copies the list each time (quadratic: 0.44 s
    # for 10,000 revocations, inside the lock every instance waits on).
    b = x509.CertificateRevocationListBuilder(
        material.intermediate.subject, _utc(now), _utc(next_update), extensions, entries
    )
    return (await material.sign_crl(b)).public_bytes(serialization.Encoding.DER)


async def x509_status(storage: Storage, serial: int) -> CertificateStatus:
    """What the database says of `serial` (OCSP's good / revoked / unknown)."""
    key = str(serial)
    row = await storage.fetch_one(
        "SELECT revoked_at, reason_code FROM revoked_x509_certs WHERE serial = ?", (key,)
    )
    if row is not None:
        return CertificateStatus("revoked", _utc(int(row[0])), int(row[1]))
    issued = await storage.fetch_one("SELECT 1 FROM x509_certs WHERE serial = ?", (key,))
    return CertificateStatus("good" if issued is not None else "unknown")


class CRLService:
    """One worker's view of the CRL: the copy it serves, generation, and the renewal task."""

    def __init__(self, material: CAMaterial, storage: Storage) -> None:
        self.material = material
        self.storage = storage
        self.settings: CRLSettings | None = None
        self._cached: StoredCRL | None = None
        self._checked = 0.0
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()

    def configure(self, settings: CRLSettings | None) -> None:
        """A new configuration (start or reload): the renewal task looks again at once."""
        self.settings = settings
        self._checked = 0.0
        self._wake.set()

    def _usable(self, crl: StoredCRL, s: CRLSettings, now: float) -> bool:
        return crl.params == s.params(self.material) and now < crl.next_update

    def _enabled(self) -> CRLSettings:
        s = self.settings
        if s is None:
            raise NotFound("Certificate Revocation Lists are not enabled")
        return s

    async def current(self) -> StoredCRL:
        """The CRL to serve: this worker's copy, looked up again at most once a second; generated when
        none usable is stored. NotFound when CRLs are disabled."""
        s = self._enabled()
        c = self._cached
        if c is not None and time.monotonic() - self._checked < RECHECK and self._usable(c, s, time.time()):
            return c
        async with self._lock:
            c = self._cached
            fresh = c is not None and time.monotonic() - self._checked < RECHECK
            if c is not None and fresh and self._usable(c, s, time.time()):
                return c
            head = await self.storage.fetch_one("SELECT number, params FROM crl WHERE id = 1")
            if c is None or head is None or (head[0], head[1]) != (c.number, c.params):
                row = await self.storage.fetch_one(_SELECT)
                c = _stored(row)
            if c is None or not self._usable(c, s, time.time()):
                c = await self._generate(s, force=False)
            self._cached, self._checked = c, time.monotonic()
            return c

    async def regenerate(self) -> StoredCRL:
        """A new CRL now (after a revocation), with every revocation committed before this call."""
        s = self._enabled()
        async with self._lock:
            c = await self._generate(s, force=True)
            self._cached, self._checked = c, time.monotonic()
            return c

    async def after_revoke(self, serial: str) -> None:
        """generateOnRevoke: called by the storage once a revocation is committed. A CRL that cannot be
        made now is logged, not the revocation's failure (it is recorded; the next CRL has it)."""
        s = self.settings
        if s is None or not s.generate_on_revoke:
            return
        try:
            await self.regenerate()
        except Exception:
            log.exception(
                "could not generate the CRL after revoking %s; retrying at the next renewal", serial
            )
            self._wake.set()

    async def _generate(self, s: CRLSettings, *, force: bool) -> StoredCRL:
        params = s.params(self.material)
        async with self.storage.exclusive("crl") as tx:
            row = await tx.fetch_one(_SELECT)
            now = int(time.time())
            stored = _stored(row)
            if (
                not force
                and stored is not None
                and stored.params == params
                and now < stored.this_update + int(s.renew.total_seconds())
            ):
                return stored  # another worker or instance made it while this one waited
            number = stored.number + 1 if stored is not None else 0
            der = await build_crl(
                self.material, await tx.fetch_all(_REVOKED), number=number, now=now, settings=s
            )
            new = StoredCRL(number, now, now + int(s.cache.total_seconds()), params, der)
            await tx.execute(_STORE, (new.number, new.this_update, new.next_update, new.params, new.der))
        log.info("generated CRL number %d (next update %s)", new.number, _utc(new.next_update).isoformat())
        return new

    async def renew_forever(self) -> None:
        """Keep the stored CRL fresh: whichever worker wakes first after `renewPeriod` makes the next one
        (the others find it made). A little jitter spreads the workers' wake-ups."""
        while True:
            self._wake.clear()
            delay = IDLE_WAKE
            s = self.settings
            if s is not None:
                try:
                    c = await self.current()
                    due = c.this_update + s.renew.total_seconds()
                    if time.time() >= due:
                        async with self._lock:
                            c = await self._generate(s, force=False)
                            self._cached, self._checked = c, time.monotonic()
                        due = c.this_update + s.renew.total_seconds()
                    delay = max(1.0, due - time.time()) + random.uniform(0, 2)
                except Exception:
                    log.exception("could not renew the CRL; retrying in 30 seconds")
                    delay = 30.0
            try:
                await asyncio.wait_for(self._wake.wait(), delay)
            except TimeoutError:
                pass
