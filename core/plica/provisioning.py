"""Helpers a token-based provisioner type shares with every other: the `provisioner_types` hook, the claim
checks every token gets, proof that the token was signed with a credential's own key, the X.509 names a token
allows, the `step.ssh` claims, the pair of SSH sign hooks, renewal that needs nothing beyond the kernel's
own checks, and what the cloud instance-identity types (AWS, GCP, Azure) share: trust on first use, their
allow-lists, the names a document vouches for, SSH host certificates, the `provisioner add` flags, tokens a
provider signs with the keys it publishes, and the client's request to the instance metadata service.

step-ca keeps these in its provisioner package's common code (the `stepPayload` type and the base
provisioner's defaults); here they are written once so that the types cannot drift apart.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import urllib.error
import urllib.request
from collections.abc import Callable, Collection, Iterable, Mapping
from types import MappingProxyType
from typing import Any, Literal, cast

import click
from attrs import define, frozen
from cryptography import x509

from plica.config import ProvisionerConfig, j
from plica.durations import format_duration, parse_duration, resolve_time_duration
from plica.errors import ConfigError, Forbidden, Unauthorized
from plica.hookspecs import hookimpl
from plica.jose import PublicKey, verify_signature
from plica.keysources import KeySource, check_url, key_source, refresh_key_sources
from plica.names import check_csr_names, csr_common_name
from plica.tokens import Token, token_sans
from plica.types import (
    AuthorityView,
    Provisioner,
    ProvisionerType,
    RenewAuthorization,
    SignRequest,
    SSHAuthorization,
    SSHSignRequest,
    X509Authorization,
)

CertType = Literal["user", "host"]


def provides(*types: ProvisionerType) -> Callable[[], list[ProvisionerType]]:
    """The `provisioner_types` hook of a plugin that provides `types`: `provisioner_types = provides(TYPE)`
    in its hooks module."""

    @hookimpl(specname="provisioner_types")
    def provisioner_types() -> list[ProvisionerType]:
        return list(types)

    return provisioner_types


def check_token_claims(
    provisioner: Provisioner, token: Token, audiences: frozenset[str], *, fragment: str | None = None
) -> str:
    """The claim checks every provisioner token gets once its signature has verified, in step's order:
    nbf/exp/iat (with the leeway), `iss` is the provisioner's name, an `aud` of this endpoint (ending in
    `#fragment` for the types whose tokens address their provisioner that way: `x5c/<name>`, ...) and a
    non-empty `sub`, which is returned. Unauthorized naming the first check that failed."""
    token.check_times()
    if token.issuer != provisioner.name:
        raise Unauthorized(f"token issuer {token.issuer!r} does not match provisioner {provisioner.name!r}")
    token.check_audience(audiences, fragment=fragment)
    return token.require_subject()


def check_signed_by(token: Token, key: PublicKey, *, what: str, signer: str) -> None:
    """Proof of possession: `token` must be signed with `key`, the key of the credential it carries (an x5c
    leaf, an SSH certificate), so that holding a copy of the credential proves nothing. `what` names the
    token and `signer` the key in the Unauthorized message; `alg: none` never verifies."""
    alg = str(token.header.get("alg", ""))
    if alg == "none" or not verify_signature(alg, key, token.signing_input, token.signature):
        raise Unauthorized(
            f"{what} signature does not verify with {signer} "
            f"(forged or altered token, or 'alg' {alg!r} does not fit the key)"
        )


def x509_authorization(
    token: Token, *, credential_id: str = "", cn_is_subject: bool = False, **extra: Any
) -> X509Authorization:
    """The X509Authorization of a token whose `sub` and `sans` (`[sub]` when it names none) are the names of
    the certificate: the CSR may ask only for those (`check_csr_names`, step's rule for JWK tokens), and with
    `cn_is_subject` its common name must be the subject itself (step's commonNameValidator: X5C, Nebula).
    The token's id is recorded single-use; `extra` carries the type's own fields (not_after, ...)."""
    sub = token.subject
    sans = token_sans(token.claims, sub)

    def check(csr: x509.CertificateSigningRequest) -> None:
        if cn_is_subject:  # read only when needed: each read decodes the CSR's subject afresh
            cn = csr_common_name(csr)
            if cn and cn != sub:
                raise Forbidden(
                    f"certificate request has common name {cn!r}, but the token's subject is {sub!r}"
                )
        check_csr_names(csr, sub, sans)

    return X509Authorization(
        subject=sub,
        sans=sans,
        check_csr=check,
        token_id=token.id,
        credential_id=credential_id,
        token_claims=token.claims,
        **extra,
    )


@frozen
class SSHOptions:
    """The `step.ssh` claim of an SSH provisioning token, validated once.

    `key_id` and `principals` default to the token subject, as step's clients and step-ca do.
    """

    cert_type: Literal["", "user", "host"]
    key_id: str
    principals: list[str]
    valid_after: dt.datetime | None
    valid_before: dt.datetime | None
    template_data: dict[str, Any]

    @classmethod
    def from_token(
        cls,
        token: Token,
        *,
        now: dt.datetime | None = None,
        optional: bool = False,
        default_principals: list[str] | None = None,
    ) -> SSHOptions:
        """Parse `token.claims["step"]["ssh"]`; Unauthorized when the token has none or a field has the wrong
        type, naming the field.

        `optional`: a token without the claim stands for an empty one (Nebula's tokens may leave the SSH
        options to the certificate they carry); a claim that is not an object is still refused.
        `default_principals` replaces `[sub]` as the principals of a token that names none."""
        step = token.claims.get("step")
        opts = step.get("ssh") if isinstance(step, dict) else None
        if opts is None and optional:
            opts = {}
        if not isinstance(opts, dict):
            if optional:
                raise Unauthorized("token claim step.ssh must be a JSON object")
            raise Unauthorized("token is not an SSH provisioning token (it has no step.ssh claim)")
        sub = token.subject
        cert_type = opts.get("certType") or ""
        if cert_type not in ("", "user", "host"):
            raise Unauthorized(f"token step.ssh.certType {cert_type!r} is not 'user' or 'host'")
        key_id = opts.get("keyID") or sub
        if not isinstance(key_id, str):
            raise Unauthorized("token step.ssh.keyID must be a string")
        principals = opts.get("principals") or (
            default_principals if default_principals is not None else [sub]
        )
        if not isinstance(principals, list) or not all(isinstance(p, str) for p in principals):
            raise Unauthorized("token step.ssh.principals must be a list of strings")
        when = now or dt.datetime.now(dt.UTC)
        try:
            va = resolve_time_duration(opts.get("validAfter") or None, now=when)
            vb = resolve_time_duration(opts.get("validBefore") or None, now=when, base=va or when)
        except (ValueError, TypeError):
            raise Unauthorized("token step.ssh validAfter/validBefore are not valid times") from None
        data = opts.get("templateData")
        return cls(
            cert_type=cast(Literal["", "user", "host"], cert_type),  # one of these three: checked above
            key_id=key_id,
            principals=list(principals),
            valid_after=va,
            valid_before=vb,
            template_data=data if isinstance(data, dict) else {},
        )

    def authorize(
        self, cert_type: CertType, token: Token, *, token_id: str | None = None, **extra: Any
    ) -> SSHAuthorization:
        """The SSHAuthorization for a request of `cert_type`: Forbidden when the token was made for the
        other type. `extra` carries the type's own fields (authorization_crt, not_after, ...) and wins over
        the token's (Nebula passes `template_data={}`: its tokens do not choose template data)."""
        if self.cert_type and self.cert_type != cert_type:
            raise Forbidden(
                f"token is for a {self.cert_type} certificate, the request is for a {cert_type} certificate"
            )
        fields: dict[str, Any] = {
            "key_id": self.key_id,
            "principals": list(self.principals),
            "token_id": token.id if token_id is None else token_id,
            "valid_after": self.valid_after,
            "valid_before": self.valid_before,
            "token_claims": token.claims,
            "template_data": dict(self.template_data),
        }
        return SSHAuthorization(cert_type=cert_type, **{**fields, **extra})


SSHSign = Callable[[Provisioner, Token, SSHSignRequest, AuthorityView, CertType], SSHAuthorization]


def ssh_sign_hooks(
    authorize: SSHSign,
) -> tuple[Callable[..., SSHAuthorization], Callable[..., SSHAuthorization]]:
    """`authorize_ssh_user_sign` and `authorize_ssh_host_sign` for a type that authorizes both kinds the
    same way, told apart only by the certificate type passed to `authorize`:

        authorize_ssh_user_sign, authorize_ssh_host_sign = ssh_sign_hooks(_ssh)

    in the hooks module declares the ssh-user-cert-sign and ssh-host-cert-sign capabilities."""

    @hookimpl(specname="authorize_ssh_user_sign")
    def user(
        provisioner: Provisioner, token: Token, request: SSHSignRequest, authority: AuthorityView
    ) -> SSHAuthorization:
        return authorize(provisioner, token, request, authority, "user")

    @hookimpl(specname="authorize_ssh_host_sign")
    def host(
        provisioner: Provisioner, token: Token, request: SSHSignRequest, authority: AuthorityView
    ) -> SSHAuthorization:
        return authorize(provisioner, token, request, authority, "host")

    return user, host


@hookimpl(specname="authorize_renew")
def renew_with_kernel_checks(
    provisioner: Provisioner, certificate: x509.Certificate, authority: AuthorityView
) -> RenewAuthorization | None:
    """`authorize_renew` for a type whose renewal needs only the kernel's checks (the certificate is this
    CA's, not revoked, not expired or within the grace period, and the provisioner allows renewal).

    A plugin declares the x509-renew capability by importing this into its hooks module."""
    return None


# ============================================================================ cloud instance identity
# AWS, GCP and Azure (docs/reference/cloud-iid.md): a VM proves what it is with a document its cloud signed.

# The identifiers a cloud type vouches for: an instance's IP addresses, never a hardware id or a service account.
INSTANCE_IDENTIFIERS: Mapping[str, bool] = MappingProxyType(
    {"ip-address": True, "hardware-id": False, "service-account": False}
)


@define(kw_only=True)
class InstanceConfig(ProvisionerConfig):
    """The ca.json fields every cloud type's block has (step's names and defaults); a type's config class
    subclasses it and adds its own."""

    disable_custom_sans: bool = j("disableCustomSANs", default=False)
    disable_trust_on_first_use: bool = j("disableTrustOnFirstUse", default=False)


def first_use_id(instance: str, cert_kind: Literal["x509", "ssh"]) -> str:
    """Trust on first use: the one-time token id under which a cloud instance's first certificate of a kind
    is recorded (the kernel writes it in the same transaction as the certificate, on every CA instance
    sharing the database), so that an instance gets one X.509 and one SSH host certificate, ever.

    `instance` names the instance uniquely in the CA (AWS, GCP: `"<aws|gcp>/<provisioner name>.<instance
    id>"`; Azure: the VM's resource id). X.509: lower-hex SHA-256 of it, step-ca's token id. SSH host
    certificates get an id of their own: step-ca records both under the one id, so there a VM that took
    its X.509 certificate can never get its SSH host certificate (but in the same /ssh/sign request)."""
    text = instance if cert_kind == "x509" else f"ssh-host/{instance}"
    return hashlib.sha256(text.encode()).hexdigest()


def check_allowed(
    value: str, allowed: Iterable[str], *, rule: str, what: str, fold_case: bool = False
) -> None:
    """A cloud provisioner's allow-list (`accounts`, `projectIDs`, `resourceGroups`, ...): an empty list
    allows everything, else `value` (the document's `what`) must be in it. `fold_case` for names the cloud
    itself compares without case (Azure's resource ids). Unauthorized naming the rule."""
    fold = str.casefold if fold_case else str
    permitted = {fold(a) for a in allowed}
    # The list itself stays out of the message: it is the CA's configuration, not the instance's business.
    if permitted and fold(value) not in permitted:
        raise Unauthorized(f"{what} {value!r} is not allowed by the provisioner's {rule}")


def parse_instance_age(value: str | None) -> dt.timedelta | None:
    """`instanceAge` of an AWS or GCP block, a duration ("1h"); None when unset or zero (no limit).
    ConfigError at `instanceAge` when it is not a duration or is negative (step-ca: "cannot be negative")."""
    if not value:
        return None
    try:
        age = parse_duration(value)
    except ValueError as e:
        raise ConfigError("instanceAge", str(e)) from None
    if age < dt.timedelta(0):
        raise ConfigError("instanceAge", "cannot be negative")
    return age or None


def check_instance_age(created: dt.datetime | None, instance_age: dt.timedelta | None, *, what: str) -> None:
    """`instanceAge`: an instance gets its certificate only this long after it was created (AWS
    `pendingTime`, GCP `instance_creation_timestamp`, named by `what`), so that an instance that never asked
    cannot be used later. Unauthorized naming the rule; also when the document does not say."""
    if instance_age is None:
        return
    if created is None:
        raise Unauthorized(f"the identity document has no {what}, which the provisioner's instanceAge needs")
    age = dt.datetime.now(dt.UTC) - created
    if age > instance_age:
        ago = format_duration(dt.timedelta(seconds=int(age.total_seconds())))
        raise Unauthorized(
            f"the instance was created {ago} ago ({what}), more than the provisioner's instanceAge "
            f"{format_duration(instance_age)}"
        )


@frozen(kw_only=True)
class InstanceIdentity:
    """What a cloud type's verification of a token found, as `instance_sign_hooks` turns it into the
    certificates step's IID rules allow (cloud-iid.md "Shared rules") under the block's `InstanceConfig`
    flags."""

    subject: str  # the X.509 common name, the templates' `.Subject.CommonName` (step: the instance's name)
    key_id: str  # the SSH host certificate's key id
    # The document's X.509 names and SSH principals: with `disableCustomSANs`, exactly what is signed.
    names: list[str]
    principals: list[str]
    credential_id: str
    first_use: str  # the instance, for `first_use_id` (unless `disableTrustOnFirstUse`)
    token_id: str | None = None  # recorded without trust on first use (None: the kernel's choice)
    common_names: tuple[str, ...] = ()  # other names of the instance a CSR's common name may be
    key_value_pairs: tuple[str, ...] = ()
    # step's commonNameValidator (AWS): a CSR's common name, when it has one, is `subject`.
    cn_is_subject: bool = False
    # AWS: the request's key id when it names one (step's client sends the host's name), else `key_id`.
    key_id_from_request: bool = False

    def recorded_id(self, cert_kind: Literal["x509", "ssh"], cfg: InstanceConfig) -> str | None:
        return self.token_id if cfg.disable_trust_on_first_use else first_use_id(self.first_use, cert_kind)


def _instance_x509(token: Token, found: InstanceIdentity, cfg: InstanceConfig) -> X509Authorization:
    """Custom SANs allowed (the default): the CSR's subject and SANs are signed as they are; nothing
    vouches for them but trust on first use. `disableCustomSANs`: the CSR's common name must be empty,
    `subject`, one of `names` or one of `common_names`, and each kind of SAN the CSR carries must be exactly
    the document's set of that kind; the certificate gets `subject` as its common name and exactly `names`,
    even from a CSR that names none."""
    subject = found.subject
    sans = list(found.names) if cfg.disable_custom_sans else None
    other_cns = frozenset(found.common_names)

    def check(csr: x509.CertificateSigningRequest) -> None:
        cn = csr_common_name(csr)
        if found.cn_is_subject and cn and cn != subject:
            raise Forbidden(
                f"certificate request has common name {cn!r}, but the token's subject is {subject!r}"
            )
        if sans is not None:
            # step's commonNameSliceValidator: besides the names, the CN may be another name of the instance.
            check_csr_names(csr, cn if cn in other_cns else subject, sans)

    return X509Authorization(
        subject=subject,
        sans=sans,
        check_csr=check if sans is not None or found.cn_is_subject else None,
        token_id=found.recorded_id("x509", cfg),
        credential_id=found.credential_id,
        key_value_pairs=list(found.key_value_pairs),
        csr_passthrough=sans is None,
        token_claims=token.claims,
    )


def _instance_ssh_host(
    token: Token, request: SSHSignRequest, found: InstanceIdentity, cfg: InstanceConfig
) -> SSHAuthorization:
    """Key id `key_id`; with `disableCustomSANs`, `principals` = the document's names (a request may name a
    subset); without it the request's principals, of which it must name at least one (a host certificate
    without principals would be valid for every host)."""
    if not cfg.disable_custom_sans and not request.principals:
        raise Forbidden("the request must name the host certificate's principals")
    return SSHAuthorization(
        cert_type="host",
        key_id=(request.key_id if found.key_id_from_request else "") or found.key_id,
        principals=list(found.principals) if cfg.disable_custom_sans else [],
        token_id=found.recorded_id("ssh", cfg),
        token_claims=token.claims,
    )


InstanceVerify = Callable[[Provisioner, Token, AuthorityView], InstanceIdentity]


def instance_sign_hooks(
    verify: InstanceVerify,
) -> tuple[Callable[..., X509Authorization], Callable[..., SSHAuthorization]]:
    """`authorize_sign` and `authorize_ssh_host_sign` of a cloud instance-identity type, from `verify`,
    which checks the token completely and says what the instance may have (the block's `InstanceConfig`
    flags then say what of it is signed):

        authorize_sign, authorize_ssh_host_sign = instance_sign_hooks(_identity)

    in the hooks module declares the x509-sign and ssh-host-cert-sign capabilities."""

    @hookimpl(specname="authorize_sign")
    def sign(
        provisioner: Provisioner, token: Token, request: SignRequest, authority: AuthorityView
    ) -> X509Authorization:
        return _instance_x509(token, verify(provisioner, token, authority), provisioner.config)

    @hookimpl(specname="authorize_ssh_host_sign")
    def ssh_host(
        provisioner: Provisioner, token: Token, request: SSHSignRequest, authority: AuthorityView
    ) -> SSHAuthorization:
        return _instance_ssh_host(token, request, verify(provisioner, token, authority), provisioner.config)

    return sign, ssh_host


# (option name, flag, ca.json key) of the `plica provisioner add|update` flags every cloud type has.
INSTANCE_FLAGS = (
    ("disable_custom_sans", "--disable-custom-sans", "disableCustomSANs"),
    ("disable_trust_on_first_use", "--disable-trust-on-first-use", "disableTrustOnFirstUse"),
)
_INSTANCE_FLAG_HELP = {
    "disableCustomSANs": "only the names of the instance identity document go on certificates",
    "disableTrustOnFirstUse": "an instance may get more than one certificate",
}


def instance_cli_options(*, instance_age: bool = False) -> list[click.Option]:
    """step's `--disable-custom-sans` and `--disable-trust-on-first-use` for `plica provisioner add|update`
    of a cloud type (one declaration for all of them, so the merged flags read the same): alone they mean
    true, `=false` sets false. With `instance_age` (AWS, GCP) also step's `--instance-age`."""
    age = click.Option(
        ["--instance-age", "instance_age"],
        default=None,
        metavar="DURATION",
        help="AWS, GCP: instanceAge, how long after its creation an instance may still get its certificate "
        '(e.g. 1h; "" removes it).',
    )
    return [
        *([age] if instance_age else []),
        *[
            click.Option(
                [flag, name],
                type=click.BOOL,
                is_flag=False,
                flag_value="true",
                default=None,
                help=f"AWS, GCP, Azure: {key} — {_INSTANCE_FLAG_HELP[key]} (alone means true; {flag}=false "
                "sets false).",
            )
            for name, flag, key in INSTANCE_FLAGS
        ],
    ]


def apply_instance_flags(block: dict[str, Any], options: dict[str, Any], *, adding: bool) -> None:
    """Write `instance_cli_options`' values into a cloud provisioner's block; a new block gets both flags,
    false unless given (as step writes them). `--instance-age ""` removes instanceAge."""
    age = options.get("instance_age")
    if age is not None:
        block.pop("instanceAge", None)
        if age:
            try:
                parse_instance_age(age)
            except ConfigError as e:
                raise click.BadParameter(e.message, param_hint="--instance-age") from None
            block["instanceAge"] = age
    for name, _, key in INSTANCE_FLAGS:
        value = options.get(name)
        if value is not None:
            block[key] = bool(value)
        elif adding:
            block.setdefault(key, False)


def key_sources_setup(type_name: str) -> Callable[..., None]:
    """The `http_setup` hook of a type whose provisioners keep a `KeySource` in `state.source` (None: none):
    the application fetches those of the live provisioners before it serves and keeps them fresh
    (`refresh_key_sources`, named `type_name`). `http_setup = key_sources_setup("GCP")` in its hooks module."""

    @hookimpl(specname="http_setup")
    def http_setup(app: Any, authority: AuthorityView) -> None:
        refresh_key_sources(
            app, type_name, lambda: [p.state.source for p in authority.provisioners_of_type(type_name)]
        )

    return http_setup


def configured_key_source(url: str, setting: str, *, discovery: bool = False) -> KeySource:
    """The `key_source` of the keys a block's `setting` points at (GCP `jwksURL`: a JWKS; Azure
    `discoveryURL`, `discovery`: an OpenID discovery document, whatever issuer it names). ConfigError at
    `setting` when `url` is neither https nor http to a loopback address, naming what the block says."""
    try:
        check_url(url, setting)
    except ValueError as e:
        raise ConfigError(setting, str(e)) from None
    return key_source(None, None, discovery_url=url) if discovery else key_source(None, url)


def verify_with_key_source(
    token: Token, source: KeySource, *, what: str, algs: Collection[str] | None = None
) -> None:
    """A token its provider signs with the keys it publishes (GCP: Google's JWKS; Azure: the tenant's): the
    signature must verify with `source`'s key of the token's `kid` (each of its keys when the token names
    none), with `alg` one of `algs` (None: any the key fits; `none` never verifies). A `kid` the source does
    not have asks it for an early refresh: the provider may have rotated its keys. Unauthorized naming
    `what` (the token) and why, also while no key has been fetched yet."""
    alg = str(token.header.get("alg", ""))
    kid = token.header.get("kid")
    kid = kid if isinstance(kid, str) and kid else None
    if algs is not None and alg not in algs:
        raise Unauthorized(f"{what} 'alg' {alg!r} is not {' or '.join(sorted(algs))}")
    if not source.fetched:
        raise Unauthorized(
            f"the keys that verify the {what} have not been fetched from {source.where} yet"
            + (f" ({source.last_error})" if source.last_error else "")
        )
    if alg != "none" and any(
        verify_signature(alg, key, token.signing_input, token.signature)
        for key in source.keys.candidates(kid)
    ):
        return
    if kid is not None and kid not in source.keys.by_kid:
        source.request_refresh()
    raise Unauthorized(
        f"{what} signature does not verify with the keys from {source.where} (kid {kid!r}, alg {alg!r})"
    )


# ------------------------------------------------------------------ the client: the instance metadata service

METADATA_TIMEOUT = 10.0
# The metadata service is link-local: never through an HTTP proxy of the environment.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class MetadataError(click.ClickException):
    """The instance metadata service refused (`status`, its HTTP status) or could not be reached (0)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


def metadata_url_option(cloud: str, default: str, *, what: str) -> click.Option:
    """`--<cloud>-metadata-url` (environment PLICA_<CLOUD>_METADATA_URL, default the cloud's address) for a
    cloud type's `cli_client_options`: where the client asks for `what`, so that tests and private clouds
    can point it elsewhere."""
    env = f"PLICA_{cloud.upper()}_METADATA_URL"
    return click.Option(
        [f"--{cloud.lower()}-metadata-url"],
        envvar=env,
        default=default,
        show_default=True,
        help=f"{cloud} provisioner: the instance metadata service that gives {what} (also {env}).",
    )


def metadata_request(
    url: str,
    headers: Mapping[str, str],
    *,
    service: str,
    hint: str,
    method: str = "GET",
    limit: int = 64 * 1024,
) -> bytes:
    """One request of a cloud type's client to its instance metadata service (`service` names it in
    messages): the answer's body, at most `limit` bytes. MetadataError with the status when the service
    refuses, and with `hint` (the option and variable that point elsewhere) when it cannot be reached."""
    req = urllib.request.Request(url, headers=dict(headers), method=method)
    try:
        with _DIRECT.open(req, timeout=METADATA_TIMEOUT) as r:
            body: bytes = r.read(limit + 1)
    except urllib.error.HTTPError as e:
        detail = e.read(2048).decode(errors="replace").strip()
        raise MetadataError(
            f"{service} refused the request (HTTP {e.code}): {detail or e.reason}", e.code
        ) from None
    except (urllib.error.URLError, OSError) as e:
        raise MetadataError(f"cannot reach {service} ({getattr(e, 'reason', e)}): {hint}") from None
    if len(body) > limit:
        raise MetadataError(f"{service} answered more than {limit} bytes")
    return body
