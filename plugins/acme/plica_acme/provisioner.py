"""The ACME provisioner type: its ca.json block (`ACMEConfig`), what a load prepares from it (`ACMEState`,
read by requests and the validator), and its entry in the capability matrix (`TYPE`)."""

from __future__ import annotations

import base64
import binascii
import ipaddress
from typing import Any

from attrs import define, field, frozen
from cryptography import x509

from plica.api import (
    AuthorityView,
    ConfigError,
    Provisioner,
    ProvisionerConfig,
    ProvisionerType,
    j,
    parse_duration,
)

HTTP_01 = "http-01"
DNS_01 = "dns-01"
TLS_ALPN_01 = "tls-alpn-01"
DEVICE_ATTEST_01 = "device-attest-01"
# What step-ca accepts in `challenges`; the Wire ones are accepted in ca.json but not offered here.
KNOWN_CHALLENGES = (HTTP_01, DNS_01, TLS_ALPN_01, DEVICE_ATTEST_01, "wire-oidc-01", "wire-dpop-01")
IMPLEMENTED_CHALLENGES = (HTTP_01, DNS_01, TLS_ALPN_01, DEVICE_ATTEST_01)
DEFAULT_CHALLENGES = (HTTP_01, DNS_01, TLS_ALPN_01)
KNOWN_ATTESTATION_FORMATS = ("apple", "step", "tpm", "android-key")
# step-ca enables every format when `attestationFormats` is empty; android-key is not implemented here.
DEFAULT_ATTESTATION_FORMATS = ("apple", "step", "tpm")


@define
class ValidationConfig:
    """Where the validator looks (Plica extension; step-ca has the CA-wide flags `--acme-http-port`,
    `--acme-tls-port`, `--resolver`)."""

    http_port: int = j("httpPort", default=80)
    tls_port: int = j("tlsPort", default=443)
    resolver: str | None = j("resolver", default=None)
    timeout: str = j("timeout", default="10s")
    retry_window: str = j("retryWindow", default="30s")
    extra: dict[str, Any] = field(factory=dict, metadata={"extra": True})


@define
class LimitsConfig:
    """Abuse limits per account (Plica extension; 0 = no limit, as step-ca has none)."""

    pending_orders: int = j("pendingOrders", default=0)
    orders_per_hour: int = j("ordersPerHour", default=0)
    extra: dict[str, Any] = field(factory=dict, metadata={"extra": True})


@define(kw_only=True)
class ACMEConfig(ProvisionerConfig):
    force_cn: bool = j("forceCN", default=False)
    terms_of_service: str | None = j("termsOfService", default=None)
    website: str | None = j("website", default=None)
    caa_identities: list[str] | None = j("caaIdentities", default=None)
    require_eab: bool = j("requireEAB", default=False)
    challenges: list[str] | None = j("challenges", default=None)
    attestation_formats: list[str] | None = j("attestationFormats", default=None)
    attestation_roots: str | None = j("attestationRoots", default=None)
    validation: ValidationConfig | None = j("validation", default=None)
    limits: LimitsConfig | None = j("limits", default=None)


@frozen
class ACMEState:
    """What requests and the validator read, prepared once per (re)load."""

    challenges: frozenset[str]
    http_port: int
    tls_port: int
    resolver: tuple[str, int] | None
    timeout: float
    retry_window: float
    pending_orders: int
    orders_per_hour: int
    force_cn: bool
    require_eab: bool
    meta: dict[str, Any]
    attestation_formats: frozenset[str] = frozenset(DEFAULT_ATTESTATION_FORMATS)
    # The provisioner's attestationRoots, or None: each format trusts its vendor's roots.
    attestation_roots: tuple[x509.Certificate, ...] | None = None


TYPE = ProvisionerType(
    name="ACME",
    type_id=6,
    config_class=ACMEConfig,
    identifier_types={"ip-address": True, "hardware-id": True, "service-account": False},
    description="RFC 8555 ACME server: http-01, dns-01, tls-alpn-01 (certbot, lego, ...), device-attest-01",
    # The "Choosing a Provisioner" columns of docs/reference/provisioners.md, one per challenge type.
    identifier_columns={
        "ACME dns-01": {"ip-address": False, "hardware-id": False, "service-account": False},
        "ACME http-01": {"ip-address": True, "hardware-id": False, "service-account": False},
        "ACME tls-alpn-01": {"ip-address": True, "hardware-id": False, "service-account": False},
        "ACME device-attest-01": {"ip-address": False, "hardware-id": True, "service-account": False},
    },
)


