"""Client side of the JWK provisioner: making one-time tokens like `step ca token` does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import orjson
from cryptography.hazmat.primitives import serialization

from plica.api import (
    ClientContext,
    JOSEError,
    PrivateKey,
    default_alg,
    file_option,
    hookimpl,
    jwe_decrypt_pbes2,
    key_from_jwk,
    need_password,
    public_jwk,
    sign_compact,
    token_claims,
)


@hookimpl
def cli_client_options() -> list[click.Option]:
    return [
        file_option(
            "--key",
            help="JWK provisioner: the provisioner's private key (JWK, JWE or PEM file), when the CA does not "
            "publish an encrypted key or you keep it elsewhere.",
        ),
    ]


def load_private_key(path: str, password: bytes | None) -> tuple[PrivateKey, dict[str, Any]]:
    data = Path(path).read_bytes()
    text = data.strip()
    if text.startswith(b"-----BEGIN"):
        key = serialization.load_pem_private_key(data, password=password)
        return key, public_jwk(key)  # type: ignore[arg-type]
    if text.count(b".") == 4 and not text.startswith(b"{"):
        if password is None:
            raise click.UsageError(f"{path} is encrypted: give --password-file")
        _, pt = jwe_decrypt_pbes2(text.decode(), password)
        jwk = orjson.loads(pt)
    else:
        jwk = orjson.loads(data)
    return key_from_jwk(jwk), jwk  # type: ignore[return-value]


@hookimpl
def client_token(provisioner_type: str, context: ClientContext, operation: str) -> str | None:
    prov = context.provisioner
    password: bytes | None = context.options.get("password")
    if context.options.get("key"):
        key, jwk = load_private_key(context.options["key"], password)
    else:
        enc = prov.get("encryptedKey")
        if not enc:
            raise click.UsageError(f"provisioner {prov.get('name')!r} publishes no encrypted key: use --key")
        password = need_password(
            password,
            context.prompt,
            f"Please enter the password to decrypt the provisioner key ({prov.get('name')})",
            missing="the provisioner key is encrypted: give --password-file",
        )
        try:
            _, pt = jwe_decrypt_pbes2(enc, password)
        except JOSEError as e:
            raise click.ClickException(f"cannot decrypt the provisioner key: {e}") from None
        jwk = orjson.loads(pt)
        key = key_from_jwk(jwk)  # type: ignore[assignment]
    pub = prov.get("key") or {}
    kid = pub.get("kid") or jwk.get("kid")
    claims = token_claims(
        str(prov.get("name", "")),
        context.subject,
        context.audience,
        sans=context.sans,
        extra=context.extra_claims,
    )
    header = {"alg": default_alg(pub or jwk), "kid": kid, "typ": "JWT"}
    return sign_compact(header, claims, key)
