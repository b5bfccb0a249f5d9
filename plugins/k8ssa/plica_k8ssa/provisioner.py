"""Server side of the K8sSA provisioner (docs/reference/wire.md §5, K8sSA row): Kubernetes service-account tokens.

Two kinds of token:

* **legacy** secret-based tokens (`iss` exactly `kubernetes/serviceaccount`), verified with `publicKeys`
  as step-ca does: `sub` non-empty, exp/nbf when present, no audience, no replay protection;
* **bound** (projected) tokens, beyond step-ca (whose PR #2760 goes the TokenReview way): `iss` one of
  `issuers`, `aud` one of `audiences` (default: the CA's own audiences for the operation), `exp` required,
  single use by `jti` when the token has one; keys from `publicKeys` and from the cluster's OIDC discovery
  document / JWKS (the kernel's key sources, `plica.api.key_source`, refreshed for as long as the server's
  application runs: `http_setup`).

A service-account token names no SANs: the certificate is the CSR's subject and SANs as they are (the
README's warning). Tokens are minted by the cluster and live for hours, so the type opts out of step's
"issued before the CA started" rule (`iat_check=False`).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from aiohttp import web
from attrs import define, frozen
from cryptography import x509

from plica.api import (
    AuthorityView,
    CertType,
    ConfigError,
    KeysError,
    KeySource,
    Provisioner,
    ProvisionerConfig,
    ProvisionerType,
    PublicKey,
    RevokeAuthorization,
    RevokeRequest,
    SignRequest,
    SSHAuthorization,
    SSHSignRequest,
    Token,
    Unauthorized,
    X509Authorization,
    check_url,
    hookimpl,
    j,
    key_source,
    parse_public_keys,
    provides,
    refresh_key_sources,
    ssh_sign_hooks,
    verify_signature,
)

LEGACY_ISSUER = "kubernetes/serviceaccount"
LEGACY_SA_NAME = "kubernetes.io/serviceaccount/service-account.name"


@define(kw_only=True)
class K8sSAConfig(ProvisionerConfig):
    public_keys: Any = j("publicKeys", default=None)
    issuers: list[str] = j("issuers", factory=list)
    audiences: list[str] = j("audiences", factory=list)
    jwks_url: str | None = j("jwksURL", default=None)
    discovery_roots: str | None = j("discoveryRoots", default=None)
    disable_discovery: bool = j("disableDiscovery", default=False)


TYPE = ProvisionerType(
    name="K8sSA",
    type_id=8,
    config_class=K8sSAConfig,
    identifier_types={"ip-address": False, "hardware-id": False, "service-account": True},
    description="Kubernetes service-account tokens (legacy secret tokens, and bound tokens with key discovery)",
    iat_check=False,
    max_instances=1,
)
provisioner_types = provides(TYPE)


@frozen
class K8sSAState:
    static_keys: tuple[PublicKey, ...]
    issuers: frozenset[str]
    audiences: frozenset[str] | None  # None: the CA's audiences for the operation
    source: KeySource | None


@frozen
class Verified:
    claims: dict[str, Any]
    bound: bool
    service_account: str
    token_id: str | None


def _str_list(value: Any, name: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(name, "must be a list of non-empty strings")
    return list(value)


def _roots_pem(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        pem = base64.b64decode("".join(value.split()), validate=True).decode("ascii")
    except (binascii.Error, ValueError):
        raise ConfigError("discoveryRoots", "must be the standard base64 of PEM certificates") from None
    try:
        x509.load_pem_x509_certificates(pem.encode())
    except ValueError as e:
        raise ConfigError("discoveryRoots", f"holds no usable PEM certificate: {e}") from None
    return pem


@hookimpl
def provisioner_load(provisioner: Provisioner, authority: AuthorityView) -> None:
    cfg: K8sSAConfig = provisioner.config
    if not cfg.name:
        raise ConfigError("name", "is required")
    issuers = _str_list(cfg.issuers, "issuers")
    if LEGACY_ISSUER in issuers:
        raise ConfigError(
            "issuers", f"{LEGACY_ISSUER!r} (legacy tokens) is always accepted; list bound-token issuers"
        )
    audiences = _str_list(cfg.audiences, "audiences")
    static: tuple[PublicKey, ...] = ()
    if cfg.public_keys is not None:
        try:
            static = parse_public_keys(cfg.public_keys)
        except KeysError as e:
            raise ConfigError("publicKeys", str(e)) from None
    source = None
    if not cfg.disable_discovery and (cfg.jwks_url or issuers):
        jwks_url = None
        try:
            if cfg.jwks_url:
                jwks_url = check_url(cfg.jwks_url, "jwksURL")
            else:
                check_url(issuers[0], "issuers[0]")
        except ValueError as e:
            raise ConfigError(
                "jwksURL" if cfg.jwks_url else "issuers", f"{e} (or set disableDiscovery)"
            ) from None
        source = key_source(issuers[0] if issuers else None, jwks_url, _roots_pem(cfg.discovery_roots))
    if not static and source is None:
        raise ConfigError(
            "publicKeys",
            "is required: the standard base64 of the PEM public keys that sign service-account tokens "
            "(or configure issuers/jwksURL to discover them from the cluster)",
        )
    provisioner.state = K8sSAState(
        static_keys=static,
        issuers=frozenset(issuers),
        audiences=frozenset(audiences) if audiences else None,
        source=source,
    )


@hookimpl
def provisioner_token_keys(provisioner: Provisioner) -> list[str]:
    return [LEGACY_ISSUER, *sorted(provisioner.state.issuers)]


def _live_sources(authority: AuthorityView) -> list[KeySource]:
    # Asked on every refresh round, so that a reload's provisioner (and its source) is followed.
    states = (p.state for p in authority.provisioners_of_type("K8sSA"))
    return [s.source for s in states if isinstance(s, K8sSAState) and s.source is not None]


@hookimpl
def http_setup(app: web.Application, authority: AuthorityView) -> None:
    # The cluster's keys are fetched before the server takes tokens and refreshed while it runs.
    refresh_key_sources(app, "K8sSA", lambda: _live_sources(authority))


def _verify_signature(state: K8sSAState, token: Token) -> None:
    alg = str(token.header.get("alg", ""))
    kid = token.header.get("kid")
    kid = kid if isinstance(kid, str) and kid else None
    candidates: list[PublicKey] = []
    if state.source is not None:
        candidates += state.source.keys.candidates(kid)
    # ca.json keys carry no kid: they are tried for every token, as step-ca tries each of them.
    candidates += state.static_keys
    for key in candidates:
        if verify_signature(alg, key, token.signing_input, token.signature):
            return
    if kid is not None and state.source is not None:
        state.source.request_refresh()
    known = (
        "no key has been fetched from the cluster yet; " if state.source and not state.source.fetched else ""
    )
    raise Unauthorized(
        f"service-account token signature does not verify with any key of the provisioner ({known}"
        f"kid {kid!r}, alg {alg!r})"
    )


def _service_account(claims: dict[str, Any], bound: bool) -> str:
    if bound:
        k8s = claims.get("kubernetes.io")
        sa = k8s.get("serviceaccount") if isinstance(k8s, dict) else None
        name = sa.get("name") if isinstance(sa, dict) else None
    else:
        name = claims.get(LEGACY_SA_NAME)
    return name if isinstance(name, str) else ""


def _verify(provisioner: Provisioner, token: Token, ca_audiences: frozenset[str]) -> Verified:
    state: K8sSAState = provisioner.state
    iss = token.issuer
    if iss == LEGACY_ISSUER:
        bound = False
    elif iss in state.issuers:
        bound = True
    else:
        raise Unauthorized(f"token issuer {iss!r} is not accepted by K8sSA provisioner {provisioner.name!r}")
    _verify_signature(state, token)
    # Legacy secret tokens never expire (exp/nbf checked when present, as step-ca); bound tokens always do.
    token.check_times(require_exp=bound)
    token.require_subject()
    if bound:
        if state.audiences is not None:
            if not any(a in state.audiences for a in token.audiences):
                raise Unauthorized(
                    f"token audience {token.audiences!r} is not one of the provisioner's audiences "
                    f"{sorted(state.audiences)!r}"
                )
        else:
            token.check_audience(ca_audiences)
    jti = token.claims.get("jti")
    token_id = jti if bound and isinstance(jti, str) and jti else None
    return Verified(
        claims=token.claims,
        bound=bound,
        service_account=_service_account(token.claims, bound),
        token_id=token_id,
    )


@hookimpl
def authorize_sign(
    provisioner: Provisioner, token: Token, request: SignRequest, authority: AuthorityView
) -> X509Authorization:
    v = _verify(provisioner, token, authority.audiences.sign)
    # The token says nothing about names: the CSR's subject and SANs are signed as they are (step's
    # DefaultAdminLeafTemplate); templates see the service-account name as `.Subject.CommonName`.
    return X509Authorization(
        subject=v.service_account,
        sans=None,
        check_csr=None,
        token_id=v.token_id,
        credential_id="",
        csr_passthrough=True,
        token_claims=v.claims,
    )


@hookimpl
def authorize_revoke(
    provisioner: Provisioner, token: Token, request: RevokeRequest, authority: AuthorityView
) -> RevokeAuthorization:
    v = _verify(provisioner, token, authority.audiences.revoke)
    return RevokeAuthorization(token_id=v.token_id)


def _ssh(
    provisioner: Provisioner,
    token: Token,
    request: SSHSignRequest,
    authority: AuthorityView,
    cert_type: CertType,
) -> SSHAuthorization:
    v = _verify(provisioner, token, authority.audiences.ssh_sign)
    # The request names type, key id and principals (step: sshCertOptionsRequireValidator).
    return SSHAuthorization(
        cert_type=cert_type,
        key_id=v.service_account,
        principals=[v.service_account] if v.service_account else [],
        token_id=v.token_id,
        token_claims=v.claims,
        use_request_values=True,
    )


authorize_ssh_user_sign, authorize_ssh_host_sign = ssh_sign_hooks(_ssh)
