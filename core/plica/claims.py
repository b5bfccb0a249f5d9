"""Claims: certificate durations and switches, resolved provisioner → global (`authority.claims`) → built-in.

Resolution happens once when a provisioner is loaded, so the hot path reads plain timedeltas.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from attrs import frozen

from plica.config import ClaimsConfig
from plica.durations import format_duration, parse_duration
from plica.errors import BadRequest, ConfigError, Forbidden

BUILTIN = ClaimsConfig(
    min_tls_cert_duration="5m",
    max_tls_cert_duration="24h",
    default_tls_cert_duration="24h",
    min_user_ssh_cert_duration="5m",
    max_user_ssh_cert_duration="24h",
    default_user_ssh_cert_duration="16h",
    min_host_ssh_cert_duration="5m",
    max_host_ssh_cert_duration="720h",
    default_host_ssh_cert_duration="720h",
    enable_ssh_ca=False,
    disable_renewal=False,
    allow_renewal_after_expiry=False,
    disable_smallstep_extensions=False,
)

_JSON = {
    "min_tls_cert_duration": "minTLSCertDuration",
    "max_tls_cert_duration": "maxTLSCertDuration",
    "default_tls_cert_duration": "defaultTLSCertDuration",
    "min_user_ssh_cert_duration": "minUserSSHCertDuration",
    "max_user_ssh_cert_duration": "maxUserSSHCertDuration",
    "default_user_ssh_cert_duration": "defaultUserSSHCertDuration",
    "min_host_ssh_cert_duration": "minHostSSHCertDuration",
    "max_host_ssh_cert_duration": "maxHostSSHCertDuration",
    "default_host_ssh_cert_duration": "defaultHostSSHCertDuration",
}


@frozen
class Durations:
    min: timedelta
    max: timedelta
    default: timedelta

    def window(
        self,
        start: datetime | None,
        end: datetime | None,
        *,
        now: datetime,
        backdate: timedelta,
        cap: datetime | None = None,
        names: tuple[str, str] = ("notBefore", "notAfter"),
    ) -> tuple[datetime, datetime]:
        """A certificate's validity from the requested `start` and `end` (None: not requested): start
        defaults to now less the backdate; end to the default duration after the requested start (or now),
        but not after `cap` (the authorizing credential's expiry). `names` name the two bounds in errors:
        BadRequest for an end in the past or before the start, Forbidden for a duration outside the claims."""
        begin = start or now
        if start is None:
            start = now - backdate
        if end is None:
            end = begin + self.default
            if cap is not None and end > cap:
                end = cap
        if end < now:
            raise BadRequest(f"{names[1]} cannot be in the past")
        if end < start:
            raise BadRequest(f"{names[1]} cannot be before {names[0]}")
        self.check(end - start, backdate)
        return start, end

    def check(self, requested: timedelta, backdate: timedelta) -> None:
        """Forbidden unless `requested` (a certificate's whole validity) lies within min and max; max is
        stretched by the backdate, which starts a certificate that much before the request."""
        if requested < self.min:
            raise Forbidden(
                f"requested duration of {format_duration(requested)} is less than the authorized minimum of "
                f"{format_duration(self.min)}"
            )
        if requested > self.max + backdate:
            raise Forbidden(
                f"requested duration of {format_duration(requested)} is more than the authorized maximum of "
                f"{format_duration(self.max)}"
            )


@frozen
class Claims:
    tls: Durations
    user_ssh: Durations
    host_ssh: Durations
    enable_ssh_ca: bool
    disable_renewal: bool
    allow_renewal_after_expiry: bool
    disable_smallstep_extensions: bool


def _dur(value: str, path: str) -> timedelta:
    try:
        d = parse_duration(value)
    except ValueError as e:
        raise ConfigError(path, str(e)) from None
    if d <= timedelta(0):
        raise ConfigError(path, f"duration must be greater than 0, got {value!r}")
    return d


def _family(prefix: str, prov: ClaimsConfig | None, glob: ClaimsConfig, path: str, gpath: str) -> Durations:
    """min/max/default of one family, with step's quirk: a provisioner `default*` outside the global
    bounds stretches the effective min/max to it (authority/provisioner/claims.go)."""
    names = [f"min_{prefix}", f"max_{prefix}", f"default_{prefix}"]
    values: dict[str, timedelta] = {}
    for n in names:
        pv = getattr(prov, n) if prov is not None else None
        if pv is not None:
            values[n] = _dur(pv, f"{path}.{_JSON[n]}")
        else:
            gv = getattr(glob, n)
            values[n] = _dur(gv, f"{gpath}.{_JSON[n]}") if gv is not None else _dur(getattr(BUILTIN, n), "")
    mn, mx, df = (values[n] for n in names)
    prov_sets = {n for n in names if prov is not None and getattr(prov, n) is not None}
    if names[2] in prov_sets:
        if names[0] not in prov_sets and df < mn:
            mn = df
        if names[1] not in prov_sets and df > mx:
            mx = df
    else:
        # The mirror image, a Plica choice: a provisioner that narrows min or max without naming a default
        # gets the inherited default moved inside its bounds (`provisioner update --x509-max-dur=1h` just
        # works), where step-ca refuses to start.
        if names[1] in prov_sets and df > mx:
            df = mx
        if names[0] in prov_sets and df < mn:
            df = mn
    where = path if prov_sets else gpath
    if mx < mn:
        raise ConfigError(f"{where}.{_JSON[names[1]]}", "max duration is shorter than min duration")
    if df < mn:
        raise ConfigError(f"{where}.{_JSON[names[2]]}", "default duration is shorter than min duration")
    if df > mx:
        raise ConfigError(f"{where}.{_JSON[names[2]]}", "default duration is longer than max duration")
    return Durations(min=mn, max=mx, default=df)


def _flag(name: str, prov: ClaimsConfig | None, glob: ClaimsConfig) -> bool:
    for src in (prov, glob, BUILTIN):
        if src is not None and getattr(src, name) is not None:
            return bool(getattr(src, name))
    return False


def resolve(prov: ClaimsConfig | None, glob: ClaimsConfig | None, *, path: str) -> Claims:
    g = glob or ClaimsConfig()
    gpath = "ca.json.authority.claims"
    return Claims(
        tls=_family("tls_cert_duration", prov, g, path, gpath),
        user_ssh=_family("user_ssh_cert_duration", prov, g, path, gpath),
        host_ssh=_family("host_ssh_cert_duration", prov, g, path, gpath),
        enable_ssh_ca=_flag("enable_ssh_ca", prov, g),
        disable_renewal=_flag("disable_renewal", prov, g),
        allow_renewal_after_expiry=_flag("allow_renewal_after_expiry", prov, g),
        disable_smallstep_extensions=_flag("disable_smallstep_extensions", prov, g),
    )
