"""Every kernel hook the SCEP plugin implements (the package's `__init__` hands them to the kernel).

SCEP is authorized by its protocol (the challenge, or the certificate a renewal is signed with), not by
tokens: `authorize_sign` exists so the capability matrix shows x509-sign, and refuses the token flow as
step-ca does. Certificates are issued through the kernel's `issue` (claims, templates, policy, the
provisioner extension, storage).
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import click
from cryptography.hazmat.primitives import serialization

from plica.api import (
    AuthorityView,
    BadRequest,
    Provisioner,
    Route,
    SignRequest,
    Token,
    X509Authorization,
    hookimpl,
)

from .protocol import routes
from .provisioner import load_state, provisioner_types, public_json

__all__ = ["provisioner_types"]


@hookimpl
def provisioner_load(provisioner: Provisioner, authority: AuthorityView) -> None:
    provisioner.state = load_state(provisioner.config, authority)


@hookimpl
def provisioner_public_json(provisioner: Provisioner) -> dict[str, Any]:
    return public_json(provisioner.raw, provisioner.config)


@hookimpl
def authorize_sign(
    provisioner: Provisioner, token: Token, request: SignRequest, authority: AuthorityView
) -> X509Authorization:
    raise BadRequest(
        f"provisioner {provisioner.name!r} is a SCEP provisioner: request certificates with a SCEP client at "
        f"/scep/{provisioner.name}, not with a token"
    )


@hookimpl
def http_routes(authority: AuthorityView) -> list[Route]:
    return routes(authority)


_FILE = click.Path(exists=True, dir_okay=False)


@hookimpl
def provisioner_cli_options() -> list[click.Option]:
    return [
        click.Option(["--challenge"], "challenge", help="SCEP: the challenge secret clients send."),
        click.Option(
            ["--encryption-algorithm-identifier"], "encryption_algorithm_identifier",
            type=click.IntRange(0, 4),
            help="SCEP: how replies are encrypted: 0 DES-CBC, 1 AES-128-CBC, 2 AES-256-CBC, 3 AES-128-GCM, "
            "4 AES-256-GCM.",
        ),
        click.Option(["--min-public-key-length"], "min_public_key_length", type=int,
                     help="SCEP: the smallest RSA key accepted, in bits (default 2048)."),
        click.Option(["--include-root/--no-include-root"], "include_root", default=None,
                     help="SCEP: GetCACert returns the root too."),
        click.Option(["--exclude-intermediate/--no-exclude-intermediate"], "exclude_intermediate", default=None,
                     help="SCEP: GetCACert leaves the intermediate out (with a decrypter)."),
        click.Option(["--force-cn/--no-force-cn"], "force_cn", default=None,
                     help="ACME/SCEP: use the first DNS name as common name when the CSR has none."),
        click.Option(["--decrypter-certificate"], "decrypter_certificate", type=_FILE,
                     help="SCEP: PEM certificate of an RSA key that decrypts requests (the CA's own chain "
                     "may then stay ECDSA)."),
        click.Option(["--decrypter-key"], "decrypter_key", type=_FILE,
                     help="SCEP: the PEM private key of --decrypter-certificate."),
        click.Option(["--decrypter-key-password-file"], "decrypter_key_password_file", type=_FILE,
                     help="SCEP: the password of --decrypter-key (an unencrypted key is encrypted with it)."),
    ]  # fmt: skip


@hookimpl
def provisioner_block_from_cli(
    provisioner_type: str, name: str, options: dict[str, Any], existing: dict[str, Any] | None
) -> dict[str, Any] | None:
    if provisioner_type.upper() != "SCEP":
        return None
    block = dict(existing or {"type": "SCEP", "name": name})
    challenge = options.get("challenge")
    if isinstance(challenge, (list, tuple)):  # the kernel may hand a name another plugin repeats as raw
        challenge = challenge[-1] if challenge else None
    if challenge is not None:
        block["challenge"] = str(challenge)
    for opt, key in (
        ("encryption_algorithm_identifier", "encryptionAlgorithmIdentifier"),
        ("min_public_key_length", "minimumPublicKeyLength"),
    ):
        if options.get(opt) is not None:
            block[key] = int(options[opt])
    for opt, key in (("include_root", "includeRoot"), ("exclude_intermediate", "excludeIntermediate"),
                     ("force_cn", "forceCN")):  # fmt: skip
        if options.get(opt) is not None:
            block[key] = bool(options[opt])
    if bool(options.get("decrypter_certificate")) != bool(options.get("decrypter_key")):
        raise click.UsageError("--decrypter-certificate and --decrypter-key go together")
    if options.get("decrypter_certificate"):
        cert = Path(options["decrypter_certificate"]).read_bytes()
        if b"-----BEGIN CERTIFICATE-----" not in cert:
            raise click.UsageError(f"{options['decrypter_certificate']} holds no PEM certificate")
        pw_file = options.get("decrypter_key_password_file")
        password = Path(pw_file).read_bytes().rstrip(b"\r\n") if pw_file else b""
        block["decrypterCertificate"] = base64.b64encode(cert).decode()
        block["decrypterKeyPEM"] = base64.b64encode(
            _encrypted_key(Path(options["decrypter_key"]), password)
        ).decode()
        if password:
            block["decrypterKeyPassword"] = password.decode()
        else:
            block.pop("decrypterKeyPassword", None)
    return block


def _encrypted_key(path: Path, password: bytes) -> bytes:
    """The decrypter key as ca.json keeps it: encrypted (an unencrypted one with `password`)."""
    data = path.read_bytes()
    encrypted = b"ENCRYPTED" in data
    if not password:
        raise click.UsageError(
            "ca.json keeps the decrypter key encrypted: give a password with --decrypter-key-password-file"
        )
    try:
        key = serialization.load_pem_private_key(data, password if encrypted else None)
    except (ValueError, TypeError):
        raise click.UsageError(f"{path} is not a PEM private key that this password opens") from None
    if encrypted:
        return data
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(password),
    )
