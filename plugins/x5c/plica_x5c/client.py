"""Client side of the X5C provisioner: tokens signed with a certificate's key, carrying its chain in `x5c`
(as `step ca token --x5c-cert --x5c-key` makes them)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import click
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from plica.api import ClientContext
from plica.hookspecs import hookimpl
from plica.jose import PrivateKey, sign_compact
from plica.tokens import token_claims

TOKEN_LIFETIME = 300


@hookimpl
def cli_client_options() -> list[click.Option]:
    return [
        click.Option(
            ["--x5c-cert"],
            type=click.Path(exists=True, dir_okay=False),
            help="X5C provisioner: the certificate (PEM, leaf first, intermediates may follow) whose key "
            "signs the token.",
        ),
        click.Option(
            ["--x5c-key"],
            type=click.Path(exists=True, dir_okay=False),
            help="X5C provisioner: the private key of --x5c-cert (PEM; encrypted keys use --password-file).",
        ),
    ]


def jws_alg(key: PrivateKey) -> str:
    """The JWS algorithm step uses for a key: ES256/384/512 by curve, RS256, or EdDSA."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        alg = {256: "ES256", 384: "ES384", 521: "ES512"}.get(key.curve.key_size)
        if alg is None:
            raise click.UsageError(f"unsupported elliptic curve {key.curve.name} for a token signature")
        return alg
    if isinstance(key, rsa.RSAPrivateKey):
        return "RS256"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "EdDSA"
    raise click.UsageError(f"unsupported key type {type(key).__name__} for a token signature")


def load_chain(path: str) -> list[x509.Certificate]:
    data = Path(path).read_bytes()
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError as e:
        raise click.UsageError(f"{path} is not a PEM or DER certificate: {e}") from None


def load_key(path: str, password: bytes | None) -> PrivateKey:
    data = Path(path).read_bytes()
    try:
        key = serialization.load_pem_private_key(data, password=password)
    except TypeError:
        raise click.UsageError(f"{path} is encrypted: give --password-file") from None
    except ValueError as e:
        raise click.UsageError(f"cannot read the private key {path}: {e}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
        raise click.UsageError(f"{path}: unsupported key type {type(key).__name__}")
    return key


def _pub_der(k: Any) -> bytes:
    return k.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


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
    if _pub_der(chain[0].public_key()) != _pub_der(key.public_key()):
        raise click.UsageError("the x5c key does not belong to the first certificate of the x5c chain")
    claims = token_claims(issuer, subject, audience, sans=sans, lifetime=lifetime, extra=extra_claims)
    header = {
        "alg": jws_alg(key),
        "typ": "JWT",
        "x5c": [base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode() for c in chain],
    }
    return sign_compact(header, claims, key)


@hookimpl
def client_token(provisioner_type: str, context: ClientContext, operation: str) -> str | None:
    if provisioner_type.upper() != "X5C":
        return None
    name = str(context.provisioner.get("name", ""))
    cert_path, key_path = context.options.get("x5c_cert"), context.options.get("x5c_key")
    if not cert_path or not key_path:
        raise click.UsageError(f"provisioner {name!r} is an X5C provisioner: give --x5c-cert and --x5c-key")
    chain = load_chain(cert_path)
    key = load_key(key_path, context.options.get("password"))
    return x5c_token(
        chain,
        key,
        issuer=name,
        subject=context.subject,
        audience=f"{context.audience}#x5c/{name}",
        sans=context.sans,
        extra_claims=context.extra_claims,
    )
