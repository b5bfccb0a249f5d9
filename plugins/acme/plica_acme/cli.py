"""The operator's commands: `plica acme eab add|list|remove` (External Account Binding keys, written to
the CA's database directly from the CA machine), and `plica provisioner add|update --type ACME` flags."""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import orjson

from plica.hookspecs import hookimpl

from . import eab
from .provisioner import DEFAULT_CHALLENGES, KNOWN_ATTESTATION_FORMATS, KNOWN_CHALLENGES
from .schema import MIGRATIONS

T = TypeVar("T")


def _config_path(home: Path | None, config: Path | None) -> Path:
    if config is not None:
        return config
    home = home or Path(os.environ.get("PLICA_HOME") or Path.home() / ".plica")
    return home / "config" / "ca.json"


def _with_storage(
    home: Path | None, config: Path | None, provisioner: str, fn: Callable[[Any], Awaitable[T]]
) -> T:
    from plica import config as config_mod
    from plica.errors import ConfigError
    from plica.http.server import db_source
    from plica.storage import StorageError, open_storage

    path = _config_path(home, config)
    try:
        cfg = config_mod.load(path)
    except ConfigError as e:
        raise click.ClickException(f"cannot read {path}: {e}") from None
    blocks = [p for p in cfg.authority.provisioners if p.get("name") == provisioner]
    if not blocks:
        raise click.ClickException(f"{path} has no provisioner named {provisioner!r}")
    if str(blocks[0].get("type", "")).upper() != "ACME":
        raise click.ClickException(f"provisioner {provisioner!r} is not an ACME provisioner")

    async def run() -> T:
        kind, src = db_source(cfg)
        storage = open_storage(kind, src)
        await storage.open()
        try:
            await storage.migrate(MIGRATIONS)
            return await fn(storage)
        finally:
            await storage.close()

    try:
        return asyncio.run(run())
    except StorageError as e:
        raise click.ClickException(f"database error: {e}") from None


_home = click.option(
    "--home", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="The CA's directory (default $PLICA_HOME or ~/.plica).",
)  # fmt: skip
_config = click.option(
    "--config", "config", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="Path to ca.json (default <home>/config/ca.json).",
)  # fmt: skip
_json = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


@click.group("acme")
def acme_group() -> None:
    """ACME provisioners: External Account Binding keys."""


@acme_group.group("eab")
def eab_group() -> None:
    """External Account Binding keys (for provisioners with requireEAB)."""


@eab_group.command("add")
@click.argument("provisioner")
@click.argument("reference", required=False, default="")
@_home
@_config
@_json
def eab_add(provisioner: str, reference: str, home: Path | None, config: Path | None, as_json: bool) -> None:
    """Create an EAB key for PROVISIONER (optionally tagged with REFERENCE, unique per provisioner).

    The HMAC key is printed once, base64url-encoded, for the client (certbot --eab-kid/--eab-hmac-key,
    lego --eab --kid/--hmac)."""

    async def add(storage: Any) -> eab.EABKey:
        try:
            return await eab.add_key(storage, provisioner, reference)
        except ValueError as e:
            raise click.ClickException(str(e)) from None

    key = _with_storage(home, config, provisioner, add)
    if as_json:
        click.echo(orjson.dumps(key.public_json(with_key=True), option=orjson.OPT_INDENT_2).decode())
        return
    click.echo(f"Key ID:      {key.id}")
    click.echo(f"HMAC key:    {key.hmac_key}")
    click.echo(f"Provisioner: {key.provisioner}")
    if key.reference:
        click.echo(f"Reference:   {key.reference}")


