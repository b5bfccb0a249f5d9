"""The types plugins receive from and return to the kernel (re-exported by `plica.api`, the public face).

Plugins import these names from `plica.api`; kernel modules import them from here, so that the face can
re-export the kernel without the kernel importing the face.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, Protocol

from attrs import define, field, frozen
from cryptography import x509

from plica.claims import Claims

if TYPE_CHECKING:
    from plica.kms import KeyHandle
    from plica.storage.base import Storage

CAPABILITIES: dict[str, str] = {
    "x509-sign": "authorize_sign",
    "x509-renew": "authorize_renew",
    "x509-revoke": "authorize_revoke",
    "ssh-user-cert-sign": "authorize_ssh_user_sign",
    "ssh-host-cert-sign": "authorize_ssh_host_sign",
    "ssh-user-cert-renew": "authorize_ssh_user_renew",
    "ssh-host-cert-renew": "authorize_ssh_host_renew",
    "ssh-revoke": "authorize_ssh_revoke",
    "ssh-rekey": "authorize_ssh_rekey",
}

# The "Choosing a Provisioner" columns of docs/reference/provisioners.md; a type declares which it can vouch for.
IDENTIFIER_TYPES = ("ip-address", "hardware-id", "service-account", "dns-name", "email", "uri")


@frozen
class ProvisionerType:
    """What a plugin registers through `provisioner_types`.

    `name` is the ca.json `type` (matched case-insensitively); `type_id` is the integer step writes in the
    provisioner extension (JWK=1 … Nebula=11; third parties use ≥ 1000); `config_class` is the attrs class
    the provisioner block is structured into (it must accept `type`, `name`, `claims`, `options` keys);
    `identifier_types` maps a column name (see IDENTIFIER_TYPES, or a sub-column such as "ACME http-01")
    to whether this type can put that identifier on a certificate.
    """

    name: str
    type_id: int
    config_class: type
    identifier_types: Mapping[str, bool] = field(factory=dict)
    description: str = ""
    # Columns of the identifier table when one type has several (ACME: one per challenge type).
    identifier_columns: Mapping[str, Mapping[str, bool]] = field(factory=dict)
    # step rejects tokens issued before the CA started (docs/reference/wire.md §4b). Types whose credentials are minted
    # elsewhere and live for hours (Kubernetes projected tokens) opt out.
    iat_check: bool = True
    # At most this many provisioners of the type in one CA (step allows one K8sSA); None = no limit.
    max_instances: int | None = None


class ProvisionerState(Protocol):
    """Whatever a plugin keeps per loaded provisioner (parsed keys, HTTP clients, ...)."""


@define(eq=False)
class Provisioner:
    """A loaded provisioner: its raw ca.json block, the plugin's structured config, resolved claims, and the
    plugin's runtime state. Built once per (re)load; the hot path only reads it."""

    type: ProvisionerType
    name: str
    raw: dict[str, Any]
    config: Any
    claims: Claims
    index: int
    id: str = ""
    state: Any = None
    x509_template: str | None = None
    x509_template_data: dict[str, Any] | None = None
    ssh_template: str | None = None
    ssh_template_data: dict[str, Any] | None = None
    policy: Any = None

    @property
    def type_name(self) -> str:
        return self.type.name


@frozen
class Audiences:
    """The CA's token audiences per operation (docs/reference/wire.md §4a), normalised without ports."""

    sign: frozenset[str]
    renew: frozenset[str]
    revoke: frozenset[str]
    ssh_sign: frozenset[str]
    ssh_renew: frozenset[str]
    ssh_rekey: frozenset[str]
    ssh_revoke: frozenset[str]


@frozen
class CertificateStatus:
    """What the CA's database says of an X.509 serial (OCSP's answer): "good" (issued here, not revoked),
    "revoked" (with when, and the RFC 5280 reasonCode), or "unknown" (never issued here)."""

    status: Literal["good", "revoked", "unknown"]
    revoked_at: datetime | None = None
    reason_code: int | None = None


