"""ca.json in step-ca's format, loaded into attrs classes with cattrs.

Field names in Python are snake_case; the JSON name of each field is in its metadata (`json`), so the
wire/file spelling (`minTLSCertDuration`, `dnsNames`, ...) is written once. Fields the kernel does not
know are kept in `extra` and written back unchanged, so tools that edit ca.json lose nothing.
Provisioner blocks stay raw dicts here: their shape belongs to the plugin of their type
(`plica.plugins` structures them with the plugin's own attrs class).
"""

from __future__ import annotations

import os
import typing
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
import cattrs
import orjson
from attrs import define, field

from plica.durations import parse_duration
from plica.errors import ConfigError


def j(name: str, **kw: Any) -> Any:
    """An attrs field whose JSON name is `name`."""
    return field(metadata={"json": name}, **kw)


@define(kw_only=True)
class ProvisionerConfig:
    """The fields every provisioner block has. A plugin's config class subclasses it
    (`@define(kw_only=True) class MyConfig(ProvisionerConfig): ...`) and adds its own fields; the kernel
    resolves `claims` and reads `options` (templates) itself, and `extra` keeps keys nobody knows."""

    type: str = j("type")
    name: str = j("name")
    claims: dict[str, Any] | None = j("claims", default=None)
    options: dict[str, Any] | None = j("options", default=None)
    extra: dict[str, Any] = field(factory=dict, metadata={"extra": True})


@define
class ClaimsConfig:
    min_tls_cert_duration: str | None = j("minTLSCertDuration", default=None)
    max_tls_cert_duration: str | None = j("maxTLSCertDuration", default=None)
    default_tls_cert_duration: str | None = j("defaultTLSCertDuration", default=None)
    min_user_ssh_cert_duration: str | None = j("minUserSSHCertDuration", default=None)
    max_user_ssh_cert_duration: str | None = j("maxUserSSHCertDuration", default=None)
    default_user_ssh_cert_duration: str | None = j("defaultUserSSHCertDuration", default=None)
    min_host_ssh_cert_duration: str | None = j("minHostSSHCertDuration", default=None)
    max_host_ssh_cert_duration: str | None = j("maxHostSSHCertDuration", default=None)
    default_host_ssh_cert_duration: str | None = j("defaultHostSSHCertDuration", default=None)
    enable_ssh_ca: bool | None = j("enableSSHCA", default=None)
    disable_renewal: bool | None = j("disableRenewal", default=None)
    allow_renewal_after_expiry: bool | None = j("allowRenewalAfterExpiry", default=None)
    disable_smallstep_extensions: bool | None = j("disableSmallstepExtensions", default=None)


@define
class ASN1DN:
    country: str | None = j("country", default=None)
    organization: str | None = j("organization", default=None)
    organizational_unit: str | None = j("organizationalUnit", default=None)
    locality: str | None = j("locality", default=None)
    province: str | None = j("province", default=None)
    street_address: str | None = j("streetAddress", default=None)
    serial_number: str | None = j("serialNumber", default=None)
    common_name: str | None = j("commonName", default=None)


@define
class AuthorityConfig:
    provisioners: list[dict[str, Any]] = j("provisioners", factory=list)
    authority_id: str | None = j("authorityId", default=None)
    template: ASN1DN | None = j("template", default=None)
    claims: ClaimsConfig | None = j("claims", default=None)
    policy: dict[str, Any] | None = j("policy", default=None)
    disable_issued_at_check: bool = j("disableIssuedAtCheck", default=False)
    backdate: str = j("backdate", default="1m")
    enable_admin: bool = j("enableAdmin", default=False)
    disable_get_ssh_hosts: bool = j("disableGetSSHHosts", default=False)
    # Where relying parties find revocation information, written into every leaf (AIA, CDP) when set; the
    # names and shapes are step's certificate template fields of the same meaning (docs/revocation.md).
    ocsp_server: list[str] | None = j("ocspServer", default=None)
    issuing_certificate_url: list[str] | None = j("issuingCertificateURL", default=None)
    crl_distribution_points: list[str] | None = j("crlDistributionPoints", default=None)
    extra: dict[str, Any] = field(factory=dict, metadata={"extra": True})


