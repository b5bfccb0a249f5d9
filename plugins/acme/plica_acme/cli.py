"""The operator's commands: `plica acme eab add|list|remove` (External Account Binding keys, written to
the CA's database directly on the CA machine, or, with `--admin-cert/--admin-key`, through the CA's admin
API from anywhere), and `plica provisioner add|update --type ACME` flags."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import click
import orjson

from plica.api import (
    AdminClient,
    AdminCredentials,
    CAClientError,
    ConfigError,
    Sealer,
    StorageError,
    b64url_encode,
    default_home,
    load_config,
    open_sealer,
    open_storage_for,
    read_defaults,
    read_password_file,
    rfc3339,
)

from . import eab
from .api.eab_admin import KEY_NOT_FOUND
from .model import EABKey
from .provisioner import DEFAULT_CHALLENGES, KNOWN_ATTESTATION_FORMATS, KNOWN_CHALLENGES
from .schema import MIGRATIONS
from .store import EAB_PURPOSE, AcmeStore

T = TypeVar("T")


def _with_store(
    home: Path | None,
    config: Path | None,
    provisioner: str,
    fn: Callable[[AcmeStore], Awaitable[T]],
    *,
    password_file: str | None = None,
    seal: bool = False,
) -> T:
    """Run `fn` on the ACME tables of the database the CA's ca.json names; with `seal`, the store seals EAB
    keys as the CA does (its intermediate key, decrypted with the password of --password-file, else of
    <home>/secrets/password, else asked for)."""
    path = config or (home or default_home()) / "config" / "ca.json"
    try:
        cfg = load_config(path)
    except ConfigError as e:
        raise click.ClickException(e.in_file(path)) from None
    blocks = [p for p in cfg.authority.provisioners if p.get("name") == provisioner]
    if not blocks:
        raise click.ClickException(f"{path} has no provisioner named {provisioner!r}")
    if str(blocks[0].get("type", "")).upper() != "ACME":
        raise click.ClickException(f"provisioner {provisioner!r} is not an ACME provisioner")

    sealer: Sealer | None = None
    if seal:
        default_pw = (home or default_home()) / "secrets" / "password"
        password = read_password_file(password_file or (str(default_pw) if default_pw.exists() else None))
        if password is None:
            password = click.prompt("Password of the CA keys", hide_input=True).encode()
        try:
            sealer = open_sealer(path, password, EAB_PURPOSE)
        except (ConfigError, ValueError) as e:  # KeyDecryptError is a ValueError
            raise click.ClickException(f"cannot open the CA key to seal the EAB key with: {e}") from None

    async def run() -> T:
        storage = open_storage_for(cfg)
        await storage.open()
        try:
            await storage.migrate(MIGRATIONS)
            return await fn(AcmeStore(storage, sealer))
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


_file = click.Path(exists=True, dir_okay=False)
_REMOTE_OPTIONS = [
    click.option(
        "--admin-cert", type=_file,
        help="Admin certificate (chain): manage keys through the CA's admin API (authority.enableAdmin) "
        "instead of its database.",
    ),
    click.option("--admin-key", type=_file, help="Private key of --admin-cert."),
    click.option("--admin-password-file", type=_file, help="Password of an encrypted --admin-key."),
    click.option("--ca-url", envvar="PLICA_CA_URL", help="URL of the CA (default from defaults.json)."),
    click.option("--root", envvar="PLICA_ROOT", type=click.Path(dir_okay=False), help="Root certificate to trust."),
]  # fmt: skip


def _remote(f: Callable[..., Any]) -> Callable[..., Any]:
    """--admin-cert/--admin-key (and where the CA is): use the admin API instead of the local database."""
    for opt in reversed(_REMOTE_OPTIONS):
        f = opt(f)
    return f


def _admin_client(home: Path | None, remote: dict[str, Any]) -> AdminClient | None:
    """The admin API client when --admin-cert is given, else None (local database)."""
    cert, key = remote.get("admin_cert"), remote.get("admin_key")
    if not cert and not key:
        return None
    if not (cert and key):
        raise click.UsageError("--admin-cert and --admin-key go together")
    defaults = read_defaults(home)
    url = remote.get("ca_url") or defaults.get("ca-url")
    if not url:
        raise click.UsageError("no CA URL: give --ca-url (or run `plica init`, which writes defaults.json)")
    try:
        creds = AdminCredentials.load(cert, key, read_password_file(remote.get("admin_password_file")))
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    return AdminClient(url, remote.get("root") or defaults.get("root"), creds)


def _call(client: AdminClient, method: str, path: str, body: Any = None) -> Any:
    try:
        return client.request(method, path, body)
    except CAClientError as e:
        raise click.ClickException(f"the CA refused: {e}" if e.status else str(e)) from None


def _from_wire(k: dict[str, Any]) -> EABKey:
    """An EABKey of the admin API (protobuf JSON) as the local commands print it."""

    def ts(v: Any) -> int | None:
        return int(datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp()) if v else None

    secret = base64.b64decode(k.get("hmacKey") or "")
    return EABKey(
        id=k["id"], provisioner=k.get("provisioner", ""), reference=k.get("reference", ""),
        hmac_key=b64url_encode(secret) if secret else "", created=ts(k.get("createdAt")) or 0,
        account_id=k.get("account") or None, bound_at=ts(k.get("boundAt")),
    )  # fmt: skip


def _path(*parts: str) -> str:
    return "/admin/acme/eab/" + "/".join(quote(p, safe="") for p in parts)


def _remote_list(client: AdminClient, provisioner: str, reference: str) -> list[EABKey]:
    if reference:
        try:
            page = client.request("GET", _path(provisioner, reference))
        except CAClientError as e:
            if e.status == 404 and e.message == KEY_NOT_FOUND:
                return []
            raise click.ClickException(f"the CA refused: {e}") from None
        return [_from_wire(k) for k in page.get("eaks") or []]
    keys: list[EABKey] = []
    cursor = ""
    while True:
        query = "?limit=100" + (f"&cursor={quote(cursor, safe='')}" if cursor else "")
        page = _call(client, "GET", _path(provisioner) + query)
        keys += [_from_wire(k) for k in page.get("eaks") or []]
        cursor = page.get("nextCursor") or ""
        if not cursor:
            return keys


@click.group("acme")
def acme_group() -> None:
    """ACME provisioners: External Account Binding keys."""


@acme_group.group("eab")
def eab_group() -> None:
    """External Account Binding keys (for provisioners with requireEAB)."""


_reference = click.argument("reference", required=False, default="")


class _DashedArguments(click.Command):
    """A command whose arguments may start with '-' (key ids of earlier releases, e.g. '-V7Mh…'): a word
    that is not one of the command's options is an argument. Click alone reads '-V7Mh…' as the short
    options -V, -7, -M and -h, the last of which prints the help."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        takes_value: dict[str, bool] = {}
        for param in self.get_params(ctx):
            if isinstance(param, click.Option):
                for name in (*param.opts, *param.secondary_opts):
                    takes_value[name] = not (param.is_flag or param.count)
        options: list[str] = []
        words: list[str] = []
        rest = iter(args)
        for word in rest:
            name, eq, _ = word.partition("=")
            if word == "--":
                words += rest
            elif eq and name.startswith("--") and name in takes_value:  # --home=DIR
                options.append(word)
            elif word in takes_value:
                options.append(word)
                if takes_value[word]:
                    value = next(rest, None)
                    if value is None:  # click says what is missing
                        return super().parse_args(ctx, args)
                    options.append(value)
            else:
                words.append(word)
        return super().parse_args(ctx, [*options, "--", *words])


