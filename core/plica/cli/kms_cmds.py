"""`plica kms`: the installed key managers, and the keys in one of them (create, list), as step-pkcs11-init
and step's `kms` commands do for a token."""

from __future__ import annotations

from pathlib import Path

import click
import orjson

from plica.cli.common import default_home, home_option, read_password_file
from plica.errors import ConfigError, KeyUnavailable
from plica.kms import KeyManager, KeySpec, KMSConfig, open_kms, redact_uri
from plica.plugins import get_plugins


@click.group("kms")
def kms_group() -> None:
    """Key managers: where the CA's keys live (softkms files, a PKCS#11 token, ...)."""


def _kms_uri(kms: str | None, home: Path | None) -> tuple[str, str]:
    """(type, uri): --kms, else ca.json's `kms` block of --home."""
    if kms:
        scheme, sep, _ = kms.partition(":")
        if not sep:
            raise click.UsageError(f"--kms {redact_uri(kms)!r} is not a key manager URI (e.g. pkcs11:...)")
        return scheme.lower(), kms
    cfg_path = (home or default_home()) / "config" / "ca.json"
    try:
        block = orjson.loads(cfg_path.read_bytes()).get("kms") or {}
    except (OSError, orjson.JSONDecodeError):
        block = {}
    if not block.get("uri"):
        raise click.UsageError("give --kms URI (the CA's ca.json names no kms)")
    return str(block.get("type") or "softkms"), str(block["uri"])


def _open(kms: str | None, home: Path | None, password_file: str | None) -> KeyManager:
    kind, uri = _kms_uri(kms, home)
    try:
        return open_kms(
            KMSConfig(
                type=kind, uri=uri, home=home or default_home(), password=read_password_file(password_file)
            )
        )
    except ConfigError as e:
        raise click.ClickException(str(e)) from None


_KMS = click.option(
    "--kms", help="Key manager URI, e.g. 'pkcs11:module-path=...;token=...?pin-source=file:...'."
)
_PW = click.option(
    "--password-file", type=click.Path(exists=True, dir_okay=False), help="Password of softkms key files."
)


@kms_group.command("types")
def types_cmd() -> None:
    """The installed key managers (ca.json `kms.type`)."""
    for k in get_plugins().key_managers:
        click.echo(f"{k['type']}\t{k['distribution']} {k['version']}".rstrip())


@kms_group.command("list")
@home_option
@_KMS
@_PW
def list_cmd(home: Path | None, kms: str | None, password_file: str | None) -> None:
    """The keys in a key manager, with whether the token holds them sensitive and never extractable."""
    manager = _open(kms, home, password_file)
    try:
        keys = manager.list_keys()
    except (ConfigError, KeyUnavailable) as e:
        raise click.ClickException(f"{getattr(e, 'message', e)}") from None
    finally:
        manager.close()
    for k in keys:
        flags = []
        if k.sensitive is not None:
            flags.append("sensitive" if k.sensitive else "NOT sensitive")
        if k.extractable is not None:
            flags.append("extractable" if k.extractable else "never extractable")
        click.echo(f"{k.uri}\t{k.kind}\t{', '.join(flags)}".rstrip())


@kms_group.command("create")
@home_option
@_KMS
@_PW
@click.option(
    "--key", "key_uri", required=True, help="Where the new key goes, e.g. 'pkcs11:id=7331;object=my-key'."
)
@click.option(
    "--kty", default="EC", show_default=True, help="EC (P-256), EC-P384, RSA (2048), RSA-3072, RSA-4096."
)
def create_cmd(home: Path | None, kms: str | None, password_file: str | None, key_uri: str, kty: str) -> None:
    """Create a key in a key manager and print its public key (PEM)."""
    from cryptography.hazmat.primitives import serialization

    try:
        spec = KeySpec.parse(kty)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--kty") from None
    manager = _open(kms, home, password_file)
    try:
        key = manager.create_key(key_uri, spec)
    except (ConfigError, KeyUnavailable) as e:
        raise click.ClickException(f"{getattr(e, 'message', e)}") from None
    finally:
        manager.close()
    click.echo(f"✔ {spec.describe()} key {redact_uri(key_uri)}", err=True)
    click.echo(
        key.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode(),
        nl=False,
    )
