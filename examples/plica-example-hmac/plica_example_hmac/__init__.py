"""HMAC: an example provisioner type — one-time JWTs signed with a shared secret (HS256)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from pathlib import Path
from typing import Any

import click
import orjson
from attrs import define

from plica.api import (
    AuthorityView,
    ClientContext,
    ConfigError,
    Provisioner,
    ProvisionerConfig,
    ProvisionerType,
    SignRequest,
    Token,
    Unauthorized,
    X509Authorization,
    b64url_encode,
    check_token_claims,
    file_option,
    hookimpl,
    j,
    provides,
    required_options,
    token_claims,
    x509_authorization,
)


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
provisioner_types = provides(TYPE)


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
    # The kernel's checks of every token's claims: times, issuer, audience (#hmac/<name>) and subject;
    # then the certificate may carry the token's subject and SANs.
    check_token_claims(provisioner, token, authority.audiences.sign, fragment=f"hmac/{provisioner.name}")
    return x509_authorization(token, credential_id=provisioner.name)


@hookimpl
def cli_client_options() -> list[click.Option]:
    return [
        file_option("--hmac-secret-file", help="HMAC provisioner: file holding the shared secret (base64).")
    ]


@hookimpl
def client_token(provisioner_type: str, context: ClientContext, operation: str) -> str | None:
    (path,) = required_options(context, "hmac_secret_file")
    key = base64.b64decode(Path(path).read_text().strip())
    name = str(context.provisioner.get("name", ""))
    claims = token_claims(name, context.subject, f"{context.audience}#hmac/{name}", sans=context.sans)
    signing_input = (
        f"{b64url_encode(orjson.dumps({'alg': 'HS256', 'typ': 'JWT'}))}.{b64url_encode(orjson.dumps(claims))}"
    )
    sig = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url_encode(sig)}"
