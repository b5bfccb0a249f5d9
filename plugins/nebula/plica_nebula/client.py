"""Client side of the Nebula provisioner: tokens signed with a Nebula host key, carrying the host certificate
in the `nebula` header (as `step ca token --nebula-cert --nebula-key` makes them)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import click
import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, x25519

from plica.api import (
    ClientContext,
    b64url_encode,
    cert_and_key_options,
    hookimpl,
    required_options,
    token_claims,
)
from plica_nebula.cert import (
    Curve,
    NebulaCertificate,
    NebulaCertificateError,
    jws_sign,
    load_private_key_pem,
    parse_pem,
)

TOKEN_LIFETIME = 300


@hookimpl
def cli_client_options() -> list[click.Option]:
    return cert_and_key_options(
        "nebula",
        "Nebula",
        cert="the Nebula host certificate (PEM, as nebula-cert writes it) whose key signs the token.",
        key="PEM, as nebula-cert writes it",
    )


def _public_of(curve: Curve, private: bytes) -> bytes:
    if curve == "P256":
        key = ec.derive_private_key(int.from_bytes(private, "big"), ec.SECP256R1())
        return key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    return (
        x25519.X25519PrivateKey.from_private_bytes(private[:32])
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )


def load_credentials(cert_path: str, key_path: str) -> tuple[NebulaCertificate, Curve, bytes]:
    try:
        cert = parse_pem(Path(cert_path).read_bytes())[0]
    except NebulaCertificateError as e:
        raise click.UsageError(f"{cert_path} is not a Nebula certificate: {e}") from None
    try:
        curve, key = load_private_key_pem(Path(key_path).read_bytes())
    except NebulaCertificateError as e:
        raise click.UsageError(f"{key_path} is not a Nebula private key: {e}") from None
    if cert.is_ca:
        raise click.UsageError(f"{cert_path} is a Nebula CA certificate; use a host certificate")
    if curve != cert.curve or len(key) != 32 or _public_of(curve, key) != cert.public_key:
        raise click.UsageError(f"{key_path} is not the private key of the Nebula certificate {cert_path}")
    return cert, curve, key


def make_token(cert: NebulaCertificate, curve: Curve, key: bytes, claims: dict[str, Any]) -> str:
    alg = "ES256" if curve == "P256" else "XEdDSA"
    header = {"alg": alg, "typ": "JWT", "nebula": base64.b64encode(cert.raw).decode()}
    signing_input = f"{b64url_encode(orjson.dumps(header))}.{b64url_encode(orjson.dumps(claims))}"
    _, sig = jws_sign(curve, key, signing_input.encode("ascii"))
    return f"{signing_input}.{b64url_encode(sig)}"


@hookimpl
def client_token(provisioner_type: str, context: ClientContext, operation: str) -> str | None:
    cert, curve, key = load_credentials(*required_options(context, "nebula_cert", "nebula_key"))
    name = context.provisioner.get("name")
    claims = token_claims(
        str(name),
        context.subject,
        f"{context.audience}#nebula/{name}",
        sans=context.sans,
        lifetime=TOKEN_LIFETIME,
        extra=context.extra_claims,
    )
    return make_token(cert, curve, key, claims)