def _eab_command(
    name: str,
    argument: Callable[[Any], Any],
    *,
    json: bool = True,
    command_class: type[click.Command] = click.Command,
) -> Callable[[Any], Any]:
    """An `eab` command taking PROVISIONER, `argument`, where the CA is (--home, --config, or the remote
    options for its admin API) and, with `json`, --json."""
    command = eab_group.command(name, cls=command_class)
    options = [command, click.argument("provisioner"), argument, _home, _config]
    options += [_json, _remote] if json else [_remote]

    def wrap(f: Callable[..., Any]) -> Any:
        for option in reversed(options):
            f = option(f)
        return f

    return wrap


@_eab_command("add", _reference)
@click.option(
    "--password-file", type=_file, default=None,
    help="Password of the CA keys (the EAB key is sealed with the CA's; default <home>/secrets/password).",
)  # fmt: skip
def eab_add(
    provisioner: str,
    reference: str,
    home: Path | None,
    config: Path | None,
    as_json: bool,
    password_file: str | None,
    **remote: Any,
) -> None:
    """Create an EAB key for PROVISIONER (optionally tagged with REFERENCE, unique per provisioner).

    The HMAC key is printed once, base64url-encoded, for the client (certbot --eab-kid/--eab-hmac-key,
    lego --eab --kid/--hmac)."""

    async def add(store: AcmeStore) -> EABKey:
        try:
            return await eab.add_key(store, provisioner, reference)
        except ValueError as e:
            raise click.ClickException(str(e)) from None

    client = _admin_client(home, remote)
    if client is not None:
        key = _from_wire(_call(client, "POST", _path(provisioner), {"reference": reference}))
    else:
        key = _with_store(home, config, provisioner, add, password_file=password_file, seal=True)
    if as_json:
        click.echo(orjson.dumps(key.public_json(with_key=True), option=orjson.OPT_INDENT_2).decode())
        return
    click.echo(f"Key ID:      {key.id}")
    click.echo(f"HMAC key:    {key.hmac_key}")
    click.echo(f"Provisioner: {key.provisioner}")
    if key.reference:
        click.echo(f"Reference:   {key.reference}")


