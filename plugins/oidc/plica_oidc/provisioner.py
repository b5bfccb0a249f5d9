"""Server side of the OIDC provisioner (step-ca's `OIDC` type, provisioner-extension type 2): a person signs
in at the company's OpenID provider and presents the ID token it issued to `step`'s client id.

The provider's discovery document (`configurationEndpoint`) and keys come from the kernel's key sources:
fetched before the CA serves, refreshed per Cache-Control and early on an unknown `kid` (rate-limited). Unlike
step-ca, which refuses to start while the provider is down, the CA starts and this provisioner answers 503
"provider unreachable" until the first fetch succeeds; then it works without a restart.

Every ID token is checked in step-ca's order (authority/provisioner/oidc.go): the signature by the provider's
key, `iss` as discovery names it (`{tenantid}` replaced by `tenantID`), the times with a minute of leeway,
`aud` containing the client id, `azp` when present, then Plica's `email_verified`, `domains` (skipped for
admins, as step-ca does) and `groups`. The token's hash is its one-time id, recorded with the certificate in
one transaction, so a replay is refused on every instance sharing the database.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from attrs import define, frozen

from plica.api import (
    AuthorityView,
    ConfigError,
    Forbidden,
    KeySource,
    PlicaError,
    Provisioner,
    ProvisionerConfig,
    ProvisionerType,
    Token,
    Unauthorized,
    configured_key_source,
    hookimpl,
    j,
    key_sources_setup,
    provides,
    verify_with_key_source,
)

TYPE_NAME = "OIDC"
WELL_KNOWN = "/.well-known/openid-configuration"
# The signature algorithms an OpenID provider signs ID tokens with (never `none` or an HMAC: the client
# secret is published by /provisioners, so an HS256 token would prove nothing).
ALGS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")


@define(kw_only=True)
class OIDCConfig(ProvisionerConfig):
    client_id: str = j("clientID", default="")
    # Not a secret: step's clients need it and /provisioners shows it, as step-ca does.
    client_secret: str = j("clientSecret", default="")
    configuration_endpoint: str = j("configurationEndpoint", default="")
    tenant_id: str | None = j("tenantID", default=None)
    admins: list[str] | None = j("admins", default=None)
    domains: list[str] | None = j("domains", default=None)
    groups: list[str] | None = j("groups", default=None)
    listen_address: str | None = j("listenAddress", default=None)
    # Newer step-ca's client settings: the scopes asked for and extra parameters of the authorization request.
    scopes: list[str] | None = j("scopes", default=None)
    auth_params: list[str] | None = j("authParams", default=None)


TYPE = ProvisionerType(
    name=TYPE_NAME,
    type_id=2,
    config_class=OIDCConfig,
    identifier_types={"ip-address": False, "hardware-id": False, "service-account": False},
    description="single sign-on: ID tokens of an OpenID Connect provider",
)
provisioner_types = provides(TYPE)


class ProviderUnreachable(PlicaError):
    """503: the provisioner has never reached its provider, so it cannot check any ID token yet."""

    status = 503


@frozen
class OIDCState:
    client_id: str
    source: KeySource
    tenant_id: str
    admin_emails: frozenset[str]  # sanitised (domain in lower case)
    admin_names: frozenset[str]  # as written: step compares groups with the same list
    domains: tuple[str, ...]  # "@domain", lower case
    groups: frozenset[str]


def sanitize_email(email: str) -> str:
    """step's sanitizeEmail: the domain part in lower case, the local part as it is."""
    at = email.rfind("@")
    return email[:at] + email[at:].lower() if at >= 0 else email


def discovery_url(endpoint: str) -> str:
    """step's rule: the well-known path is appended unless the configured URL already has it."""
    u = urlsplit(endpoint)
    if WELL_KNOWN in u.path:
        return endpoint
    return urlunsplit(u._replace(path=u.path.rstrip("/") + WELL_KNOWN))


def _strings(values: list[str] | None, field: str) -> list[str]:
    for i, v in enumerate(values or []):
        if not v:
            raise ConfigError(f"{field}[{i}]", "must not be empty")
    return list(values or [])


def _check_listen_address(value: str) -> None:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535 or (host.startswith("[") != host.endswith("]")):
        raise ConfigError("listenAddress", f"{value!r} is not :port or host:port")