@define
class CRLConfig:
    """step-ca's `crl` block: a CRL of the intermediate's revocations, stored in the database and served
    on `/crl` (docs/revocation.md)."""

    enabled: bool = j("enabled", default=False)
    generate_on_revoke: bool = j("generateOnRevoke", default=False)
    cache_duration: str | None = j("cacheDuration", default=None)
    renew_period: str | None = j("renewPeriod", default=None)
    idp_url: str = j("idpURL", default="")
    extra: dict[str, Any] = field(factory=dict, metadata={"extra": True})


@define
class DBConfig:
    # "sqlite" (embedded default) or "postgresql"; step's "badgerv2"/"mysql" are refused with a clear error.
    type: str = j("type", default="sqlite")
    data_source: str = j("dataSource", default="")
    extra: dict[str, Any] = field(factory=dict, metadata={"extra": True})


@define
class SSHConfig:
    host_key: str | None = j("hostKey", default=None)
    user_key: str | None = j("userKey", default=None)
    add_user_principal: str = j("addUserPrincipal", default="provisioner")
    add_user_command: str = j("addUserCommand", default="sudo useradd -m <principal>; nc -q0 localhost 22")
    extra: dict[str, Any] = field(factory=dict, metadata={"extra": True})


DEFAULT_CIPHER_SUITES = [
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
]


@define
class TLSOptions:
    cipher_suites: list[str] = j("cipherSuites", factory=lambda: list(DEFAULT_CIPHER_SUITES))
    min_version: float = j("minVersion", default=1.2)
    max_version: float = j("maxVersion", default=1.3)
    renegotiation: bool = j("renegotiation", default=False)

    def to_json(self) -> dict[str, Any]:
        # As ca.json writes it: the converter's JSON names (below).
        out: dict[str, Any] = converter.unstructure(self)
        return out


@define
class CAConfig:
    address: str = j("address")
    root: str | list[str] = j("root", default="")
    crt: str = j("crt", default="")
    key: str = j("key", default="")
    federated_roots: list[str] = j("federatedRoots", factory=list)
    insecure_address: str = j("insecureAddress", default="")
    dns_names: list[str] = j("dnsNames", factory=lambda: ["localhost", "127.0.0.1", "::1"])
    db: DBConfig | None = j("db", default=None)
    authority: AuthorityConfig = j("authority", factory=AuthorityConfig)
    ssh: SSHConfig | None = j("ssh", default=None)
    # step-ca's key manager block ({"type": "pkcs11", "uri": "pkcs11:..."}); its shape beyond `type` and
    # `uri` belongs to the manager's plugin, so it stays a dict here. None: softkms (encrypted files).
    kms: dict[str, Any] | None = j("kms", default=None)
    tls: TLSOptions = j("tls", factory=TLSOptions)
    crl: CRLConfig | None = j("crl", default=None)
    password: str = j("password", default="")
    common_name: str = j("commonName", default="Plica Online CA")
    extra: dict[str, Any] = field(factory=dict, metadata={"extra": True})

    # Not in the file: where it came from, so relative paths resolve against the CA's home.
    path: Path | None = field(default=None, metadata={"internal": True})

    @property
    def home(self) -> Path:
        """The CA's directory: the parent of `config/` when ca.json lives there (step's layout)."""
        if self.path is None:
            return Path.cwd()
        d = self.path.parent
        return d.parent if d.name == "config" else d

    def resolve(self, p: str) -> Path:
        q = Path(os.path.expanduser(p))
        return q if q.is_absolute() else self.home / q

    @property
    def roots(self) -> list[str]:
        return [self.root] if isinstance(self.root, str) else list(self.root)