class AuthorityView(Protocol):
    """What a plugin may use of the authority."""

    audiences: Audiences
    storage: Storage
    roots: list[x509.Certificate]
    intermediates: list[x509.Certificate]
    # The key of intermediates[0] as a plugin may use it: sign and decrypt through the CA's key manager
    # (off the event loop for a device, 503 when it is gone), never the private key object. SCEP decrypts
    # requests and signs replies with it when its provisioner has no decrypter of its own, as step-ca does.
    # None while the CLI validates a ca.json offline (it opens no CA key).
    intermediate_handle: KeyHandle | None
    start_time: float
    disable_issued_at_check: bool

    def ssh_public_keys(self, kind: Literal["user", "host"]) -> list[Any]: ...

    def provisioners_of_type(self, type_name: str) -> list[Provisioner]: ...

    def provisioner_by_name(self, name: str) -> Provisioner | None: ...

    def sealer(self, purpose: str) -> Any:
        """The `plica.sealing.Sealer` of `purpose`: for secrets a plugin stores and must read back."""
        ...

    def open_key(self, uri: str, *, what: str) -> KeyHandle | None:
        """A key of the CA's key manager that a provisioner's block names by URI (SCEP's `decrypterKey`, as
        step-ca's `CreateDecrypter`), opened at load; `what` names it in the log. A `ConfigError` naming the
        URI when it cannot be opened; None while the CLI validates a ca.json offline."""
        ...

    def public_provisioners(self) -> list[dict[str, Any]]:
        """Every provisioner as `GET /provisioners` shows it: what an operator's page may display."""
        ...

    def capabilities(self) -> dict[str, Any]:
        """The capability matrix as `GET /capabilities` answers it."""
        ...

    def admin_panels(self) -> list[AdminPanel]:
        """What every plugin shows and lets admins do (the `admin_panels` hook), for an operator's console."""
        ...

    async def issue(
        self, prov: Provisioner, auth: X509Authorization, request: SignRequest
    ) -> list[x509.Certificate]:
        """Steps 3-4 of the pipeline (claims, policy, template, sign, store) for an X.509 leaf that a
        protocol plugin (ACME, SCEP) has authorized itself; returns the leaf and its intermediates."""
        ...

    async def certificate_status(self, serial: int) -> CertificateStatus:
        """The status of the X.509 certificate with this serial, from the database (two indexed lookups)."""
        ...

    async def issue_ocsp_responder(self, public_key: Any, *, lifetime: timedelta) -> x509.Certificate:
        """A delegated OCSP responder certificate for `public_key`, valid for `lifetime` (backdated a
        minute), issued by the intermediate with id-kp-OCSPSigning and ocsp-nocheck. Not stored: the
        holder renews it before it expires."""
        ...


# -------------------------------------------------------------------------------------------- requests


@frozen
class SignRequest:
    """A /sign request after the kernel parsed the body (the CSR signature is already checked)."""

    csr: x509.CertificateSigningRequest
    csr_der: bytes
    not_before: datetime | None
    not_after: datetime | None
    template_data: dict[str, Any] | None
    raw_not_after: str | None = None
    # The CSR's public key as the kernel decoded it when it checked the CSR (None: decoded when needed);
    # cryptography decodes it anew, with its point check, on every `csr.public_key()` (~6 µs for P-256).
    public_key: Any = None


@frozen
class RevokeRequest:
    serial: int
    reason_code: int
    reason: str
    passive: bool


@frozen
class SSHSignRequest:
    public_key: Any  # cryptography SSH public key
    public_key_blob: bytes
    cert_type: Literal["user", "host"]
    key_id: str
    principals: list[str]
    valid_after: datetime | None
    valid_before: datetime | None
    template_data: dict[str, Any] | None
    raw_valid_after: str = ""
    raw_valid_before: str = ""


@frozen
class SSHRevokeRequest:
    serial: str
    reason_code: int
    reason: str
    passive: bool


@frozen
class SSHRenewRequest:
    """/ssh/renew and /ssh/rekey: `public_key` is set only for rekey."""

    public_key: Any = None
    public_key_blob: bytes = b""


# -------------------------------------------------------------------------------------------- answers

CSRCheck = Callable[[x509.CertificateSigningRequest], None]


@frozen
class X509Authorization:
    """What an `authorize_sign` hook allows.

    The kernel builds the default leaf from `subject` (the CN) and `sans`, unless `csr_passthrough` (the CSR's
    own subject and SANs: K8sSA, OIDC admins, cloud types) — or a template decides. `check_csr` enforces the
    name rules the type has (use `plica.names.check_csr_names` for step's JWK rule). `not_before`/
    `not_after` bound the validity (X5C, Nebula). `token_id` is recorded single-use atomically with the
    certificate; None means the type has no replay protection (K8sSA).
    """

    subject: str
    sans: list[str] | None
    check_csr: CSRCheck | None
    token_id: str | None
    credential_id: str = ""
    key_value_pairs: list[str] = field(factory=list)
    csr_passthrough: bool = False
    not_before: datetime | None = None
    not_after: datetime | None = None
    template_data: dict[str, Any] = field(factory=dict)
    token_claims: dict[str, Any] | None = None
    authorization_crt: Any = None
    force_cn: bool = False
    # The x509util template (by its Go name) rendered when the provisioner has none: step-ca picks
    # DefaultAttestedLeafTemplate for ACME device-attest-01 orders instead of building the default leaf.
    default_template: str | None = None
    # `.SANs` as typed entries ({"type", "value"}) when the names cannot be plain strings typed
    # automatically (`sans`): the permanentIdentifier SAN of an attested device. Templates only.
    san_entries: list[dict[str, str]] | None = None