@hookimpl
def provisioner_load(provisioner: Provisioner, authority: AuthorityView) -> None:
    cfg: OIDCConfig = provisioner.config
    if not cfg.client_id:
        raise ConfigError("clientID", "cannot be empty")
    if not cfg.configuration_endpoint:
        raise ConfigError("configurationEndpoint", "cannot be empty")
    if cfg.listen_address:
        _check_listen_address(cfg.listen_address)
    admins = _strings(cfg.admins, "admins")
    domains = _strings(cfg.domains, "domains")
    groups = _strings(cfg.groups, "groups")
    _strings(cfg.scopes, "scopes")
    for i, p in enumerate(cfg.auth_params or []):
        if "=" not in p or p.startswith("="):
            raise ConfigError(f"authParams[{i}]", f"{p!r} is not name=value")
    provisioner.state = OIDCState(
        client_id=cfg.client_id,
        source=configured_key_source(
            discovery_url(cfg.configuration_endpoint), "configurationEndpoint", discovery=True
        ),
        tenant_id=cfg.tenant_id or "",
        admin_emails=frozenset(sanitize_email(a) for a in admins),
        admin_names=frozenset(admins),
        domains=tuple("@" + d.lower() for d in domains),
        groups=frozenset(groups),
    )


@hookimpl
def provisioner_token_keys(provisioner: Provisioner) -> list[str]:
    # The kernel finds an ID token's provisioner by `azp`, then `aud[0]`: the client id (step's GetIDForToken).
    return [provisioner.state.client_id]


# The provider's discovery document and keys, fetched before the CA serves and kept fresh.
http_setup = key_sources_setup(TYPE_NAME)


# ============================================================================ verification


@frozen
class Person:
    """Who a verified ID token speaks for."""

    subject: str
    email: str
    issuer: str
    groups: tuple[str, ...]
    admin: bool
    token_id: str
    claims: dict[str, Any]

    @property
    def names(self) -> list[str]:
        """step's SANs for a person: the e-mail address and the URI `<iss>#<sub>` when `iss` is a URL."""
        sans = [self.email] if self.email else []
        u = urlsplit(self.issuer)
        if u.scheme:
            sans.append(urlunsplit(u._replace(fragment=self.subject)))
        return sans


def _claim_str(claims: dict[str, Any], name: str) -> str:
    v = claims.get(name, "")
    if not isinstance(v, str):
        raise Unauthorized(f"ID token claim {name!r} must be a string")
    return v


def expected_issuer(provisioner: Provisioner) -> str:
    state: OIDCState = provisioner.state
    issuer = state.source.discovered_issuer or ""
    return issuer.replace("{tenantid}", state.tenant_id) if state.tenant_id else issuer


def verify(provisioner: Provisioner, token: Token) -> Person:
    """The person a valid ID token speaks for; 503 while the provider has never been reached, otherwise
    Unauthorized naming the first rule that failed."""
    state: OIDCState = provisioner.state
    src = state.source
    if not src.fetched:
        # Ask for an early fetch (the key source's floor limits how often): the provider may be up by now.
        src.request_refresh()
        raise ProviderUnreachable(
            f"OIDC provider unreachable: provisioner {provisioner.name!r} has not fetched the provider's "
            f"discovery document and keys from {src.where} yet"
            + (f" ({src.last_error})" if src.last_error else "")
            + "; try again when the provider is up"
        )
    verify_with_key_source(token, src, what="OIDC ID token", algs=ALGS)
    issuer = expected_issuer(provisioner)
    if token.issuer != issuer:
        raise Unauthorized(f"ID token issuer {token.issuer!r} is not the provider's issuer {issuer!r}")
    token.check_times()
    if state.client_id not in token.audiences:
        raise Unauthorized(
            f"ID token audience {token.audiences!r} does not contain the client id {state.client_id!r}"
        )
    azp = _claim_str(token.claims, "azp")
    if azp and azp != state.client_id:
        raise Unauthorized(f"ID token azp {azp!r} is not the client id {state.client_id!r}")
    sub = token.require_subject()
    email = _claim_str(token.claims, "email")
    groups = token.claims.get("groups") or []
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        raise Unauthorized("ID token claim 'groups' must be a list of strings")
    if email and token.claims.get("email_verified") is not True:
        raise Unauthorized(f"ID token email {email!r} is not verified (email_verified)")
    admin = (bool(email) and sanitize_email(email) in state.admin_emails) or any(
        g in state.admin_names for g in groups
    )
    if email and state.domains and not admin and not sanitize_email(email).endswith(state.domains):
        raise Unauthorized(f"ID token email {email!r} is not in an allowed domain (domains)")
    if state.groups and not state.groups.intersection(groups):
        raise Unauthorized("ID token groups are not among the provisioner's allowed groups (groups)")
    return Person(
        subject=sub,
        email=email,
        issuer=token.issuer,
        groups=tuple(groups),
        admin=admin,
        # The hash of the whole token (step-ca 0.19 records the nonce; the hash catches every replay).
        token_id=token.hash_id(),
        claims=token.claims,
    )


def require_admin_for(person: Person, what: str) -> None:
    if not person.admin:
        raise Forbidden(f"only an admin of this OIDC provisioner may {what} (admins)")
