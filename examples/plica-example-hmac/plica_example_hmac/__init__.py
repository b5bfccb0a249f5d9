"""HMAC: an example provisioner type — one-time JWTs signed with a shared secret (HS256)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from pathlib import Path
from typing import Any

import click
from attrs import define
from cryptography import x509

from plica.api import (
    AuthorityView,
    ClientContext,
    Provisioner,
    ProvisionerType,
    SignRequest,
    X509Authorization,
)
from plica.config import ProvisionerConfig, j
from plica.errors import ConfigError, Unauthorized
from plica.hookspecs import hookimpl
from plica.jose import b64url_encode
from plica.names import check_csr_names
from plica.tokens import Token, token_claims, token_sans


@define(kw_only=True)
class HMACConfig(ProvisionerConfig):
    secret: str = j("secret")


TYPE = ProvisionerType(
    name="HMAC",
    type_id=1001,  # third-party types use numbers ≥ 1000 in the provisioner extension
    config_class=HMACConfig,
    identifier_types={"ip-address": True, "hardware-id": False, "service-account": True},
    description="one-time tokens signed with a shared HMAC secret (example plugin)",
)


@hookimpl
def provisioner_types() -> list[ProvisionerType]:
    return [TYPE]


@hookimpl
def provisioner_load(provisioner: Provisioner, authority: AuthorityView) -> None:
    try:
        key = base64.b64decode(provisioner.config.secret, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError("secret", "must be standard base64") from None
    if len(key) < 32:
        raise ConfigError("secret", "must hold at least 32 bytes")
    provisioner.state = key


@hookimpl
def provisioner_token_keys(provisioner: Provisioner) -> list[str]:
    return [f"hmac/{provisioner.name}"]


@hookimpl
def provisioner_public_json(provisioner: Provisioner) -> dict[str, Any]:
    return {k: v for k, v in provisioner.raw.items() if k != "secret"}


@hookimpl
def authorize_sign(
    provisioner: Provisioner, token: Token, request: SignRequest, authority: AuthorityView
) -> X509Authorization:
    if token.header.get("alg") != "HS256":
        raise Unauthorized("HMAC tokens must be signed with HS256")
    expected = hmac.new(provisioner.state, token.signing_input, hashlib.sha256).digest()
    if not hmac.compare_digest(expected, token.signature):
        raise Unauthorized("token signature is not valid for the provisioner's secret")
    token.check_times()
    if token.issuer != provisioner.name:
        raise Unauthorized(f"token issuer {token.issuer!r} does not match provisioner {provisioner.name!r}")
    token.check_audience(authority.audiences.sign, fragment=f"hmac/{provisioner.name}")
    sub = token.require_subject()
    sans = token_sans(token.claims, sub)

    def check(csr: x509.CertificateSigningRequest) -> None:
        check_csr_names(csr, sub, sans)

    jti = token.claims.get("jti")
    return X509Authorization(
        subject=sub,
        sans=sans,
        check_csr=check,
        token_id=jti if isinstance(jti, str) and jti else token.hash_id(),
        credential_id=provisioner.name,
        token_claims=token.claims,
    )


@hookimpl
def cli_client_options() -> list[click.Option]:
    return [
        click.Option(
            ["--hmac-secret-file"],
            type=click.Path(exists=True, dir_okay=False),
            help="HMAC provisioner: file holding the shared secret (base64).",
        )
    ]


@hookimpl
def client_token(provisioner_type: str, context: ClientContext, operation: str) -> str | None:
    if provisioner_type.upper() != "HMAC":
        return None
    path = context.options.get("hmac_secret_file")
    if not path:
        raise click.UsageError("the HMAC provisioner needs --hmac-secret-file")
    key = base64.b64decode(Path(path).read_text().strip())
    name = str(context.provisioner.get("name", ""))
    claims = token_claims(name, context.subject, f"{context.audience}#hmac/{name}", sans=context.sans)
    import orjson

    signing_input = (
        f"{b64url_encode(orjson.dumps({'alg': 'HS256', 'typ': 'JWT'}))}.{b64url_encode(orjson.dumps(claims))}"
    )
    sig = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url_encode(sig)}"
