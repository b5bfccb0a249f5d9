"""Server side of the Nebula provisioner (api.md §5, Nebula row): one-time tokens signed with the key of a
Nebula host certificate that the provisioner's Nebula CAs issued; the certificate travels in the `nebula`
JWS header and decides which names the client may have.

No x509-revoke and no ssh-revoke: step-ca answers them with an explicit 401, and so does the kernel for a
capability a type does not implement.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from typing import Any

from attrs import define, frozen
from cryptography import x509

from plica.api import (
    AuthorityView,
    Provisioner,
    ProvisionerType,
    RenewAuthorization,
    SignRequest,
    SSHAuthorization,
    SSHSignRequest,
    X509Authorization,
)
from plica.config import ProvisionerConfig, j
from plica.durations import resolve_time_duration
from plica.errors import ConfigError, Forbidden, Unauthorized
from plica.hookspecs import hookimpl
from plica.names import csr_common_name, csr_sans, split_sans
from plica.tokens import Token
from plica_nebula.cert import (
    NebulaCAPool,
    NebulaCertificate,
    NebulaCertificateError,
    parse_der,
    parse_pem,
    verify_jws_signature,
)
from plica_nebula.identity import NebulaIdentity, template_view

HEADER = "nebula"


@define(kw_only=True)
class NebulaConfig(ProvisionerConfig):
    roots: Any = j("roots", default=None)


TYPE = ProvisionerType(
    name="Nebula",
    type_id=11,
    config_class=NebulaConfig,
    identifier_types={"ip-address": True, "hardware-id": False, "service-account": False},
    description="one-time tokens signed with the key of a Nebula host certificate issued by the provisioner's "
    "Nebula CA",
)


@frozen
class NebulaState:
    pool: NebulaCAPool
    fragment: str


@frozen
class Verified:
    claims: dict[str, Any]
    cert: NebulaCertificate
    identity: NebulaIdentity
    token_id: str


@hookimpl
def provisioner_types() -> list[ProvisionerType]:
    return [TYPE]


def load_pool(value: Any) -> NebulaCAPool:
    """`roots` as ca.json holds it (Go []byte): standard base64 of PEM Nebula CA certificates."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError("roots", "is required: standard base64 of the PEM of the Nebula CA certificate(s)")
    if value.lstrip().startswith("-----BEGIN"):
        raise ConfigError("roots", "must be the standard base64 of the PEM text, not the PEM text itself")
    try:
        pem = base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError("roots", "is not valid standard base64 (it must be base64 of PEM text)") from None
    try:
        return NebulaCAPool(parse_pem(pem))
    except NebulaCertificateError as e:
        raise ConfigError("roots", f"cannot be used as Nebula CA certificates: {e}") from None


@hookimpl
def provisioner_load(provisioner: Provisioner, authority: AuthorityView) -> None:
    cfg: NebulaConfig = provisioner.config
    if not cfg.name:
        raise ConfigError("name", "is required")
    provisioner.state = NebulaState(pool=load_pool(cfg.roots), fragment=f"nebula/{provisioner.name}")


@hookimpl
def provisioner_token_keys(provisioner: Provisioner) -> list[str]:
    return [provisioner.state.fragment]


def header_certificate(token: Token) -> NebulaCertificate:
    value = token.header.get(HEADER)
    if value is None:
        raise Unauthorized("token is not valid: the 'nebula' header is missing")
    if not isinstance(value, str):
        raise Unauthorized("token is not valid: the 'nebula' header must be a base64 string")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise Unauthorized("token is not valid: the 'nebula' header is not standard base64") from None
    try:
        return parse_der(raw)
    except NebulaCertificateError as e:
        raise Unauthorized(
            f"token is not valid: the 'nebula' header holds no Nebula certificate ({e})"
        ) from None


