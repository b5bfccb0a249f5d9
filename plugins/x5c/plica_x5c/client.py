"""Client side of the X5C provisioner: tokens signed with a certificate's key, carrying its chain in `x5c`
(as `step ca token --x5c-cert --x5c-key` makes them)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import click
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from plica.api import (
    ClientContext,
    PrivateKey,
    cert_and_key_options,
    hookimpl,
    load_signing_key,
    required_options,
    sign_token,
    token_claims,
)

TOKEN_LIFETIME = 300


@hookimpl
def cli_client_options() -> list[click.Option]:
    return cert_and_key_options(
        "x5c",
        "X5C",
        cert="the certificate (PEM, leaf first, intermediates may follow) whose key signs the token.",
        key="PEM; encrypted keys use --password-file",
    )


def load_chain(path: str) -> list[x509.Certificate]:
    data = Path(path).read_bytes()
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError as e:
        raise click.UsageError(f"{path} is not a PEM or DER certificate: {e}") from None


def x5c_token(
    chain: list[x509.Certificate],
    key: PrivateKey,
    *,
    issuer: str,
    subject: str,
    audience: str,
    sans: list[str] | None = None,
    extra_claims: dict[str, Any] | None = None,
    lifetime: int = TOKEN_LIFETIME,
) -> str:
    return sign_token(
        key,
        token_claims(issuer, subject, audience, sans=sans, lifetime=lifetime, extra=extra_claims),
        holder=chain[0].public_key(),  # type: ignore[arg-type]
        mismatch="the x5c key does not belong to the first certificate of the x5c chain",
        x5c=[base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode() for c in chain],
    )


@hookimpl
def client_token(provisioner_type: str, context: ClientContext, operation: str) -> str | None:
    cert_path, key_path = required_options(context, "x5c_cert", "x5c_key")
    name = str(context.provisioner.get("name", ""))
    return x5c_token(
        load_chain(cert_path),
        load_signing_key(key_path, context.options.get("password")),
        issuer=name,
        subject=context.subject,
        audience=f"{context.audience}#x5c/{name}",
        sans=context.sans,
        extra_claims=context.extra_claims,
    )
