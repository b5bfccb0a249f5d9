"""Client side of the SSHPOP provisioner: tokens signed with an SSH certificate's private key, carrying the
certificate in the `sshpop` header (as the step CLI makes them for `step ssh renew|rekey|revoke`)."""

from __future__ import annotations

from pathlib import Path

import click
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import SSHCertificate

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
from plica_sshpop.sshcert import to_wire_b64

TOKEN_LIFETIME = 300


@hookimpl
def cli_client_options() -> list[click.Option]:
    return cert_and_key_options(
        "sshpop",
        "SSHPOP",
        cert="the SSH certificate (…-cert.pub) that authenticates the request.",
        key="OpenSSH or PEM",
    )


def load_certificate(path: str) -> SSHCertificate:
    data = Path(path).read_bytes().strip()
    try:
        cert = serialization.load_ssh_public_identity(data.splitlines()[0] if data else data)
    except (ValueError, IndexError, serialization.UnsupportedAlgorithm) as e:
        raise click.UsageError(f"{path} is not an SSH certificate: {e}") from None
    if not isinstance(cert, SSHCertificate):
        raise click.UsageError(f"{path} is an SSH public key, not a certificate")
    return cert


def sshpop_token(
    cert: SSHCertificate,
    key: PrivateKey,
    *,
    issuer: str,
    subject: str,
    audience: str,
    lifetime: int = TOKEN_LIFETIME,
) -> str:
    return sign_token(
        key,
        token_claims(issuer, subject, audience, lifetime=lifetime),
        holder=cert.public_key(),  # type: ignore[arg-type]
        mismatch="the sshpop key does not belong to the sshpop certificate",
        sshpop=to_wire_b64(cert),
    )


@hookimpl
def client_token(provisioner_type: str, context: ClientContext, operation: str) -> str | None:
    cert_path, key_path = required_options(context, "sshpop_cert", "sshpop_key")
    name = str(context.provisioner.get("name", ""))
    return sshpop_token(
        load_certificate(cert_path),
        load_signing_key(key_path, context.options.get("password")),
        issuer=name,
        subject=context.subject,
        audience=f"{context.audience}#sshpop/{name}",
    )