@_eab_command("list", _reference)
def eab_list(
    provisioner: str, reference: str, home: Path | None, config: Path | None, as_json: bool, **remote: Any
) -> None:
    """List the EAB keys of PROVISIONER (the HMAC keys are not shown)."""
    client = _admin_client(home, remote)
    if client is not None:
        keys = _remote_list(client, provisioner, reference)
    else:
        keys = _with_store(home, config, provisioner, lambda store: store.eab_keys(provisioner, reference))
    if as_json:
        click.echo(orjson.dumps([k.public_json() for k in keys], option=orjson.OPT_INDENT_2).decode())
        return
    if not keys:
        click.echo(f"No EAB keys for provisioner {provisioner!r}.")
        return
    click.echo(f"{'Key ID':<34}  {'Reference':<20}  {'Account':<24}  Created")
    for k in keys:
        click.echo(
            f"{k.id:<34}  {k.reference or '-':<20}  {k.account_id or '(unbound)':<24}  {rfc3339(k.created)}"
        )


@_eab_command("remove", click.argument("key_id"), json=False, command_class=_DashedArguments)
def eab_remove(provisioner: str, key_id: str, home: Path | None, config: Path | None, **remote: Any) -> None:
    """Remove the EAB key KEY_ID of PROVISIONER (accounts already bound with it stay).

    Key ids from earlier releases may start with '-': any word that is not an option is taken as an
    argument."""
    client = _admin_client(home, remote)
    if client is not None:
        _call(client, "DELETE", _path(provisioner, key_id))
    elif not _with_store(home, config, provisioner, lambda store: store.remove_eab_key(provisioner, key_id)):
        raise click.ClickException(f"provisioner {provisioner!r} has no EAB key {key_id!r}")
    click.echo(f"Removed EAB key {key_id}.")


# ---------------------------------------------------------------------------- provisioner add|update


def provisioner_options() -> list[click.Option]:
    """The `plica provisioner add|update` flags of the ACME fields."""
    multi = {"multiple": True, "default": ()}
    return [
        click.Option(
            ["--force-cn/--no-force-cn", "force_cn"], default=None,
            help="ACME/SCEP: use the first DNS name as common name when the CSR has none.",
        ),
        click.Option(
            ["--require-eab/--no-require-eab", "require_eab"], default=None,
            help="ACME: new accounts need an External Account Binding (keys: plica acme eab add).",
        ),
        click.Option(
            ["--challenge", "challenge"], **multi,
            help=f"ACME: enable a challenge type ({', '.join(KNOWN_CHALLENGES)}); repeat for several. "
            "SCEP: the challenge secret.",
        ),
        click.Option(["--remove-challenge", "remove_challenge"], **multi, help="ACME: disable a challenge type."),
        click.Option(
            ["--attestation-format", "attestation_format"], **multi,
            help=f"ACME: accept a device-attest-01 format ({', '.join(KNOWN_ATTESTATION_FORMATS)}).",
        ),
        click.Option(["--remove-attestation-format", "remove_attestation_format"], **multi,
                     help="ACME: stop accepting an attestation format."),
        click.Option(["--attestation-roots", "attestation_roots"],
                     type=click.Path(exists=True, dir_okay=False),
                     help="ACME: PEM file of the roots device attestations must chain to."),
        click.Option(["--terms-of-service", "terms_of_service"], help="ACME: the directory's termsOfService URL."),
        click.Option(["--website", "website"], help="ACME: the directory's website URL."),
        click.Option(["--caa-identity", "caa_identity"], **multi,
                     help="ACME: a CAA issuer domain for the directory's caaIdentities."),
        click.Option(["--acme-http-port", "acme_http_port"], type=int,
                     help="ACME: port the http-01 validator connects to (default 80)."),
        click.Option(["--acme-tls-port", "acme_tls_port"], type=int,
                     help="ACME: port the tls-alpn-01 validator connects to (default 443)."),
        click.Option(["--acme-resolver", "acme_resolver"],
                     help="ACME: DNS resolver ip[:port] for validation (default: the system's)."),
        click.Option(["--acme-retry-window", "acme_retry_window"],
                     help="ACME: how long a failing challenge is retried (e.g. 30s)."),
        click.Option(["--acme-pending-orders", "acme_pending_orders"], type=int,
                     help="ACME: pending orders allowed per account (0 = no limit)."),
        click.Option(["--acme-orders-per-hour", "acme_orders_per_hour"], type=int,
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


def provisioner_block(name: str, options: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
    """The ACME block of ca.json from `provisioner_options` (a new one, or `existing` updated)."""
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
