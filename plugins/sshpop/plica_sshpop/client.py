"""Client side of the SSHPOP provisioner: tokens signed with an SSH certificate's private key, carrying the
certificate in the `sshpop` header (as the step CLI makes them for `step ssh renew|rekey|revoke`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import SSHCertificate

from plica.api import ClientContext
from plica.hookspecs import hookimpl
from plica.jose import PrivateKey, sign_compact
from plica.tokens import token_claims
from plica_sshpop.sshcert import public_key_wire, to_wire_b64

TOKEN_LIFETIME = 300


@hookimpl
def cli_client_options() -> list[click.Option]:
    return [
        click.Option(
            ["--sshpop-cert"],
            type=click.Path(exists=True, dir_okay=False),
            help="SSHPOP provisioner: the SSH certificate (…-cert.pub) that authenticates the request.",
        ),
        click.Option(
            ["--sshpop-key"],
            type=click.Path(exists=True, dir_okay=False),
            help="SSHPOP provisioner: the private key of --sshpop-cert (OpenSSH or PEM).",
        ),
    ]


def load_certificate(path: str) -> SSHCertificate:
    data = Path(path).read_bytes().strip()
    try:
        cert = serialization.load_ssh_public_identity(data.splitlines()[0] if data else data)
    except (ValueError, IndexError, serialization.UnsupportedAlgorithm) as e:
        raise click.UsageError(f"{path} is not an SSH certificate: {e}") from None
    if not isinstance(cert, SSHCertificate):
        raise click.UsageError(f"{path} is an SSH public key, not a certificate")
    return cert


def load_private_key(path: str, password: bytes | None = None) -> PrivateKey:
    data = Path(path).read_bytes()
    try:
        if b"OPENSSH PRIVATE KEY" in data:
            key: Any = serialization.load_ssh_private_key(data, password=password)
        else:
            key = serialization.load_pem_private_key(data, password=password)
    except TypeError:
        raise click.UsageError(f"{path} is encrypted: give --password-file") from None
    except (ValueError, serialization.UnsupportedAlgorithm) as e:
        raise click.UsageError(f"cannot read the private key {path}: {e}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
        raise click.UsageError(f"{path}: unsupported key type {type(key).__name__}")
    return key


def jws_alg(key: PrivateKey) -> str:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        alg = {256: "ES256", 384: "ES384", 521: "ES512"}.get(key.curve.key_size)
        if alg is None:
            raise click.UsageError(f"unsupported elliptic curve {key.curve.name}")
        return alg
    if isinstance(key, rsa.RSAPrivateKey):
        return "RS256"
    return "EdDSA"


def sshpop_token(
    cert: SSHCertificate,
    key: PrivateKey,
    *,
    issuer: str,
    subject: str,
    audience: str,
    lifetime: int = TOKEN_LIFETIME,
) -> str:
    if public_key_wire(cert.public_key()) != public_key_wire(key.public_key()):
        raise click.UsageError("the sshpop key does not belong to the sshpop certificate")
    claims = token_claims(issuer, subject, audience, lifetime=lifetime)
    header = {"alg": jws_alg(key), "typ": "JWT", "sshpop": to_wire_b64(cert)}
    return sign_compact(header, claims, key)


@hookimpl
def client_token(provisioner_type: str, context: ClientContext, operation: str) -> str | None:
    if provisioner_type.upper() != "SSHPOP":
        return None
    name = str(context.provisioner.get("name", ""))
    cert_path, key_path = context.options.get("sshpop_cert"), context.options.get("sshpop_key")
    if not cert_path or not key_path:
        raise click.UsageError(
            f"provisioner {name!r} is an SSHPOP provisioner: give --sshpop-cert and --sshpop-key"
        )
    cert = load_certificate(cert_path)
    key = load_private_key(key_path, context.options.get("password"))
    return sshpop_token(
        cert, key, issuer=name, subject=context.subject, audience=f"{context.audience}#sshpop/{name}"
    )