def _build_converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=False)

    # cattrs would coerce with str()/int()/bool(); a config file deserves strict types and a clear message.
    def strict(kind: type, label: str) -> Any:
        def hook(value: Any, _: type) -> Any:
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                return float(value)
            if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
                raise TypeError(f"expected {label}, got {type(value).__name__} {value!r}")
            return value

        return hook

    conv.register_structure_hook(str, strict(str, "a string"))
    conv.register_structure_hook(bool, strict(bool, "true or false"))
    conv.register_structure_hook(int, strict(int, "an integer"))
    conv.register_structure_hook(float, strict(float, "a number"))

    def str_or_list(value: Any, _: type) -> Any:
        if isinstance(value, str):
            return value
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
        raise TypeError(f"expected a string or a list of strings, got {value!r}")

    conv.register_structure_hook(str | list[str], str_or_list)

    def is_list(t: Any) -> bool:
        return typing.get_origin(t) is list

    def list_hook(value: Any, t: Any) -> Any:
        if not isinstance(value, list):
            raise TypeError(f"expected a JSON array, got {type(value).__name__} {value!r}")
        (item,) = typing.get_args(t) or (Any,)
        out, errors = [], []
        for i, v in enumerate(value):
            try:
                out.append(conv.structure(v, item))
            except Exception as e:
                e._plica_path = f"[{i}]"  # type: ignore[attr-defined]  # so the error names the element: dnsNames[1]
                errors.append(e)
        if errors:
            raise _FieldErrors(errors)
        return out

    def is_dict(t: Any) -> bool:
        return t is dict or typing.get_origin(t) is dict

    def dict_hook(value: Any, t: Any) -> Any:
        if not isinstance(value, dict):
            raise TypeError(f"expected a JSON object, got {type(value).__name__} {value!r}")
        return value

    conv.register_structure_hook_func(is_list, list_hook)
    conv.register_structure_hook_func(is_dict, dict_hook)
    conv.register_structure_hook(Any, lambda v, _: v)

    def structure_factory(cls: type) -> Any:
        attrs.resolve_types(cls)
        flds = attrs.fields(cls)
        extra_field = next((f for f in flds if f.metadata.get("extra")), None)
        known = {f.metadata.get("json", f.name): f for f in flds if "json" in f.metadata}

        def structure(data: Any, _: type) -> Any:
            if not isinstance(data, dict):
                raise TypeError(f"expected a JSON object, got {type(data).__name__}")
            kwargs: dict[str, Any] = {}
            extra: dict[str, Any] = {}
            errors: list[Exception] = []
            for key, value in data.items():
                f = known.get(key)
                if f is None:
                    extra[key] = value
                    continue
                if value is None:
                    continue
                try:
                    kwargs[f.name] = conv.structure(value, f.type)
                except Exception as e:
                    e.__notes__ = [*getattr(e, "__notes__", []), f"Structuring field {key!r}"]
                    e._plica_path = key  # type: ignore[attr-defined]
                    errors.append(e)
            missing = [
                n
                for n, f in known.items()
                if f.default is attrs.NOTHING and f.name not in kwargs and n not in data
            ]
            for n in missing:
                err = KeyError(n)
                err._plica_path = n  # type: ignore[attr-defined]
                err._plica_missing = True  # type: ignore[attr-defined]
                errors.append(err)
            if errors:
                raise _FieldErrors(errors)
            if extra_field is not None:
                kwargs[extra_field.name] = extra
            return cls(**kwargs)

        return structure

    def unstructure_factory(cls: type) -> Any:
        flds = attrs.fields(cls)

        def unstructure(obj: Any) -> dict[str, Any]:
            out: dict[str, Any] = {}
            for f in flds:
                if f.metadata.get("internal"):
                    continue
                value = getattr(obj, f.name)
                if f.metadata.get("extra"):
                    out.update(value)
                    continue
                if value is None:
                    continue
                out[f.metadata.get("json", f.name)] = conv.unstructure(value)
            return out

        return unstructure

    # Any attrs class whose fields carry a JSON name (the kernel's and plugins' config classes alike).
    def is_json_class(cls: Any) -> bool:
        return (
            isinstance(cls, type) and attrs.has(cls) and any("json" in f.metadata for f in attrs.fields(cls))
        )

    conv.register_structure_hook_factory(is_json_class, structure_factory)
    conv.register_unstructure_hook_factory(is_json_class, unstructure_factory)
    return conv


class _FieldErrors(Exception):
    def __init__(self, errors: list[Exception]) -> None:
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


def _describe(exc: Exception, path: str) -> list[str]:
    """Flatten nested field errors into 'json.path: what was expected' lines."""
    if isinstance(exc, _FieldErrors):
        out: list[str] = []
        for e in exc.errors:
            sub = getattr(e, "_plica_path", "")
            p = (f"{path}{sub}" if sub.startswith("[") else f"{path}.{sub}") if sub else path
            if getattr(e, "_plica_missing", False):
                out.append(f"{p}: required field is missing")
            else:
                out.extend(_describe(e, p))
        return out
    if isinstance(exc, cattrs.BaseValidationError):
        msgs = cattrs.transform_error(exc, path=path)
        return [m.replace(" @ ", " at ") for m in msgs]
    return [f"{path}: {exc}"]


converter = _build_converter()