@eab_group.command("list")
@click.argument("provisioner")
@click.argument("reference", required=False, default="")
@_home
@_config
@_json
def eab_list(provisioner: str, reference: str, home: Path | None, config: Path | None, as_json: bool) -> None:
    """List the EAB keys of PROVISIONER (the HMAC keys are not shown)."""
    keys = _with_storage(home, config, provisioner, lambda st: eab.list_keys(st, provisioner, reference))
    if as_json:
        click.echo(orjson.dumps([k.public_json() for k in keys], option=orjson.OPT_INDENT_2).decode())
        return
    if not keys:
        click.echo(f"No EAB keys for provisioner {provisioner!r}.")
        return
    click.echo(f"{'Key ID':<34}  {'Reference':<20}  {'Account':<24}  Created")
    from datetime import UTC, datetime

    for k in keys:
        created = datetime.fromtimestamp(k.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        click.echo(f"{k.id:<34}  {k.reference or '-':<20}  {k.account_id or '(unbound)':<24}  {created}")


@eab_group.command("remove")
@click.argument("provisioner")
@click.argument("key_id")
@_home
@_config
def eab_remove(provisioner: str, key_id: str, home: Path | None, config: Path | None) -> None:
    """Remove the EAB key KEY_ID of PROVISIONER (accounts already bound with it stay)."""
    if not _with_storage(home, config, provisioner, lambda st: eab.remove_key(st, provisioner, key_id)):
        raise click.ClickException(f"provisioner {provisioner!r} has no EAB key {key_id!r}")
    click.echo(f"Removed EAB key {key_id}.")


@hookimpl
def cli_commands() -> list[click.Command]:
    return [acme_group]


# ---------------------------------------------------------------------------- provisioner add|update


@hookimpl
def provisioner_cli_options() -> list[click.Option]:
    multi = {"multiple": True, "default": ()}
    return [
        click.Option(
            ["--force-cn/--no-force-cn"], "force_cn", default=None,
            help="ACME/SCEP: use the first DNS name as common name when the CSR has none.",
        ),
        click.Option(
            ["--require-eab/--no-require-eab"], "require_eab", default=None,
            help="ACME: new accounts need an External Account Binding (keys: plica acme eab add).",
        ),
        click.Option(
            ["--challenge"], "challenge", **multi,
            help=f"ACME: enable a challenge type ({', '.join(KNOWN_CHALLENGES)}); repeat for several. "
            "SCEP: the challenge secret.",
        ),
        click.Option(["--remove-challenge"], "remove_challenge", **multi, help="ACME: disable a challenge type."),
        click.Option(
            ["--attestation-format"], "attestation_format", **multi,
            help=f"ACME: accept a device-attest-01 format ({', '.join(KNOWN_ATTESTATION_FORMATS)}).",
        ),
        click.Option(["--remove-attestation-format"], "remove_attestation_format", **multi,
                     help="ACME: stop accepting an attestation format."),
        click.Option(["--attestation-roots"], "attestation_roots",
                     type=click.Path(exists=True, dir_okay=False),
                     help="ACME: PEM file of the roots device attestations must chain to."),
        click.Option(["--terms-of-service"], "terms_of_service", help="ACME: the directory's termsOfService URL."),
        click.Option(["--website"], "website", help="ACME: the directory's website URL."),
        click.Option(["--caa-identity"], "caa_identity", **multi,
                     help="ACME: a CAA issuer domain for the directory's caaIdentities."),
        click.Option(["--acme-http-port"], "acme_http_port", type=int,
                     help="ACME: port the http-01 validator connects to (default 80)."),
        click.Option(["--acme-tls-port"], "acme_tls_port", type=int,
                     help="ACME: port the tls-alpn-01 validator connects to (default 443)."),
        click.Option(["--acme-resolver"], "acme_resolver",
                     help="ACME: DNS resolver ip[:port] for validation (default: the system's)."),
        click.Option(["--acme-retry-window"], "acme_retry_window",
                     help="ACME: how long a failing challenge is retried (e.g. 30s)."),
        click.Option(["--acme-pending-orders"], "acme_pending_orders", type=int,
                     help="ACME: pending orders allowed per account (0 = no limit)."),
        click.Option(["--acme-orders-per-hour"], "acme_orders_per_hour", type=int,
                     help="ACME: new orders allowed per account per hour (0 = no limit)."),
    ]  # fmt: skip


def _names(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    return [str(v) for v in value]


def _edit_list(
    current: list[str], add: list[str], remove: list[str], known: tuple[str, ...], what: str
) -> list[str]:
    out = list(current)
    for v in add + remove:
        if v.lower() not in known:
            raise click.UsageError(f"unknown {what} {v!r} (expected one of {', '.join(known)})")
    for v in add:
        if v.lower() not in out:
            out.append(v.lower())
    return [v for v in out if v not in {r.lower() for r in remove}]


@hookimpl
def provisioner_block_from_cli(
    provisioner_type: str, name: str, options: dict[str, Any], existing: dict[str, Any] | None
) -> dict[str, Any] | None:
    if provisioner_type.upper() != "ACME":
        return None
    block = dict(existing or {"type": "ACME", "name": name})
    if options.get("force_cn") is not None:
        block["forceCN"] = bool(options["force_cn"])
    if options.get("require_eab") is not None:
        block["requireEAB"] = bool(options["require_eab"])
    add, remove = _names(options.get("challenge")), _names(options.get("remove_challenge"))
    if add or remove:
        # On add, --challenge sets the list; on update it adds to it (as step's provisioner update).
        base = list(block.get("challenges") or ([] if existing is None else DEFAULT_CHALLENGES))
        chosen = _edit_list([] if existing is None else base, add, remove, KNOWN_CHALLENGES, "challenge")
        if not chosen:
            raise click.UsageError("an ACME provisioner needs at least one challenge type")
        block["challenges"] = chosen
    add, remove = _names(options.get("attestation_format")), _names(options.get("remove_attestation_format"))
    if add or remove:
        fmts = _edit_list(
            list(block.get("attestationFormats") or []), add, remove, KNOWN_ATTESTATION_FORMATS,
            "attestation format",
        )  # fmt: skip
        if fmts:
            block["attestationFormats"] = fmts
        else:
            block.pop("attestationFormats", None)
    if options.get("attestation_roots"):
        data = Path(options["attestation_roots"]).read_bytes()
        if b"-----BEGIN CERTIFICATE-----" not in data:
            raise click.UsageError(f"{options['attestation_roots']} holds no PEM certificate")
        block["attestationRoots"] = base64.b64encode(data).decode("ascii")
    for opt, key in (("terms_of_service", "termsOfService"), ("website", "website")):
        if options.get(opt) is not None:
            if options[opt]:
                block[key] = options[opt]
            else:
                block.pop(key, None)
    if options.get("caa_identity"):
        block["caaIdentities"] = _names(options["caa_identity"])
    validation = dict(block.get("validation") or {})
    for opt, key in (
        ("acme_http_port", "httpPort"),
        ("acme_tls_port", "tlsPort"),
        ("acme_resolver", "resolver"),
        ("acme_retry_window", "retryWindow"),
    ):
        if options.get(opt) is not None:
            validation[key] = options[opt]
    if validation:
        block["validation"] = validation
    limits = dict(block.get("limits") or {})
    for opt, key in (("acme_pending_orders", "pendingOrders"), ("acme_orders_per_hour", "ordersPerHour")):
        if options.get(opt) is not None:
            limits[key] = options[opt]
    if limits:
        block["limits"] = limits
    return block