@frozen
class RenewAuthorization:
    """What `authorize_renew` allows (None from the hook means: renew with the provisioner's claims)."""

    token_id: str | None = None


@frozen
class RevokeAuthorization:
    token_id: str | None
    # The token's subject need not be the serial: an OIDC admin's ID token names a person (step-ca).
    any_serial: bool = False


@frozen
class SSHAuthorization:
    """What an `authorize_ssh_*_sign` hook allows.

    `principals`/`key_id` are the trusted values from the credential; `request_must_match` applies step's rule
    (a field is compared only when both the token and the request set it; principals must be a subset).
    """

    cert_type: Literal["user", "host"]
    key_id: str
    principals: list[str]
    token_id: str | None
    valid_after: datetime | None = None
    valid_before: datetime | None = None
    extensions: dict[str, str] | None = None
    critical_options: dict[str, str] | None = None
    template_data: dict[str, Any] = field(factory=dict)
    token_claims: dict[str, Any] | None = None
    authorization_crt: Any = None
    use_request_values: bool = False
    # X5C/Nebula: the authorizing credential's expiry caps the default validBefore and bounds a requested one.
    not_after: datetime | None = None


@frozen
class SSHRenewAuthorization:
    """`authorize_ssh_host_renew` / `authorize_ssh_rekey`: the certificate being renewed (an SSH cert object)."""

    certificate: Any
    token_id: str | None


@frozen
class SSHRevokeAuthorization:
    token_id: str | None
    any_serial: bool = False  # as RevokeAuthorization.any_serial


# -------------------------------------------------------------------------------------------- extension


@frozen
class Route:
    """An HTTP route a plugin (ACME, SCEP) or the kernel adds. `handler` is an aiohttp handler coroutine.

    `insecure=True` marks a route that may also be served without TLS: when ca.json sets `insecureAddress`,
    the plain-HTTP listener serves exactly the routes so marked (SCEP, whose clients mostly speak plain
    HTTP; the CRL) and answers 404 to everything else, the token API above all. Every route is served on
    the TLS listener as well."""

    method: str
    path: str
    handler: Callable[..., Any]
    name: str = ""
    insecure: bool = False


@frozen
class AdminTable:
    """A table a plugin shows admins (an operator's console renders it): its columns, rows of text keyed by
    column, and the action each row offers (`row_action`, run with the row's values of `row_fields`)."""

    title: str
    columns: tuple[str, ...]
    rows: list[dict[str, str]]
    row_action: str = ""
    row_fields: tuple[str, ...] = ()
    note: str = ""


@frozen
class AdminAction:
    """Something a plugin lets admins do: `await run(authority, fields)` with the named text `fields` (raise
    `plica.api` errors for bad input). What it returns is shown once to the admin who ran it and is never
    stored or logged by the console (a new EAB key's HMAC key). `super_admin`: only super admins may."""

    name: str
    title: str
    fields: tuple[str, ...]
    run: Callable[[AuthorityView, dict[str, str]], Awaitable[dict[str, str]]]
    super_admin: bool = False


@frozen
class AdminPanel:
    """A plugin's page in an operator's console: `await tables(authority)` and its actions."""

    name: str
    title: str
    tables: Callable[[AuthorityView], Awaitable[list[AdminTable]]]
    actions: tuple[AdminAction, ...] = ()


@frozen
class Migration:
    """A storage schema step a plugin needs. `id` is unique and stable (e.g. "acme-0001"); `sql` is a list of
    statements per engine ("sqlite", "postgresql")."""

    id: str
    sql: Mapping[str, list[str]]


@frozen
class ClientContext:
    """What a client-side token hook gets: the provisioner as `/provisioners` published it, the CA URL and
    audiences, and the command's options (flags by name)."""

    provisioner: dict[str, Any]
    ca_url: str
    audience: str
    subject: str
    sans: list[str]
    options: Mapping[str, Any]
    prompt: Callable[[str], str] | None = None
    extra_claims: dict[str, Any] = field(factory=dict)