def _verify(provisioner: Provisioner, token: Token, audiences: frozenset[str]) -> Verified:
    state: NebulaState = provisioner.state
    cert = header_certificate(token)
    try:
        state.pool.verify(cert, dt.datetime.now(dt.UTC))
    except NebulaCertificateError as e:
        raise Unauthorized(
            f"token is not valid: the Nebula certificate does not verify against the provisioner's CA: {e}"
        ) from None
    alg = token.header.get("alg", "")
    # The certificate's own key signs the token: that proves possession, not just a copy of the certificate.
    if not verify_jws_signature(cert, str(alg), token.signing_input, token.signature):
        raise Unauthorized(
            f"token signature does not verify with the key of the Nebula certificate of {cert.name!r} "
            f"(forged or altered token, or 'alg' {alg!r} does not fit its {cert.curve} key)"
        )
    token.check_times()
    if token.issuer != provisioner.name:
        raise Unauthorized(f"token issuer {token.issuer!r} does not match provisioner {provisioner.name!r}")
    token.check_audience(audiences, fragment=state.fragment)
    token.require_subject()
    jti = token.claims.get("jti")
    token_id = jti if isinstance(jti, str) and jti else token.hash_id()
    return Verified(claims=token.claims, cert=cert, identity=NebulaIdentity.of(cert), token_id=token_id)


def _token_sans(claims: dict[str, Any], identity: NebulaIdentity) -> list[str]:
    raw = claims.get("sans")
    if isinstance(raw, list) and raw:
        if not all(isinstance(s, str) and s for s in raw):
            raise Unauthorized("token claim 'sans' must be a list of non-empty strings")
        return list(raw)
    return identity.default_names()


@hookimpl
def authorize_sign(
    provisioner: Provisioner, token: Token, request: SignRequest, authority: AuthorityView
) -> X509Authorization:
    v = _verify(provisioner, token, authority.audiences.sign)
    sub = token.subject
    sans = _token_sans(v.claims, v.identity)
    # The token is signed by the host itself, so what it claims is checked against its Nebula certificate
    # like the CSR is (step-ca validates only the CSR, which would let a token name any SANs).
    v.identity.check_subject(sub, "token subject")
    v.identity.check_names(split_sans(sans), "token SANs")

    def check(csr: x509.CertificateSigningRequest) -> None:
        cn = csr_common_name(csr)
        if cn and cn != sub:
            raise Forbidden(f"certificate request has common name {cn!r}, but the token's subject is {sub!r}")
        v.identity.check_names(csr_sans(csr), "certificate request names")

    return X509Authorization(
        subject=sub,
        sans=sans,
        check_csr=check,
        token_id=v.token_id,
        credential_id="",
        token_claims=v.claims,
        not_before=v.cert.not_before,
        not_after=v.cert.not_after,
        authorization_crt=template_view(v.cert),
    )


@hookimpl
def authorize_renew(
    provisioner: Provisioner, certificate: x509.Certificate, authority: AuthorityView
) -> RenewAuthorization | None:
    # The kernel has checked revocation, disableRenewal and expiry; Nebula adds nothing (step: ctl.AuthorizeRenew).
    return None


@hookimpl
def authorize_ssh_host_sign(
    provisioner: Provisioner, token: Token, request: SSHSignRequest, authority: AuthorityView
) -> SSHAuthorization:
    v = _verify(provisioner, token, authority.audiences.ssh_sign)
    sub = token.subject
    key_id = sub
    principals = v.identity.default_names()
    va = vb = None
    step = v.claims.get("step")
    opts = step.get("ssh") if isinstance(step, dict) else None
    if opts is not None:
        if not isinstance(opts, dict):
            raise Unauthorized("token claim step.ssh must be a JSON object")
        tct = opts.get("certType") or ""
        if tct not in ("", "host"):
            raise Forbidden(f"ssh certificate type does not match - got {tct!r}, want 'host'")
        tprinc = opts.get("principals") or []
        if not isinstance(tprinc, list) or not all(isinstance(p, str) for p in tprinc):
            raise Unauthorized("token step.ssh.principals must be a list of strings")
        v.identity.check_principals(tprinc)
        if tprinc:
            principals = list(tprinc)
        tkid = opts.get("keyID") or ""
        if not isinstance(tkid, str):
            raise Unauthorized("token step.ssh.keyID must be a string")
        key_id = tkid or sub
        try:
            now = dt.datetime.now(dt.UTC)
            va = resolve_time_duration(opts.get("validAfter") or None, now=now)
            vb = resolve_time_duration(opts.get("validBefore") or None, now=now, base=va or now)
        except (ValueError, TypeError):
            raise Unauthorized("token step.ssh validAfter/validBefore are not valid times") from None
    return SSHAuthorization(
        cert_type="host",
        key_id=key_id,
        principals=principals,
        token_id=v.token_id,
        valid_after=va,
        valid_before=vb,
        token_claims=v.claims,
        authorization_crt=template_view(v.cert),
        not_after=v.cert.not_after,
    )