def acme_provisioner(authority: AuthorityView, name: str) -> Provisioner | None:
    """The provisioner called `name` if it is an ACME one (the URL names it; so does a validation job)."""
    prov = authority.provisioner_by_name(name)
    return prov if prov is not None and prov.type.name.upper() == TYPE.name else None


def parse_host_port(value: str, default_port: int = 53) -> tuple[str, int]:
    """`host`, `host:port`, `[v6]:port` or a bare IPv6 address."""
    v = value.strip()
    if not v:
        raise ValueError("empty address")
    if v.startswith("["):
        host, _, rest = v[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif v.count(":") == 1:
        host, _, port = v.partition(":")
    else:
        host, port = v, ""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"{value!r}: the resolver must be an IP address (with an optional :port)") from None
    p = int(port) if port else default_port
    if not 0 < p < 65536:
        raise ValueError(f"{value!r}: port out of range")
    return host, p


def _seconds(value: str, path: str) -> float:
    try:
        s = parse_duration(value).total_seconds()
    except ValueError as e:
        raise ConfigError(path, str(e)) from None
    if s < 0:
        raise ConfigError(path, "must not be negative")
    return s


def load_state(cfg: ACMEConfig) -> ACMEState:
    """Check the block beyond its types (ConfigError names the field) and prepare what requests read."""
    enabled: set[str] = set()
    for i, c in enumerate(cfg.challenges or DEFAULT_CHALLENGES):
        name = str(c).lower()
        if name not in KNOWN_CHALLENGES:
            raise ConfigError(
                f"challenges[{i}]", f"unknown challenge {c!r} (expected one of {', '.join(KNOWN_CHALLENGES)})"
            )
        enabled.add(name)
    formats: set[str] = set()
    for i, f in enumerate(cfg.attestation_formats or ()):
        if str(f).lower() not in KNOWN_ATTESTATION_FORMATS:
            raise ConfigError(
                f"attestationFormats[{i}]",
                f"unknown format {f!r} (expected one of {', '.join(KNOWN_ATTESTATION_FORMATS)})",
            )
        formats.add(str(f).lower())
    roots: tuple[x509.Certificate, ...] | None = None
    if cfg.attestation_roots:
        try:
            pem = base64.b64decode("".join(cfg.attestation_roots.split()), validate=True)
            roots = tuple(x509.load_pem_x509_certificates(pem))
            if not roots:
                raise ValueError("no certificates found")
        except (binascii.Error, ValueError) as e:
            raise ConfigError("attestationRoots", f"expected base64 of PEM certificates: {e}") from None
    v = cfg.validation or ValidationConfig()
    for key, port in (("httpPort", v.http_port), ("tlsPort", v.tls_port)):
        if not 0 < port < 65536:
            raise ConfigError(f"validation.{key}", f"port {port} is out of range")
    resolver = None
    if v.resolver:
        try:
            resolver = parse_host_port(v.resolver)
        except ValueError as e:
            raise ConfigError("validation.resolver", str(e)) from None
    timeout = _seconds(v.timeout, "validation.timeout")
    if timeout <= 0:
        raise ConfigError("validation.timeout", "must be positive")
    lim = cfg.limits or LimitsConfig()
    for key, n in (("pendingOrders", lim.pending_orders), ("ordersPerHour", lim.orders_per_hour)):
        if n < 0:
            raise ConfigError(f"limits.{key}", "must be 0 (no limit) or positive")
    meta: dict[str, Any] = {}
    if cfg.terms_of_service:
        meta["termsOfService"] = cfg.terms_of_service
    if cfg.website:
        meta["website"] = cfg.website
    if cfg.caa_identities:
        meta["caaIdentities"] = list(cfg.caa_identities)
    if cfg.require_eab:
        meta["externalAccountRequired"] = True
    return ACMEState(
        challenges=frozenset(enabled),
        http_port=v.http_port,
        tls_port=v.tls_port,
        resolver=resolver,
        timeout=timeout,
        retry_window=_seconds(v.retry_window, "validation.retryWindow"),
        pending_orders=lim.pending_orders,
        orders_per_hour=lim.orders_per_hour,
        force_cn=cfg.force_cn,
        require_eab=cfg.require_eab,
        meta=meta,
        attestation_formats=frozenset(formats or DEFAULT_ATTESTATION_FORMATS),
        attestation_roots=roots,
    )