def structure(data: Any, cls: type, path: str) -> Any:
    """Structure `data` into `cls`, turning every failure into a ConfigError that names the JSON path."""
    try:
        return converter.structure(data, cls)
    except Exception as e:
        lines = _describe(e, path)
        first = lines[0]
        p, _, msg = first.partition(": ")
        raise ConfigError(
            p, msg + ("" if len(lines) == 1 else f" (and {len(lines) - 1} more: {'; '.join(lines[1:])})")
        ) from None


def load(path: str | os.PathLike[str]) -> CAConfig:
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise ConfigError("", f"cannot read {p}: {e.strerror}") from None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise ConfigError("", f"{p} is not valid JSON: {e}") from None
    cfg: CAConfig = structure(data, CAConfig, "ca.json")
    cfg.path = p.resolve()
    validate(cfg)
    return cfg


def to_json(cfg: CAConfig) -> bytes:
    return orjson.dumps(converter.unstructure(cfg), option=orjson.OPT_INDENT_2) + b"\n"


_FIELD_OF = {
    "ocspServer": "ocsp_server",
    "issuingCertificateURL": "issuing_certificate_url",
    "crlDistributionPoints": "crl_distribution_points",
}
DEFAULT_CRL_CACHE_DURATION = timedelta(hours=24)


def crl_durations(crl: CRLConfig) -> tuple[timedelta, timedelta]:
    """(cacheDuration, the period after which a CRL is renewed), as step-ca reads them: a missing or zero
    cacheDuration is 24h; without renewPeriod a CRL is renewed at two thirds of it."""
    cache = parse_duration(crl.cache_duration) if crl.cache_duration else timedelta(0)
    if cache <= timedelta(0):
        cache = DEFAULT_CRL_CACHE_DURATION
    renew = parse_duration(crl.renew_period) if crl.renew_period else timedelta(0)
    if renew <= timedelta(0):
        renew = cache * 2 / 3
    return cache, renew


def validate_crl(crl: CRLConfig) -> None:
    for key, text in (("cacheDuration", crl.cache_duration), ("renewPeriod", crl.renew_period)):
        if text:
            try:
                value = parse_duration(text)
            except ValueError as e:
                raise ConfigError(f"ca.json.crl.{key}", str(e)) from None
            if value < timedelta(0):
                raise ConfigError(f"ca.json.crl.{key}", "must be greater than or equal to 0")
    if crl.renew_period and crl.cache_duration:
        cache, renew = parse_duration(crl.cache_duration), parse_duration(crl.renew_period)
        if cache > timedelta(0) and renew > cache:
            raise ConfigError("ca.json.crl.renewPeriod", "must not be longer than crl.cacheDuration")
    if crl.idp_url and not crl.idp_url.startswith(("http://", "https://", "ldap://")):
        raise ConfigError("ca.json.crl.idpURL", f"{crl.idp_url!r} is not an http(s) or ldap URL")


def validate(cfg: CAConfig) -> None:
    if not cfg.address:
        raise ConfigError("ca.json.address", "required (host:port the CA listens on, e.g. ':9000')")
    if cfg.db is not None and cfg.db.type.lower() not in ("sqlite", "postgresql", "postgres"):
        raise ConfigError(
            "ca.json.db.type",
            f"unsupported database type {cfg.db.type!r} (expected 'sqlite' or 'postgresql')",
        )
    try:
        bd = parse_duration(cfg.authority.backdate)
    except ValueError as e:
        raise ConfigError("ca.json.authority.backdate", str(e)) from None
    if bd < timedelta(0):
        raise ConfigError("ca.json.authority.backdate", "must be a positive duration")
    if cfg.crl is not None:
        validate_crl(cfg.crl)
    for key in ("ocspServer", "issuingCertificateURL", "crlDistributionPoints"):
        for i, url in enumerate(getattr(cfg.authority, _FIELD_OF[key]) or []):
            if not url.startswith(("http://", "https://", "ldap://")):
                raise ConfigError(f"ca.json.authority.{key}[{i}]", f"{url!r} is not an http(s) or ldap URL")
    for i, prov in enumerate(cfg.authority.provisioners):
        where = f"ca.json.authority.provisioners[{i}]"
        if not isinstance(prov, dict):
            raise ConfigError(where, "expected a JSON object")
        if not isinstance(prov.get("type"), str) or not prov["type"]:
            raise ConfigError(f"{where}.type", "required (a provisioner type such as 'JWK' or 'ACME')")
        if not isinstance(prov.get("name"), str) or not prov["name"]:
            raise ConfigError(f"{where}.name", "required (a non-empty string)")
    # Global claims are validated by plica.claims when the authority resolves them.
